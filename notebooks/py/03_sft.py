# Generated from notebooks/03_sft.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 03 · Supervised fine-tuning (SFT)
#
# The heart of the blog: TRL's `SFTTrainer` (Unsloth's patched one on a GPU) trains the LoRA adapters on the Harmony
# rows notebook 02 prepared. For gpt-oss-20b the settings are the blog's — 16 rows per optimizer step, 60 steps,
# lr 2e-4, warmup 5, `adamw_8bit`, weight decay 0.01, linear schedule, seed 3407 — except how the 16 rows are split
# into micro-batches, which follows your GPU's memory (below: why that learns the same thing). Checkpoints are written
# as it goes: an interrupted run continues with `RESUME = True` (or `--resume`).
#
# What it costs. The CPU tutorial (smollm2-135m, 4 rows a step, `make run` on a 2-core AMD EPYC without AVX-512):
# 120 steps in 762.0 s (6.4 s/step), the whole notebook 12.9 minutes, loss 3.50 -> 0.43, 4.8 GiB peak RSS. gpt-oss-20b
# through this trainer, measured on an H200 with random weights of the 20B and 16 rows of 1024 tokens per step
# (docs/benchmarks.md, `tools/benchmark.py`): the 16 GB setting (4 × 4) 2.46 s/step at 14.4 GiB reserved, the 24 GB
# setting (8 × 2) 1.29 s/step at 15.4 GiB (60 steps in 77 s; 18.0 GiB with rows of 256-2048 tokens), 16 × 1
# 1.12 s/step at 17.6 GiB, the blog's 1 × 16 8.19 s/step at 13.9 GiB; plus about 30 s to import Unsloth, 15 s to load
# and 20-45 s of compilation in the first step. The whole notebook on that H200 (16 × 1, 1,000 hub-shaped rows of
# 128-1,024 tokens, docs/gpu-run.md): 4.6 minutes. On a real 16 GB or 24 GB card: not measured.
#
# > 中文摘要：用 TRL 的 SFTConfig 与 SFTTrainer（GPU 上为 Unsloth 版本）训练 LoRA：参数写在单元格里；按显存选择 micro-batch × 梯度累积（每步始终 16 行，与博客学到的相同），按长度分组减少填充；显示进度条、损失曲线、耗时、tokens/s 与峰值内存，支持断点续训，失败时不覆盖上一次的结果。

# %% tags=["parameters"]
PRESET = "auto"
MAX_STEPS = None      # None: the preset's (60 for gpt-oss-20b, as in the blog)
BATCH_SIZE = None     # rows per micro-batch; None: from the GPU's memory (gpt-oss) or the preset's
GRAD_ACCUM = None     # micro-batches per optimizer step; None: keeps the preset's rows per step
LEARNING_RATE = None  # None: the preset's (2e-4 for gpt-oss-20b)
SAVE_STEPS = None     # checkpoint every N steps; None: the preset's
RESUME = False        # True: continue from the last complete checkpoint in OUTPUT_DIR
DATASET = None        # None: what notebook 02 prepared; or a hub id / a .jsonl file
OUTPUT_DIR = None     # None: outputs/sft/<preset>/

# %%
from gpt_oss_tutorial import backends  # first: on a CUDA GPU this imports Unsloth before trl, transformers and peft

import time

import pandas as pd
import torch
from trl import SFTConfig, SFTTrainer

from gpt_oss_tutorial import data, figures, paths, plots, presets, sft

sft.check_training_parameters(max_steps=MAX_STEPS, batch_size=BATCH_SIZE, grad_accum=GRAD_ACCUM,
                              learning_rate=LEARNING_RATE, save_steps=SAVE_STEPS)
preset = presets.get_preset(PRESET, max_steps=MAX_STEPS, batch_size=BATCH_SIZE, grad_accum=GRAD_ACCUM,
                            learning_rate=LEARNING_RATE, save_steps=SAVE_STEPS)
