"""How a preset's model is loaded and given LoRA adapters: Unsloth on a CUDA GPU, transformers + peft elsewhere.

The calls themselves are taught in notebook 01, in two cells tagged ``load-model`` and ``attach-lora``
(``FastLanguageModel.from_pretrained`` / ``get_peft_model`` on a GPU, ``AutoModelForCausalLM.from_pretrained`` /
peft's ``get_peft_model(model, LoraConfig(...))`` elsewhere). They exist only there: ``from_pretrained``,
``get_peft_model`` and ``load`` below run those cells (``runner.run_cells``), so the later notebooks, the command-line
tools and the tests load the model exactly as notebook 01 does, with whatever a reader changed in those cells.

Importing this module on a CUDA machine with Unsloth installed imports Unsloth first: it patches trl, transformers
and peft and must come before them (a notebook's first import cell imports this module). Without CUDA Unsloth is
never imported: on a CPU its import fails in several different ways.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import harmony
from .presets import GPT_OSS_EXPERT_PARAMETERS, Preset

UNSLOTH = "unsloth"
PEFT = "transformers+peft"
BACKEND_ENV = "GPT_OSS_TUTORIAL_BACKEND"
PATCHED_BY_UNSLOTH = ("trl", "transformers", "peft")


def import_unsloth_first() -> str | None:
    """Import Unsloth when it will be used (CUDA present, Unsloth installed, the peft backend not requested).

    Returns why it was not imported (None when it was). An import error is kept, not raised, so that notebook 00 can
    still report the environment; the Unsloth backend raises it when it is used.
    """
    if os.environ.get(BACKEND_ENV) in (PEFT, "peft"):
        return f"{BACKEND_ENV} asks for the {PEFT} backend"
    if importlib.util.find_spec("unsloth") is None:
        return "unsloth is not installed"
    if not has_cuda():
        return "no CUDA GPU"
    late = [name for name in PATCHED_BY_UNSLOTH if name in sys.modules]
    if late:  # Unsloth still works, but cannot speed up what was imported before it
        print(f"warning: {', '.join(late)} imported before Unsloth: import gpt_oss_tutorial.backends first")
    try:
        import unsloth  # noqa: F401
    except Exception as exc:  # reported by notebook 00, raised again when the Unsloth backend is used
        return f"import unsloth failed: {type(exc).__name__}: {exc}"
    return None


# --------------------------------------------------------------------------- hardware
def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX). Without either, PyTorch's bf16 matrix
    products take a slow single-threaded fallback: on a 2-core AVX2 AMD EPYC one forward and backward pass of
    SmolLM2-135M (4 rows of 320 tokens) took 9.7 s in float32 and over 150 s in bf16."""
    import torch

    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def weights_dtype():
    """The dtype the transformers + peft backend loads weights in: bf16 on a GPU or on a CPU with native bf16,
    float32 on any other CPU (the same values: the checkpoints are bf16, and float32 holds them exactly)."""
    import torch

    return torch.bfloat16 if has_cuda() or cpu_has_fast_bf16() else torch.float32


def cuda_total_vram_gb() -> float | None:
    """Total memory of GPU 0 in GiB, or None without CUDA."""
    if not has_cuda():
        return None
    import torch

    return torch.cuda.get_device_properties(0).total_memory / 2**30


def backend_name(preset: Preset, *, cuda: bool | None = None, requested: str | None = None) -> str:
    """Unsloth on CUDA (the blog's path), transformers + peft on CPU or when asked for explicitly."""
    cuda = has_cuda() if cuda is None else cuda
    requested = requested or os.environ.get("GPT_OSS_TUTORIAL_BACKEND") or None
    if requested not in (None, "auto", UNSLOTH, PEFT, "peft"):
        raise ValueError(f"unknown backend {requested!r}: use 'auto', '{UNSLOTH}' or '{PEFT}'")
    if requested == UNSLOTH and not cuda:
        raise RuntimeError("the Unsloth backend needs a CUDA GPU; on this machine use the transformers+peft backend")
    if preset.needs_cuda and not cuda:
        raise RuntimeError(
            f"preset {preset.name!r} needs a CUDA GPU with about {preset.min_vram_gb:.0f} GB; none was found. "
            "Run notebook 00 (or `python scripts/check_env.py`) to see why, or use the CPU tutorial: --preset auto."
        )
    if requested in (PEFT, "peft"):
        return PEFT
    return UNSLOTH if cuda else PEFT


