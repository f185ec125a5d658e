"""empg_jax: Entropy-Modulated Policy Gradients for long-horizon LLM agents, in JAX."""

__version__ = "0.1.0"