output_dir = OUTPUT_DIR or paths.stage_dir("sft", preset.name)
blog = presets.PRESETS["gpt-oss-20b"]
pd.DataFrame({
    "the blog (RTX 4090)": [f"{blog.batch_size} × {blog.grad_accum}", blog.batch_size * blog.grad_accum,
                            blog.learning_rate, f"{blog.lr_scheduler}, {blog.warmup_steps} warmup", blog.max_steps],
    f"this run ({preset.name})": [f"{preset.batch_size} × {preset.grad_accum}", preset.batch_size * preset.grad_accum,
                                  preset.learning_rate, f"{preset.lr_scheduler}, {preset.warmup_steps} warmup",
                                  preset.max_steps],
}, index=["micro-batch × gradient accumulation", "rows per optimizer step", "learning rate", "schedule",
          "optimizer steps"])

# %% [markdown]
# ### The blog's 1 × 16 and this run's micro-batches learn the same thing
#
# An optimizer step of the blog averages the loss over the trained tokens of 16 rows, fed one row at a time
# (gradient accumulation 16). Feeding the same 16 rows as 8 × 2 or 16 × 1 sums the same per-token losses before the
# one optimizer update (TRL normalises by the trained tokens of the whole step), so the update, the number of steps
# and the learning-rate schedule are the blog's; only memory and speed change. The GPU computes 8 rows at once far
# better than 1, so on a card with room `presets.batch_for_vram` picks the largest micro-batch that fits: < 20 GiB
# 4 × 4, 20-40 GiB 8 × 2, ≥ 40 GiB 16 × 1 (measured peaks for 1024-token rows: 14.4, 15.5 and 17.5 GiB; rows of 2048
# tokens need roughly twice the activations, not measured: hence the headroom). `BATCH_SIZE` above overrides it.
#
# ## Model + LoRA (the calls of notebook 01), and the data notebook 02 prepared

# %%
loaded = backends.load(preset)  # runs notebook 01's two cells: from_pretrained, then get_peft_model
model, tokenizer = loaded.model, loaded.tokenizer
print(f"backend {loaded.backend}: {loaded.report['after_lora']['parameters']['trainable']:,} trainable parameters")
prepared = data.prepared_for(preset, tokenizer, dataset=DATASET)
print(f"{prepared.stats['rows_kept']} rows, {prepared.stats['trainable_tokens']:,} trained tokens per epoch")

# %% [markdown]
# ## Where the run writes, and what it resumes from
#
# `sft.start_run` only handles files: it refuses an `OUTPUT_DIR` that holds files this tutorial did not write, and
# a fresh run trains into `checkpoints.running/` so the previous adapter stays current until this run has finished.
# With `RESUME = True` it picks the newest *complete* checkpoint (its `trainer_state.json` parses, its weights exist)
# and says which; a run that already reached `MAX_STEPS` is reported finished instead of trained again.

# %% tags=["sft-start"]
run = sft.start_run(output_dir, max_steps=preset.max_steps, resume=RESUME)

# %% [markdown]
# ## The training configuration
#
# TRL's `SFTConfig`, with the preset's values. Bitsandbytes' 8-bit Adam needs CUDA, so a CPU run uses PyTorch's AdamW,
# and skips gradient checkpointing (TRL turns it on by default to save GPU memory, at the price of a second forward
# pass; a CPU has the memory to spare).
# Our rows are already tokenized with the loss masked to the assistant turn (notebook 02), so TRL's own dataset
# preparation is skipped; checkpoints every `save_steps`, the newest two kept. This cell and the trainer's below are
# the only copy of the training setup: the benchmark (`tools/benchmark.py`) and the tests run them as written (they
# carry the tags `sft-config` and `sft-trainer`).

# %% tags=["sft-config"]
use_cpu = not torch.cuda.is_available()
args = SFTConfig(
    output_dir=str(run.checkpoints_dir),
    per_device_train_batch_size=preset.batch_size,
    gradient_accumulation_steps=preset.grad_accum,
    max_steps=preset.max_steps,
    learning_rate=preset.learning_rate,
    warmup_steps=preset.warmup_steps,
    optim="adamw_torch" if use_cpu else preset.optim,
    weight_decay=preset.weight_decay,
    lr_scheduler_type=preset.lr_scheduler,
    seed=preset.seed,
    data_seed=preset.seed,
    logging_steps=preset.logging_steps,
    save_strategy="steps",
    save_steps=preset.save_steps,
    save_total_limit=2,
    max_length=preset.max_seq_length,
    gradient_checkpointing=not use_cpu,  # TRL's default saves GPU memory; on a CPU it only recomputes the forward pass
    bf16=not use_cpu and torch.cuda.is_bf16_supported(),
    fp16=not use_cpu and not torch.cuda.is_bf16_supported(),
    use_cpu=use_cpu,
    dataset_kwargs={"skip_prepare_dataset": True},
    remove_unused_columns=False,
    include_num_input_tokens_seen="non_padding",
    report_to="none",
)

