"""Plumbing of the SFT stage (notebook 03 shows the SFTConfig and SFTTrainer calls themselves, and ``train`` below
runs those cells of the notebook, so the benchmark and the tests train exactly as the notebook does).

- Output folders: a folder is used only when it is empty or carries this project's marker file; a fresh run trains
  into ``checkpoints.running/`` and replaces ``checkpoints/``, ``adapter/`` and ``log.json`` only once it has
  finished, so a failing run leaves the previous results current.
- Checkpoints: complete only when ``trainer_state.json`` parses and the weights exist; resuming falls back to the
  newest complete one and says so; a finished run is reported finished instead of being trained again.
- Length grouping: each optimizer step takes rows of similar length (steps in random order), each micro-batch is
  padded to a multiple of ``pad_to_multiple_of`` tokens (few shapes: Unsloth compiles once per shape).
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, backends
from .data import collate
from .errors import TutorialError

ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"
RUNNING_DIR = "checkpoints.running"  # the checkpoints of a run that has not finished yet
LOG_FILE = "log.json"
WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json")


# --------------------------------------------------------------------------- parameters and output folders
def check_training_parameters(*, max_steps=None, batch_size=None, grad_accum=None, learning_rate=None,
                              save_steps=None) -> None:
    """Raise a ``TutorialError`` naming the first bad value (None means: the preset's, not checked here)."""
    for name, value in (("MAX_STEPS", max_steps), ("BATCH_SIZE", batch_size), ("GRAD_ACCUM", grad_accum),
                        ("SAVE_STEPS", save_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise TutorialError(f"{name} = {value!r}: give a whole number of at least 1 (or None for the preset's)")
    if learning_rate is not None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
                or not math.isfinite(learning_rate) or not 0 < learning_rate < 1:
            raise TutorialError(f"LEARNING_RATE = {learning_rate!r}: give a number between 0 and 1, e.g. 2e-4 "
                                "(or None for the preset's)")


def claim_output_dir(output_dir: str | Path) -> Path:
    """Create ``output_dir`` or accept it when it is empty or ours (``atomic``'s marker rule); refuse anything else."""
    atomic.check_writable_output(output_dir, known=(ADAPTER_DIR, CHECKPOINTS_DIR, RUNNING_DIR, LOG_FILE, "loss.png"))
    return Path(output_dir) if atomic.is_ours(output_dir) else atomic.mark_ours(output_dir)


# --------------------------------------------------------------------------- checkpoints
def checkpoint_problem(path: str | Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (None when it is complete)."""
    path = Path(path)
    state = path / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json (the run stopped while saving it)"
    try:
        parsed = json.loads(state.read_text(encoding="utf-8"))
        int(parsed["global_step"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "trainer_state.json is damaged (it does not parse)"
    if not any((path / name).is_file() and (path / name).stat().st_size > 0 for name in WEIGHT_FILES):
        return "no weights (adapter_model.safetensors missing or empty)"
    return None


def checkpoint_step(path: str | Path) -> int:
    return int(json.loads((Path(path) / "trainer_state.json").read_text(encoding="utf-8"))["global_step"])


def newest_complete_checkpoint(folder: str | Path, *, remove_incomplete: bool = True) -> Path | None:
    """The newest complete ``checkpoint-N`` under ``folder``; incomplete newer ones are reported (and removed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted((p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for path in found:
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        action = "removing it" if remove_incomplete else "skipping it"
        print(f"checkpoint {path.name} is incomplete: {problem}; {action} and trying the one before")
        if remove_incomplete:
            shutil.rmtree(path, ignore_errors=True)
    return None


@dataclass
class Run:
    """Where a training run writes its checkpoints and what it resumes from."""
    output_dir: Path
    max_steps: int
    checkpoints_dir: Path  # the trainer's output_dir
    resume_from: str | None = None
    resumed_step: int = 0
    finished: bool = False  # the newest checkpoint is already at max_steps: nothing to train
    message: str = ""
    tokens_before: int = 0  # tokens of earlier sessions, so tokens/s counts this session only


def start_run(output_dir: str | Path, *, max_steps: int, resume: bool) -> Run:
    """Claim the output folder and decide where this run trains and what it resumes from (printed)."""
    output_dir = claim_output_dir(output_dir)
    running, done = output_dir / RUNNING_DIR, output_dir / CHECKPOINTS_DIR
    run = Run(output_dir=output_dir, max_steps=max_steps, checkpoints_dir=running)
    if not resume:
        if running.exists():
            print(f"a fresh run: removing the checkpoints of an unfinished earlier run ({running.name}/); "
                  "RESUME = True (--resume) would have continued it")
            shutil.rmtree(running)
        run.message = "fresh run from step 0" + (
            f" (the previous results in {output_dir} stay until this run finishes)" if done.exists() else "")
        print(run.message)
        return run
    checkpoint = newest_complete_checkpoint(running) or newest_complete_checkpoint(done, remove_incomplete=False)
    if checkpoint is None:
        run.message = f"RESUME: no complete checkpoint in {output_dir}; starting from step 0"
        print(run.message)
        return run
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    run.resume_from, run.resumed_step = str(checkpoint), int(state["global_step"])
    run.tokens_before = int(state.get("num_input_tokens_seen") or 0)
    run.finished = run.resumed_step >= max_steps
    if run.finished:
        run.message = (f"RESUME: the run in {output_dir} already finished ({checkpoint.name}, step "
                       f"{run.resumed_step} of {max_steps}); nothing to train. Raise MAX_STEPS to train further.")
    else:
        run.message = f"RESUME: continuing from {checkpoint.name} (step {run.resumed_step} of {max_steps})"
    print(run.message)
    return run


# --------------------------------------------------------------------------- data order and batches
class LengthGroupedSteps:
    """A sampler: every optimizer step takes ``rows_per_step`` rows of similar length, the steps come in random
    order (seeded per epoch), and the rows of a step form its micro-batches in order (little padding)."""

    def __init__(self, lengths: list[int], rows_per_step: int, seed: int):
        self.lengths, self.rows_per_step, self.seed, self.epoch = list(lengths), rows_per_step, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        order = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], i))
        steps = [order[i:i + self.rows_per_step] for i in range(0, len(order), self.rows_per_step)]
        last = steps.pop() if steps and len(steps[-1]) < self.rows_per_step else None
        random.Random(self.seed + self.epoch).shuffle(steps)
        if last:  # a short step goes last, so every other step stays aligned with the gradient accumulation
            steps.append(last)
        return iter([i for step in steps for i in step])


def with_length_grouping(trainer_class, *, cpu_loss: bool = False):
    """``trainer_class`` (TRL's SFTTrainer) whose training order is ``LengthGroupedSteps`` over the dataset's
    ``length`` column; with ``cpu_loss`` the loss is the model's own cross-entropy (see ``cpu_loss_note``)."""
    from transformers import Trainer

    class LengthGroupedSFTTrainer(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            dataset = self.train_dataset if train_dataset is None else train_dataset
            if "length" not in getattr(dataset, "column_names", ()):
                return super()._get_train_sampler(*([train_dataset] if train_dataset is not None else []))
            rows = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return LengthGroupedSteps(dataset["length"], rows, seed)

        if cpu_loss:
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)

    LengthGroupedSFTTrainer.__name__ = LengthGroupedSFTTrainer.__qualname__ = (
        "CPULossSFTTrainer" if cpu_loss else "LengthGroupedSFTTrainer")
    return LengthGroupedSFTTrainer


def collator(pad_token_id: int, pad_to_multiple_of: int = 1):
    """``data.collate`` (right padding, labels -100 on padding), widths rounded up to ``pad_to_multiple_of``."""
    import torch

    base = collate(pad_token_id)

    def fn(features: list[dict]) -> dict:
        batch = base([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
        width = batch["input_ids"].shape[1]
        extra = -width % max(pad_to_multiple_of, 1)
        if extra:
            pad = torch.nn.functional.pad
            batch = {"input_ids": pad(batch["input_ids"], (0, extra), value=pad_token_id),
                     "labels": pad(batch["labels"], (0, extra), value=-100),
                     "attention_mask": pad(batch["attention_mask"], (0, extra), value=0)}
        return batch

    return fn


def training_columns(dataset):
    """The prepared dataset with just what the trainer reads: ``input_ids``, ``labels`` and ``length``."""
    keep = ["input_ids", "labels", "length"]
    if "length" not in dataset.column_names:
        dataset = dataset.map(lambda row: {"length": len(row["input_ids"])})
    return dataset.remove_columns([c for c in dataset.column_names if c not in keep])


# --------------------------------------------------------------------------- notebook 03's cells, for the benchmark and tests
LESSON = "03_sft"  # the notebook whose tagged cells configure, build and run the trainer


def _lesson_namespace(loaded: backends.Loaded, train_dataset, **names) -> dict:
    """The names notebook 03's training cells read, as that notebook defines them before those cells."""
    import sys
    from types import SimpleNamespace

    import torch
    from trl import SFTConfig, SFTTrainer

    return {"preset": loaded.preset, "model": loaded.model, "tokenizer": loaded.tokenizer,
            "prepared": SimpleNamespace(dataset=train_dataset), "sft": sys.modules[__name__], "torch": torch,
            "time": time, "SFTConfig": SFTConfig, "SFTTrainer": SFTTrainer, **names}


def _quiet_or_watched(trainer, *, progress: bool, callbacks) -> None:
    if not progress:
        from transformers.trainer_callback import ProgressCallback

        trainer.remove_callback(ProgressCallback)
    for callback in callbacks or ():
        trainer.add_callback(callback)


def notebook_trainer(loaded: backends.Loaded, train_dataset, checkpoints_dir: str | Path, *, progress: bool = True,
                     callbacks=None):
    """The trainer notebook 03 builds: its ``sft-config`` and ``sft-trainer`` cells, run as written."""
    from types import SimpleNamespace

    from . import runner

    namespace = _lesson_namespace(loaded, train_dataset, run=SimpleNamespace(checkpoints_dir=Path(checkpoints_dir)))
    trainer = runner.run_cells(LESSON, ["sft-config", "sft-trainer"], namespace)["trainer"]
    _quiet_or_watched(trainer, progress=progress, callbacks=callbacks)
    return trainer


def train(loaded: backends.Loaded, train_dataset, output_dir: str | Path, *, max_steps: int | None = None,
          resume: bool = False, progress: bool = True, callbacks=None) -> "TrainResult":
    """Notebook 03's four training cells (start, configure, build, train), run as written; returns its ``result``."""
    from dataclasses import replace

    from . import runner

    if max_steps:
        loaded = replace(loaded, preset=replace(loaded.preset, max_steps=max_steps))
    namespace = _lesson_namespace(loaded, train_dataset, output_dir=Path(output_dir), RESUME=resume)
    runner.run_cells(LESSON, ["sft-start", "sft-config", "sft-trainer"], namespace)
    _quiet_or_watched(namespace["trainer"], progress=progress, callbacks=callbacks)
    return runner.run_cells(LESSON, ["sft-train"], namespace)["result"]


# --------------------------------------------------------------------------- finishing a run
@dataclass
class TrainResult:
    adapter_dir: Path
    log_history: list[dict]
    steps: int
    wall_seconds: float
    tokens_seen: int
    tokens_per_second: float
    memory: dict
    resumed_from: str | None = None
    finished_before: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def losses(self) -> list[tuple[int, float]]:
        return [(h["step"], h["loss"]) for h in self.log_history if "loss" in h]

    def summary(self) -> dict:
        losses = self.losses
        return {
            "steps": self.steps,
            "first_loss": losses[0][1] if losses else None,
            "last_loss": losses[-1][1] if losses else None,
            "wall_seconds": round(self.wall_seconds, 1),
            "tokens_seen": self.tokens_seen,
            "tokens_per_second": round(self.tokens_per_second, 1),
            "memory": self.memory,
            "resumed_from": self.resumed_from,
            "finished_before": self.finished_before,
            "adapter_dir": str(self.adapter_dir),
        }


def _memory() -> dict:
    memory = backends.memory_report()
    if memory.get("device") == "cpu":
        import resource

        memory["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    return memory


def _replace_dir(new: Path, final: Path) -> None:
    """Put ``new`` at ``final``: the old folder is moved aside first and removed only after the rename."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def finish_run(run: Run, trainer, *, seconds: float, config: dict | None = None) -> TrainResult:
    """After ``trainer.train``: save the adapter atomically, write ``log.json``, then make this run's checkpoints
    the current ones. For a run that had already finished, report it (the final checkpoint's weights when the run
    stopped between its last step and this save)."""
    output_dir = run.output_dir
    log_path = output_dir / LOG_FILE
    if run.finished and Path(run.resume_from).parent.name == CHECKPOINTS_DIR and log_path.is_file() \
            and (output_dir / ADAPTER_DIR / "adapter_config.json").is_file():
        saved = json.loads(log_path.read_text(encoding="utf-8"))
        summary = saved["summary"]
        return TrainResult(adapter_dir=output_dir / ADAPTER_DIR, log_history=saved["log_history"],
                           steps=summary["steps"], wall_seconds=0.0, tokens_seen=0, tokens_per_second=0.0,
                           memory=_memory(), resumed_from=run.resume_from, finished_before=True)
    model = trainer.model
    if run.finished:  # stopped after its last step, before the adapter was saved: take the final checkpoint
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(str(Path(run.resume_from) / "adapter_model.safetensors")))
        state = json.loads((Path(run.resume_from) / "trainer_state.json").read_text(encoding="utf-8"))
        log_history, steps, tokens = state["log_history"], int(state["global_step"]), 0
    else:
        log_history, steps = list(trainer.state.log_history), trainer.state.global_step
        tokens = int(trainer.state.num_input_tokens_seen or 0) - run.tokens_before
    result = TrainResult(
        adapter_dir=output_dir / ADAPTER_DIR, log_history=log_history, steps=steps, wall_seconds=seconds,
        tokens_seen=tokens, tokens_per_second=tokens / seconds if seconds else 0.0, memory=_memory(),
        resumed_from=run.resume_from, finished_before=run.finished)
    save_adapter(model, trainer.processing_class, result.adapter_dir)
    atomic.write_json(log_path, {"summary": result.summary(), "config": config or {}, "log_history": log_history})
    if run.checkpoints_dir.is_dir():
        _replace_dir(run.checkpoints_dir, output_dir / CHECKPOINTS_DIR)
    return result


CONFIG_FIELDS = ("per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "learning_rate",
                 "warmup_steps", "optim", "weight_decay", "lr_scheduler_type", "seed", "data_seed", "max_length",
                 "save_steps", "bf16", "fp16", "use_cpu", "gradient_checkpointing")


def config_summary(args) -> dict:
    """The training settings of an SFTConfig that decide what is learned (kept in log.json)."""
    return {name: getattr(args, name) for name in CONFIG_FIELDS}


def save_adapter(model, tokenizer, out: str | Path) -> Path:
    """LoRA adapter (safetensors) and tokenizer, written to a temporary folder and renamed into place."""
    out = Path(out)
    with atomic.atomic_dir(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return out
