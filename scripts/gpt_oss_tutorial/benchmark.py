"""Speed and memory of three ways to fine-tune gpt-oss, measured in one run on one GPU (issue 9, point 2).

    (a) the blog:     Unsloth 4-bit, LoRA r=8 on the seven names, batch 1 x grad-accum 16, rows padded to one length
    (b) our default:  the same model, LoRA, effective batch (16 rows/step) and tokens learned, made faster:
                      a larger micro-batch and, on mixed lengths, length-grouped micro-batches padded to a few shapes
    (c) the cookbook: transformers + peft on bf16 weights, eager attention, LoRA on the same targets

Each is measured on fixed-length rows (``seq_len`` tokens, no padding) and on a seeded mix of row lengths
(``min_len``..``max_len``): seconds per optimizer step, real (non-pad) and processed tokens/s, and the peak GPU memory
(allocated and reserved). The model is the real architecture with random bf16 weights (speed and memory of training
do not depend on the weights' values), built once and saved as safetensors with an offline Harmony tokenizer, then
loaded by every configuration in its OWN subprocess: fresh CUDA memory statistics, and Unsloth's patches cannot leak
into (c). The parent never touches the GPU; it collects one JSON line per measured phase and rewrites the JSON and
markdown reports after each one, so a run that is killed still leaves what it measured.

Training loop. A minimal manual loop rather than TRL's SFTTrainer, on purpose: the benchmark's subject is the shape
of the micro-batches (fixed, padded to the maximum, length-grouped), which a hand-made plan controls exactly while a
Trainer re-samples and re-collates; every step is timed between two ``torch.cuda.synchronize()`` calls with nothing
else inside (no logging, dataset, metrics or checkpoint work). The step does what the Trainer's does: bf16 autocast
forward with labels, the loss of each micro-batch weighted by its share of the step's label tokens (token-level mean
over the step, as TRL's ``num_items_in_batch``), backward, gradient clipping at 1.0, the blog's optimizer
(bitsandbytes AdamW 8-bit, lr 2e-4, weight decay 0.01; torch AdamW on CPU) and ``zero_grad``. The LR schedule is left
out (it costs nothing). The reports put the earlier TRL measurements beside ours, so the loop's figures can be
checked against the tutorial's.

Warm-up (excluded from the timed steps, reported separately): one forward + backward per distinct micro-batch shape
of the phase (Unsloth compiles each new shape: ~50 s the first time, ~38 s per new shape measured earlier; for the
eager transformers path, the largest shape only), then one optimizer step. ``--warmup 0`` skips it.
"""
from __future__ import annotations

import json
import math
import os
import queue
import random
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic

TAG = "@@BENCH@@ "
CONFIGS = ("a", "b", "c")
LENGTH_SETS = ("fixed", "mixed")
CONFIG_LABELS = {
    "a": "(a) blog: Unsloth 4-bit, batch 1, rows padded to one length",
    "b": "(b) ours: Unsloth 4-bit, larger micro-batch, length-grouped",
    "c": "(c) cookbook: transformers + peft, bf16 weights, eager attention",
}
DEFAULT_MICRO = {"a": ("1x16",), "b": ("4x4",), "c": ("4x4",)}  # for the effective batch of 16 (default_micro)
# How each configuration batches the mixed-length rows.
MIXED_POLICY = {
    "a": "pad_to_max",  # the blog: every row padded/truncated to one length (here: the longest, nothing truncated)
    "b": "grouped",     # ours: length-grouped micro-batches padded to at most --max-shapes widths
    "c": "per_batch",   # the cookbook (TRL's collator): random order, each micro-batch padded to its longest row
}
UNSLOTH_CONFIGS = ("a", "b")
SKIP_NO_UNSLOTH = "skipped: needs CUDA + Unsloth"

# Goals of issue 9 (gpt-oss-20b, 1024-token rows).
GOAL_SPEEDUP_VS_C = 2.5
GOAL_PEAK_RESERVED_GB = 15.5
GOAL_MIXED_FRACTION = 0.90

# Earlier measurements on the same machine kind (H100 80 GB, random 20B weights, 1024-token rows, TRL 1.15 SFTTrainer,
# Unsloth 2026.10.9; /work/shared/anchors.md): s/step by (config, micro-batch). Shown beside ours to check the loop.
EARLIER_TRL_S_PER_STEP = {("a", "1x16"): 8.23, ("b", "4x4"): 2.25, ("c", "4x4"): 4.83, ("c", "1x16"): 10.08}

# Rough costs for the time plan printed at the start (H100, gpt-oss-20b; anchors.md): seconds.
BUDGET = {"build": 20, "save": 40, "unsloth_import": 35, "unsloth_load": 25, "unsloth_first_compile": 50,
          "unsloth_new_shape": 38, "peft_import": 10, "peft_load": 35, "micro_unsloth": 0.55, "micro_peft": 1.2}

SCRIPTS_DIR = Path(__file__).resolve().parents[1]


def _now() -> float:
    return time.perf_counter()


# =========================================================================== batch plans
@dataclass(frozen=True)
class MicroBatch:
    lengths: tuple[int, ...]  # real (non-pad) tokens of each row
    width: int  # padded length: every row of the micro-batch is this long
    rows: tuple[int, ...] = ()  # indices of the rows in the length sample (empty for synthetic fixed rows)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.lengths), self.width)

    @property
    def real_tokens(self) -> int:
        return sum(self.lengths)

    @property
    def processed_tokens(self) -> int:
        return len(self.lengths) * self.width

    @property
    def label_tokens(self) -> int:
        return sum(max(n - 1, 0) for n in self.lengths)  # labels are shifted by one inside the model


@dataclass
class Plan:
    policy: str
    micro_batch: int
    grad_accum: int
    steps: list[list[MicroBatch]]
    notes: dict = field(default_factory=dict)

    def shapes(self) -> list[tuple[int, int]]:
        """Distinct (rows, width) shapes in first-use order."""
        seen: dict[tuple[int, int], None] = {}
        for step in self.steps:
            for mb in step:
                seen.setdefault(mb.shape, None)
        return list(seen)

    def stats(self) -> dict:
        real = sum(mb.real_tokens for s in self.steps for mb in s)
        processed = sum(mb.processed_tokens for s in self.steps for mb in s)
        return {
            "policy": self.policy,
            "steps": len(self.steps),
            "rows_per_step": sum(len(mb.lengths) for mb in self.steps[0]) if self.steps else 0,
            "real_tokens": real,
            "processed_tokens": processed,
            "real_fraction": real / processed if processed else 0.0,
            "shapes": [list(s) for s in self.shapes()],
            **self.notes,
        }


