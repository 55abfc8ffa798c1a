"""The GRPO stage (bonus): TRL's ``GRPOTrainer`` (Unsloth's patched one on a GPU) with our format + correctness rewards.

GRPO in one paragraph: for each prompt the model samples a *group* of ``num_generations`` completions; every completion
is scored by the reward functions (``rewards.format_reward``, ``rewards.correctness_reward``, optionally
``rewards.language_reward``), summed with ``reward_weights``; a completion's *advantage* is its reward minus the mean of
its group (divided by the group's standard deviation), and the policy gradient pushes up the tokens of better-than-
average completions. No value model, no reference model when ``beta=0`` (TRL's and Unsloth's default).

Where it starts: from the SFT adapter of notebook 03 when it exists (``paths.sft_adapter_dir``), otherwise from a fresh
LoRA; ``load_start`` says which. The dataset is the bundled train split as *plain-text* Harmony prompts (rendered by our
chat template, ending ``<|start|>assistant``): TRL then tokenizes them as they are instead of applying a chat template
again, and decodes completions with ``skip_special_tokens=True`` -- ``analysis…assistantfinal…`` text that
``rewards`` parses. Held-out reward before/after: greedy generations on bundled eval prompts, scored by the same
functions and decoded the same way, so the numbers compare with the training curve.

Two paths, one code:
* CPU (transformers + peft + TRL 1.16): fp32 math switch ``use_cpu=True``/``bf16=False``; one prompt group per
  micro-batch (``per_device_train_batch_size = num_generations * prompts_per_step``), no gradient checkpointing.
* GPU with Unsloth (**GPU path, not runnable on the CPU machine this was written on**): the memory-saving settings of
  Unsloth's gpt-oss GRPO notebook -- ``optim="adamw_8bit"``, micro-batch 1 with gradient accumulation over the group,
  ``temperature=1.0``, lr 5e-5, ``weight_decay=0.001``, ``warmup_ratio=0.1``, linear schedule, prompt length measured
  on the data (``max_prompt_length`` when the installed TRL/Unsloth still has it) and ``max_completion_length`` capped
  by ``max_seq_length``; ``use_gradient_checkpointing="unsloth"`` is set at ``get_peft_model`` time (backends);
  vLLM off.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, backends, rewards
from .plots import reward_curves, reward_series  # noqa: F401  (re-exported: grpo.reward_series)
from .presets import Preset

ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"
STAGE = "grpo"


# --------------------------------------------------------------------------- starting point
@dataclass
class Start:
    """Where GRPO starts: ``kind`` is ``"sft-adapter"`` or ``"fresh-lora"``."""

    kind: str
    adapter_dir: str | None
    message: str


def load_start(preset: Preset, adapter_dir: str | Path | None = None, *, fresh: bool = False):
    """(loaded, start): the SFT adapter (trainable) when it exists, else the base model with a fresh LoRA.

    ``adapter_dir``: an explicit adapter (must exist); default ``paths.sft_adapter_dir(preset.name)`` if it holds an
    adapter. ``fresh=True`` ignores any adapter.
    """
    from .paths import sft_adapter_dir

    explicit = adapter_dir is not None
    path = Path(adapter_dir) if explicit else sft_adapter_dir(preset.name)
    if explicit and not (path / "adapter_config.json").exists():
        raise FileNotFoundError(f"No LoRA adapter at {path} (no adapter_config.json). Train one with notebook 03 "
                                f"(`python scripts/train_sft.py --preset {preset.name}`) or leave adapter_dir unset.")
    if not fresh and (path / "adapter_config.json").exists():
        loaded = backends.load_adapter(preset, path, trainable=True)
        start = Start("sft-adapter", str(path), f"GRPO starts from the SFT adapter at {path}")
    else:
        loaded = backends.load(preset)
        why = "fresh=True" if fresh else f"no SFT adapter at {path} (run notebook 03 first for a better start)"
        start = Start("fresh-lora", None, f"GRPO starts from a fresh LoRA: {why}")
    return loaded, start


# --------------------------------------------------------------------------- data
def prompt_row(tokenizer, row: dict, *, reasoning_effort: str = "medium") -> dict:
    """One GRPO example: the Harmony prompt as text (ends ``<|start|>assistant``) and the columns the rewards read."""
    from . import data

    return {
        "prompt": data.render(tokenizer, row, reasoning_effort=reasoning_effort, with_answer=False),
        "answer": row.get("answer"),
        "reasoning_language": row.get("reasoning_language"),
    }


def build_dataset(tokenizer, rows, *, reasoning_effort: str = "medium", limit: int | None = None):
    """A ``datasets.Dataset`` with columns ``prompt``, ``answer``, ``reasoning_language`` (``rows``: a list of row
    dicts or a ``data.LoadResult``). Rows without a checkable ``answer`` keep None: correctness then gives 0.0."""
    from datasets import Dataset

    rows = getattr(rows, "rows", rows)
    rows = list(rows)[:limit] if limit else list(rows)
    if not rows:
        raise ValueError("no rows to build the GRPO dataset from")
    return Dataset.from_list([prompt_row(tokenizer, r, reasoning_effort=reasoning_effort) for r in rows])


def prompt_lengths(tokenizer, dataset) -> list[int]:
    return [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in dataset["prompt"]]


# --------------------------------------------------------------------------- configuration
def grpo_config(preset: Preset, output_dir: str | Path, *, max_steps: int | None = None,
                num_generations: int | None = None, max_completion_length: int | None = None,
                learning_rate: float | None = None, prompts_per_step: int | None = None,
                reward_weights: list[float] | None = None, max_prompt_length: int | None = None,
                use_cpu: bool | None = None, progress: bool = True, **overrides):
    """GRPOConfig from the preset (``grpo_steps``, ``grpo_generations``, ``grpo_max_completion``,
    ``grpo_learning_rate``); keyword arguments win, ``overrides`` go to GRPOConfig as they are."""
    import torch
    from trl import GRPOConfig

    use_cpu = (not backends.has_cuda()) if use_cpu is None else use_cpu
    generations = num_generations or preset.grpo_generations
    if generations < 2:
        raise ValueError("GRPO needs at least 2 generations per prompt (the advantage is relative to the group)")
    completion = max_completion_length or preset.grpo_max_completion
    if max_prompt_length:
        completion = max(8, min(completion, preset.max_seq_length - max_prompt_length))
    kwargs = dict(
        output_dir=str(Path(output_dir) / CHECKPOINTS_DIR),
        max_steps=max_steps or preset.grpo_steps,
        learning_rate=learning_rate or preset.grpo_learning_rate,
        num_generations=generations,
        max_completion_length=completion,
        temperature=1.0,
        beta=0.0,  # no KL term, so no reference model in memory (TRL's and Unsloth's default)
        reward_weights=reward_weights,
        logging_steps=1,
        save_strategy="no",  # short runs; the adapter is saved atomically at the end
        report_to="none",
        seed=preset.seed,
        data_seed=preset.seed,
        remove_unused_columns=False,  # the rewards read the answer / reasoning_language columns
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )
    if use_cpu:
        prompts = prompts_per_step or 2
        kwargs.update(
            use_cpu=True, bf16=False, fp16=False,
            per_device_train_batch_size=generations * prompts,  # whole groups per micro-batch (TRL's requirement)
            gradient_accumulation_steps=1,
            gradient_checkpointing=False,  # a 135M model on CPU: speed matters more than memory
            optim="adamw_torch",
            lr_scheduler_type="constant",
            warmup_steps=0,
        )
    else:
        # GPU path (Unsloth's gpt-oss GRPO notebook): micro-batch 1, the group accumulated over gradient steps.
        prompts = prompts_per_step or 1
        bf16 = torch.cuda.is_bf16_supported()
        kwargs.update(
            bf16=bf16, fp16=not bf16,
            per_device_train_batch_size=1,
            gradient_accumulation_steps=generations * prompts,
            optim=preset.optim,  # adamw_8bit
            lr_scheduler_type="linear",
            warmup_ratio=0.1,
            weight_decay=0.001,
            use_vllm=False,
        )
    if max_prompt_length and "max_prompt_length" in GRPOConfig.__dataclass_fields__:
        kwargs["max_prompt_length"] = max_prompt_length  # TRL < 1.0 / Unsloth's patched config; TRL 1.16 has none
    kwargs.update(overrides)
    return GRPOConfig(**kwargs)


# --------------------------------------------------------------------------- trainer
def build_trainer(loaded: backends.Loaded, train_dataset, output_dir: str | Path, *, weights=None,
                  style: str = "harmony", max_steps: int | None = None, progress: bool = True, callbacks=None,
                  **config_kwargs):
    """TRL's GRPOTrainer on the policy in ``loaded`` with one reward function per component of ``weights``
    (default ``rewards.DEFAULT_WEIGHTS``: format 0.3, correctness 0.7, language 0 -- logged, not rewarded)."""
    from trl import GRPOTrainer

    funcs, reward_weights = rewards.make_reward_funcs(weights, style=style)
    lengths = prompt_lengths(loaded.tokenizer, train_dataset)
    args = grpo_config(loaded.preset, output_dir, max_steps=max_steps, reward_weights=reward_weights,
                       max_prompt_length=max(lengths) + 1, progress=progress, **config_kwargs)
    backends.pick(loaded.preset, requested=loaded.backend).for_training(loaded.model)
    return GRPOTrainer(
        model=loaded.model,
        reward_funcs=funcs,
        args=args,
        train_dataset=train_dataset,
        processing_class=loaded.tokenizer,
        callbacks=callbacks,
    )


@dataclass
class GRPOResult:
    adapter_dir: Path
    log_history: list[dict]
    steps: int
    wall_seconds: float
    start: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    heldout_before: dict | None = None
    heldout_after: dict | None = None

    @property
    def rewards(self) -> list[tuple[int, float]]:
        return [(h["step"], h["reward"]) for h in self.log_history if "reward" in h]

    def summary(self) -> dict:
        """The figures of the run (what ``figures.record("05_grpo", summary={"grpo": ...})`` stores)."""
        trend = reward_trend(self.log_history)
        out = {
            "steps": self.steps,
            "mean_reward_first": trend["first"],
            "mean_reward_last": trend["last"],
            "trend_window": trend["window"],
            "reward_rose": trend["rose"],
            "components_first": trend["components_first"],
            "components_last": trend["components_last"],
            "seconds_per_step": round(self.wall_seconds / self.steps, 2) if self.steps else None,
            "wall_seconds": round(self.wall_seconds, 1),
            "start": self.start.get("kind"),
            "start_adapter": self.start.get("adapter_dir"),
            "adapter_dir": str(self.adapter_dir),
            "memory": self.memory,
        }
        out.update({k: self.config.get(k) for k in ("num_generations", "max_completion_length", "learning_rate",
                                                      "per_device_train_batch_size", "reward_weights")})
        for name, held in (("before", self.heldout_before), ("after", self.heldout_after)):
            if held:
                out[f"heldout_reward_{name}"] = held["reward"]
                out[f"heldout_components_{name}"] = held["components"]
                out[f"heldout_correct_{name}"] = held["correct"]
        if self.heldout_before:
            out["heldout_n"] = self.heldout_before["n"]
        return out


def train(loaded: backends.Loaded, train_dataset, output_dir: str | Path, *, trainer=None, weights=None,
          style: str = "harmony", max_steps: int | None = None, progress: bool = True, callbacks=None,
          start: Start | None = None, **config_kwargs) -> GRPOResult:
    """Run GRPO, then save the adapter atomically to ``output_dir/adapter`` and the log to ``output_dir/log.json``."""
    import torch

    from .sft import save_adapter

    output_dir = Path(output_dir)
    if trainer is None:
        trainer = build_trainer(loaded, train_dataset, output_dir, weights=weights, style=style, max_steps=max_steps,
                                progress=progress, callbacks=callbacks, **config_kwargs)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    begin = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - begin
    memory = backends.memory_report()
    if memory.get("device") == "cpu":
        import resource

        memory["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # Linux: KiB
    adapter_dir = save_adapter(loaded.model, loaded.tokenizer, output_dir / ADAPTER_DIR)
    args = trainer.args
    config = {k: getattr(args, k, None) for k in ("num_generations", "max_completion_length", "learning_rate",
                                                 "per_device_train_batch_size", "gradient_accumulation_steps",
                                                 "temperature", "beta", "loss_type", "optim", "max_steps")}
    config["reward_weights"] = list(args.reward_weights) if args.reward_weights is not None else None
    config["reward_funcs"] = list(getattr(trainer, "reward_func_names", []))
    result = GRPOResult(adapter_dir=adapter_dir, log_history=list(trainer.state.log_history),
                        steps=trainer.state.global_step, wall_seconds=wall, config=config, memory=memory,
                        start=vars(start) if start else {})
    write_log(result, output_dir)
    return result


def write_log(result: GRPOResult, output_dir: str | Path) -> Path:
    return atomic.write_json(Path(output_dir) / "log.json", {"summary": result.summary(),
                                                            "log_history": result.log_history})


# --------------------------------------------------------------------------- reading the log
def reward_trend(log_history: list[dict], window: int | None = None) -> dict:
    """Mean reward (and each component) over the first and the last ``window`` logged steps (default: a quarter of
    the steps, at least 1). ``rose``: last > first."""
    series = reward_series(log_history)
    main = [v for _, v in series.get("reward", [])]
    if not main:
        return {"first": None, "last": None, "window": 0, "rose": None, "components_first": {},
                "components_last": {}}
    k = window or max(1, len(main) // 4)

    def mean(values):
        return round(sum(values) / len(values), 4) if values else None

    comps = {n: [v for _, v in s] for n, s in series.items() if n != "reward"}
    first, last = mean(main[:k]), mean(main[-k:])
    return {"first": first, "last": last, "window": k, "rose": last > first,
            "components_first": {n: mean(v[:k]) for n, v in comps.items()},
            "components_last": {n: mean(v[-k:]) for n, v in comps.items()}}


def plot_rewards(log_history: list[dict], path: str | Path, *, title: str = "GRPO rewards"):
    return reward_curves(log_history, path, title=title)


# --------------------------------------------------------------------------- held-out reward
def generate(loaded: backends.Loaded, prompts: list[str], *, max_new_tokens: int, batch_size: int = 8,
             progress: bool = True, eos_token_ids: list[int] | None = None) -> list[dict]:
    """Greedy, batched (left padding) generation from text prompts; stops on the model's stop tokens
    (``<|return|>``/``<|call|>``) or on ``eos_token_ids``. Returns ``{"text": decoded like TRL
    (skip_special_tokens=True), "raw": with the special tokens, "tokens": n}`` per prompt."""
    import torch
    from tqdm.auto import tqdm

    model, tokenizer = loaded.model, loaded.tokenizer
    backend = backends.pick(loaded.preset, requested=loaded.backend)
    was_training = model.training
    backend.for_inference(model)
    eos = eos_token_ids if eos_token_ids is not None else model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    if eos_token_ids is None and tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
        eos.append(tokenizer.eos_token_id)
    pad_id = tokenizer.pad_token_id
    device = next(model.parameters()).device
    out: list[dict] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for i in tqdm(range(0, len(prompts), batch_size), desc="generating", disable=not progress):
            batch = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.no_grad():
                ids = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=eos,
                                     pad_token_id=pad_id, temperature=None, top_p=None, top_k=None)
            for row in ids[:, batch["input_ids"].shape[1]:].tolist():
                cut = next((j + 1 for j, t in enumerate(row) if t in eos), len(row))
                row = [t for t in row[:cut] if t != pad_id]
                out.append({"text": tokenizer.decode(row, skip_special_tokens=True),
                            "raw": tokenizer.decode(row, skip_special_tokens=False), "tokens": len(row)})
    finally:
        tokenizer.padding_side = side
        if was_training:
            backend.for_training(model)
    return out


def score(completions: list, rows: list[dict], *, weights=None, style: str = "harmony") -> dict:
    """Score completions against their rows with the training reward functions: per-completion components and the
    weighted sum, plus their means."""
    funcs, w = rewards.make_reward_funcs(weights, style=style)
    columns = {"answer": [r.get("answer") for r in rows],
               "reasoning_language": [r.get("reasoning_language") for r in rows]}
    per = {f.__name__: f(completions=completions, **columns) for f in funcs}
    total = [sum(wi * per[f.__name__][i] for f, wi in zip(funcs, w)) for i in range(len(completions))]
    n = max(len(completions), 1)
    correctness = per.get("correctness_reward", [])
    return {
        "n": len(completions),
        "reward": round(sum(total) / n, 4),
        "components": {k: round(sum(v) / n, 4) for k, v in per.items()},
        "correct": round(sum(1 for c in correctness if c == 1.0) / n, 4) if correctness else None,
        "per_completion": [{"reward": round(t, 4), **{k: v[i] for k, v in per.items()}} for i, t in enumerate(total)],
    }


def heldout_reward(loaded: backends.Loaded, rows, *, n: int | None = 16, weights=None, style: str = "harmony",
                   max_new_tokens: int | None = None, batch_size: int | None = None, progress: bool = True,
                   reasoning_effort: str = "medium") -> dict:
    """Mean combined reward of greedy generations on the first ``n`` held-out rows (``data.load_rows("eval")``).
    ``max_new_tokens`` defaults to the preset's ``grpo_max_completion`` (the length GRPO trains at)."""
    rows = list(getattr(rows, "rows", rows))[:n] if n else list(getattr(rows, "rows", rows))
    preset = loaded.preset
    prompts = [prompt_row(loaded.tokenizer, r, reasoning_effort=reasoning_effort)["prompt"] for r in rows]
    begin = time.perf_counter()
    gens = generate(loaded, prompts, max_new_tokens=max_new_tokens or preset.grpo_max_completion,
                    batch_size=batch_size or preset.eval_batch_size, progress=progress)
    result = score([g["text"] for g in gens], rows, weights=weights, style=style)
    result["seconds"] = round(time.perf_counter() - begin, 1)
    result["samples"] = [{"id": r.get("id"), "reasoning_language": r.get("reasoning_language"),
                          "answer": r.get("answer"), "completion": g["raw"], "tokens": g["tokens"], **s}
                         for r, g, s in zip(rows, gens, result.pop("per_completion"))]
    return result


