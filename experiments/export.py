"""Export a trained policy as a Hugging Face checkpoint that any HF-compatible server loads.

    python -m experiments.export --workdir=runs/x --out=runs/x/hf [--step=N]

Restores the policy parameters of the run's latest checkpoint (or of global step N) and writes
`config.json`, `model.safetensors` and, for a run with a Hugging Face tokenizer, its
`tokenizer.json`, `tokenizer_config.json` (chat template) and `generation_config.json` (stop
ids). `transformers` loads the folder with the same logits. Word-level runs are exported too
(the architecture is Qwen2's), without tokenizer files: their vocabulary is the run's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from experiments import _cli

FLAGS = flags.FlagValues()
flags.DEFINE_string("workdir", None, "run folder of experiments.train", flag_values=FLAGS)
flags.DEFINE_string("out", None, "folder to write the checkpoint into", flag_values=FLAGS)
flags.DEFINE_integer("step", None, "checkpoint step (default: latest)", flag_values=FLAGS)
_cli.required(FLAGS, "workdir", "out")


def _main() -> int:
    workdir, out = Path(FLAGS.workdir), Path(FLAGS.out)
    if not (workdir / "config.json").is_file():
        raise _cli.UsageError(f"{workdir} has no config.json (not a run of experiments.train)")
    if out.exists() and any(out.iterdir()):
        raise _cli.UsageError(f"--out={out} exists and is not empty")
    from flax import nnx

    from empg_jax.agents import ChatCodec
    from empg_jax.models import to_hf
    from empg_jax.training import config as config_lib
    from empg_jax.training import load_params

    config = config_lib.from_json(workdir / "config.json")
    try:
        exp, params, meta = load_params(config, workdir, FLAGS.step)
    except ValueError as e:
        raise _cli.UsageError(str(e)) from None
    model = nnx.merge(exp.graphdef, params)
    chat = exp.codec.chat if isinstance(exp.codec, ChatCodec) else None
    to_hf(model, model.cfg, str(out), tokenizer=chat)
    print(f"[export] checkpoint {meta['global_step']} of {workdir} -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