def parse_micro(spec: str, effective_batch: int = 16) -> tuple[int, int]:
    """'4x4' -> (4 rows per micro-batch, 4 micro-batches per step); the product must be the effective batch."""
    try:
        m, g = (int(x) for x in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"micro-batch spec {spec!r}: write ROWSxGRAD_ACCUM, e.g. 4x4") from None
    if m < 1 or g < 1 or m * g != effective_batch:
        raise ValueError(f"micro-batch spec {spec!r}: {m} x {g} must equal the effective batch {effective_batch}")
    return m, g


def default_micro(effective_batch: int = 16) -> dict[str, list[str]]:
    """(a) is always 1 x effective batch (the blog); (b) and (c) default to 4 rows per micro-batch."""
    e = effective_batch
    four = f"4x{e // 4}" if e % 4 == 0 else f"1x{e}"
    return {"a": [f"1x{e}"], "b": [four], "c": [four]}


def round_up(n: int, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple)


def mixed_lengths(n: int, lo: int = 256, hi: int = 2048, seed: int = 3407) -> list[int]:
    """A fixed, seeded sample of row lengths, uniform in [lo, hi]."""
    rng = random.Random(seed)
    return [rng.randint(lo, hi) for _ in range(n)]


def plan_fixed(steps: int, micro_batch: int, grad_accum: int, seq_len: int) -> Plan:
    mb = MicroBatch(lengths=(seq_len,) * micro_batch, width=seq_len)
    return Plan("fixed", micro_batch, grad_accum, [[mb] * grad_accum for _ in range(steps)])


def _chunks(seq, n):
    return [seq[i:i + n] for i in range(0, len(seq), n)]


def _check_rows(lengths: list[int], micro_batch: int, grad_accum: int) -> None:
    per_step = micro_batch * grad_accum
    if not lengths or len(lengths) % per_step:
        raise ValueError(f"{len(lengths)} rows do not make whole steps of {per_step} rows")


def plan_pad_to_max(lengths: list[int], micro_batch: int, grad_accum: int, pad_to: int) -> Plan:
    """The blog's batching: every row padded to one length (nothing here is longer, so nothing is truncated)."""
    _check_rows(lengths, micro_batch, grad_accum)
    if max(lengths) > pad_to:
        raise ValueError(f"a row of {max(lengths)} tokens is longer than the padded length {pad_to}")
    idx = list(range(len(lengths)))
    mbs = [MicroBatch(tuple(lengths[i] for i in c), pad_to, tuple(c)) for c in _chunks(idx, micro_batch)]
    return Plan("pad_to_max", micro_batch, grad_accum, _chunks(mbs, grad_accum), {"pad_to": pad_to})


def plan_per_batch(lengths: list[int], micro_batch: int, grad_accum: int, seed: int = 3407) -> Plan:
    """TRL's default: rows in random order, each micro-batch padded to its longest row."""
    _check_rows(lengths, micro_batch, grad_accum)
    idx = list(range(len(lengths)))
    random.Random(seed).shuffle(idx)
    mbs = [MicroBatch(tuple(lengths[i] for i in c), max(lengths[i] for i in c), tuple(c))
           for c in _chunks(idx, micro_batch)]
    return Plan("per_batch", micro_batch, grad_accum, _chunks(mbs, grad_accum))


def choose_widths(maxima: list[int], max_shapes: int, multiple: int) -> list[int]:
    """At most ``max_shapes`` padded widths (multiples of ``multiple``) that minimise the padded tokens when each
    micro-batch takes the smallest width >= its longest row (equal-size micro-batches). Exact dynamic programme over
    the sorted candidate widths: O(max_shapes * C^2), C = distinct rounded maxima."""
    if max_shapes < 1:
        raise ValueError("max_shapes must be >= 1")
    rounded = sorted(round_up(m, multiple) for m in maxima)
    cands = sorted(set(rounded))
    counts = [rounded.count(c) for c in cands]
    n = len(cands)
    k_max = min(max_shapes, n)
    inf = float("inf")
    prefix = [0]
    for c in counts:
        prefix.append(prefix[-1] + c)
    # best[k][j]: min padded tokens covering candidates 0..j-1 with k widths, the last width = cands[j-1]
    best = [[inf] * (n + 1) for _ in range(k_max + 1)]
    back = [[-1] * (n + 1) for _ in range(k_max + 1)]
    best[0][0] = 0
    for k in range(1, k_max + 1):
        for j in range(1, n + 1):
            for i in range(j):  # the group i..j-1 is padded to cands[j-1]
                prev = best[k - 1][i]
                if prev == inf:
                    continue
                cost = prev + (prefix[j] - prefix[i]) * cands[j - 1]
                if cost < best[k][j]:
                    best[k][j], back[k][j] = cost, i
    k = min(range(1, k_max + 1), key=lambda kk: best[kk][n])
    widths, j = [], n
    while j > 0:
        widths.append(cands[j - 1])
        j, k = back[k][j], k - 1
    return sorted(widths)


def group_by_length(lengths: list[int], micro_batch: int, grad_accum: int, *, max_shapes: int = 4,
                    multiple: int = 64, mega_batch_rows: int | None = None, seed: int = 3407) -> Plan:
    """Length-grouped micro-batches with at most ``max_shapes`` distinct padded widths.

    Rows are sorted by length within each mega-batch (all rows by default; else chunks of ``mega_batch_rows``, a
    multiple of the effective batch), cut into micro-batches of ``micro_batch`` consecutive rows, and each micro-batch
    is padded to the smallest chosen width that holds its longest row (widths chosen by ``choose_widths``). Steps are
    ``grad_accum`` consecutive micro-batches (rows of similar length), and the order of the steps within a mega-batch
    is shuffled so training does not run from short to long rows. Every row is used exactly once; every step keeps
    the effective batch (``micro_batch * grad_accum`` rows)."""
    _check_rows(lengths, micro_batch, grad_accum)
    per_step = micro_batch * grad_accum
    mega = mega_batch_rows or len(lengths)
    if mega % per_step:
        raise ValueError(f"mega-batch of {mega} rows is not a whole number of steps of {per_step} rows")
    rng = random.Random(seed)
    groups: list[list[list[int]]] = []  # mega-batch -> micro-batches (row indices)
    for start in range(0, len(lengths), mega):
        idx = sorted(range(start, min(start + mega, len(lengths))), key=lambda i: (lengths[i], i))
        groups.append(_chunks(idx, micro_batch))
    maxima = [max(lengths[i] for i in mb) for g in groups for mb in g]
    widths = choose_widths(maxima, max_shapes, multiple)
    steps: list[list[MicroBatch]] = []
    for g in groups:
        mbs = []
        for rows in g:
            longest = max(lengths[i] for i in rows)
            width = next(w for w in widths if w >= longest)
            mbs.append(MicroBatch(tuple(lengths[i] for i in rows), width, tuple(rows)))
        mega_steps = _chunks(mbs, grad_accum)
        rng.shuffle(mega_steps)
        steps.extend(mega_steps)
    return Plan("grouped", micro_batch, grad_accum, steps,
                {"widths": widths, "max_shapes": max_shapes, "multiple": multiple, "mega_batch_rows": mega})


