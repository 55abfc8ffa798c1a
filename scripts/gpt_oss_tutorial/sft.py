"""The SFT stage: TRL's SFTTrainer (Unsloth's patched one on GPU) on the prepared Harmony tokens.

The defaults for gpt-oss-20b are the blog's (batch 1 x grad-accum 16, 60 steps, lr 2e-4, warmup 5, adamw_8bit,
weight decay 0.01, linear schedule, seed 3407). Checkpoints every ``save_steps``; ``resume=True`` continues from the
last one with the same data order, optimizer and scheduler state, so the logged losses match an uninterrupted run.
The adapter is saved atomically: a temporary folder renamed into place once it is complete.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, backends
from .data import collate
from .presets import Preset

ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"


def sft_config(preset: Preset, output_dir: str | Path, *, max_steps: int | None = None, use_cpu: bool | None = None,
               progress: bool = True):
    """SFTConfig from the preset (one place for every training knob)."""
    import torch
    from trl import SFTConfig

    use_cpu = (not backends.has_cuda()) if use_cpu is None else use_cpu
    bf16 = (not use_cpu) and torch.cuda.is_bf16_supported()
    kwargs = dict(
        output_dir=str(Path(output_dir) / CHECKPOINTS_DIR),
        per_device_train_batch_size=preset.batch_size,
        gradient_accumulation_steps=preset.grad_accum,
        max_steps=max_steps or preset.max_steps,
        learning_rate=preset.learning_rate,
        warmup_steps=preset.warmup_steps,
        optim=preset.optim if not use_cpu else "adamw_torch",  # bitsandbytes' 8-bit Adam needs CUDA
        weight_decay=preset.weight_decay,
        lr_scheduler_type=preset.lr_scheduler,
        seed=preset.seed,
        data_seed=preset.seed,
        logging_steps=preset.logging_steps,
        save_strategy="steps",
        save_steps=preset.save_steps,
        save_total_limit=2,
        report_to="none",
        max_length=preset.max_seq_length,
        bf16=bf16,
        fp16=(not use_cpu) and not bf16,
        use_cpu=use_cpu,
        dataset_kwargs={"skip_prepare_dataset": True},  # data.prepare already tokenized and masked
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )
    return SFTConfig(**kwargs)


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
            "adapter_dir": str(self.adapter_dir),
        }


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest COMPLETE checkpoint. A run killed while saving leaves a folder without trainer_state.json
    (written last): such partial folders are removed, so resuming never reads half a checkpoint."""
    import shutil

    folder = Path(output_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    found = sorted((p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for path in found:
        if (path / "trainer_state.json").exists():
            return str(path)
        print(f"removing incomplete checkpoint {path} (the run was interrupted while saving it)")
        shutil.rmtree(path, ignore_errors=True)
    return None


def build_trainer(loaded: backends.Loaded, train_dataset, output_dir: str | Path, *, max_steps: int | None = None,
                  progress: bool = True, callbacks=None):
    """TRL's SFTTrainer on the prepared (already tokenized and masked) dataset."""
    args = sft_config(loaded.preset, output_dir, max_steps=max_steps, progress=progress)
    keep = ["input_ids", "labels"]
    dataset = train_dataset.remove_columns([c for c in train_dataset.column_names if c not in keep])
    return _trainer_class(use_cpu=args.use_cpu)(
        model=loaded.model,
        args=args,
        train_dataset=dataset,
        processing_class=loaded.tokenizer,
        data_collator=collate(loaded.tokenizer.pad_token_id),
        callbacks=callbacks,
    )


def _trainer_class(*, use_cpu: bool):
    """SFTTrainer; on CPU with the model's own cross-entropy instead of TRL's fused LM head.

    TRL 1.16 computes the loss through a chunked "fused LM head" that never builds the full logits: on a GPU it scores
    only the trained positions with Triton and saves memory. On a CPU it scores every position and recomputes the
    chunks in the backward pass: measured on 2 cores with smollm2-135m (batch 4), 11.0 s/step against 6.4 s/step for
    the plain loss (means of 6 steps), losses within 0.003 of each other. The plain loss is transformers' ``Trainer.compute_loss``: the
    model's cross-entropy over the labels that are not -100, normalised by the tokens in the whole optimizer step."""
    from transformers import Trainer
    from trl import SFTTrainer

    if not use_cpu:
        return SFTTrainer

    class CPUSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return CPUSFTTrainer


def train(loaded: backends.Loaded, train_dataset, output_dir: str | Path, *, max_steps: int | None = None,
          resume: bool = False, progress: bool = True, callbacks=None, trainer=None) -> TrainResult:
    """Train (``trainer`` from build_trainer, or a new one), then save the adapter atomically to
    ``output_dir/adapter`` and the log to ``output_dir/log.json``."""
    import torch

    output_dir = Path(output_dir)
    if not resume:  # a fresh run must not mix its checkpoints with an older run's
        import shutil

        shutil.rmtree(output_dir / CHECKPOINTS_DIR, ignore_errors=True)
    if trainer is None:
        trainer = build_trainer(loaded, train_dataset, output_dir, max_steps=max_steps, progress=progress,
                                callbacks=callbacks)
    checkpoint = last_checkpoint(output_dir) if resume else None
    if resume and checkpoint is None:
        print(f"--resume: no checkpoint under {output_dir / CHECKPOINTS_DIR}; starting from step 0")
    tokens_before = 0  # tokens of earlier sessions, so tokens/s counts this session only
    if checkpoint:
        tokens_before = int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())
                            .get("num_input_tokens_seen", 0) or 0)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    wall = time.perf_counter() - start
    state = trainer.state
    tokens = int(state.num_input_tokens_seen or 0) - tokens_before
    memory = backends.memory_report()
    if memory.get("device") == "cpu":
        import resource

        memory["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    adapter_dir = save_adapter(loaded.model, loaded.tokenizer, output_dir / ADAPTER_DIR)
    result = TrainResult(
        adapter_dir=adapter_dir, log_history=list(state.log_history), steps=state.global_step, wall_seconds=wall,
        tokens_seen=tokens, tokens_per_second=tokens / wall if wall else 0.0, memory=memory,
        resumed_from=checkpoint,
    )
    atomic.write_json(output_dir / "log.json", {"summary": result.summary(), "log_history": result.log_history})
    return result


def save_adapter(model, tokenizer, out: str | Path) -> Path:
    """LoRA adapter (safetensors) and tokenizer, written to a temporary folder and renamed into place."""
    out = Path(out)
    with atomic.atomic_dir(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return out




def plot_loss(log_history: list[dict], path: str | Path, *, title: str = "SFT training loss"):
    """The loss curve (per logged step), saved to ``path`` and returned as a matplotlib figure."""
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in log_history if "loss" in h]
    losses = [h["loss"] for h in log_history if "loss" in h]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, losses, marker="o" if len(steps) < 40 else None, linewidth=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return fig


def run(preset: Preset, *, output_dir: str | Path | None = None, max_steps: int | None = None, resume: bool = False,
        input_file: str | None = None, offline: bool | None = None, skip_invalid: bool = False,
        progress: bool = True) -> TrainResult:
    """Everything notebook 03 does, for the command line: load + LoRA, prepare the data, train, plot, save."""
    from . import data
    from .paths import stage_dir

    output_dir = Path(output_dir) if output_dir else stage_dir("sft", preset.name)
    loaded = backends.load(preset)
    rows = data.load_rows("train", offline=offline, input_file=input_file, skip_invalid=skip_invalid)
    prepared = data.prepare(loaded.tokenizer, rows, max_length=preset.max_seq_length, progress=progress)
    print(f"data: {prepared.stats['rows_kept']} rows ({prepared.stats['source']}), "
          f"dropped {prepared.stats['rows_dropped'] or 'none'}")
    result = train(loaded, prepared.dataset, output_dir, max_steps=max_steps, resume=resume, progress=progress)
    plot_loss(result.log_history, output_dir / "loss.png", title=f"SFT loss: {preset.name}")
    result.extra.update(parameters=loaded.report.get("after_lora", {}).get("parameters"), data=prepared.stats)
    return result
