"""The DPO update: `(state, Rollout) -> (state, metrics)`, OWL's preference phase on the policy's
own samples.

OWL (Hu et al., arXiv 2505.23885) trains its planner with SFT on successful expert plans, then
DPO on outcome-based preference pairs. Here the pairs come from each RL iteration's rollout
batch: the G samples of a task form a group, and every (successful, failed) pair of episodes of
a group is a preference pair (`losses.success_failure_pairs`); groups whose samples all won or
all lost contribute nothing. An episode's sequence log-probability is the sum of log pi over
every generated answer token of all its steps (the policy at temperature 1), the reference is
the frozen SFT policy (`TrainState.ref_params`, set when RL starts), and the loss is the mean of
`losses.dpo_loss` over the valid pairs. Each of `epochs` passes takes one AdamW step.

The gradient is computed in two passes over mini-batches of the contributing step rows only (the
loss is not a sum over rows): a forward pass gives every episode's sequence log-prob l_e, the
pair loss gives w_e = dL/dl_e, and a backward pass over the rows of sum_e w_e l_e gives exactly
dL/dparams. So padding rows and rows of groups without a pair cost no compute.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from empg_jax.agents import Rollout
from empg_jax.losses import dpo_loss, success_failure_pairs
from empg_jax.ops import masked_mean
from empg_jax.training.forward import answer_log_probs
from empg_jax.training.guards import keep_finite_update
from empg_jax.training.options import DPOOptions
from empg_jax.training.state import TrainState, jit_train_step


def dpo_pairs(batch: Rollout):
    """`(pairs [B, G, G], train_S)`: the (success, failure) pairs of each group and the valid
    step rows of the episodes that are in at least one pair."""
    pairs = success_failure_pairs(batch.by_group(batch.won_N))
    in_pair_N = (jnp.any(pairs, axis=2) | jnp.any(pairs, axis=1)).reshape(-1)
    train_S = (batch.valid_NxT & in_pair_N[:, None]).reshape(-1)
    return pairs, train_S


def _rows(batch: Rollout, train_S: jax.Array) -> dict[str, jax.Array]:
    return {
        "prompt": batch.flat(batch.prompt_NxTxP),
        "prompt_mask": batch.flat(batch.prompt_mask_NxTxP).astype(bool),
        "answer": batch.flat(batch.answer_NxTxL),
        "answer_mask": batch.flat(batch.answer_mask_NxTxL).astype(bool) & train_S[:, None],
        "episode": batch.episode_id_S(),
    }


def _minibatches(rows, train_S, m: int):
    """(row order with the trained rows first, padded to whole mini-batches; their count)."""
    s = train_S.shape[0]
    order = jnp.argsort(~train_S, stable=True)
    order = jnp.concatenate([order, jnp.full(((-s) % m,), s, order.dtype)])
    return order, (jnp.sum(train_S) + m - 1) // m


def _take(rows, order, i, m):
    idx = jax.lax.dynamic_slice_in_dim(order, i * m, m)
    # Indices past the last row (the filler of the last mini-batch) read zeros: masked out.
    return {k: jnp.take(v, idx, axis=0, mode="fill", fill_value=0) for k, v in rows.items()}


def _row_log_probs(graphdef, params, mb) -> jax.Array:
    """Sum of log pi (temperature 1) over each row's generated tokens, `[M]`."""
    logp, _, _ = answer_log_probs(
        graphdef, params, mb["prompt"], mb["prompt_mask"], mb["answer"], mb["answer_mask"], 1.0
    )
    return jnp.sum(jnp.where(mb["answer_mask"], logp, 0.0), axis=1)


def episode_log_probs(graphdef, params, rows, order, num_mb, num_episodes: int, m: int):
    """Sequence log-prob of every episode, `[N]` (0 for episodes with no trained row)."""

    def body(i, total):
        mb = _take(rows, order, i, m)
        return total.at[mb["episode"]].add(_row_log_probs(graphdef, params, mb))

    return jax.lax.fori_loop(0, num_mb, body, jnp.zeros((num_episodes,), jnp.float32))


