"""The run config's schema and defaults: every field the trainer reads, with its default.

Sections: env, model, agent, sft, rl, mesh, checkpoint, eval, log. Defaults are CPU-sized (a
~0.2M-parameter word-level model, short horizon, 8 tasks x 4 samples) so a run finishes in minutes
on 2 cores. The experiment configs under `configs/` start from `get_config` and change fields;
`training.config.validate` rejects any key that is not here. Any field can be overridden on the
command line, e.g. `--config.rl.empg.zeta=0.05`.
"""

from __future__ import annotations

import ml_collections

#: Evaluation splits per environment (others: "test").
EVAL_SPLITS = {
    "household": ("valid_seen", "valid_unseen"),
    "search": ("test_id", "test_ood"),
    "workforce": ("test_seen", "test_unseen"),
}
#: CPU-sized prompt and answer lengths where the defaults (352, 12) cannot hold the environment's
#: longest prompt or action (shop: 400 and 27 tokens, search: 385 and 19).
CPU_LENGTHS = {"shop": (416, 28), "search": (400, 20), "workforce": (352, 64)}


def get_config(env: str = "household") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    # A NaN/inf loss, gradient norm, reward or step entropy: "stop" the run (exit status 1,
    # nothing damaged is saved) or "skip" the update that met it.
    c.nonfinite = "stop"

    c.env = ml_collections.ConfigDict()
    c.env.name = env
    c.env.horizon = 15  # CPU default; the paper uses PAPER_HORIZON[env]
    c.env.train_split = "train"
    c.env.eval_splits = EVAL_SPLITS.get(env, ("test",))
    c.env.max_objects = 12 if env == "household" else 0  # household size knob (0: env default)
    c.env.task_types = ()  # household or search subset of task types (empty: all)
    c.env.rooms = ()  # household subset of rooms (empty: all four)
    c.env.num_products = 0  # shop catalogue size (0: the env default, 1200)
    c.env.num_test_goals = 0  # shop goals in `test` (0: the env default, 500)
    c.env.p_fail = 0.0  # workforce: probability that a worker call fails
    c.env.monolithic = False  # workforce: the agent calls the workers itself (no planner)

    c.model = ml_collections.ConfigDict()
    c.model.preset = "tiny"  # tiny | small | hf
    c.model.hidden_size = 64
    c.model.num_layers = 2
    c.model.num_heads = 4
    c.model.num_kv_heads = 2
    c.model.intermediate_size = 256
    c.model.hf_checkpoint = ""  # folder with config.json + *.safetensors (preset "hf")
    # The policy's tokenizer: "" = the environments' word ids, or the checkpoint's own
    # (tokenizer.json) when model.hf_checkpoint is set; "qwen2.5" = the offline Qwen2.5
    # vocabulary (e.g. a random tiny model with the real vocabulary); or a folder.
    c.model.tokenizer = ""
    # GLM-4.5-style MoE for the tiny/small presets (num_experts 0: dense). The router bias takes
    # a loss-free balance step of moe_bias_rate after every optimiser step (GLM-4.5: 0.001).
    c.model.num_experts = 0
    c.model.experts_per_token = 2
    c.model.moe_intermediate_size = 64
    c.model.first_dense_layers = 1
    c.model.moe_bias_rate = 0.001
    c.model.dtype = "float32"

    c.agent = ml_collections.ConfigDict()
    c.agent.mode = "direct"  # direct | thinking (GLM-4.5's hybrid modes)
    c.agent.history = 2  # h, verl-agent's history_length
    c.agent.prompt_len = CPU_LENGTHS.get(env, (352, 12))[0]
    c.agent.obs_tokens = 48
    c.agent.history_obs_tokens = 16
    c.agent.admissible_rows = 32
    c.agent.admissible_tokens = 128
    c.agent.answer_len = CPU_LENGTHS.get(env, (352, 12))[1]  # in the policy's tokens
    # The policy's prompt length in its own tokens with a Hugging Face tokenizer (0: 1.5 x
    # prompt_len plus the chat template); agent.prompt_len counts the environment's words.
    c.agent.model_prompt_len = 0
    c.agent.top_k = 0
    # The sampler's prefill (`models.sample`): chunks of this many real tokens, so prompt
    # padding is not computed (0: one prefill over all prompt slots); share_prefill computes
    # the prompt prefix shared by a group's rollouts once. Both: same samples to float
    # round-off, measured faster on the default experiment (docs/results/bench_rl_iteration.md).
    c.agent.prefill_chunk = 32
    c.agent.share_prefill = True

    c.sft = ml_collections.ConfigDict()
    c.sft.steps = 300
    c.sft.batch_rows = 32
    c.sft.lr = 2e-3
    c.sft.schedule = "constant"  # constant | cosine (warm-up, then cosine to lr/10 at sft.steps)
    c.sft.warmup_steps = 0
    c.sft.weight_decay = 0.0
    c.sft.grad_clip = 1.0
    c.sft.demo_episodes = 256
    c.sft.prompt_weight = 0.0  # > 0 adds the prompt tokens' NLL ("train on inputs")
    c.sft.noise = 0.3  # share of random admissible actions in the demonstrations
    c.sft.success_only = False  # train only on demonstration episodes that won
    # Demonstration rows: "tfds" writes them once to <workdir>/data (array_record) and reads them
    # through grain; "memory" keeps them in memory (the fast path for tiny runs). Same batches.
    c.sft.data = "tfds"

    c.rl = ml_collections.ConfigDict()
    c.rl.algorithm = "grpo"  # grpo | dapo | dpo
    c.rl.iterations = 30
    c.rl.tasks_per_iter = 8  # B
    c.rl.group_size = 4  # G
    c.rl.temperature = 1.0
    c.rl.estimator = "grpo"  # grpo | drgrpo | rloo
    c.rl.scope = "episode"  # episode | cross_step
    c.rl.invalid_penalty = 0.1
    c.rl.dynamic_sampling = False
    c.rl.max_resample = 0
    c.rl.pass_rate_filter = False
    c.rl.pass_rate_lo = 0.0
    c.rl.pass_rate_hi = 1.0
    c.rl.clip_low = 0.2
    c.rl.clip_high = 0.2
    c.rl.dual_clip = 3.0  # 0 disables
    c.rl.aggregation = "token-mean"
    c.rl.kl_coef = 0.0
    c.rl.kl_kind = "k3"
    c.rl.entropy_coef = 0.0
    c.rl.epochs = 1
    c.rl.minibatch_rows = 128
    # The update's forward over packed streams (no prompt padding, no filler rows) of pack_len
    # tokens (0: automatic, `training.packing.auto_pack_len`); share_prefixes computes a prompt
    # prefix shared by rows of a mini-batch once. Both on: measured faster on the default
    # experiment at equal results (docs/results/bench_rl_iteration.md). pack=False: rows padded
    # to P + L (MoE models and multi-device meshes always are).
    c.rl.pack = True
    c.rl.pack_len = 0
    c.rl.share_prefixes = True
    c.rl.lr = 3e-4
    c.rl.weight_decay = 0.01
    c.rl.grad_clip = 1.0
    # DPO (rl.algorithm="dpo"): (success, failure) pairs of each group against the SFT policy.
    c.rl.dpo_beta = 0.1
    c.rl.dpo_label_smoothing = 0.0
    c.rl.dpo_smoothing = "conservative"  # conservative (cDPO) | robust (rDPO)
    # Logit-dynamics telemetry (`training.telemetry`): the measured logit step of this many
    # trained rows against |A| sqrt(1 - 2P_c + C), by step-entropy quintile; 0 disables it.
    c.rl.telemetry_rows = 64
    c.rl.empg = ml_collections.ConfigDict()
    c.rl.empg.enabled = False
    c.rl.empg.k = 1.0
    c.rl.empg.k_future = 1.0
    c.rl.empg.zeta = 0.1
    c.rl.empg.use_scaling = True
    c.rl.empg.use_bonus = True
    c.rl.plateau = ml_collections.ConfigDict()
    c.rl.plateau.enabled = False  # GLM-4.5: raise the temperature when reward plateaus
    c.rl.plateau.patience = 5
    c.rl.plateau.delta = 0.02
    c.rl.plateau.step = 0.1
    c.rl.plateau.max_temperature = 1.3

    c.mesh = ml_collections.ConfigDict()
    c.mesh.shape = (1, 1, 1)  # (data, fsdp, tensor); data = -1 uses every device

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 10  # RL iterations (SFT saves when it ends, and every sft_every steps)
    c.checkpoint.sft_every = 0  # SFT steps between checkpoints (0: only at the end of SFT)
    c.checkpoint.keep = 2
    c.checkpoint.async_save = True
    c.checkpoint.resume = True

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 10
    c.eval.num_tasks = 32
    # Tasks per evaluation split; 0 keeps the environment's size (household: ALFWorld's 140 / 134).
    # Environments with generated tasks (household, search) accept more: new tasks of the split's
    # own generator, for a tighter estimate.
    c.eval.split_size = 0
    c.eval.temperature = 0.0  # greedy; verl-agent validates at 0.4
    c.eval.before_rl = True

    c.log = ml_collections.ConfigDict()
    c.log.tensorboard = True
    c.log.progress_every = 1
    return c
