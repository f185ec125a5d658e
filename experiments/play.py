"""Play a built-in text environment in the terminal.

    python -m experiments.play --env=household                  # interactive
    python -m experiments.play --env=household --oracle         # watch the oracle (no TTY needed)
    python -m experiments.play --env=shop --script=moves.txt    # one action per line
    python -m experiments.play --env=household --actions="look; go to fridge 1; inventory"

Interactive input: the number of an admissible action, or any action text (typed text goes through
the environment's own parser, so a mistyped action gives "Nothing happens."). Commands:
`:oracle` plays the oracle's move, `:hint` shows it, `:state` renders the full state, `:quit`.
"""

from __future__ import annotations

import functools
import os
import sys

import jax
import numpy as np
from absl import flags

from empg_jax import envs
from experiments import _cli

FLAGS = flags.FlagValues()
flags.DEFINE_string("env", "household", "environment name", flag_values=FLAGS)
flags.DEFINE_string("split", None, "task split (default: the env's first split)", flag_values=FLAGS)
flags.DEFINE_integer("task", None, "task index (default: random)", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "random seed", flag_values=FLAGS)
flags.DEFINE_enum("tokenizer", "shared", ["shared", "own"], "vocabulary", flag_values=FLAGS)
flags.DEFINE_bool("oracle", False, "let the oracle play", flag_values=FLAGS)
flags.DEFINE_string("script", None, "file with one action per line", flag_values=FLAGS)
flags.DEFINE_string("actions", None, 'actions separated by ";"', flag_values=FLAGS)
flags.DEFINE_bool("direct", False, "oracle answers without <think>", flag_values=FLAGS)
flags.DEFINE_integer("max_steps", None, "stop after this many steps", flag_values=FLAGS)
flags.DEFINE_bool("quiet_admissible", False, "do not list admissible actions", flag_values=FLAGS)


@functools.lru_cache(maxsize=8)
def _env_and_jits(name: str, tokenizer: str):
    """The environment and its jitted functions, built once per process (compiles are reused)."""
    env = envs.make(name, tokenizer=tokenizer)
    jits = {
        "reset": jax.jit(env.reset),
        "reset_to_task": jax.jit(env.reset_to_task),
        "step": jax.jit(env.step),
        "oracle": jax.jit(env.oracle_response, static_argnames="thinking"),
        "info": jax.jit(env.info),
    }
    return env, jits


class Session:
    """One episode with jitted reset/step/oracle and text in and out."""

    def __init__(self, env, jits, params, key, task):
        self.env, self.params, self.jits = env, params, jits
        self._step = jits["step"]
        self._oracle = jits["oracle"]
        self.key = key
        if task is None:
            self.key, k = jax.random.split(self.key)
            self.state, obs = jits["reset"](k, params)
        else:
            self.state, obs = jits["reset_to_task"](task, params)
        self.obs = obs
        self.total = 0.0
        self.done = False

    def admissible(self) -> list[str]:
        info = self.jits["info"](self.state, self.params)
        n = int(info["num_admissible"])
        return [self.env.decode(r) for r in np.asarray(info["admissible"])[:n]]

    def oracle_answer(self, thinking: bool) -> np.ndarray:
        self.key, k = jax.random.split(self.key)
        return np.asarray(self._oracle(k, self.state, self.params, thinking=thinking))

    def act(self, tokens) -> tuple[str, float, bool]:
        self.key, k = jax.random.split(self.key)
        out = self._step(k, self.state, np.asarray(tokens, np.int32), self.params)
        self.state, self.obs, reward, term, trunc, info = out
        self.total += float(reward)
        self.done = bool(term) or bool(trunc)
        note = " (invalid)" if bool(info["invalid"]) else ""
        return note, float(reward), self.done


def _main() -> int:
    args = FLAGS
    if sum([args.oracle, args.script is not None, args.actions is not None]) > 1:
        raise _cli.UsageError("choose one of --oracle, --script and --actions")
    if args.env not in envs.names():
        raise _cli.UsageError(f"unknown environment {args.env!r}; registered: {envs.names()}")
    if args.script is not None and not os.path.isfile(args.script):
        raise _cli.UsageError(f"--script={args.script}: no such file")
    env, jits = _env_and_jits(args.env, args.tokenizer)
    if args.split is not None and args.split not in env.splits:
        raise _cli.UsageError(f"split {args.split!r} not in {args.env}'s splits {env.splits}")
    split = args.split or env.splits[0]
    params = env.default_params(split=split)
    sess = Session(env, jits, params, jax.random.PRNGKey(args.seed), args.task)
    out = sys.stdout
    print(f"== {args.env} / {split} ==", file=out)
    print(env.decode(sess.obs), file=out)

    scripted: list[str] | None = None
    if args.script:
        with open(args.script) as f:
            scripted = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    elif args.actions is not None:
        scripted = [a.strip() for a in args.actions.split(";") if a.strip()]
    interactive = not args.oracle and scripted is None
    limit = args.max_steps or int(params.horizon)

    steps = 0
    while not sess.done and steps < limit:
        if not args.quiet_admissible:
            adm = sess.admissible()
            if interactive:
                print("\nadmissible: " + "  ".join(f"[{i}] {a}" for i, a in enumerate(adm)))
            else:
                print(f"\nadmissible ({len(adm)}): " + ", ".join(adm), file=out)
        if args.oracle:
            tokens = sess.oracle_answer(thinking=not args.direct)
            shown = env.decode(tokens)
        elif scripted is not None:
            if steps >= len(scripted):
                break
            shown = scripted[steps]
            tokens = env.encode(shown, len(env.tokenizer.encode(shown)) + 1)
        else:
            try:
                line = input("> ").strip()
            except EOFError:
                break
            if line in (":quit", ":q"):
                break
            if line == ":state":
                print(env.render(sess.state))
                continue
            if line == ":hint":
                print(env.decode(sess.oracle_answer(thinking=True)))
                continue
            if line == ":oracle":
                tokens = sess.oracle_answer(thinking=True)
                shown = env.decode(tokens)
            else:
                adm = sess.admissible()
                shown = adm[int(line)] if line.isdigit() and int(line) < len(adm) else line
                tokens = env.encode(shown, len(env.tokenizer.encode(shown)) + 1)
        note, reward, done = sess.act(tokens)
        steps += 1
        print(f"\n[{steps}] > {shown}{note}", file=out)
        print(env.decode(sess.obs) + (f"   (reward {reward:g})" if reward else ""), file=out)

    info = jits["info"](sess.state, params)
    won, score = bool(info["won"]), float(info["score"])
    print(f"\n== steps {steps}, return {sess.total:g}, won {won}, score {score:.3f} ==", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
