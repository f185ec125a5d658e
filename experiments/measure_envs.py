"""Measures the shop / search agent baselines and the TextWorld adapter's speed (README figures).

    python -m experiments.measure_envs --episodes=256 --textworld_steps=200 --oracle_all=8000

Prints, per environment and split: the success rate and mean score of the oracle (thinking mode),
of a uniformly random admissible-action agent (`core.random_policy`), and of the shop's random
agent that first searches with the instruction's words, or the search environment's random agent
(search or answer a random entity of the episode); then TextWorld steps per second through
`external.ExternalBatch` when the `textworld` extra is installed.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from empg_jax import envs
from empg_jax.agents import policy_act, rollout
from empg_jax.envs import core, external
from experiments import _cli


def _compact(parts, env):
    tok = env.tokenizer
    return core.compact_tokens(jnp.concatenate(parts), env.action_len, tok.pad_id)


def _policies(env, params):
    tok = env.tokenizer
    ids = {w: jnp.array([tok.token_to_id(w)]) for w in ("search", "answer", "[", "]")}

    def shop_search_first(key, state, obs, info):
        words = env.instructions[state.goal][: env.action_len - 3]
        query = _compact([ids["search"], ids["["], words, ids["]"]], env)
        act = jnp.where(state.page == 0, query, core.random_admissible(key, info))
        return core.format_response(None, act, tok, env.response_len)

    def search_random(key, state, obs, info):
        k1, k2 = jax.random.split(key)
        name = state.names[jax.random.randint(k1, (), 0, state.names.shape[0])]
        verb = jnp.where(jax.random.bernoulli(k2), ids["search"], ids["answer"])
        act = _compact([verb, ids["["], name, ids["]"]], env)
        return core.format_response(None, act, tok, env.response_len)

    return {
        "oracle": core.oracle_policy(env, params, thinking=True),
        "random admissible": core.random_policy(env),
        "random (searches the instruction)" if env.name == "shop" else "random entity": (
            shop_search_first if env.name == "shop" else search_random
        ),
    }


def agent_table(name: str, episodes: int, seed: int = 0) -> list[tuple]:
    """Success and mean score per split and policy (one compiled program per environment)."""
    env = envs.make(name, tokenizer="own")
    params = env.default_params(env.splits[0])  # stepping does not depend on the split
    policies = _policies(env, params)
    labels = list(policies)

    horizon = int(params.horizon)

    @functools.partial(jax.jit, static_argnums=0)
    def run(n, key, split_index, mode):
        def policy(key, state, obs, info):
            outs = [pol(key, state, obs, info) for pol in policies.values()]
            width = max(x.shape[0] for x in outs)
            return jnp.stack([jnp.pad(x, (0, width - x.shape[0])) for x in outs])[mode]

        ids = jnp.arange(n)
        state, obs = jax.vmap(env.reset_in_split, in_axes=(0, None))(ids, split_index)
        act = policy_act(env, policy, env.response_len)
        ro = rollout(
            env, None, None, None, key, state, obs, params, ids,
            horizon=horizon, answer_len=env.response_len, thinking=True, act=act,
        )  # fmt: skip
        return ro.won_N, ro.score_N

    rows = []
    for split_index, split in enumerate(env.splits):
        n = min(episodes, env.default_params(split).num_tasks)
        for mode, label in enumerate(labels):
            won, score = run(n, jax.random.key(seed), split_index, mode)
            rows.append((name, split, label, float(np.mean(won)), float(np.mean(score))))
            print(
                f"{name:7s} {split:9s} {label:34s} success {rows[-1][3]:.3f} "
                f"score {rows[-1][4]:.3f}",
                flush=True,
            )
    return rows


def oracle_all(name: str, limit: int = 2000, chunk: int = 1024) -> None:
    """Runs the direct-mode oracle on the first `limit` tasks of every split (all shop goals by
    default for `shop`) and prints its success rate and, for `search`, the solvable fraction."""
    env = envs.make(name, tokenizer="own")
    params = env.default_params(env.splits[0])
    policy = core.oracle_policy(env, params, thinking=False)

    horizon = int(params.horizon)

    @jax.jit
    def run(ids, split_index):
        state, obs = jax.vmap(env.reset_in_split, in_axes=(0, None))(ids, split_index)
        ro = rollout(
            env, None, None, None, jax.random.key(0), state, obs, params, ids,
            horizon=horizon, answer_len=env.response_len, thinking=False,
            act=policy_act(env, policy, env.response_len),
        )  # fmt: skip
        if hasattr(env, "solvable"):
            solvable = jax.vmap(env.solvable)(state)
        else:
            solvable = jnp.ones(ids.shape, bool)
        return ro.won_N, solvable

    for split_index, split in enumerate(env.splits):
        n = min(env.default_params(split).num_tasks, limit)
        won, solvable = [], []
        for start in range(0, n, chunk):
            ids = jnp.minimum(jnp.arange(start, start + chunk), n - 1)
            w, s = run(ids, split_index)
            won.append(np.asarray(w)[: n - start])
            solvable.append(np.asarray(s)[: n - start])
        won, solvable = np.concatenate(won), np.concatenate(solvable)
        print(
            f"{name:7s} {split:9s} oracle on {n} tasks: success {won.mean():.4f}, solvable "
            f"{solvable.mean():.4f}, success on solvable {won[solvable].mean():.4f}",
            flush=True,
        )


def textworld_speed(steps: int, batch_size: int = 4) -> float | None:
    try:
        import textworld  # noqa: F401
    except ImportError:
        print("textworld not installed: skipping the adapter timing")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = external.make_textworld_games(tmp, [1234])[0]
        games = [external.TextWorldGame(path) for _ in range(batch_size)]
        text, info = games[0].reset(0)
        tok = external.word_tokenizer_for([text, *info.admissible])
        batch = external.ExternalBatch(games, tok, obs_len=128, action_len=12, horizon=10**9)
        obs, info = batch.reset([0] * batch_size)
        rng = np.random.default_rng(0)
        start, done = time.perf_counter(), 0
        while done < steps:
            rows = [
                info["admissible"][i, rng.integers(max(info["num_admissible"][i], 1))]
                for i in range(batch_size)
            ]
            obs, _, term, _, info = batch.step(np.stack(rows))
            done += batch_size
            if term.any():
                obs, info = batch.reset([0] * batch_size)
        rate = done / (time.perf_counter() - start)
        batch.close()
    print(f"textworld adapter: {rate:.1f} env steps/s (batch {batch_size}, admissible lists on)")
    return rate


FLAGS = flags.FlagValues()
flags.DEFINE_integer("episodes", 256, "episodes per agent and split", flag_values=FLAGS)
flags.DEFINE_integer("textworld_steps", 200, "TextWorld adapter steps (0 skips)", flag_values=FLAGS)
flags.DEFINE_string("envs", "shop,search", "comma-separated environment names", flag_values=FLAGS)
flags.DEFINE_integer(
    "oracle_all", 0, "also run the oracle on the first N tasks of every split", flag_values=FLAGS
)


def _main() -> None:
    args = FLAGS
    if args.episodes <= 0:
        raise _cli.UsageError(f"--episodes must be positive, got {args.episodes}")
    names = [name for name in args.envs.split(",") if name]
    unknown = [name for name in names if name not in envs.names()]
    if unknown:
        raise _cli.UsageError(f"unknown environment(s) {unknown}; registered: {list(envs.names())}")
    for name in names:
        agent_table(name, args.episodes)
        if args.oracle_all > 0:
            oracle_all(name, args.oracle_all)
    if args.textworld_steps > 0:
        textworld_speed(args.textworld_steps)


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