# --------------------------------------------------------------------------- everything, for the command line
def run(preset: Preset, *, output_dir: str | Path | None = None, max_steps: int | None = None,
        adapter_dir: str | Path | None = None, fresh: bool = False, weights=None, heldout: int = 16,
        progress: bool = True, record: bool = True, **config_kwargs) -> GRPOResult:
    """What notebook 05 does: load the start point, build the prompts, held-out reward before, GRPO, held-out reward
    after, plot, save, and record the figures (``figures.record("05_grpo", summary={"grpo": ...})``)."""
    from . import data, figures
    from .paths import stage_dir

    output_dir = Path(output_dir) if output_dir else stage_dir(STAGE, preset.name)
    loaded, start = load_start(preset, adapter_dir, fresh=fresh)
    print(start.message)
    dataset = build_dataset(loaded.tokenizer, data.load_rows("train", offline=True))
    eval_rows = data.load_rows("eval", offline=True).rows
    before = heldout_reward(loaded, eval_rows, n=heldout, weights=weights, progress=progress) if heldout else None
    if before:
        print(f"held-out reward before: {before['reward']:+.3f} {before['components']}")
    result = train(loaded, dataset, output_dir, weights=weights, max_steps=max_steps, progress=progress, start=start,
                   **config_kwargs)
    if heldout:
        result.heldout_before = before
        result.heldout_after = heldout_reward(loaded, eval_rows, n=heldout, weights=weights, progress=progress)
        print(f"held-out reward after:  {result.heldout_after['reward']:+.3f} {result.heldout_after['components']}")
        atomic.write_json(output_dir / "heldout.json", {"before": before, "after": result.heldout_after})
    write_log(result, output_dir)
    plot_rewards(result.log_history, output_dir / "rewards.png", title=f"GRPO rewards: {preset.name}")
    if record:
        summary = result.summary()
        figures.record("05_grpo", preset=preset.name, backend=loaded.backend,
                       summary={"grpo": {k: v for k, v in summary.items() if k != "memory"}})
    return result


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)
