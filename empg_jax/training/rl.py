"""The RL update: `(state, Rollout) -> (state, metrics)`, one jitted program per iteration.

It follows the EMPG paper's verl-agent recipe (Wang et al., arXiv 2509.09265): outcome
advantages per step row (`losses.step_outcome_advantages`: GRPO / Dr.GRPO / RLOO over episodes or
over all step rows of a group), optional DAPO dynamic sampling and a pass-rate filter
(`losses.dynamic_sampling_mask`, `losses.pass_rate_mask`), optional EMPG modulation over the rows
that are trained on (`losses.empg_advantages`), the PPO-clip surrogate (`losses.ppo_policy_loss`),
an optional KL penalty to the frozen reference (`losses.kl_penalty`) and entropy bonus
(`losses.entropy_bonus`), all reduced with the same `aggregation`; AdamW with gradient clipping,
several epochs over shuffled mini-batches of step rows. Every formula is the `losses` function:
this module only wires them.

Mini-batches: trained rows are shuffled to the front and only ceil(#trained / M) mini-batches of
M rows run (a `lax.while_loop`), so padding rows after finished episodes and rows removed by a
filter cost no compute. With `RLOptions.pack_len` (dense models) each mini-batch's rows are
packed (`training.packing`): the forward computes no prompt padding and no filler row, and with
`share_prefixes` a prefix shared by rows of the mini-batch once; the rows, the loss and its
aggregation are the same as unpacked.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from empg_jax.agents import Rollout
from empg_jax.losses import (
    aggregate_loss,
    dynamic_sampling_mask,
    empg_advantages,
    entropy_bonus,
    kl_penalty,
    pass_rate_mask,
    ppo_policy_loss,
    step_entropy_from_tokens,
    step_outcome_advantages,
)
from empg_jax.models import balance_router_biases, load_balance_metrics, num_router_biases
from empg_jax.ops import masked_mean
from empg_jax.training.forward import answer_log_probs, packed_answer_log_probs
from empg_jax.training.guards import keep_finite_update
from empg_jax.training.options import RLOptions
from empg_jax.training.packing import PackLayout, auto_pack_len, pack_rows
from empg_jax.training.state import TrainState, jit_train_step
from empg_jax.training.telemetry import logit_dynamics


def rl_advantages(batch: Rollout, opts: RLOptions):
    """Step advantages `[S]`, the training mask `[S]` and aux arrays of a rollout batch.

    Rows are S = N * T step rows (`Rollout.flat`). The training mask keeps valid rows of groups
    that pass the filters; EMPG's statistics run over exactly those rows.

    Returns `(advantages_S, train_S, aux)`; aux holds `step_entropy` `[S]`, the scalars
    `kept_row_fraction` and `outcome_adv_abs_mean`, and with EMPG the `[S]` arrays `g` and `f`.
    """
    valid_BxGxT = batch.by_group(batch.valid_NxT)
    return_BxG = batch.by_group(batch.reward_N)
    adv_BxGxT = step_outcome_advantages(
        return_BxG,
        batch.by_group(batch.invalid_format_NxT),
        valid_BxGxT,
        scope=opts.scope,
        estimator=opts.estimator,
        invalid_penalty=opts.invalid_penalty,
    )
    keep_B = jnp.ones(return_BxG.shape[:1], bool)
    if opts.dynamic_sampling:
        keep_B = keep_B & dynamic_sampling_mask(return_BxG)
    if opts.pass_rate_range is not None:
        low, high = opts.pass_rate_range
        keep_B = keep_B & pass_rate_mask(batch.by_group(batch.won_N), low=low, high=high)
    train_S = (valid_BxGxT & keep_B[:, None, None]).reshape(-1)
    valid_S = valid_BxGxT.reshape(-1)
    adv_S = jnp.where(train_S, adv_BxGxT.reshape(-1), 0.0)
    step_entropy_S = step_entropy_from_tokens(
        batch.flat(batch.token_entropy_NxTxL), batch.flat(batch.answer_mask_NxTxL)
    )
    aux = {
        "kept_row_fraction": masked_mean(train_S, valid_S),
        "outcome_adv_abs_mean": masked_mean(jnp.abs(adv_S), train_S),
        "step_entropy": step_entropy_S,
        "outcome_advantage": adv_S,
    }
    if opts.empg is not None:
        adv_S, empg_aux = empg_advantages(
            step_entropy_S, adv_S, batch.next_step_S(), train_S, **opts.empg.kwargs()
        )
        aux["g"], aux["f"] = empg_aux["g"], empg_aux["f"]
    return adv_S, train_S, aux


def _log_probs(graphdef, params, mb, mask, temperature, chunk):
    """Answer log-probs, tempered logits and model aux of a mini-batch (packed or not)."""
    if "packed" in mb:
        return packed_answer_log_probs(
            graphdef, params, mb["packed"], chunk, mb["answer"], mask, temperature
        )
    return answer_log_probs(
        graphdef, params, mb["prompt"], mb["prompt_mask"], mb["answer"], mask, temperature
    )


def _policy_loss(graphdef, opts: RLOptions, ref_params, temperature, params, mb):
    """The loss of one mini-batch of rows and its metrics."""
    mask = mb["answer_mask"] & mb["train"][:, None]
    logp, logits, model_aux = _log_probs(graphdef, params, mb, mask, temperature, opts.pack_chunk)
    loss, pg = ppo_policy_loss(
        logp,
        mb["old_log_probs"],
        mb["advantage"],
        mask,
        clip_low=opts.clip_low,
        clip_high=opts.clip_high,
        dual_clip=opts.dual_clip,
        aggregation=opts.aggregation,
    )
    metrics = {"pg_loss": loss, "clip_fraction": pg["clip_fraction"], "approx_kl": pg["approx_kl"]}
    if opts.kl_coef > 0:
        ref_logp, _, _ = _log_probs(graphdef, ref_params, mb, mask, temperature, opts.pack_chunk)
        kl = aggregate_loss(kl_penalty(logp, ref_logp, opts.kl_kind, mask), mask, opts.aggregation)
        loss = loss + opts.kl_coef * kl
        metrics["kl"] = kl
    entropy = entropy_bonus(logits, mask, aggregation=opts.aggregation)
    if opts.entropy_coef > 0:
        loss = loss - opts.entropy_coef * entropy
    metrics["policy_entropy"] = entropy
    metrics["loss"] = loss
    if "expert_load" in model_aux:
        metrics["expert_load"] = model_aux["expert_load"]
        metrics.update(load_balance_metrics(model_aux["expert_load"]))
    return loss, metrics


#: Per mini-batch (means over the update): token positions the packed forward computed, the
#: tokens the rows need (real prompt + answer, no padding), the tokens stored once shared
#: prefixes are merged, and 1 when the layout held the mini-batch (always, by its sizes).
PACK_METRICS = ["pack/positions", "pack/row_tokens", "pack/stream_tokens", "pack/fits"]


def rl_update(graphdef, optimizer, opts: RLOptions, state: TrainState, batch: Rollout):
    """One RL iteration's update over a whole rollout batch of step rows.

    The PPO ratio uses the rollout's stored `old_log_probs` (at the rollout's `temperature`); the
    KL term uses the frozen `state.ref_params`. Returns `(state, metrics)`; metrics are means over
    the mini-batch updates plus batch statistics.
    """
    adv_S, train_S, aux = rl_advantages(batch, opts)
    rows = {
        "prompt": batch.flat(batch.prompt_NxTxP),
        "prompt_mask": batch.flat(batch.prompt_mask_NxTxP).astype(bool),
        "answer": batch.flat(batch.answer_NxTxL),
        "answer_mask": batch.flat(batch.answer_mask_NxTxL).astype(bool),
        "old_log_probs": batch.flat(batch.old_log_probs_NxTxL),
        "advantage": adv_S,
        "train": train_S,
    }
    s = train_S.shape[0]
    m = min(opts.minibatch_rows, s)
    num_train = jnp.sum(train_S)
    num_mb = (num_train + m - 1) // m
    key = jax.random.fold_in(state.key, state.step)
    moe = num_router_biases(state.params) > 0
    loss_fn = functools.partial(_policy_loss, graphdef, opts, state.ref_params, batch.temperature)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    names = ["pg_loss", "clip_fraction", "approx_kl", "policy_entropy", "loss", "grad_norm"]
    names += ["kl"] if opts.kl_coef > 0 else []
    names += ["moe/load_max_over_mean", "moe/load_min_over_mean"] if moe else []
    names += ["skipped_update_fraction"] if opts.skip_nonfinite else []
    layout = None
    if opts.pack and not moe:
        row_len = rows["prompt"].shape[1] + rows["answer"].shape[1]
        length = opts.pack_len or auto_pack_len(row_len, m, opts.pack_chunk)
        layout = PackLayout.create(m, row_len, length, opts.pack_chunk, opts.share_prefixes)
    names += PACK_METRICS if layout is not None else []

    def minibatch(carry):
        i, perm, params, opt_state, sums, count = carry
        idx = jax.lax.dynamic_slice_in_dim(perm, i * m, m)
        # Indices past the last row (the filler of the last mini-batch) read zeros: untrained.
        mb = {k: jnp.take(v, idx, axis=0, mode="fill", fill_value=0) for k, v in rows.items()}
        pack = {}
        if layout is not None:
            mb["packed"] = p = pack_rows(
                mb["prompt"],
                mb["prompt_mask"],
                mb["answer"],
                mb["answer_mask"],
                mb["train"],
                layout,
            )
            pack = {
                "pack/positions": p.positions,
                "pack/row_tokens": p.row_tokens,
                "pack/stream_tokens": p.stream_tokens,
                "pack/fits": p.fits,
            }
        (_, met), grads = grad_fn(params, mb)
        met = {**met, **{k: v.astype(jnp.float32) for k, v in pack.items()}}
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        if moe:
            load = met.pop("expert_load")
            new_params = balance_router_biases(new_params, params, load, opts.moe_bias_rate)
        met = {**met, "grad_norm": optax.tree.norm(grads)}
        if opts.skip_nonfinite:
            ok = jnp.isfinite(met["loss"]) & jnp.isfinite(met["grad_norm"])
            new_params, new_opt_state = keep_finite_update(
                ok, (new_params, new_opt_state), (params, opt_state)
            )
            met["skipped_update_fraction"] = 1.0 - ok.astype(jnp.float32)
        opt_state = new_opt_state
        sums = {k: sums[k] + met[k] for k in sums}
        return i + 1, perm, new_params, opt_state, sums, count + 1

    def epoch(e, carry):
        params, opt_state, sums, count = carry
        u = jax.random.uniform(jax.random.fold_in(key, e), (s,))
        perm = jnp.argsort(jnp.where(train_S, u, 2.0))
        perm = jnp.concatenate([perm, jnp.full(((-s) % m,), s, perm.dtype)])
        _, _, params, opt_state, sums, count = jax.lax.while_loop(
            lambda c: c[0] < num_mb,
            minibatch,
            (jnp.int32(0), perm, params, opt_state, sums, count),
        )
        return params, opt_state, sums, count

    zeros = {n: jnp.zeros((), jnp.float32) for n in names}
    params, opt_state, sums, count = jax.lax.fori_loop(
        0, opts.epochs, epoch, (state.params, state.opt_state, zeros, jnp.int32(0))
    )
    metrics = {k: v / jnp.maximum(count, 1) for k, v in sums.items()}
    metrics.update(_batch_metrics(batch, adv_S, train_S, aux))
    if opts.telemetry_rows:
        metrics.update(
            logit_dynamics(
                graphdef,
                state.params,
                params,
                rows,
                train_S,
                aux["outcome_advantage"],
                aux["step_entropy"],
                batch.temperature,
                opts.telemetry_rows,
            )
        )
    metrics.update(num_updates=count, num_train_rows=num_train)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def _batch_metrics(batch: Rollout, adv_S, train_S, aux):
    """Statistics of the batch's advantages and rollout step entropies (`step_entropy_*`)."""
    valid_S = batch.flat(batch.valid_NxT).astype(bool)
    ent = jnp.where(valid_S, aux["step_entropy"], jnp.nan)
    out = {
        "kept_row_fraction": aux["kept_row_fraction"],
        "outcome_adv_abs_mean": aux["outcome_adv_abs_mean"],
        "adv_mean": masked_mean(adv_S, train_S),
        "adv_abs_mean": masked_mean(jnp.abs(adv_S), train_S),
        "step_entropy_mean": masked_mean(aux["step_entropy"], valid_S),
        "step_entropy_p10": jnp.nanpercentile(ent, 10),
        "step_entropy_p50": jnp.nanpercentile(ent, 50),
        "step_entropy_p90": jnp.nanpercentile(ent, 90),
    }
    if "g" in aux:
        g = jnp.where(train_S, aux["g"], jnp.nan)
        has_next = train_S & (batch.next_step_S() >= 0)
        out.update(
            empg_g_mean=masked_mean(aux["g"], train_S),
            empg_g_min=jnp.nanmin(g),
            empg_g_max=jnp.nanmax(g),
            empg_f_mean=masked_mean(aux["f"], has_next),
        )
    return out


def jit_rl_update(graphdef, optimizer, opts: RLOptions, state_shardings=None, batch_sharding=None):
    """`jax.jit(rl_update)` with the static parts bound; the state is donated.

    Packing (`opts.pack`) lays a mini-batch out on one device: on a mesh of several devices the
    rows stay padded, so that they stay split over the mesh."""
    if opts.pack and _mesh_size(batch_sharding) > 1:
        opts = dataclasses.replace(opts, pack=False)
    fn = functools.partial(rl_update, graphdef, optimizer, opts)
    return jit_train_step(fn, state_shardings, batch_sharding)


def _mesh_size(shardings) -> int:
    sizes = [
        s.mesh.size for s in jax.tree.leaves(shardings) if isinstance(s, jax.sharding.NamedSharding)
    ]
    return max(sizes, default=1)