@dataclass(frozen=True)
class Options:
    """Everything that decides a measurement; the parent passes it to each child as JSON."""
    arch: str = "gpt-oss-20b"
    seq_len: int = 1024
    min_len: int = 256
    max_len: int = 2048
    steps: int = 3
    warmup: int = 1
    effective_batch: int = 16
    max_shapes: int = 4
    multiple: int = 64
    mega_batch_rows: int | None = None
    seed: int = 3407


def build_plan(config: str, lengths_kind: str, micro: str, opts: Options) -> Plan:
    m, g = parse_micro(micro, opts.effective_batch)
    if lengths_kind == "fixed":
        return plan_fixed(opts.steps, m, g, opts.seq_len)
    if lengths_kind != "mixed":
        raise ValueError(f"unknown length set {lengths_kind!r}: use fixed or mixed")
    rows = mixed_lengths(opts.steps * opts.effective_batch, opts.min_len, opts.max_len, opts.seed)
    policy = MIXED_POLICY[config]
    if policy == "pad_to_max":
        return plan_pad_to_max(rows, m, g, round_up(opts.max_len, opts.multiple))
    if policy == "per_batch":
        return plan_per_batch(rows, m, g, opts.seed)
    return group_by_length(rows, m, g, max_shapes=opts.max_shapes, multiple=opts.multiple,
                           mega_batch_rows=opts.mega_batch_rows, seed=opts.seed)


def max_width(configs, micro: dict, lengths: list[str], opts: Options) -> int:
    return max(max(w for _, w in build_plan(c, k, mb, opts).shapes())
               for c in configs for mb in micro[c] for k in lengths)


# =========================================================================== the model folder
def model_config(arch: str, tokenizer):
    """The architecture to benchmark, with the tokenizer's pad/eos ids (the tokenizer may be smaller than vocab)."""
    from . import harmony

    if arch == "gpt-oss-20b":
        from .backends import gpt_oss_20b_config

        config = gpt_oss_20b_config()
    elif arch == "tiny":
        from transformers import GptOssConfig

        from .offline_models import TINY_GPT_OSS_CONFIG, TINY_VOCAB_SIZE

        config = GptOssConfig(vocab_size=TINY_VOCAB_SIZE, **TINY_GPT_OSS_CONFIG)
    else:
        raise ValueError(f"unknown --arch {arch!r}: use gpt-oss-20b or tiny")
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens, more than the vocabulary {config.vocab_size}")
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.convert_tokens_to_ids(harmony.RETURN)
    config.use_cache = False
    return config


def build_info(arch: str) -> dict:
    import transformers

    return {"arch": arch, "transformers": transformers.__version__, "format": 1}


def save_parallel(model, folder: Path, *, shard_bytes: int = 2 * 2**30, workers: int = 8) -> int:
    """``save_pretrained``'s files, written by several threads: safetensors shards of the state dict (whose keys are
    exactly the checkpoint keys for GptOss in transformers 5.17-5.23, checked by the tests), their index, config.json
    and generation_config.json. The 20B's 42 GB took 61 s through ``save_pretrained`` (one thread). Returns shards."""
    from concurrent.futures import ThreadPoolExecutor

    from safetensors.torch import save_file

    state = model.state_dict()
    shards: list[list[str]] = [[]]
    size = 0
    for key, t in state.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    n = len(shards)
    names = [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]

    def write(i: int) -> None:
        tensors = {k: state[k].detach().to("cpu").contiguous() for k in shards[i]}
        save_file(tensors, str(folder / names[i]), metadata={"format": "pt"})

    with ThreadPoolExecutor(max_workers=min(workers, n)) as pool:
        list(pool.map(write, range(n)))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": {k: names[i] for i, ks in enumerate(shards) for k in ks}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    model.config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    return n


def build_model_dir(arch: str, folder: Path, *, seed: int = 0, save: str = "parallel") -> dict:
    """Random bf16 weights of ``arch`` built on the GPU (CPU without one), saved as safetensors with a Harmony BPE
    tokenizer (benchmarks feed random token ids; the tokenizer exists for the loaders and the pad id)."""
    import torch
    from transformers import GptOssForCausalLM

    from . import harmony
    from .offline_models import build_harmony_bpe_tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = _now()
    tokenizer = build_harmony_bpe_tokenizer()
    tokenizer.chat_template = harmony.CHAT_TEMPLATE
    config = model_config(arch, tokenizer)
    tok_s = _now() - t0
    t0 = _now()
    torch.manual_seed(seed)
    with torch.device(device):
        model = GptOssForCausalLM._from_config(config, dtype=torch.bfloat16)  # default init, on the device
    if device == "cuda":
        torch.cuda.synchronize()
    build_s = _now() - t0
    params = sum(p.numel() for p in model.parameters())
    t0 = _now()
    with atomic.atomic_dir(folder) as tmp:
        if save == "parallel":
            save_parallel(model, tmp)
        else:
            model.save_pretrained(tmp, max_shard_size="5GB")
        tokenizer.save_pretrained(tmp)
        (tmp / "bench_model.json").write_text(json.dumps(build_info(arch) | {"parameters": params}) + "\n")
    save_s = _now() - t0
    return {"event": "build", "status": "ok", "device": device, "parameters": params, "tokenizer_len": len(tokenizer),
            "vocab_size": config.vocab_size, "tokenizer_seconds": round(tok_s, 1), "build_seconds": round(build_s, 1),
            "save_seconds": round(save_s, 1), "save": save, "folder": str(folder)}


def model_dir_ready(arch: str, folder: Path) -> bool:
    info = folder / "bench_model.json"
    if not info.exists():
        return False
    try:
        saved = json.loads(info.read_text())
    except ValueError:
        return False
    import importlib.metadata

    want = {"arch": arch, "transformers": importlib.metadata.version("transformers"), "format": 1}
    return all(saved.get(k) == v for k, v in want.items())


