"""Train state and the jitted train steps `(state, batch) -> (state, metrics)`: SFT and RL
(PPO-clip).

RL follows the EMPG paper's verl-agent recipe (Wang et al., arXiv 2509.09265; `empg.md` §1.7, §3):
outcome advantages (GRPO / Dr.GRPO / RLOO, `advantages.step_advantages`), optional DAPO dynamic
sampling and clip-higher, optional EMPG modulation, the PPO-clip surrogate
(`losses.ppo_policy_loss`, token-mean aggregation), optional k3 KL to a frozen reference
(`losses.kl_penalty`) and an entropy bonus; AdamW with gradient clipping, several epochs over
shuffled mini-batches of step rows, all inside ONE jitted update.

Training forward (`answer_log_probs`): each row is the left-padded prompt followed by the answer;
RoPE positions count real tokens only and padding is its own segment, as in the sampler, so answer
token j is predicted from position P - 1 + j. Logits are divided by the rollout temperature before
the log-softmax (as verl does), so the PPO ratio compares like with like.

Mini-batches: valid (trained) rows are shuffled to the front and only ceil(#valid / M) mini-batches
of M rows run (a `lax.while_loop`), so padding rows after finished episodes cost no compute.

MoE policies (GLM-4.5 style, `models.moe`): the params are the model's whole `nnx.State`, router
biases included; after every optimiser step each MoE layer's bias is set to its value before the
step plus the loss-free balance step of `models.update_router_bias` on that mini-batch's expert
load (the optimiser's weight decay never moves it; its gradient is zero). The metrics report
`moe/load_max_over_mean` (the most loaded expert's share over the mean share, worst layer) and
`moe/load_min_over_mean` (the least loaded one's, worst layer), averaged over the mini-batches.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from empg_jax.losses import entropy_bonus, kl_penalty, ppo_policy_loss
from empg_jax.models import update_router_bias
from empg_jax.ops import masked_mean, token_log_probs
from empg_jax.training.advantages import step_advantages


@struct.dataclass
class TrainState:
    """Everything that changes during training (a pytree; checkpointed as a whole).

    `key` is the run's PRNG key (raw uint32 [2]); every random draw of a step or an iteration
    is `fold_in(key, counter)`, so resuming from a checkpoint reproduces the run exactly.
    `ref_params` is the frozen KL reference (None when KL is off).
    """

    step: jax.Array
    params: Any
    opt_state: Any
    key: jax.Array
    ref_params: Any = None


def make_optimizer(
    lr: float,
    weight_decay: float,
    grad_clip: float,
    b2: float = 0.999,
    decay_steps: int = 0,
    warmup_steps: int = 0,
):
    """AdamW with global-norm clipping (`empg.md` §3: lr 1e-6, wd 0.01, clip 1.0).

    With `decay_steps` > 0 the learning rate warms up linearly from 0 over `warmup_steps`, then
    follows a cosine from `lr` down to `lr / 10` at `decay_steps` (and stays there): a short SFT
    run ends annealed instead of at the noise floor of a constant rate. The schedule reads the
    optimiser's own step count, so a resumed run continues it exactly.
    """
    if decay_steps > 0:
        lr = optax.warmup_cosine_decay_schedule(
            0.0, lr, max(warmup_steps, 1), max(decay_steps, warmup_steps + 1), end_value=lr / 10
        )
    parts = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
    parts.append(optax.adamw(lr, b2=b2, weight_decay=weight_decay))
    return optax.chain(*parts)


def create_state(params: Any, optimizer, key: jax.Array, with_reference: bool) -> TrainState:
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=optimizer.init(params),
        key=key,
        ref_params=jax.tree.map(jnp.copy, params) if with_reference else None,
    )


def _forward(graphdef, params, prompt_SxP, answer_SxL, answer_mask_SxL, start: int):
    """Logits of the concatenated `[prompt; answer]` rows from position `start` on, the tokens,
    the real-token mask and the model's aux dict (MoE expert load; empty for dense models)."""
    tokens = jnp.concatenate([prompt_SxP, answer_SxL], axis=1).astype(jnp.int32)
    seg = jnp.concatenate([prompt_SxP != 0, answer_mask_SxL.astype(bool)], axis=1)
    positions = jnp.maximum(jnp.cumsum(seg, axis=1, dtype=jnp.int32) - 1, 0)
    model = nnx.merge(graphdef, params)
    hidden, aux = model.hidden_states(tokens, positions, seg.astype(jnp.int32), return_aux=True)
    logits = model.logits_from_hidden(hidden[:, start:-1]).astype(jnp.float32)
    return logits, tokens, seg, aux