def pick(preset: Preset, *, cuda: bool | None = None, requested: str | None = None) -> "Backend":
    name = backend_name(preset, cuda=cuda, requested=requested)
    return UnslothBackend() if name == UNSLOTH else PeftBackend()


def model_source(preset: Preset) -> str:
    """A local folder for the offline presets (built on first use), the hub id otherwise."""
    if preset.offline:
        from .offline_models import ensure_model

        return str(ensure_model(preset.name))
    return preset.model_id


def load_tokenizer(preset: Preset):
    """Only the tokenizer (with its chat template): the data stage needs no model weights."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_source(preset))


# --------------------------------------------------------------------------- reports
def parameter_count(param) -> int:
    """Elements of the weight a parameter stands for: a bitsandbytes 4-bit weight stores two values per byte, so its
    ``numel`` is half the real count; its ``quant_state.shape`` is the unpacked shape."""
    shape = getattr(getattr(param, "quant_state", None), "shape", None)
    if shape is not None:
        count = 1
        for size in shape:
            count *= int(size)
        return count
    return param.numel()


def parameter_report(model) -> dict:
    """Trainable and total parameters (4-bit weights counted unpacked) and the share trained, in percent."""
    trainable = sum(parameter_count(p) for p in model.parameters() if p.requires_grad)
    total = sum(parameter_count(p) for p in model.parameters())
    return {"trainable": trainable, "total": total, "percent": 100.0 * trainable / max(total, 1)}


def memory_report() -> dict:
    """GPU memory (GiB) when CUDA is in use, else the process's resident memory (GiB)."""
    if has_cuda():
        import torch

        return {
            "device": torch.cuda.get_device_name(0),
            "allocated_gb": torch.cuda.memory_allocated() / 2**30,
            "reserved_gb": torch.cuda.memory_reserved() / 2**30,
            "peak_allocated_gb": torch.cuda.max_memory_allocated() / 2**30,
            "peak_reserved_gb": torch.cuda.max_memory_reserved() / 2**30,
        }
    import psutil

    rss = psutil.Process().memory_info().rss / 2**30
    return {"device": "cpu", "rss_gb": rss}


def format_memory(report: dict) -> str:
    """One readable line for a memory_report()."""
    if report.get("device") == "cpu":
        return f"CPU RSS {report['rss_gb']:.2f} GB"
    return (f"{report['device']}: {report['allocated_gb']:.2f} GB allocated, {report['reserved_gb']:.2f} GB reserved "
            f"(peak {report['peak_reserved_gb']:.2f} GB)")


def harmony_token_ids(tokenizer) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in harmony.SPECIAL_TOKENS]


def expected_lora_parameters(model, preset: Preset, *, attention_only: bool = False, r: int | None = None) -> int:
    """LoRA parameters predicted from shapes alone, independent of peft and Unsloth (so the tests can check them).

    r*(in+out) per nn.Linear target and r*E*(in+out) per fused expert tensor of shape (E, in, out). For gpt-oss the
    shapes are those of the reference architecture built from the model's config: Unsloth's 4-bit model stores its
    experts in another layout, and counting those modules would miss them.
    """
    from dataclasses import replace

    preset = replace(preset, lora_r=r) if r is not None else preset
    if preset.is_gpt_oss:
        return lora_parameters_for_config(model.config, preset, attention_only=attention_only)
    return _lora_parameters_from_modules(model, preset, attention_only=attention_only)


def _lora_parameters_from_modules(model, preset: Preset, *, attention_only: bool = False) -> int:
    import torch

    r = preset.lora_r
    attention = ("q_proj", "k_proj", "v_proj", "o_proj")
    names = attention if (attention_only or preset.is_gpt_oss) else preset.lora_targets
    count = 0
    for module_name, module in model.named_modules():
        leaf = module_name.rsplit(".", 1)[-1]
        if isinstance(module, torch.nn.Linear) and leaf in names:
            count += r * (module.in_features + module.out_features)
    if preset.is_gpt_oss and not attention_only:
        for param_name, param in model.named_parameters():
            if any(param_name.endswith(t) for t in GPT_OSS_EXPERT_PARAMETERS) and param.dim() == 3:
                experts, d_in, d_out = param.shape
                count += r * experts * (d_in + d_out)
    return count


