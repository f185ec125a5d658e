"""Supervised fine-tuning on demonstration rows: `(state, SFTBatch) -> (state, metrics)`."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct

from empg_jax.models import balance_router_biases, load_balance_metrics, num_router_biases
from empg_jax.ops import masked_mean, token_log_probs
from empg_jax.training.forward import sequence_logits
from empg_jax.training.guards import keep_finite_update
from empg_jax.training.options import SFTOptions
from empg_jax.training.state import TrainState, jit_train_step


@struct.dataclass
class SFTBatch:
    """B demonstration rows: the step prompt (left-padded, with its real-token mask) and the
    answer to imitate (with the mask of its tokens, the stop token included)."""

    prompt_BxP: jax.Array
    prompt_mask_BxP: jax.Array
    answer_BxL: jax.Array
    answer_mask_BxL: jax.Array


def sft_step(graphdef, optimizer, opts: SFTOptions, state: TrainState, batch: SFTBatch):
    """One SFT step: token-mean negative log-likelihood of the answers given the prompts.

    With `opts.prompt_weight` w > 0 the loss adds w x the next-token NLL of the prompt tokens
    ("train on inputs"). The step prompts repeat their own content (the observation's objects
    reappear in the admissible actions, the history repeats earlier observations), so this
    language-modelling term gives a small model trained from scratch many more copy examples
    per step than the answer tokens alone. MoE router biases take the loss-free balance step
    (`models.balance_router_biases`) on the step's expert load.
    """
    mask = batch.answer_mask_BxL.astype(bool)
    p = batch.prompt_BxP.shape[1]
    moe = num_router_biases(state.params) > 0

    def loss_fn(params):
        # Answer-only SFT needs the logits of the answer positions alone (large vocabularies).
        start = 0 if opts.prompt_weight else p - 1
        logits, tokens, real, aux = sequence_logits(
            graphdef, params, batch.prompt_BxP, batch.prompt_mask_BxP, batch.answer_BxL, mask, start
        )
        target_mask = real[:, start + 1 :] & real[:, start:-1]
        logp = token_log_probs(logits, tokens[:, start + 1 :], where=target_mask)
        answer_nll = -masked_mean(logp[:, p - 1 - start :], mask)
        if opts.prompt_weight:
            prompt_nll = -masked_mean(logp[:, : p - 1], target_mask[:, : p - 1])
            loss = answer_nll + opts.prompt_weight * prompt_nll
        else:
            prompt_nll, loss = jnp.zeros((), jnp.float32), answer_nll
        return loss, (answer_nll, prompt_nll, aux)

    (total, (loss, prompt_nll, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params
    )
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"sft_loss": loss, "sft_prompt_loss": prompt_nll, "grad_norm": optax.tree.norm(grads)}
    if moe:
        params = balance_router_biases(params, state.params, aux["expert_load"], opts.moe_bias_rate)
        metrics.update(load_balance_metrics(aux["expert_load"]))
    if opts.skip_nonfinite:
        ok = jnp.isfinite(total) & jnp.isfinite(metrics["grad_norm"])
        params, opt_state = keep_finite_update(
            ok, (params, opt_state), (state.params, state.opt_state)
        )
        metrics["skipped_update_fraction"] = 1.0 - ok.astype(jnp.float32)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def jit_sft_step(graphdef, optimizer, opts: SFTOptions, state_shardings=None, batch_sharding=None):
    """`jax.jit(sft_step)` with the static parts bound; the state is donated."""
    fn = functools.partial(sft_step, graphdef, optimizer, opts)
    return jit_train_step(fn, state_shardings, batch_sharding)