# =========================================================================== the child: one configuration
def _emit(obj: dict) -> None:
    sys.stdout.write(TAG + json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def _gib(n: int) -> float:
    return round(n / 2**30, 3)


def _versions() -> dict:
    import importlib.metadata

    out = {}
    for name in ("torch", "transformers", "peft", "unsloth", "unsloth_zoo", "bitsandbytes", "trl"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _load_unsloth(model_dir: str, max_seq_length: int):
    from .backends import UnslothBackend
    from .presets import get_preset

    backend = UnslothBackend()
    t0 = _now()
    backend._fast()  # import unsloth first (before transformers/peft are used), timed on its own
    import_s = _now() - t0
    preset = get_preset("gpt-oss-20b", max_seq_length=max_seq_length)
    t0 = _now()
    model, tokenizer = backend.from_pretrained(preset, path=model_dir)  # load_in_4bit=True (the preset's)
    load_s = _now() - t0
    t0 = _now()
    model = backend.get_peft_model(model, tokenizer, preset)  # r=8, alpha=16, 7 names, "unsloth" checkpointing
    # What Unsloth's trainer does before training (unsloth/models/rl.py prepare_for_training_mode): the model's own
    # for_training with the checkpointing mode recorded by get_peft_model.
    use_gc = getattr(model, "_unsloth_gradient_checkpointing", "unsloth")
    if callable(getattr(model, "for_training", None)):
        model.for_training(use_gradient_checkpointing=use_gc)
    else:
        backend.for_training(model)
    model.train()
    return model, tokenizer, {"import_seconds": round(import_s, 1), "load_seconds": round(load_s, 1),
                              "lora_seconds": round(_now() - t0, 1), "gradient_checkpointing": "unsloth",
                              "weights": "4-bit (bitsandbytes nf4, Unsloth)"}


def _load_peft(model_dir: str, device: str):
    t0 = _now()
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from .backends import PeftBackend
    from .presets import get_preset

    import_s = _now() - t0
    preset = get_preset("gpt-oss-20b")
    t0 = _now()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16, attn_implementation="eager", use_safetensors=True,
        device_map={"": 0} if device == "cuda" else None)
    load_s = _now() - t0
    t0 = _now()
    model.config.use_cache = False
    # What TRL does for the cookbook (gradient_checkpointing=True): non-reentrant checkpointing of every layer.
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    set_seed(preset.seed)
    # The tutorial's peft LoRA: q/k/v/o as modules + the fused experts through target_parameters, r=8, alpha=16.
    model = get_peft_model(model, PeftBackend().lora_config(tokenizer, preset))
    model.train()
    return model, tokenizer, {"import_seconds": round(import_s, 1), "load_seconds": round(load_s, 1),
                              "lora_seconds": round(_now() - t0, 1),
                              "gradient_checkpointing": "transformers (non-reentrant)",
                              "weights": "bf16 (dequantized), eager attention"}


def _optimizer(params, device: str):
    import torch

    if device == "cuda":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=2e-4, weight_decay=0.01), "bitsandbytes AdamW8bit (adamw_8bit)"
    return torch.optim.AdamW(params, lr=2e-4, weight_decay=0.01), "torch AdamW (8-bit Adam needs CUDA)"


class _Batches:
    """Synthetic micro-batches: random token ids for the real positions, the pad id after them (right padding),
    labels = ids with the padding masked (-100), attention mask 1 on real tokens."""

    def __init__(self, vocab_size: int, pad_id: int, device: str, seed: int):
        import torch

        self.torch, self.vocab, self.pad, self.device = torch, vocab_size, pad_id, device
        self.gen = torch.Generator().manual_seed(seed)

    def make(self, mb: MicroBatch) -> dict:
        torch = self.torch
        rows, width = mb.shape
        ids = torch.randint(1, self.vocab, (rows, width), generator=self.gen)
        pos = torch.arange(width).unsqueeze(0)
        real = pos < torch.tensor(mb.lengths).unsqueeze(1)
        ids = ids.masked_fill(~real, self.pad)
        labels = ids.masked_fill(~real, -100)
        batch = {"input_ids": ids, "attention_mask": real.long(), "labels": labels}
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _micro_step(model, batch: dict, weight: float, device: str):
    import torch

    if device == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch).loss
    else:
        loss = model(**batch).loss
    (loss * weight).backward()
    return loss.detach()


def run_phase(model, optimizer, params, plan: Plan, *, warmup: int, compiled: bool, batches: _Batches,
              device: str) -> dict:
    """Warm-up (per shape), then the plan's steps, each timed between two synchronisations."""
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    warm_shapes = []
    t_warm = _now()
    if warmup:
        first_mb = {}
        for step in plan.steps:
            for mb in step:
                first_mb.setdefault(mb.shape, mb)
        shapes = list(first_mb) if compiled else [max(first_mb, key=lambda s: s[0] * s[1])]
        for w in range(warmup):
            for shape in shapes:
                _sync(device)
                t0 = _now()
                _micro_step(model, batches.make(first_mb[shape]), 1.0 / plan.grad_accum, device)
                _sync(device)
                if w == 0:
                    warm_shapes.append({"shape": list(shape), "seconds": round(_now() - t0, 2)})
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        _sync(device)
    warm_s = _now() - t_warm
    step_s, losses = [], []
    for step in plan.steps:
        label_total = sum(mb.label_tokens for mb in step) or 1
        data = [batches.make(mb) for mb in step]  # built before the clock starts (host work, not training)
        _sync(device)
        t0 = _now()
        acc = None
        for mb, batch in zip(step, data):
            loss = _micro_step(model, batch, mb.label_tokens / label_total, device)
            part = loss * (mb.label_tokens / label_total)
            acc = part if acc is None else acc + part
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(device)
        step_s.append(_now() - t0)
        losses.append(float(acc))
    stats = plan.stats()
    total = sum(step_s)
    out = {
        "s_per_step": round(total / len(step_s), 3),
        "step_seconds": [round(s, 3) for s in step_s],
        "real_tokens_per_step": stats["real_tokens"] / len(plan.steps),
        "processed_tokens_per_step": stats["processed_tokens"] / len(plan.steps),
        "real_tokens_per_s": round(stats["real_tokens"] / total, 1),
        "processed_tokens_per_s": round(stats["processed_tokens"] / total, 1),
        "real_fraction": round(stats["real_fraction"], 4),
        "shapes": stats["shapes"],
        "n_shapes": len(stats["shapes"]),
        "plan": {k: v for k, v in stats.items() if k not in ("shapes",)},
        "warmup_seconds": round(warm_s, 1),
        "warmup_shapes": warm_shapes,
        "losses": [round(x, 4) for x in losses],
        "loss_finite": all(math.isfinite(x) for x in losses),
    }
    if device == "cuda":
        out["peak_allocated_gb"] = _gib(torch.cuda.max_memory_allocated())
        out["peak_reserved_gb"] = _gib(torch.cuda.max_memory_reserved())
    else:
        import resource

        out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return out