def pair_loss(opts: DPOOptions, pairs, logp_N, ref_N, group_size: int):
    """Mean DPO loss over the valid pairs, and its metrics."""
    shape = pairs.shape  # [B, G, G]: pair (i, j) of group b has i chosen, j rejected
    lp, ref = logp_N.reshape(-1, group_size), ref_N.reshape(-1, group_size)
    losses, aux = dpo_loss(
        jnp.broadcast_to(lp[:, :, None], shape),
        jnp.broadcast_to(lp[:, None, :], shape),
        jnp.broadcast_to(ref[:, :, None], shape),
        jnp.broadcast_to(ref[:, None, :], shape),
        pairs,
        beta=opts.beta,
        label_smoothing=opts.label_smoothing,
        smoothing=opts.smoothing,
    )
    loss = masked_mean(losses, pairs)
    metrics = {k: masked_mean(v, pairs) for k, v in aux.items()}
    return jnp.where(jnp.any(pairs), loss, 0.0), metrics


def dpo_update(graphdef, optimizer, opts: DPOOptions, state: TrainState, batch: Rollout):
    """One DPO iteration over a rollout batch (module docstring); needs `state.ref_params`."""
    if state.ref_params is None:
        raise ValueError("the DPO update needs the frozen reference: create the state with it")
    pairs, train_S = dpo_pairs(batch)
    rows = _rows(batch, train_S)
    m = min(opts.minibatch_rows, train_S.shape[0])
    order, num_mb = _minibatches(rows, train_S, m)
    n, g = batch.num_episodes, batch.group_size
    ref_N = jax.lax.stop_gradient(
        episode_log_probs(graphdef, state.ref_params, rows, order, num_mb, n, m)
    )
    has_pairs = jnp.any(pairs)

    def epoch(_, carry):
        params, opt_state, sums = carry
        logp_N = episode_log_probs(graphdef, params, rows, order, num_mb, n, m)
        (loss, met), w_N = jax.value_and_grad(
            lambda lp: pair_loss(opts, pairs, lp, ref_N, g), has_aux=True
        )(logp_N)

        def surrogate(p, mb):  # sum_e w_e l_e over this mini-batch's rows
            return jnp.sum(w_N[mb["episode"]] * _row_log_probs(graphdef, p, mb))

        grad_fn = jax.grad(surrogate)

        def accumulate(i, grads):
            g_i = grad_fn(params, _take(rows, order, i, m))
            return jax.tree.map(jnp.add, grads, g_i)

        zeros = jax.tree.map(jnp.zeros_like, params)
        grads = jax.lax.fori_loop(0, num_mb, accumulate, zeros)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        grad_norm = optax.tree.norm(grads)
        ok = has_pairs  # no pair: no step (AdamW's weight decay would still move the params)
        if opts.skip_nonfinite:
            ok = ok & jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        new_params, new_opt_state = keep_finite_update(
            ok, (new_params, new_opt_state), (params, opt_state)
        )
        met = {**met, "loss": loss, "dpo_loss": loss, "grad_norm": grad_norm}
        met["skipped_update_fraction"] = 1.0 - ok.astype(jnp.float32)
        sums = {k: sums[k] + met[k] for k in sums}
        return new_params, new_opt_state, sums

    names = ["loss", "dpo_loss", "grad_norm", "chosen_rewards", "rejected_rewards", "margins"]
    names += ["accuracy", "skipped_update_fraction"]
    zeros = {k: jnp.zeros((), jnp.float32) for k in names}
    params, opt_state, sums = jax.lax.fori_loop(
        0, opts.epochs, epoch, (state.params, state.opt_state, zeros)
    )
    metrics: dict[str, Any] = {k: v / opts.epochs for k, v in sums.items()}
    groups = jnp.any(pairs, axis=(1, 2))
    metrics.update(
        num_pairs=jnp.sum(pairs),
        pair_group_fraction=jnp.mean(groups.astype(jnp.float32)),
        num_train_rows=jnp.sum(train_S),
        num_updates=jnp.where(has_pairs, opts.epochs, 0),
    )
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def jit_dpo_update(
    graphdef, optimizer, opts: DPOOptions, state_shardings=None, batch_sharding=None
):
    """`jax.jit(dpo_update)` with the static parts bound; the state is donated."""
    fn = functools.partial(dpo_update, graphdef, optimizer, opts)
    return jit_train_step(fn, state_shardings, batch_sharding)