# %% [markdown]
# ## The trainer
#
# TRL's `SFTTrainer` with two additions of ours (`sft.with_length_grouping`):
#
# - **Length grouping.** Each optimizer step takes rows of similar length (sorted, cut into steps of
#   `batch_size × grad_accum` rows, the steps in random order), and the collator pads each micro-batch only to its
#   longest row, rounded up to a multiple of `preset.pad_to_multiple_of` tokens. Mixed-length rows then waste little
#   on padding, and the GPU sees few distinct shapes (Unsloth compiles once per shape).
# - **On a CPU, the model's own loss.** TRL's fused LM-head loss saves GPU memory by never building the full logits;
#   on a CPU it scores every position and recomputes it in the backward pass. Measured with an earlier version of
#   this notebook (bf16 weights, gradient checkpointing on, another 2-core machine) with smollm2-135m: 6.4 s/step
#   with the model's cross-entropy against 11.0 s/step (means of 6 steps), losses within 0.003 of each other; with
#   this version's float32 settings: not measured. On a GPU TRL's (or Unsloth's) loss is kept.

# %% tags=["sft-trainer"]
trainer_class = sft.with_length_grouping(SFTTrainer, cpu_loss=use_cpu)
trainer = trainer_class(
    model=model,
    args=args,
    train_dataset=sft.training_columns(prepared.dataset),
    processing_class=tokenizer,
    data_collator=sft.collator(tokenizer.pad_token_id, preset.pad_to_multiple_of),
)

# %% [markdown]
# ## Train
#
# `trainer.train` runs the steps (from the checkpoint when resuming). `sft.finish_run` then saves the adapter
# atomically (written to a temporary folder, renamed into place once complete), writes `log.json`, and makes this
# run's checkpoints the current ones.

# %% tags=["sft-train"]
start = time.perf_counter()
if not run.finished:
    trainer.train(resume_from_checkpoint=run.resume_from)
result = sft.finish_run(run, trainer, seconds=time.perf_counter() - start, config=sft.config_summary(args))

# %%
fig = plots.loss_curve(result.log_history, run.output_dir / "loss.png", title=f"SFT loss: {preset.name}")

# %%
summary = result.summary()
steps_now = summary["steps"] - run.resumed_step
pd.Series({
    "optimizer steps": summary["steps"],
    "first / last loss": f"{summary['first_loss']:.4f} / {summary['last_loss']:.4f}" if summary["last_loss"] else "–",
    "wall time of this session": f"{summary['wall_seconds']:.1f} s",
    "seconds per step": f"{summary['wall_seconds'] / steps_now:.2f}" if steps_now else "– (nothing trained now)",
    "tokens/s (non-padding)": f"{summary['tokens_per_second']:,.0f}",
    "memory": backends.format_memory(summary["memory"]),
    "adapter": summary["adapter_dir"],
}, name=preset.name).to_frame()

# %% [markdown]
# The blog logged loss 1.6179 (step 20), 1.1410 (40), 1.0685 (60) on an RTX 4090 in 34.7 minutes with 23.05 GB
# reserved. Your figures above are measured on this machine; the CPU presets start from a higher loss because the
# small models have never seen the Harmony markers.

# %%
figures.record("03_sft", run=run.message, preset=preset.name, backend=loaded.backend, steps=summary["steps"],
               batch=f"{preset.batch_size}x{preset.grad_accum}", first_loss=summary["first_loss"],
               last_loss=summary["last_loss"], wall_seconds=summary["wall_seconds"],
               tokens_per_second=summary["tokens_per_second"], memory=summary["memory"],
               adapter_dir=summary["adapter_dir"], resumed_from=summary["resumed_from"],
               finished_before=summary["finished_before"])