def answer_logits(graphdef, params, prompt_SxP, answer_SxL, answer_mask_SxL, temperature=1.0):
    """Logits `[S, L, V]` (divided by `temperature`) that predict each answer token."""
    p = prompt_SxP.shape[1]
    logits, _, _, _ = _forward(graphdef, params, prompt_SxP, answer_SxL, answer_mask_SxL, p - 1)
    return logits / temperature


def answer_log_probs(
    graphdef,
    params,
    prompt_SxP,
    answer_SxL,
    answer_mask_SxL,
    temperature=1.0,
    return_aux=False,
):
    """log pi_T(answer token) `[S, L]` and the logits behind them (plus the model's aux dict
    with `return_aux=True`)."""
    p = prompt_SxP.shape[1]
    logits, _, _, aux = _forward(graphdef, params, prompt_SxP, answer_SxL, answer_mask_SxL, p - 1)
    logits = logits / temperature
    logp = token_log_probs(logits, answer_SxL, where=answer_mask_SxL.astype(bool))
    return (logp, logits, aux) if return_aux else (logp, logits)


# ----- MoE router balance ----------------------------------------------------------------------
def _is_router_bias(path) -> bool:
    return any(getattr(k, "key", getattr(k, "name", None)) == "router_bias" for k in path)


def num_moe_layers(graphdef, params) -> int:
    """How many router-bias leaves (MoE layers) the parameter tree holds (0: dense model)."""
    del graphdef
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return sum(_is_router_bias(path) for path, _ in leaves)


def moe_load_metrics(load_LxE: jax.Array) -> dict[str, jax.Array]:
    """Worst-layer expert load relative to the mean load (1 and 1 when perfectly balanced)."""
    share = load_LxE / jnp.maximum(jnp.mean(load_LxE, axis=-1, keepdims=True), 1e-12)
    return {
        "moe/load_max_over_mean": jnp.max(share),
        "moe/load_min_over_mean": jnp.min(share),
    }


def balance_router_biases(graphdef, new_params, old_params, load_LxE, rate):
    """Sets every MoE layer's router bias to its pre-step value plus the loss-free balance step
    (`models.update_router_bias`) on that layer's load; layers in tree order = model order."""
    del graphdef
    new_leaves, treedef = jax.tree_util.tree_flatten_with_path(new_params)
    old_leaves = jax.tree_util.tree_leaves(old_params)
    out, layer = [], 0
    for (path, new), old in zip(new_leaves, old_leaves, strict=True):
        if _is_router_bias(path):
            new = update_router_bias(old, load_LxE[layer].astype(old.dtype), rate)
            layer += 1
        out.append(new)
    return jax.tree_util.tree_unflatten(treedef, out)


