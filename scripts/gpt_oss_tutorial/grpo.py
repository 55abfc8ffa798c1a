"""Plumbing of the GRPO stage (notebook 05): its start point, prompts, held-out scoring and the saved result.

The lesson -- the reward functions, ``GRPOConfig(...)`` and ``GRPOTrainer(...)`` -- is written out in notebook 05; this
module loads the start point, builds the prompt dataset, generates and scores held-out completions, runs the trainer
with timing, saves the adapter atomically and reads TRL's reward log.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, backends
from .errors import CheckpointError
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
        raise CheckpointError(f"No LoRA adapter at {path} (no adapter_config.json). Train one with notebook 03 "
                              f"(`python scripts/train_sft.py --preset {preset.name}`) or leave the adapter unset.")
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
def supported_fields(config_class, **fields) -> dict:
    """The ``fields`` that ``config_class`` has (``max_prompt_length``: Unsloth's GRPOConfig and older TRL only)."""
    known = getattr(config_class, "__dataclass_fields__", {})
    return {k: v for k, v in fields.items() if k in known}


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


def train(loaded: backends.Loaded, trainer, output_dir: str | Path, *, start: Start | None = None) -> GRPOResult:
    """Run ``trainer`` (a ``GRPOTrainer``), then save the adapter atomically to ``output_dir/adapter`` and the log."""
    import torch

    from .sft import save_adapter

    output_dir = Path(output_dir)
    backends.pick(loaded.preset, requested=loaded.backend).for_training(loaded.model)
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


def score(completions: list, rows: list[dict], reward_funcs, reward_weights) -> dict:
    """Score completions against their rows with reward functions of TRL's signature: each component, the weighted
    sum, and their means."""
    columns = {"answer": [r.get("answer") for r in rows],
               "reasoning_language": [r.get("reasoning_language") for r in rows]}
    per = {f.__name__: [float(v) for v in f(completions, **columns)] for f in reward_funcs}
    total = [sum(w * per[f.__name__][i] for f, w in zip(reward_funcs, reward_weights)) for i in range(len(completions))]
    n = max(len(completions), 1)
    correctness = per.get("correctness_reward", [])
    return {
        "n": len(completions),
        "reward": round(sum(total) / n, 4),
        "components": {k: round(sum(v) / n, 4) for k, v in per.items()},
        "correct": round(sum(1 for c in correctness if c == 1.0) / n, 4) if correctness else None,
        "per_completion": [{"reward": round(t, 4), **{k: v[i] for k, v in per.items()}} for i, t in enumerate(total)],
    }


def heldout_reward(loaded: backends.Loaded, rows, reward_funcs, reward_weights, *, n: int | None = 16,
                   max_new_tokens: int | None = None, batch_size: int | None = None, progress: bool = True,
                   reasoning_effort: str = "medium") -> dict:
    """Mean weighted reward of greedy generations on the first ``n`` held-out rows (``data.load_rows("eval")``).
    ``max_new_tokens`` defaults to the preset's ``grpo_max_completion`` (the length GRPO trains at)."""
    rows = list(getattr(rows, "rows", rows))[:n] if n else list(getattr(rows, "rows", rows))
    preset = loaded.preset
    prompts = [prompt_row(loaded.tokenizer, r, reasoning_effort=reasoning_effort)["prompt"] for r in rows]
    begin = time.perf_counter()
    with backends.merged_adapter(loaded.model):  # faster, the same generations
        gens = generate(loaded, prompts, max_new_tokens=max_new_tokens or preset.grpo_max_completion,
                        batch_size=batch_size or preset.eval_batch_size, progress=progress)
    result = score([g["text"] for g in gens], rows, reward_funcs, reward_weights)
    result["seconds"] = round(time.perf_counter() - begin, 1)
    result["samples"] = [{"id": r.get("id"), "reasoning_language": r.get("reasoning_language"),
                          "answer": r.get("answer"), "completion": g["raw"], "tokens": g["tokens"], **s}
                         for r, g, s in zip(rows, gens, result.pop("per_completion"))]
    return result