def lora_parameters_for_config(config, preset: Preset, *, attention_only: bool = False) -> int:
    """LoRA parameters of gpt-oss from its config alone: r*(in+out) per attention projection, r*E*(in+out) per
    fused expert tensor. Plain arithmetic, so no library's patched classes (Unsloth swaps gpt-oss's expert
    classes process-wide after a 4-bit load) can change what is counted."""
    r, layers, hidden = preset.lora_r, config.num_hidden_layers, config.hidden_size
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    q, kv = heads * head_dim, kv_heads * head_dim
    attention = (hidden + q) + 2 * (hidden + kv) + (q + hidden)  # q, k, v, o
    experts = config.num_local_experts * ((hidden + 2 * config.intermediate_size)  # gate_up_proj (E, in, 2*inter)
                                          + (config.intermediate_size + hidden))  # down_proj (E, inter, in)
    return r * layers * (attention + (0 if attention_only else experts))


def gpt_oss_20b_config():
    """The gpt-oss-20b architecture (GptOssConfig() defaults are the 120B sizes: 36 layers, 128 experts)."""
    from transformers import GptOssConfig

    return GptOssConfig(num_hidden_layers=24, num_local_experts=32, num_experts_per_tok=4, vocab_size=201088,
                        hidden_size=2880, intermediate_size=2880, head_dim=64, num_attention_heads=64,
                        num_key_value_heads=8)


@dataclass
class Loaded:
    model: object
    tokenizer: object
    backend: str
    preset: Preset
    report: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- backends
class Backend:
    """What differs between the two backends once a model is loaded: switching between generation and training."""

    name = "?"

    def for_inference(self, model):
        model.eval()
        return model

    def for_training(self, model):
        model.train()
        return model


class PeftBackend(Backend):
    """transformers + peft: CPU, or several GPUs through accelerate. Base weights in ``weights_dtype()`` (bf16, or
    float32 on a CPU without native bf16); the LoRA weights stay fp32 (peft's default autocast_adapter_dtype)."""

    name = PEFT


class UnslothBackend(Backend):
    """Unsloth's FastLanguageModel: 4-bit weights, its own gradient checkpointing and kernels (CUDA only)."""

    name = UNSLOTH

    def for_inference(self, model):
        from unsloth import FastLanguageModel

        FastLanguageModel.for_inference(model)
        return model

    def for_training(self, model):
        from unsloth import FastLanguageModel

        FastLanguageModel.for_training(model)
        return model


def is_quantized(model) -> bool:
    """Whether the base weights are quantized (bitsandbytes 4-bit or 8-bit, or any ``quantization_config``)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return bool(getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False)
                or getattr(getattr(base, "config", None), "quantization_config", None))


def adapter_layers(model) -> list:
    """The model's peft adapter layers (LoRA layers, trainable-token layers)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


@contextmanager
def merged_adapter(model):
    """Generate with the LoRA adapter folded into the base weights (peft's ``merge_adapter``), unfolded afterwards.

    An unmerged adapter costs extra work at every generated token: two small matrix products per adapted layer, and
    with ``train_new_tokens`` a fresh copy of the embedding and LM-head matrices. Merged, the model runs at the base
    model's speed with the same outputs up to float rounding (TRL merges and unmerges the same way to sync vLLM).
    Only on float32 base weights, which ``unmerge_adapter`` gives back to within float32 rounding: 16-bit weights
    would keep a visible rounding change, and a merge into 4-bit weights rounds the update itself (Unsloth's
    ``for_inference`` has its own fast LoRA path). A no-op there, on a model without adapters, on one already merged
    and inside ``disable_adapter()``.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "merge_adapter") else None
    layers = adapter_layers(model) if base is not None else []
    if (not layers or is_quantized(model) or getattr(base, "dtype", None) != torch.float32
            or any(m.merged or m.disable_adapters for m in layers)):
        yield model
        return
    model.merge_adapter()
    try:
        yield model
    finally:
        model.unmerge_adapter()


LESSON = "01_load_and_lora"  # the notebook whose cells load the model
LOAD_CELL, LORA_CELL = "load-model", "attach-lora"


def _lesson_namespace(preset: Preset, backend: str, source: str) -> dict:
    """The names notebook 01's load and LoRA cells read, as that notebook defines them before those cells."""
    from . import presets

    namespace = {"preset": preset, "backend": backend, "source": source, "backends": sys.modules[__name__],
                 "presets": presets, "time": time}
    if backend == UNSLOTH:
        import unsloth  # noqa: F401  (import_unsloth_first has normally imported it already)
        from unsloth import FastLanguageModel

        namespace["FastLanguageModel"] = FastLanguageModel
    return namespace


