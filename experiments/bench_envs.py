"""Environment steps per second of the built-in JAX environments vs a real TextWorld game.

    python -m experiments.bench_envs                          # every built-in env, B = 1..4096
    python -m experiments.bench_envs --envs=household --batch_sizes=1,64,1024,4096
    python -m experiments.bench_envs --textworld_steps=300    # + TextWorld (needs `textworld`)

Each JAX measurement runs `--steps` environment steps inside one jitted `lax.scan` over a
vmapped batch of B episodes; every step picks a uniformly random admissible action (read from
`info`, as an agent would) and calls `env.step`, which parses the action tokens. Compilation is
excluded; the timed calls repeat for at least `--min-time` seconds. Finished episodes stay in
the batch as frozen no-ops (the trainer's scan works the same way), so every row costs a full step.

TextWorld: a game made offline with `tw-make custom --world-size 5 --nb-objects 10
--quest-length 5`, stepped on the host with random admissible commands, with and
without requesting the admissible commands; through the batched adapter of
`empg_jax.envs.external` as well when that module provides one. Target: >= 100,000
household steps/s on 2 CPU cores at the best batch size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from absl import flags

from empg_jax import envs
from empg_jax.envs import core
from experiments import _cli


def bench_jax_env(name: str, batch_sizes, steps: int, min_time: float) -> list[dict]:
    env = envs.make(name)
    params = env.default_params(split=env.splits[0])
    rows = []
    for B in batch_sizes:
        reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))

        def body(state, key, B=B):
            keys = jax.random.split(key, B)
            info = jax.vmap(env.info, in_axes=(0, None))(state, params)
            actions = jax.vmap(core.random_admissible)(keys, info)
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)
            return out[0], out[2].sum()

        run = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, steps)))
        state, _ = reset(jax.random.split(jax.random.PRNGKey(0), B), params)
        t0 = time.perf_counter()
        out = jax.block_until_ready(run(state, jax.random.PRNGKey(1)))
        compile_s = time.perf_counter() - t0
        reps, t0 = 0, time.perf_counter()
        while True:
            out = jax.block_until_ready(run(state, jax.random.PRNGKey(2 + reps)))
            reps += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        del out
        sps = B * steps * reps / elapsed
        rows.append({"env": name, "batch": B, "steps_per_s": sps, "compile_s": compile_s})
        print(f"{name:10s} B={B:5d}  {sps:14,.0f} steps/s  (compile {compile_s:.1f}s)", flush=True)
    return rows


def make_textworld_game(workdir: str) -> str:
    """Generates the benchmark TextWorld game offline; returns its path."""
    path = os.path.join(workdir, "bench_game.z8")
    tw_make = shutil.which("tw-make") or os.path.join(os.path.dirname(sys.executable), "tw-make")
    cmd = [tw_make, "custom", "--world-size", "5", "--nb-objects", "10", "--quest-length", "5",
           "--seed", "1234", "--output", path, "-f", "--silent"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return path


def bench_textworld(path: str, steps: int, admissible: bool) -> float:
    """Host steps/s of one TextWorld game playing random admissible commands.

    With `admissible=False` the engine is not asked for admissible commands (much cheaper per
    step); the agent then draws from the first state's list.
    """
    import textworld

    probe = textworld.start(path, textworld.EnvInfos(admissible_commands=True))
    first_commands = probe.reset()["admissible_commands"]
    probe.close()
    env = textworld.start(path, textworld.EnvInfos(admissible_commands=admissible))
    rng = np.random.default_rng(0)
    env.reset()
    commands = first_commands
    t0 = time.perf_counter()
    for _ in range(steps):
        state, _, done = env.step(commands[rng.integers(len(commands))])
        if admissible:
            commands = state["admissible_commands"] or first_commands
        if done:
            env.reset()
            commands = first_commands
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


FLAGS = flags.FlagValues()
flags.DEFINE_string("envs", ",".join(envs.BUILTIN), "comma-separated names", flag_values=FLAGS)
flags.DEFINE_string("batch_sizes", "1,4,16,64,256,1024,4096", "batch sizes", flag_values=FLAGS)
flags.DEFINE_integer("steps", 50, "steps per timed jitted call", flag_values=FLAGS)
flags.DEFINE_float("min_time", 2.0, "seconds per measurement", flag_values=FLAGS)
flags.DEFINE_integer("textworld_steps", 300, "0 skips TextWorld", flag_values=FLAGS)
flags.DEFINE_string("out", None, "write the results as JSON here", flag_values=FLAGS)


def _main() -> int:
    args = FLAGS
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    except ValueError:
        raise _cli.UsageError(f"--batch_sizes={args.batch_sizes}: not integers") from None
    if not batch_sizes or any(b <= 0 for b in batch_sizes):
        raise _cli.UsageError(f"batch sizes must be positive: {batch_sizes}")

    print(f"devices: {jax.devices()}  cpu cores: {os.cpu_count()}", flush=True)
    results: dict = {"jax": [], "textworld": {}, "errors": {}}
    for name in [n for n in args.envs.split(",") if n]:
        try:
            results["jax"] += bench_jax_env(name, batch_sizes, args.steps, args.min_time)
        except Exception as e:  # report and go on: one broken env should not hide the others
            results["errors"][name] = f"{type(e).__name__}: {e}"
            print(f"{name}: FAILED {results['errors'][name]}", flush=True)

    if args.textworld_steps > 0:
        if importlib.util.find_spec("textworld") is None:
            results["textworld"]["skipped"] = "textworld is not installed (extra [textworld])"
        else:
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                game = make_textworld_game(tmp)
                print(f"tw-make: {time.perf_counter() - t0:.1f}s", flush=True)
                for adm in (True, False):
                    sps = bench_textworld(game, args.textworld_steps, admissible=adm)
                    key = "with_admissible" if adm else "without_admissible"
                    results["textworld"][key] = sps
                    print(f"textworld {key}: {sps:,.1f} steps/s", flush=True)
                results["textworld"].update(_bench_adapter(game, args.textworld_steps))

    best = {}
    for r in results["jax"]:
        if r["steps_per_s"] > best.get(r["env"], {}).get("steps_per_s", 0):
            best[r["env"]] = r
    tw = results["textworld"].get("with_admissible")
    if best:
        _print_table(results, batch_sizes, best, tw)
    for k, v in results["textworld"].items():
        unit = " steps/s" if k.endswith(("admissible", "steps_per_s")) else ""
        print(f"textworld {k}: {v if isinstance(v, str) else f'{v:,.1f}'}{unit}")
    results["best"] = best
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def _print_table(results: dict, batch_sizes: list[int], best: dict, tw: float | None) -> None:
    print("\n| env | " + " | ".join(f"B={b}" for b in batch_sizes) + " | best |")
    print("|---|" + "---|" * (len(batch_sizes) + 1))
    for name in best:
        cells = [
            f"{r['steps_per_s']:,.0f}"
            for b in batch_sizes
            for r in results["jax"]
            if r["env"] == name and r["batch"] == b
        ]
        ratio = f" ({best[name]['steps_per_s'] / tw:,.0f}x TextWorld)" if tw else ""
        print(f"| {name} | " + " | ".join(cells) + f" | {best[name]['steps_per_s']:,.0f}{ratio} |")


def _bench_adapter(game: str, steps: int, batch: int = 8) -> dict:
    """TextWorld through `empg_jax.envs.external.ExternalBatch` (B copies of the game stepped in
    its thread pool, token responses in, token observations and admissible lists out)."""
    if importlib.util.find_spec("empg_jax.envs.external") is None:
        return {"adapter": "empg_jax.envs.external is not there"}
    from empg_jax.envs import external

    # The word vocabulary of this game: the text seen along the walkthrough and random play.
    probe = external.TextWorldGame(game)
    obs, info = probe.reset(0)
    texts = [obs, info.task] + list(info.admissible or [])
    rng = np.random.default_rng(0)
    for cmd in probe.walkthrough() + [None] * 200:
        if cmd is None:
            cmd = info.admissible[rng.integers(len(info.admissible))]
        obs, _, done, info = probe.step(cmd)
        texts += [obs] + list(info.admissible or [])
        if done:
            obs, info = probe.reset(0)
    probe.close()
    tok = external.word_tokenizer_for(texts)
    env = external.ExternalBatch([external.TextWorldGame(game) for _ in range(batch)], tok)
    _, info = env.reset(list(range(batch)))
    live = np.ones(batch, bool)
    n, invalid, t0 = 0, 0, time.perf_counter()
    while n < steps:
        responses = []
        for i in range(batch):
            k = max(int(info["num_admissible"][i]), 1)
            cmd = tok.decode(info["admissible"][i, rng.integers(k)])
            responses.append(tok.encode_padded(f"<action> {cmd} </action>", 32, truncate=True))
        _, _, term, trunc, info = env.step(np.stack(responses))
        invalid += int(info["invalid"][live].sum())
        n += int(live.sum())  # only live episodes reach the game; finished ones are no-ops
        live &= ~(term | trunc)
        if not live.any():
            _, info = env.reset(list(range(batch)))
            live[:] = True
    dt = time.perf_counter() - t0
    env.close()
    print(f"textworld adapter B={batch}: {n / dt:,.1f} steps/s ({invalid} invalid)", flush=True)
    return {"adapter_steps_per_s": n / dt, "adapter_batch": batch, "adapter_invalid": invalid}


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