def child_main(spec: dict) -> int:
    """One configuration, every micro-batch variant and length set of it, in this process. One JSON line per
    phase (status ok / failed), so the parent keeps what was measured even if a later phase dies."""
    config, opts = spec["config"], Options(**spec["options"])
    variants, lengths = spec["micro"], spec["lengths"]
    base = {"config": config, "label": CONFIG_LABELS[config]}
    t_start = _now()
    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        if config in UNSLOTH_CONFIGS:
            model, tokenizer, load_info = _load_unsloth(spec["model_dir"], spec["max_seq_length"])
        else:
            model, tokenizer, load_info = _load_peft(spec["model_dir"], device)
        params = [p for p in model.parameters() if p.requires_grad]
        load_info.update(
            trainable_params=sum(p.numel() for p in params), device=device, versions=_versions(),
            device_name=torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
            max_seq_length=spec["max_seq_length"] if config in UNSLOTH_CONFIGS else None,
            setup_seconds=round(_now() - t_start, 1))
        try:
            load_info["lm_head_rows"] = int(model.get_output_embeddings().weight.shape[0])
        except Exception:  # not every wrapper exposes it; the vocabulary is in the config anyway
            load_info["lm_head_rows"] = None
        load_info["vocab_size"] = getattr(model.config, "vocab_size", None)
        load_info["alloc_conf"] = os.environ.get("PYTORCH_CUDA_ALLOC_CONF")
        if device == "cuda":
            load_info["after_load_allocated_gb"] = _gib(torch.cuda.memory_allocated())
            load_info["load_peak_reserved_gb"] = _gib(torch.cuda.max_memory_reserved())
        _emit({"event": "loaded", **base, **load_info})
        vocab = model.config.vocab_size if hasattr(model.config, "vocab_size") else len(tokenizer)
        batches = _Batches(vocab, tokenizer.pad_token_id, device, opts.seed)
    except Exception as exc:  # nothing measurable: every phase fails with the same reason
        reason = f"load failed: {type(exc).__name__}: {exc}"
        traceback.print_exc()
        for micro in variants:
            for kind in lengths:
                _emit({"event": "result", **base, "micro": micro, "lengths": kind, "status": "failed",
                       "reason": reason[:2000]})
        return 1
    failed = False
    for micro in variants:
        optimizer, opt_name = _optimizer(params, device)
        for kind in lengths:
            row = {"event": "result", **base, "micro": micro, "lengths": kind, **load_info, "optimizer": opt_name}
            m, g = parse_micro(micro, opts.effective_batch)
            row.update(micro_batch=m, grad_accum=g, policy="fixed" if kind == "fixed" else MIXED_POLICY[config])
            t0 = _now()
            try:
                plan = build_plan(config, kind, micro, opts)
                row.update(run_phase(model, optimizer, params, plan, warmup=opts.warmup,
                                     compiled=config in UNSLOTH_CONFIGS, batches=batches, device=device))
                row["status"] = "ok"
            except Exception as exc:
                failed = True
                traceback.print_exc()
                oom = "out of memory" in str(exc).lower()
                row.update(status="failed", reason=f"{'CUDA out of memory' if oom else type(exc).__name__}: "
                                                   f"{str(exc)[:1500]}")
                optimizer.zero_grad(set_to_none=True)
                if device == "cuda":
                    torch.cuda.empty_cache()
            row["phase_seconds"] = round(_now() - t0, 1)
            _emit(row)
        del optimizer
    return 1 if failed else 0