def from_pretrained(preset: Preset, *, path: str | None = None, backend: str | None = None):
    """``(model, tokenizer)`` by notebook 01's ``load-model`` cell; ``path``: a local folder instead of the preset's
    model (a saved adapter for Unsloth, a merged model)."""
    from . import runner

    name = backend_name(preset, requested=backend)
    namespace = runner.run_cells(LESSON, [LOAD_CELL], _lesson_namespace(preset, name, path or model_source(preset)))
    return namespace["model"], namespace["tokenizer"]


def get_peft_model(model, tokenizer, preset: Preset, *, backend: str | None = None):
    """``model`` with LoRA adapters, by notebook 01's ``attach-lora`` cell."""
    from . import runner

    name = backend_name(preset, requested=backend)
    namespace = _lesson_namespace(preset, name, model_source(preset))
    namespace.update(model=model, tokenizer=tokenizer)
    return runner.run_cells(LESSON, [LORA_CELL], namespace)["model"]


def patch_trainable_tokens_bias(model) -> int:
    """TRL 1.16's fused LM-head loss reads ``lm_head.bias``; peft's ``TrainableTokensWrapper`` (the tied lm_head of a
    preset with ``train_new_tokens``) forwards ``.weight`` but raises on ``.bias``. Give every such wrapper the bias of
    the layer it wraps (None for these models). Returns how many wrappers were patched."""
    try:
        from peft.utils.other import TrainableTokensWrapper
    except ImportError:  # older peft: no such wrapper
        return 0
    patched = 0
    for module in model.modules():
        if isinstance(module, TrainableTokensWrapper) and "bias" not in module.__dict__:
            base = getattr(getattr(module, "token_adapter", None), "base_layer", None)
            object.__setattr__(module, "bias", getattr(base, "bias", None))
            patched += 1
    return patched


def load(preset: Preset, *, lora: bool = True, backend: str | None = None, path: str | None = None) -> Loaded:
    """Load the preset's model and tokenizer, attach LoRA (notebook 01's two cells), and report what it cost."""
    from . import runner

    name = backend_name(preset, requested=backend)
    source = path or model_source(preset)
    namespace = runner.run_cells(LESSON, [LOAD_CELL], _lesson_namespace(preset, name, source))
    model = namespace["model"]
    report = {"backend": name, "source": source, "load_seconds": round(namespace["load_seconds"], 2),
              "after_load": {"memory": namespace["memory_after_load"], "parameters": namespace["base_parameters"]}}
    if lora:
        report["expected_lora_parameters"] = expected_lora_parameters(model, preset)
        runner.run_cells(LESSON, [LORA_CELL], namespace)
        model = namespace["model"]
        report["after_lora"] = {"memory": namespace["memory_after_lora"], "parameters": namespace["lora_parameters"]}
    return Loaded(model=model, tokenizer=namespace["tokenizer"], backend=name, preset=preset, report=report)


def load_adapter(preset: Preset, adapter_dir: str | Path, *, backend: str | None = None, trainable: bool = False):
    """The base model with a saved LoRA adapter on top (for evaluation, GRPO and export)."""
    name = backend_name(preset, requested=backend)
    model, tokenizer = from_pretrained(preset, backend=name)
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    patch_trainable_tokens_bias(model)
    return Loaded(model=model, tokenizer=tokenizer, backend=name, preset=preset)


UNSLOTH_NOT_IMPORTED = import_unsloth_first()  # None when Unsloth was imported (first); otherwise why not
