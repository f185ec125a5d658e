"""Resuming a run from its latest checkpoint so that it continues exactly like the uninterrupted
run: every random draw derives from `TrainState.key` and a counter, the SFT data is regenerated
from the seed, and the loop state (`meta`: phase, counters, sampling temperature, plateau
tracker, the before-RL evaluation) is saved as JSON beside the train state.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from empg_jax.training.checkpoint import Checkpointer
from empg_jax.training.config import ConfigError
from empg_jax.training.distributed import barrier, is_primary
from empg_jax.training.experiment import Experiment
from empg_jax.training.metrics import MetricsWriter
from empg_jax.training.state import TrainState


def initial_meta(c: ml_collections.ConfigDict) -> dict[str, Any]:
    """The loop state of a run that has not started."""
    return {
        "phase": "sft" if c.sft.steps > 0 else "rl",
        "sft_step": 0,
        "rl_iteration": 0,
        "temperature": float(c.rl.temperature),
        "plateau_best": -1.0,
        "plateau_count": 0,
        "before": None,
    }


def current_step(meta: dict[str, Any]) -> int:
    return meta["sft_step"] if meta["phase"] == "sft" else meta["rl_iteration"]


def restore_latest(
    exp: Experiment,
    ckpt: Checkpointer,
    writer: MetricsWriter,
    state: TrainState,
    meta: dict[str, Any],
    rl_key: jax.Array,
) -> tuple[TrainState, dict[str, Any], bool]:
    """The newest intact checkpoint's state and loop state, fitted to the current config.

    A damaged newer step is reported in one line, set aside (`Checkpointer.set_aside`) and the
    previous step is used. Returns `(state, meta, resumed)`; `resumed` is False (and the inputs
    come back unchanged) when there is no checkpoint or `checkpoint.resume` is off.
    """
    c = exp.config
    if not c.checkpoint.resume or not ckpt.steps():
        return state, meta, False

    def restore(step: int):
        saved = ckpt.read_meta(step)
        # A checkpoint saved with another rl.kl_coef holds (or lacks) the KL reference: restore
        # it as saved; `match_reference` then adds or drops it.
        template = state
        if saved["phase"] != meta["phase"] or saved.get("reference") != (
            state.ref_params is not None
        ):
            template = exp.new_state(
                exp.init_params, saved["phase"], rl_key, with_ref=bool(saved.get("reference"))
            )
        return ckpt.restore(template, step)

    found = ckpt.restore_newest(restore)
    for step, reason in found.skipped:
        if is_primary():
            where = ckpt.set_aside(step)
            writer.log(f"[resume] checkpoint {step} is damaged ({reason}); moved to {where}")
    if found.skipped:
        barrier("damaged checkpoints set aside")
        ckpt.manager.reload()
    state, meta = found.value
    want_ref = meta["phase"] == "rl" and exp.needs_reference
    state = match_reference(state, want_ref, meta, found.step)
    # The saved temperature is run state only once the plateau schedule may have raised it;
    # before RL starts, or with the schedule off, it is the config's (so an RL run started from
    # an SFT checkpoint samples at its own `rl.temperature`).
    if meta["rl_iteration"] == 0 or not c.rl.plateau.enabled:
        if meta["temperature"] != float(c.rl.temperature):
            writer.log(
                f"[resume] sampling temperature {float(c.rl.temperature):g} from the config "
                f"(checkpoint: {meta['temperature']:g})"
            )
        meta["temperature"] = float(c.rl.temperature)
    step_now = current_step(meta)
    writer.truncate(meta["phase"], step_now, keep_before=meta["before"] is not None)
    writer.log(f"[resume] from checkpoint {found.step} ({meta['phase']} step {step_now})")
    return state, meta, True


def match_reference(state: TrainState, want_ref: bool, meta: dict, step: int) -> TrainState:
    """Adds or drops the frozen KL reference of a restored state to match `rl.kl_coef`.

    At the end of SFT (RL iteration 0) the reference is the current parameters, as in an
    uninterrupted run; later in RL the SFT parameters are gone, so enabling KL there is an error.
    """
    has_ref = state.ref_params is not None
    if want_ref == has_ref:
        return state
    if not want_ref:
        return state.replace(ref_params=None)
    if meta["phase"] == "rl" and meta["rl_iteration"] == 0:
        return state.replace(ref_params=jax.tree.map(jnp.copy, state.params))
    raise ConfigError(
        f"rl.kl_coef > 0 but checkpoint {step} (RL iteration {meta['rl_iteration']}) was saved "
        "without a KL reference; resume with rl.kl_coef=0 or start from the end-of-SFT checkpoint"
    )