def build_main(spec: dict) -> int:
    try:
        info = build_model_dir(spec["arch"], Path(spec["model_dir"]), save=spec.get("save", "parallel"))
    except Exception as exc:
        traceback.print_exc()
        _emit({"event": "build", "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:2000]})
        return 1
    _emit(info)
    return 0


def subprocess_entry(argv: list[str]) -> int:
    """``python -c ... --child|--build JSON``: the parent's way into a fresh interpreter."""
    mode, payload = argv[0], json.loads(argv[1])
    if mode == "--build":
        return build_main(payload)
    return child_main(payload)


# =========================================================================== the parent
@dataclass
class RunArgs:
    arch: str = "gpt-oss-20b"
    configs: tuple[str, ...] = ("c", "b", "a")
    lengths: tuple[str, ...] = LENGTH_SETS
    micro: dict = field(default_factory=default_micro)
    options: Options = field(default_factory=Options)
    workdir: Path = Path("/dev/shm/bench")
    json_path: Path | None = None
    markdown_path: Path | None = None
    time_budget: float = 0.0  # seconds for the whole run; 0 = none
    rebuild: bool = False
    save: str = "parallel"  # or "transformers" (save_pretrained)
    dry_run: bool = False


def default_workdir() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / "bench"
    import tempfile

    return Path(tempfile.gettempdir()) / "gpt_oss_bench"


def unsloth_available() -> tuple[bool, str]:
    import importlib.util

    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        return False, SKIP_NO_UNSLOTH + " (no CUDA GPU here)"
    if importlib.util.find_spec("unsloth") is None:
        return False, SKIP_NO_UNSLOTH + " (unsloth is not installed)"
    return True, ""


class _Log:
    def __init__(self):
        self.t0 = _now()

    def __call__(self, msg: str, tag: str = "bench") -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"[{stamp} +{_now() - self.t0:6.1f}s] {tag:>5} | {msg}", flush=True)

    def elapsed(self) -> float:
        return _now() - self.t0


def _spawn(mode: str, payload: dict, cwd: Path, log: _Log, tag: str, deadline: float | None):
    """Run a child, echo its output with timestamps, return (parsed JSON lines, return code or 'timeout')."""
    code = (f"import sys; sys.path.insert(0, {str(SCRIPTS_DIR)!r}); "
            "from gpt_oss_tutorial.benchmark import subprocess_entry; "
            "sys.exit(subprocess_entry(sys.argv[1:]))")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen([sys.executable, "-c", code, mode, json.dumps(payload)], cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    records = []
    while True:
        timeout = None if deadline is None else max(deadline - log.elapsed(), 0.01)
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            log(f"time budget reached: stopping the {tag} process (pid {proc.pid})", tag)
            import signal

            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own session, started above
            except ProcessLookupError:
                pass
            proc.wait()
            return records, "timeout"
        if line is None:
            break
        line = line.rstrip("\n")
        if line.startswith(TAG):
            rec = json.loads(line[len(TAG):])
            records.append(rec)
            log(_one_line(rec), tag)
            if callable(_ON_RECORD[0]):
                _ON_RECORD[0](rec)
        else:
            log(line, tag)
    return records, proc.wait()


_ON_RECORD: list = [None]  # the parent's callback for each JSON line (writes the partial reports)


def _one_line(rec: dict) -> str:
    if rec.get("event") == "build":
        if rec.get("status") != "ok":
            return f"BUILD FAILED: {rec.get('reason')}"
        return (f"built {rec['parameters']:,} parameters in {rec['build_seconds']} s, saved in "
                f"{rec['save_seconds']} s -> {rec['folder']}")
    if rec.get("event") == "loaded":
        return (f"loaded ({rec.get('weights')}): import {rec.get('import_seconds')} s, "
                f"load {rec.get('load_seconds')} s, LoRA {rec.get('trainable_params', 0):,} trainable, "
                f"vocab {rec.get('vocab_size')} "
                f"(lm_head rows {rec.get('lm_head_rows')}), PYTORCH_CUDA_ALLOC_CONF={rec.get('alloc_conf')}")
    if rec.get("status") != "ok":
        return (f"{rec.get('config')} {rec.get('micro')} {rec.get('lengths')}: {rec.get('status')} "
                f"{rec.get('reason', '')}")
    mem = (f", peak {rec['peak_allocated_gb']:.2f}/{rec['peak_reserved_gb']:.2f} GiB alloc/reserved"
           if "peak_reserved_gb" in rec else "")
    return (f"{rec['config']} {rec['micro']} {rec['lengths']}: {rec['s_per_step']:.2f} s/step, "
            f"{rec['real_tokens_per_s']:,.0f} real tok/s ({rec['real_fraction']:.0%} real), "
            f"warm-up {rec['warmup_seconds']} s{mem}")


def plan_budget(args: RunArgs, *, build: bool) -> list[tuple[str, float]]:
    """A rough time plan (H100 figures from anchors.md; meaningless for --arch tiny)."""
    o, b = args.options, BUDGET
    out = []
    if build:
        out.append(("build + save the model", b["build"] + b["save"]))
    for c in args.configs:
        unsloth = c in UNSLOTH_CONFIGS
        t = (b["unsloth_import"] + b["unsloth_load"]) if unsloth else (b["peft_import"] + b["peft_load"])
        first = True
        for micro in args.micro[c]:
            for kind in args.lengths:
                plan = build_plan(c, kind, micro, o)
                shapes = plan.shapes()
                if unsloth and o.warmup:
                    t += (b["unsloth_first_compile"] if first else b["unsloth_new_shape"]) + \
                        b["unsloth_new_shape"] * (len(shapes) - 1)
                    first = False
                per_micro = b["micro_unsloth"] if unsloth else b["micro_peft"]
                tokens = sum(mb.processed_tokens for s in plan.steps for mb in s)
                # per micro-batch cost grows ~linearly with tokens beyond 4096 (rough)
                n_mb = sum(len(s) for s in plan.steps)
                t += n_mb * per_micro * max(1.0, tokens / n_mb / 4096) + (o.warmup and per_micro * len(shapes))
        out.append((f"config {c} ({', '.join(args.micro[c])}; {', '.join(args.lengths)})", t))
    return out


def run(args: RunArgs) -> dict:
    log = _Log()
    o = args.options
    for c in args.configs:
        if c not in CONFIGS:
            raise ValueError(f"unknown configuration {c!r}: use a, b, c")
    report = {
        "meta": {
            "arch": args.arch, "configs": list(args.configs), "lengths": list(args.lengths),
            "micro_batches": {c: list(args.micro[c]) for c in args.configs}, "options": o.__dict__,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
            "method": "manual loop: bf16 autocast (CUDA), token-weighted loss over the step, clip 1.0, AdamW 8-bit "
                      "on CUDA / torch AdamW on CPU (lr 2e-4, wd 0.01); warm-up = one micro-batch per new shape "
                      "(Unsloth) or of the largest shape (eager), then one optimizer step",
            "mixed_policies": {c: MIXED_POLICY[c] for c in args.configs},
            "time_budget_s": args.time_budget or None,
        },
        "build": None, "loaded": {}, "results": [], "goals": [],
    }
    # the planned phases, marked pending until measured (so a timeout leaves them visible)
    for c in args.configs:
        for micro in args.micro[c]:
            parse_micro(micro, o.effective_batch)
            for kind in args.lengths:
                m, g = parse_micro(micro, o.effective_batch)
                plan = build_plan(c, kind, micro, o)
                report["results"].append({
                    "config": c, "label": CONFIG_LABELS[c], "micro": micro, "lengths": kind, "micro_batch": m,
                    "grad_accum": g, "policy": "fixed" if kind == "fixed" else MIXED_POLICY[c],
                    "status": "pending", "real_fraction": round(plan.stats()["real_fraction"], 4),
                    "shapes": plan.stats()["shapes"], "n_shapes": len(plan.shapes()), "plan": plan.stats()})

    def write():
        report["goals"] = evaluate_goals(report["results"], args.arch, o.__dict__)
        report["meta"]["elapsed_s"] = round(log.elapsed(), 1)
        if args.json_path:
            atomic.write_json(args.json_path, report)
        if args.markdown_path:
            atomic.write_text(args.markdown_path, render_markdown(report))

    def put(rec: dict) -> None:
        if rec.get("event") == "build":
            report["build"] = rec
        elif rec.get("event") == "loaded":
            report["loaded"][rec["config"]] = {k: v for k, v in rec.items() if k not in ("event",)}
        elif rec.get("event") == "result":
            for i, r in enumerate(report["results"]):
                if (r["config"], r["micro"], r["lengths"]) == (rec["config"], rec["micro"], rec["lengths"]):
                    report["results"][i] = {k: v for k, v in rec.items() if k != "event"}
        write()

    _ON_RECORD[0] = put
    ok, why = unsloth_available()
    runnable = [c for c in args.configs if ok or c not in UNSLOTH_CONFIGS]
    for r in report["results"]:
        if r["config"] not in runnable:
            r.update(status="skipped", reason=why)
    model_dir = Path(args.workdir) / f"model-{args.arch}"
    need_build = bool(runnable) and (args.rebuild or not model_dir_ready(args.arch, model_dir))
    log(f"arch {args.arch}; configs {' '.join(args.configs)}; lengths {' '.join(args.lengths)}; "
        f"{o.steps} timed step(s) after {o.warmup} warm-up; workdir {args.workdir}")
    for r in report["results"]:
        log(f"plan {r['config']} {r['micro']} {r['lengths']}: {r['policy']}, shapes {r['shapes']}, "
            f"real fraction {r['real_fraction']:.1%}" + (f" [{r['status']}]" if r["status"] != "pending" else ""))
    if args.arch == "gpt-oss-20b":  # the time plan is for the H100, whatever this machine can run
        plan = plan_budget(args, build=args.rebuild or not model_dir_ready(args.arch, model_dir))
        for name, secs in plan:
            log(f"budget {name}: ~{secs:.0f} s")
        log(f"budget total: ~{sum(s for _, s in plan):.0f} s (rough; compile times vary)"
            + (f"; hard limit {args.time_budget:.0f} s" if args.time_budget else ""))
    write()
    if args.dry_run or not runnable:
        return report
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    deadline = args.time_budget - 3 if args.time_budget else None
    if need_build:
        import shutil

        need_gb = {"gpt-oss-20b": 45}.get(args.arch, 1)  # 20.9 B bf16 parameters = 41.8 GB, plus the tokenizer
        free_gb = shutil.disk_usage(args.workdir).free / 1e9
        if free_gb < need_gb:
            reason = (f"only {free_gb:.0f} GB free under {args.workdir}, the model needs ~{need_gb} GB: pass a "
                      "--workdir with room (a RAM disk like /dev/shm is fastest)")
            log(reason)
            for r in report["results"]:
                if r["status"] == "pending":
                    r.update(status="failed", reason=reason)
            write()
            return report
        log(f"building random {args.arch} weights -> {model_dir}")
        recs, rc = _spawn("--build", {"arch": args.arch, "model_dir": str(model_dir), "save": args.save},
                          Path(args.workdir), log, "build", deadline)
        if rc != 0 or not recs or recs[-1].get("status") != "ok":
            reason = (recs[-1].get("reason") if recs else None) or f"build process ended with {rc}"
            for r in report["results"]:
                if r["status"] == "pending":
                    r.update(status="failed", reason=f"model build failed: {reason}")
            write()
            return report
    else:
        report["build"] = {"event": "build", "status": "reused", "folder": str(model_dir)}
        log(f"reusing {model_dir}")
    max_len = max_width(runnable, args.micro, list(args.lengths), o)
    for c in runnable:
        spec = {"config": c, "options": o.__dict__, "micro": list(args.micro[c]), "lengths": list(args.lengths),
                "model_dir": str(model_dir), "max_seq_length": max_len}
        log(f"--- configuration {c}: {CONFIG_LABELS[c]}")
        recs, rc = _spawn("--child", spec, Path(args.workdir), log, c, deadline)
        for r in report["results"]:
            if r["config"] == c and r["status"] == "pending":
                r.update(status="timeout" if rc == "timeout" else "failed",
                         reason="time budget reached before this phase finished" if rc == "timeout"
                         else f"the {c} process ended with code {rc} before reporting this phase")
        write()
        if rc == "timeout":
            for r in report["results"]:
                if r["status"] == "pending":
                    r.update(status="timeout", reason="time budget reached before this configuration started")
            break
    write()
    log("done")
    return report


# =========================================================================== goals and report
def _ok(results, config, lengths, micro=None):
    return [r for r in results if r["config"] == config and r["lengths"] == lengths and r["status"] == "ok"
            and (micro is None or r["micro"] == micro)]


def _missing(results, config, lengths, micro=None) -> str:
    rows = [r for r in results if r["config"] == config and r["lengths"] == lengths
            and (micro is None or r["micro"] == micro)]
    if not rows:
        return f"({config}) {lengths} was not in this run"
    r = rows[0]
    reason = r.get("reason") or ""
    text = reason if reason.startswith(r["status"]) else f"{r['status']} ({reason})" if reason else r["status"]
    return f"({config}) {r['micro']} {lengths}: {text}"


def widths_needed(opts: Options, micro: str, target: float = GOAL_MIXED_FRACTION, limit: int = 32):
    """Fewest padded widths for which (b)'s grouping of the same mixed sample keeps ``target`` real tokens
    (None if even ``limit`` widths do not), with the fraction it reaches."""
    m, g = parse_micro(micro, opts.effective_batch)
    rows = mixed_lengths(opts.steps * opts.effective_batch, opts.min_len, opts.max_len, opts.seed)
    frac = 0.0
    for k in range(1, limit + 1):
        frac = group_by_length(rows, m, g, max_shapes=k, multiple=opts.multiple, mega_batch_rows=opts.mega_batch_rows,
                               seed=opts.seed).stats()["real_fraction"]
        if frac >= target:
            return k, frac
    return None, frac


def evaluate_goals(results: list[dict], arch: str = "gpt-oss-20b", options: dict | None = None) -> list[dict]:
    """The three goals of issue 9 for each (b) micro-batch variant: measured, met or missed by how much, and why."""
    goals = []
    b_variants = list(dict.fromkeys(r["micro"] for r in results if r["config"] == "b"))
    c_fixed = _ok(results, "c", "fixed")
    c_best = max(c_fixed, key=lambda r: r["real_tokens_per_s"]) if c_fixed else None
    for micro in b_variants:
        bf = _ok(results, "b", "fixed", micro)
        bm = _ok(results, "b", "mixed", micro)
        bf = bf[0] if bf else None
        bm = bm[0] if bm else None
        # 1. speed vs (c) at its best batch
        g = {"goal": f"(b) {micro} tokens/s >= {GOAL_SPEEDUP_VS_C}x (c) at its best batch (fixed length)",
             "target": f">= {GOAL_SPEEDUP_VS_C:.2f}x"}
        if bf and c_best:
            ratio = bf["real_tokens_per_s"] / c_best["real_tokens_per_s"]
            need_s = c_best["s_per_step"] * (bf["real_tokens_per_step"] / c_best["real_tokens_per_step"]) \
                / GOAL_SPEEDUP_VS_C
            g.update(measured=f"{ratio:.2f}x ({bf['real_tokens_per_s']:,.0f} vs {c_best['real_tokens_per_s']:,.0f} "
                              f"tokens/s, (c) at {c_best['micro']})", value=round(ratio, 3),
                     met=ratio >= GOAL_SPEEDUP_VS_C)
            g["by"] = "met" if g["met"] else f"missed by {(1 - ratio / GOAL_SPEEDUP_VS_C):.0%} ({ratio:.2f}x of " \
                                             f"{GOAL_SPEEDUP_VS_C}x)"
            g["why"] = "" if g["met"] else (
                f"(b) takes {bf['s_per_step']:.2f} s/step = {bf['s_per_step'] / bf['grad_accum']:.2f} s per "
                f"micro-batch of {bf['micro_batch']} x {bf['shapes'][0][1]}; the goal needs <= {need_s:.2f} s/step "
                f"against (c)'s {c_best['s_per_step']:.2f} s/step")
        else:
            g.update(measured=None, met=None, by="not measured",
                     why="; ".join(_missing(results, c, "fixed", m) for c, m in (("b", micro), ("c", None))
                                   if not _ok(results, c, "fixed", m)))
        goals.append(g)
        # 2. memory
        g = {"goal": f"(b) {micro} peak reserved <= {GOAL_PEAK_RESERVED_GB} GB at fixed length",
             "target": f"<= {GOAL_PEAK_RESERVED_GB:.2f} GiB"}
        if bf and "peak_reserved_gb" in bf:
            res, alloc = bf["peak_reserved_gb"], bf["peak_allocated_gb"]
            g.update(measured=f"{res:.2f} GiB reserved ({alloc:.2f} allocated)", value=res,
                     met=res <= GOAL_PEAK_RESERVED_GB)
            g["by"] = "met" if g["met"] else f"missed by {res - GOAL_PEAK_RESERVED_GB:.2f} GiB"
            g["why"] = "" if g["met"] else (
                f"{alloc:.2f} GiB allocated at the peak + {res - alloc:.2f} GiB held by the allocator's cache; "
                f"{bf['micro_batch']} rows x {bf['shapes'][0][1]} tokens per forward "
                f"(weights + LoRA after load: {bf.get('after_load_allocated_gb', '?')} GiB)")
        else:
            g.update(measured=None, met=None, by="not measured",
                     why=_missing(results, "b", "fixed", micro) if not bf else "no GPU memory figures (CPU run)")
        goals.append(g)
        # 3. mixed lengths
        g = {"goal": f"(b) {micro} real tokens/s on mixed lengths >= {GOAL_MIXED_FRACTION:.0%} of fixed length",
             "target": f">= {GOAL_MIXED_FRACTION:.0%}"}
        if bf and bm:
            frac = bm["real_tokens_per_s"] / bf["real_tokens_per_s"]
            proc = bm["processed_tokens_per_s"] / bf["processed_tokens_per_s"]
            g.update(measured=f"{frac:.0%} ({bm['real_tokens_per_s']:,.0f} vs {bf['real_tokens_per_s']:,.0f} "
                              f"real tokens/s)", value=round(frac, 4), met=frac >= GOAL_MIXED_FRACTION)
            g["by"] = "met" if g["met"] else f"missed by {(GOAL_MIXED_FRACTION - frac) * 100:.1f} points"
            g["why"] = "" if g["met"] else (
                f"= real-token fraction {bm['real_fraction']:.0%} (padding to {bm['n_shapes']} widths "
                f"{sorted(s[1] for s in bm['shapes'])}) x processed tokens/s at {proc:.0%} of the fixed-length figure")
            g["warmup_seconds"] = bm.get("warmup_seconds")
            if not g["met"] and options:
                need = GOAL_MIXED_FRACTION / max(proc, 1e-9)
                if need > 1:
                    g["why"] += ("; processed tokens/s alone is below the goal, so no padding scheme reaches it")
                else:
                    k, frac_k = widths_needed(Options(**options), micro, need)
                    g["why"] += (f"; at this processed speed the padding must keep >= {need:.0%} real tokens: "
                                 + (f"{k} widths would ({frac_k:.0%}) on this sample" if k
                                    else "no number of widths does on this sample"))
                shapes = bm.get("warmup_shapes") or []
                if shapes:
                    each = ", ".join(f"{x['seconds']:.0f}" for x in shapes)
                    g["why"] += f"; the warm-up took {bm.get('warmup_seconds')} s for {len(shapes)} shape(s) ({each} s)"
        else:
            g.update(measured=None, met=None, by="not measured",
                     why="; ".join(_missing(results, "b", k, micro) for k, r in (("fixed", bf), ("mixed", bm))
                                   if not r))
        goals.append(g)
    return goals


def _fmt(v, spec=",.0f", none="–"):
    return none if v is None else format(v, spec)


def render_markdown(report: dict) -> str:
    meta, results = report["meta"], report["results"]
    loaded = report.get("loaded") or {}
    any_loaded = next(iter(loaded.values()), {})
    versions = any_loaded.get("versions") or {}
    o = meta["options"]
    lines = [
        f"# Fine-tuning benchmark: {meta['arch']}",
        "",
        f"Device: {any_loaded.get('device_name', 'not loaded')}"
        + (f"; {', '.join(f'{k} {v}' for k, v in versions.items())}" if versions else "") + ". "
        f"Started {meta['started']}, {meta.get('elapsed_s', '?')} s. Random bf16 weights of the real architecture.",
        f"Fixed: every row {o['seq_len']} tokens. Mixed: {o['steps'] * o['effective_batch']} rows of "
        f"{o['min_len']}-{o['max_len']} tokens (uniform, seed {o['seed']}); (a) pads every row to "
        f"{round_up(o['max_len'], o['multiple'])}, (b) length-groups micro-batches into <= {o['max_shapes']} widths "
        f"(multiples of {o['multiple']}), (c) pads each micro-batch to its longest row (random order). "
        f"Effective batch {o['effective_batch']} rows/step; {o['steps']} timed step(s) after {o['warmup']} warm-up "
        "pass(es). Memory in GiB (2^30 bytes).",
        f"Method: {meta['method']}.",
        "",
    ]
    b = report.get("build") or {}
    if b.get("status") == "ok":
        lines.append(f"Model: {b['parameters']:,} parameters built in {b['build_seconds']} s, saved in "
                     f"{b['save_seconds']} s.")
    for c, info in loaded.items():
        lines.append(f"- ({c}) {info.get('weights')}: import {info.get('import_seconds')} s, load "
                     f"{info.get('load_seconds')} s, LoRA {info.get('trainable_params', 0):,} trainable, "
                     f"{info.get('optimizer', '')}".rstrip(", "))
    lines += ["", "| configuration | rows | batch | s/step | real tokens/s | processed tokens/s | real fraction | "
              "peak alloc / reserved | warm-up s (shapes) | earlier TRL s/step | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ok = r["status"] == "ok"
        mem = (f"{r['peak_allocated_gb']:.2f} / {r['peak_reserved_gb']:.2f}" if ok and "peak_reserved_gb" in r
               else (f"RSS {r['peak_rss_gb']:.2f}" if ok and "peak_rss_gb" in r else "–"))
        earlier = EARLIER_TRL_S_PER_STEP.get((r["config"], r["micro"])) if (
            meta["arch"] == "gpt-oss-20b" and r["lengths"] == "fixed" and o["seq_len"] == 1024) else None
        rows = r["lengths"] if r["lengths"] == "fixed" else "mixed, " + r["policy"]
        reason = r.get("reason") or ""
        status = reason if reason.startswith(r["status"]) else f"{r['status']}: {reason}".rstrip(": ")
        lines.append(
            f"| {r.get('label', r['config'])} | {rows} | {r['micro_batch']} x GA "
            f"{r['grad_accum']} | {_fmt(r.get('s_per_step'), '.2f')} | {_fmt(r.get('real_tokens_per_s'))} | "
            f"{_fmt(r.get('processed_tokens_per_s'))} | {_fmt(r.get('real_fraction'), '.0%')} | {mem} | "
            f"{_fmt(r.get('warmup_seconds'), '.0f')} ({r.get('n_shapes', '?')}) | {_fmt(earlier, '.2f')} | "
            f"{status.replace('|', '/')[:300]} |")
    lines += ["", "## Goals", "", "| goal | target | measured | result | why |", "|---|---|---|---|---|"]
    for g in report.get("goals") or []:
        mark = "met" if g.get("met") else g["by"]
        lines.append(f"| {g['goal']} | {g['target']} | {g.get('measured') or '–'} | {mark} | "
                     f"{(g.get('why') or '').replace('|', '/')} |")
    if not report.get("goals"):
        lines.append("| (no (b) configuration in this run) | | | | |")
    warm = [(r, s) for r in results if r["status"] == "ok" for s in r.get("warmup_shapes") or []]
    if warm:
        lines += ["", "Warm-up per new micro-batch shape (first forward + backward; Unsloth compiles here): " +
                  "; ".join(f"({r['config']}) {r['lengths']} {s['shape'][0]}x{s['shape'][1]}: {s['seconds']:.1f} s"
                            for r, s in warm) + "."]
    return "\n".join(lines) + "\n"