# ----- SFT -----------------------------------------------------------------------------------
def sft_step(
    graphdef,
    optimizer,
    state: TrainState,
    batch: dict[str, jax.Array],
    prompt_weight: float = 0.0,
    moe_bias_rate: float = 0.0,
):
    """One SFT step: token-mean negative log-likelihood of the answers given the prompts.

    With `prompt_weight` w > 0 the loss adds w x the next-token NLL of the prompt tokens
    ("train on inputs"). The step prompts repeat their own content (the observation's objects
    reappear in the admissible actions, the history repeats earlier observations), so this
    language-modelling term gives a small model trained from scratch many more copy examples
    per step than the answer tokens alone; 0 gives the standard answer-only SFT. MoE router
    biases take the loss-free balance step as in `rl_update`.
    """
    mask = batch["answer_mask"].astype(bool)
    p = batch["prompt_tokens"].shape[1]
    moe = num_moe_layers(graphdef, state.params) > 0

    def loss_fn(params):
        # Answer-only SFT needs the logits of the answer positions alone (large vocabularies).
        start = 0 if prompt_weight else p - 1
        logits, tokens, seg, aux = _forward(
            graphdef, params, batch["prompt_tokens"], batch["answer_tokens"], mask, start
        )
        target_mask = seg[:, start + 1 :] & seg[:, start:-1]
        logp = token_log_probs(logits, tokens[:, start + 1 :], where=target_mask)
        answer_nll = -masked_mean(logp[:, p - 1 - start :], mask)
        if prompt_weight:
            prompt_nll = -masked_mean(logp[:, : p - 1], target_mask[:, : p - 1])
            loss = answer_nll + prompt_weight * prompt_nll
        else:
            prompt_nll, loss = jnp.zeros((), jnp.float32), answer_nll
        return loss, (answer_nll, prompt_nll, aux)

    (_, (loss, prompt_nll, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"sft_loss": loss, "sft_prompt_loss": prompt_nll, "grad_norm": optax.tree.norm(grads)}
    if moe:
        params = balance_router_biases(
            graphdef, params, state.params, aux["expert_load"], moe_bias_rate
        )
        metrics.update(moe_load_metrics(aux["expert_load"]))
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


# ----- RL ------------------------------------------------------------------------------------
def _take_rows(batch, idx_M, num_rows):
    out = {k: jnp.take(v, idx_M, axis=0, mode="fill", fill_value=0) for k, v in batch.items()}
    out["train"] = out["train"] & (idx_M < num_rows)
    return out


def rl_update(graphdef, optimizer, rl: dict[str, Any], state: TrainState, batch):
    """One RL iteration's update over a whole rollout batch of step rows.

    Args:
      rl: static options: estimator, scope, invalid_penalty, dynamic_sampling, pass_rate_range,
        empg (dict or None), clip_low, clip_high, dual_clip, aggregation, kl_coef, kl_kind,
        entropy_coef, epochs, minibatch_rows, temperature (the rollout temperature of the
        training forward; the batch also carries `temperature` to override it), and optionally
        moe_bias_rate (the loss-free balance step of MoE router biases, default 0).
      batch: `agents.rows` of the rollout plus `temperature` (scalar).

    Returns `(state, metrics)`; metrics are means over the mini-batch updates plus batch stats.
    """
    rows = {k: v for k, v in batch.items() if k != "temperature"}
    temperature = batch["temperature"]
    adv, train, aux = step_advantages(
        rows,
        estimator=rl["estimator"],
        scope=rl["scope"],
        invalid_penalty=rl["invalid_penalty"],
        dynamic_sampling=rl["dynamic_sampling"],
        pass_rate_range=rl["pass_rate_range"],
        empg=rl["empg"],
    )
    data = {
        "prompt": rows["prompt_tokens"],
        "answer": rows["answer_tokens"],
        "mask": rows["answer_mask"].astype(bool),
        "old_logp": rows["old_log_probs"],
        "adv": adv,
        "train": train,
    }
    s = train.shape[0]
    m = min(rl["minibatch_rows"], s)
    num_train = jnp.sum(train)
    num_mb = (num_train + m - 1) // m
    key = jax.random.fold_in(state.key, state.step)
    moe = num_moe_layers(graphdef, state.params) > 0
    moe_rate = rl.get("moe_bias_rate", 0.0)

    def loss_fn(params, mb):
        mask = mb["mask"] & mb["train"][:, None]
        logp, logits, model_aux = answer_log_probs(
            graphdef, params, mb["prompt"], mb["answer"], mask, temperature, return_aux=True
        )
        loss, pg = ppo_policy_loss(
            logp,
            mb["old_logp"],
            mb["adv"],
            mask,
            clip_low=rl["clip_low"],
            clip_high=rl["clip_high"],
            dual_clip=rl["dual_clip"],
            aggregation=rl["aggregation"],
        )
        metrics = {
            "pg_loss": loss,
            "clip_fraction": pg["clip_fraction"],
            "approx_kl": pg["approx_kl"],
        }
        if rl["kl_coef"] > 0:
            ref_logp, _ = answer_log_probs(
                graphdef, state.ref_params, mb["prompt"], mb["answer"], mask, temperature
            )
            kl = masked_mean(kl_penalty(logp, ref_logp, rl["kl_kind"], mask), mask)
            loss = loss + rl["kl_coef"] * kl
            metrics["kl"] = kl
        ent = entropy_bonus(logits, mask)
        if rl["entropy_coef"] > 0:
            loss = loss - rl["entropy_coef"] * ent
        metrics["entropy"] = ent
        metrics["loss"] = loss
        if moe:
            metrics["expert_load"] = model_aux["expert_load"]
            metrics.update(moe_load_metrics(model_aux["expert_load"]))
        return loss, metrics

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def metric_zeros():
        names = ["pg_loss", "clip_fraction", "approx_kl", "entropy", "loss", "grad_norm"]
        if rl["kl_coef"] > 0:
            names.append("kl")
        if moe:
            names += ["moe/load_max_over_mean", "moe/load_min_over_mean"]
        return {n: jnp.zeros((), jnp.float32) for n in names}

    def epoch(e, carry):
        params, opt_state, sums, count = carry
        u = jax.random.uniform(jax.random.fold_in(key, e), (s,))
        perm = jnp.argsort(jnp.where(train, u, 2.0))
        pad = (-s) % m
        perm = jnp.concatenate([perm, jnp.full((pad,), s, perm.dtype)])

        def mb_body(c):
            i, params, opt_state, sums, count = c
            idx = jax.lax.dynamic_slice_in_dim(perm, i * m, m)
            mb = _take_rows(data, idx, s)
            (_, met), grads = grad_fn(params, mb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            if moe:
                load = met.pop("expert_load")
                new_params = balance_router_biases(graphdef, new_params, params, load, moe_rate)
            params = new_params
            met = {**met, "grad_norm": optax.tree.norm(grads)}
            sums = {k: sums[k] + met[k] for k in sums}
            return i + 1, params, opt_state, sums, count + 1

        _, params, opt_state, sums, count = jax.lax.while_loop(
            lambda c: c[0] < num_mb, mb_body, (jnp.int32(0), params, opt_state, sums, count)
        )
        return params, opt_state, sums, count

    params, opt_state, sums, count = jax.lax.fori_loop(
        0,
        rl["epochs"],
        epoch,
        (state.params, state.opt_state, metric_zeros(), jnp.int32(0)),
    )
    metrics = {k: v / jnp.maximum(count, 1) for k, v in sums.items()}
    valid = rows["valid"].astype(bool)
    ent = aux["step_entropy"]
    metrics.update(
        num_updates=count,
        num_train_rows=num_train,
        kept_row_fraction=aux["kept_row_fraction"],
        outcome_adv_abs_mean=aux["outcome_adv_abs_mean"],
        adv_mean=masked_mean(adv, train),
        adv_abs_mean=masked_mean(jnp.abs(adv), train),
        step_entropy_mean=masked_mean(ent, valid),
        step_entropy_p10=jnp.nanpercentile(jnp.where(valid, ent, jnp.nan), 10),
        step_entropy_p50=jnp.nanpercentile(jnp.where(valid, ent, jnp.nan), 50),
        step_entropy_p90=jnp.nanpercentile(jnp.where(valid, ent, jnp.nan), 90),
    )
    if "g" in aux:
        g = jnp.where(train, aux["g"], jnp.nan)
        metrics.update(
            empg_g_mean=masked_mean(aux["g"], train),
            empg_g_min=jnp.nanmin(g),
            empg_g_max=jnp.nanmax(g),
            empg_f_mean=masked_mean(aux["f"], train & (rows["next_step"] >= 0)),
        )
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics


def jit_sft_step(
    graphdef,
    optimizer,
    state_shardings=None,
    batch_sharding=None,
    moe_bias_rate: float = 0.0,
    prompt_weight: float = 0.0,
):
    """`jax.jit(sft_step)` with the static parts bound; the state is donated."""
    fn = functools.partial(
        sft_step,
        graphdef,
        optimizer,
        prompt_weight=float(prompt_weight),
        moe_bias_rate=moe_bias_rate,
    )
    return _jit_step(fn, state_shardings, batch_sharding)


def _jit_step(fn, state_shardings, batch_sharding):
    """jit of a `(state, batch) -> (state, metrics)` step, state donated; placed when given."""
    if state_shardings is None:
        return jax.jit(fn, donate_argnums=0)
    return jax.jit(
        fn,
        in_shardings=(state_shardings, batch_sharding),
        out_shardings=(state_shardings, None),
        donate_argnums=0,
    )


def jit_rl_update(graphdef, optimizer, rl, state_shardings=None, batch_sharding=None):
    """`jax.jit(rl_update)` with the static parts bound; the state is donated."""
    fn = functools.partial(rl_update, graphdef, optimizer, rl)
    return _jit_step(fn, state_shardings, batch_sharding)
