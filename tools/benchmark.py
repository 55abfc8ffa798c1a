#!/usr/bin/env python
"""Seconds per step, tokens/s and peak GPU memory of notebook 03's trainer, in one run on one GPU.

    (a) the blog's:     Unsloth 4-bit, LoRA r=8 on the seven names, micro-batch 1 x gradient accumulation 16
    (b) the tutorial's: the same, 16 rows per step in larger micro-batches (4 x 4, 8 x 2, 16 x 1: by GPU memory)
    (c) the cookbook's: transformers + peft on bf16 weights, eager attention, LoRA on the same targets

Every configuration trains through the trainer notebook 03 builds (its ``sft-config`` and ``sft-trainer`` cells, run
as written by ``sft.notebook_trainer``: TRL's SFTTrainer, length-grouped steps, micro-batches padded to a multiple
of 64), on random token rows: fixed
``--seq-len`` tokens, and a seeded mix of ``--min-len``..``--max-len`` tokens. Random bf16 weights of the real
architecture are built once and saved under ``--workdir``; each configuration loads them in its own process (fresh
memory statistics; Unsloth's patches cannot leak into (c)). The JSON and markdown reports are rewritten after every
measured phase, so a run stopped by ``--time-budget`` keeps what it measured.

    python tools/benchmark.py --arch gpt-oss-20b --configs b c a --micro-batches b=4x4,8x2,16x1 c=16x1 \\
        --mixed-micro-batches 8x2 16x1 --time-budget 470 --json bench.json --markdown bench.md
    python tools/benchmark.py --arch tiny --configs c --steps 1 --warmup 0     # CPU smoke run
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "scripts") not in sys.path:  # the helpers beside the tool, installed or not
    sys.path.insert(0, str(REPO_ROOT / "scripts"))

TAG = "@@BENCH@@ "
CONFIGS = ("a", "b", "c")
LENGTH_SETS = ("fixed", "mixed")
CONFIG_LABELS = {
    "a": "(a) the blog: Unsloth 4-bit, 1 x 16",
    "b": "(b) the tutorial: Unsloth 4-bit, larger micro-batch",
    "c": "(c) the cookbook: transformers + peft, bf16 weights",
}
UNSLOTH_CONFIGS = ("a", "b")
SKIP_NO_UNSLOTH = "skipped: needs CUDA + Unsloth"
# The goals for gpt-oss-20b at 1024-token rows, 16 rows a step (the 16 GB setting is 4 x 4, the 24 GB one 8 x 2).
GOAL_SECONDS_60_STEPS = 80.0
GOAL_TOKENS_PER_S = 12_300
GOAL_RESERVED_16GB = 15.0
GOAL_RESERVED_24GB = 22.0
GOAL_SPEEDUP_VS_C = 3.0
GOAL_MIXED_FRACTION = 0.90


@dataclass(frozen=True)
class Options:
    """Everything that decides a measurement; the parent hands it to each child as JSON."""
    arch: str = "gpt-oss-20b"
    seq_len: int = 1024
    min_len: int = 256
    max_len: int = 2048
    steps: int = 3
    warmup: int = 1
    effective_batch: int = 16
    pad_multiple: int = 64
    seed: int = 3407


def parse_micro(spec: str, effective_batch: int = 16) -> tuple[int, int]:
    """'4x4' -> (4 rows per micro-batch, 4 micro-batches per step); the product must be the effective batch."""
    try:
        m, g = (int(x) for x in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"micro-batch {spec!r}: write ROWSxGRAD_ACCUM, e.g. 4x4") from None
    if m < 1 or g < 1 or m * g != effective_batch:
        raise ValueError(f"micro-batch {spec!r}: {m} x {g} must equal the effective batch {effective_batch}")
    return m, g


def mixed_lengths(n: int, lo: int, hi: int, seed: int) -> list[int]:
    """A seeded sample of row lengths, uniform in [lo, hi]."""
    rng = random.Random(seed)
    return [rng.randint(lo, hi) for _ in range(n)]


def row_lengths(kind: str, opts: Options) -> list[int]:
    """The rows of a phase: warm-up and timed steps, ``effective_batch`` rows each."""
    n = (opts.warmup + opts.steps) * opts.effective_batch
    if kind == "fixed":
        return [opts.seq_len] * n
    if kind == "mixed":
        return mixed_lengths(n, opts.min_len, opts.max_len, opts.seed)
    raise ValueError(f"unknown length set {kind!r}: use fixed or mixed")


# =========================================================================== the model folder
def model_config(arch: str, tokenizer):
    """The architecture to benchmark with the tokenizer's pad/eos ids; everything else as the hub config has it
    (``use_cache`` included: a stand-in for the hub model must generate like it)."""
    from gpt_oss_tutorial import harmony

    if arch == "gpt-oss-20b":
        from gpt_oss_tutorial.backends import gpt_oss_20b_config

        config = gpt_oss_20b_config()
    elif arch == "tiny":
        from transformers import GptOssConfig

        from gpt_oss_tutorial.offline_models import TINY_GPT_OSS_CONFIG, TINY_VOCAB_SIZE

        config = GptOssConfig(vocab_size=TINY_VOCAB_SIZE, **TINY_GPT_OSS_CONFIG)
    else:
        raise ValueError(f"unknown --arch {arch!r}: use gpt-oss-20b or tiny")
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens, more than the vocabulary {config.vocab_size}")
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.convert_tokens_to_ids(harmony.RETURN)
    return config


def save_parallel(model, folder: Path, *, shard_bytes: int = 2 * 2**30, workers: int = 8) -> int:
    """``save_pretrained``'s files written by several threads (safetensors shards, their index, the configs); the
    20B's 42 GB take about a minute through ``save_pretrained``'s single thread. Returns the number of shards."""
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
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]

    def write(i: int) -> None:
        tensors = {k: state[k].detach().to("cpu").contiguous() for k in shards[i]}
        save_file(tensors, str(folder / names[i]), metadata={"format": "pt"})

    with ThreadPoolExecutor(max_workers=min(workers, len(shards))) as pool:
        list(pool.map(write, range(len(shards))))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": {k: names[i] for i, ks in enumerate(shards) for k in ks}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    model.config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    return len(shards)


def _build_info(arch: str) -> dict:
    import importlib.metadata

    return {"arch": arch, "transformers": importlib.metadata.version("transformers"), "format": 2}


def build_model_dir(arch: str, folder: Path, *, seed: int = 0, save: str = "parallel") -> dict:
    """Random bf16 weights of ``arch`` (built on the GPU when there is one) saved as safetensors with an offline
    Harmony tokenizer: the benchmark feeds random token ids, the tokenizer gives the loaders their pad id."""
    import torch
    from transformers import GptOssForCausalLM

    from gpt_oss_tutorial import atomic, harmony
    from gpt_oss_tutorial.offline_models import build_harmony_bpe_tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = build_harmony_bpe_tokenizer()
    tokenizer.chat_template = harmony.CHAT_TEMPLATE
    config = model_config(arch, tokenizer)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    with torch.device(device):
        model = GptOssForCausalLM._from_config(config, dtype=torch.bfloat16)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    with atomic.atomic_dir(folder) as tmp:
        if save == "parallel":
            save_parallel(model, tmp)
        else:
            model.save_pretrained(tmp, max_shard_size="5GB")
        tokenizer.save_pretrained(tmp)
        (tmp / "bench_model.json").write_text(json.dumps(_build_info(arch) | {"parameters": params}) + "\n")
    return {"event": "build", "status": "ok", "device": device, "parameters": params, "vocab_size": config.vocab_size,
            "build_seconds": round(build_s, 1), "save_seconds": round(time.perf_counter() - t0, 1),
            "folder": str(folder)}


def model_dir_ready(arch: str, folder: Path) -> bool:
    try:
        saved = json.loads((folder / "bench_model.json").read_text())
    except (OSError, ValueError):
        return False
    return all(saved.get(k) == v for k, v in _build_info(arch).items())


# =========================================================================== the child: one configuration
def _emit(obj: dict) -> None:
    sys.stdout.write(TAG + json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def _gib(n: int) -> float:
    return round(n / 2**30, 3)


def _versions() -> dict:
    import importlib.metadata

    out = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "unsloth", "unsloth_zoo", "bitsandbytes"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def bench_preset(arch: str, config: str, max_seq_length: int, pad_multiple: int):
    """The preset a configuration trains with: the 20B's (or tiny's) settings, the benchmark's rows."""
    from gpt_oss_tutorial import presets

    name = "gpt-oss-20b" if arch == "gpt-oss-20b" else "tiny-gpt-oss"
    preset = presets.get_preset(name, batch_size=1, grad_accum=16)
    return replace(preset, max_seq_length=max_seq_length, pad_to_multiple_of=pad_multiple,
                   load_in_4bit=config in UNSLOTH_CONFIGS, logging_steps=1)


def load_model(config: str, model_dir: str, preset):
    """Model + LoRA as notebook 01 makes them: Unsloth 4-bit for (a)/(b), transformers + peft bf16 for (c)."""
    import torch

    from gpt_oss_tutorial import backends

    t0 = time.perf_counter()
    if config in UNSLOTH_CONFIGS:
        backend = backends.UNSLOTH
        model, tokenizer = backends.from_pretrained(preset, path=model_dir, backend=backend)
    else:  # the local bf16 folder straight onto GPU 0 (notebook 01's cell would de-quantize a hub MXFP4 checkpoint)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.bfloat16, attn_implementation="eager", use_safetensors=True,
            device_map={"": 0} if torch.cuda.is_available() else None)
        backend = backends.PEFT
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = backends.get_peft_model(model, tokenizer, preset, backend=backend)
    info = {"load_seconds": round(load_s, 1), "lora_seconds": round(time.perf_counter() - t0, 1),
            "weights": "4-bit (bitsandbytes, Unsloth)" if config in UNSLOTH_CONFIGS else "bf16, eager attention"}
    return backends.Loaded(model=model, tokenizer=tokenizer, backend=backend, preset=preset), info


def synthetic_dataset(lengths: list[int], vocab: int, seed: int):
    """Rows of random token ids (every token trained) with their ``length``, as notebook 02's dataset has them."""
    from datasets import Dataset

    rng = random.Random(seed)
    rows = []
    for n in lengths:
        ids = [rng.randrange(1, vocab) for _ in range(n)]
        rows.append({"input_ids": ids, "labels": list(ids), "length": n})
    return Dataset.from_list(rows)


class _CountingCollator:
    """Wraps the trainer's collator and records each micro-batch's shape and real (non-pad) tokens."""

    def __init__(self, collate):
        self.collate, self.batches = collate, []

    def __call__(self, features):
        batch = self.collate(features)
        self.batches.append((list(batch["input_ids"].shape), int(batch["attention_mask"].sum())))
        return batch


def _step_timer(device: str):
    from transformers import TrainerCallback

    def sync():
        if device == "cuda":
            import torch

            torch.cuda.synchronize()

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds, self.t0 = [], None

        def on_step_begin(self, args, state, control, **kwargs):
            sync()
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            self.seconds.append(time.perf_counter() - self.t0)

    return StepTimer()


def run_phase(loaded, kind: str, micro: str, opts: Options, workdir: Path, device: str) -> dict:
    """Train ``warmup + steps`` optimizer steps through notebook 03's trainer; time the last ``steps``."""
    import torch

    from gpt_oss_tutorial import sft

    m, g = parse_micro(micro, opts.effective_batch)
    preset = replace(loaded.preset, batch_size=m, grad_accum=g, max_steps=opts.warmup + opts.steps)
    loaded = replace(loaded, preset=preset)
    lengths = row_lengths(kind, opts)
    dataset = synthetic_dataset(lengths, loaded.model.config.vocab_size, opts.seed)
    timer = _step_timer(device)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = sft.notebook_trainer(loaded, dataset, workdir / "checkpoints", progress=False, callbacks=[timer])
    counter = _CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    trainer.train()
    per_step = [counter.batches[i * g:(i + 1) * g] for i in range(len(timer.seconds))]
    timed, timed_batches = timer.seconds[opts.warmup:], per_step[opts.warmup:]
    real = sum(t for step in timed_batches for _, t in step)
    processed = sum(s[0] * s[1] for step in timed_batches for s, _ in step)
    total = sum(timed) or float("nan")
    shapes = list(dict.fromkeys(tuple(s) for step in per_step for s, _ in step))
    warm_shapes = {tuple(s) for step in per_step[:opts.warmup] for s, _ in step}
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    out = {
        "trainer": type(trainer).__name__,
        "s_per_step": round(total / len(timed), 3) if timed else None,
        "step_seconds": [round(s, 3) for s in timer.seconds],
        "warmup_seconds": round(sum(timer.seconds[:opts.warmup]), 1),
        "real_tokens_per_s": round(real / total, 1),
        "processed_tokens_per_s": round(processed / total, 1),
        "real_fraction": round(real / processed, 4) if processed else None,
        "shapes": [list(s) for s in shapes],
        "n_shapes": len(shapes),
        "new_shapes_in_timed_steps": len([s for s in shapes if s not in warm_shapes]),
        "losses": [round(x, 4) for x in losses],
        "loss_finite": bool(losses) and all(math.isfinite(x) for x in losses),
    }
    if device == "cuda":
        out["peak_allocated_gb"] = _gib(torch.cuda.max_memory_allocated())
        out["peak_reserved_gb"] = _gib(torch.cuda.max_memory_reserved())
    else:
        import resource

        out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    del trainer
    return out


def child_main(spec: dict) -> int:
    """One configuration, each of its micro-batches and length sets, in this process: one JSON line per phase."""
    config, opts = spec["config"], Options(**spec["options"])
    base = {"config": config, "label": CONFIG_LABELS[config]}
    workdir = Path(spec["workdir"])
    try:
        t0 = time.perf_counter()
        from gpt_oss_tutorial import backends  # imports Unsloth first for (a)/(b) on a GPU

        import_s = time.perf_counter() - t0
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        preset = bench_preset(opts.arch, config, spec["max_seq_length"], opts.pad_multiple)
        loaded, info = load_model(config, spec["model_dir"], preset)
        params = backends.parameter_report(loaded.model)
        info.update(import_seconds=round(import_s, 1), trainable_params=params["trainable"],
                    total_params=params["total"], device=device, versions=_versions(),
                    device_name=torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                    unsloth_not_imported=backends.UNSLOTH_NOT_IMPORTED)
        if device == "cuda":
            info["after_load_allocated_gb"] = _gib(torch.cuda.memory_allocated())
        _emit({"event": "loaded", **base, **info})
    except Exception as exc:
        traceback.print_exc()
        for micro, kind in spec["phases"]:
            _emit({"event": "result", **base, "micro": micro, "lengths": kind, "status": "failed",
                   "reason": f"load failed: {type(exc).__name__}: {exc}"[:2000]})
        return 1
    failed = False
    for micro, kind in spec["phases"]:
        m, g = parse_micro(micro, opts.effective_batch)
        row = {"event": "result", **base, "micro": micro, "lengths": kind, "micro_batch": m, "grad_accum": g}
        t0 = time.perf_counter()
        try:
            row.update(run_phase(loaded, kind, micro, opts, workdir, device), status="ok")
        except Exception as exc:
            failed = True
            traceback.print_exc()
            oom = "out of memory" in str(exc).lower()
            row.update(status="failed", reason=f"{'CUDA out of memory' if oom else type(exc).__name__}: "
                                               f"{str(exc)[:1500]}")
            if device == "cuda":
                torch.cuda.empty_cache()
        row["phase_seconds"] = round(time.perf_counter() - t0, 1)
        _emit(row)
    return 1 if failed else 0


# =========================================================================== the parent
@dataclass
class RunArgs:
    configs: tuple[str, ...] = ("b", "c", "a")
    lengths: tuple[str, ...] = LENGTH_SETS
    micro: dict = field(default_factory=lambda: {"a": ["1x16"], "b": ["4x4", "8x2", "16x1"], "c": ["16x1"]})
    mixed_micro: tuple[str, ...] | None = None  # micro-batches measured on mixed lengths (None: all)
    options: Options = field(default_factory=Options)
    workdir: Path = Path("bench-work")
    json_path: Path | None = None
    markdown_path: Path | None = None
    time_budget: float = 0.0
    rebuild: bool = False
    save: str = "parallel"


def unsloth_available() -> tuple[bool, str]:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return False, SKIP_NO_UNSLOTH + " (no CUDA GPU here)"
    if importlib.util.find_spec("unsloth") is None:
        return False, SKIP_NO_UNSLOTH + " (unsloth is not installed)"
    return True, ""


def phases(args: RunArgs, config: str) -> list[tuple[str, str]]:
    return [(micro, kind) for micro in args.micro[config] for kind in args.lengths
            if kind == "fixed" or args.mixed_micro is None or micro in args.mixed_micro]


def _spawn(mode: str, payload: dict, log, tag: str, deadline: float | None, on_record, env: dict):
    """Run this file as a child, echo its output, return its JSON lines and return code (or 'timeout')."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), mode, json.dumps(payload)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
    records = []
    while True:
        try:
            line = lines.get(timeout=None if deadline is None else max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            log(f"time budget reached: stopping the {tag} process (pid {proc.pid})")
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own session, started above
            except ProcessLookupError:
                pass
            proc.wait()
            return records, "timeout"
        if line is None:
            return records, proc.wait()
        line = line.rstrip("\n")
        if line.startswith(TAG):
            records.append(json.loads(line[len(TAG):]))
            on_record(records[-1])
        log(line if not line.startswith(TAG) else _one_line(records[-1]), tag)


def _one_line(rec: dict) -> str:
    if rec.get("event") == "build":
        return f"build {rec.get('status')}: {rec.get('parameters', 0):,} parameters {rec.get('reason', '')}"
    if rec.get("event") == "loaded":
        return (f"loaded ({rec.get('weights')}): load {rec.get('load_seconds')} s, "
                f"{rec.get('trainable_params', 0):,} trainable of {rec.get('total_params', 0):,}")
    if rec.get("status") != "ok":
        return f"{rec['config']} {rec['micro']} {rec['lengths']}: {rec['status']} {rec.get('reason', '')}"
    mem = f", peak reserved {rec['peak_reserved_gb']:.2f} GiB" if "peak_reserved_gb" in rec else ""
    return (f"{rec['config']} {rec['micro']} {rec['lengths']}: {rec['s_per_step']:.2f} s/step, "
            f"{rec['real_tokens_per_s']:,.0f} real tokens/s ({rec['real_fraction']:.0%} real), "
            f"{rec['n_shapes']} shape(s){mem}")


def run(args: RunArgs) -> dict:
    """Build (or reuse) the model folder, run each configuration in its own process, write the reports."""
    started = time.monotonic()
    deadline = started + args.time_budget - 3 if args.time_budget else None

    def log(msg: str, tag: str = "bench") -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {tag:>5} | {msg}", flush=True)

    o = args.options
    report = {"meta": {"arch": o.arch, "options": asdict(o), "configs": list(args.configs),
                       "micro_batches": {c: list(args.micro[c]) for c in args.configs},
                       "started": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
                       "method": "notebook 03's trainer (its sft-config and sft-trainer cells), random token rows, "
                                 "every step timed between CUDA synchronisations by a trainer callback"},
              "build": None, "loaded": {}, "results": [], "goals": []}
    for c in args.configs:
        for micro, kind in phases(args, c):
            m, g = parse_micro(micro, o.effective_batch)
            report["results"].append({"config": c, "label": CONFIG_LABELS[c], "micro": micro, "lengths": kind,
                                      "micro_batch": m, "grad_accum": g, "status": "pending"})

    def write() -> None:
        report["goals"] = evaluate_goals(report["results"])
        report["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
        from gpt_oss_tutorial import atomic

        if args.json_path:
            atomic.write_json(args.json_path, report)
        if args.markdown_path:
            atomic.write_text(args.markdown_path, render_markdown(report))

    def put(rec: dict) -> None:
        if rec.get("event") == "build":
            report["build"] = rec
        elif rec.get("event") == "loaded":
            report["loaded"][rec["config"]] = {k: v for k, v in rec.items() if k != "event"}
        elif rec.get("event") == "result":
            for i, r in enumerate(report["results"]):
                if (r["config"], r["micro"], r["lengths"]) == (rec["config"], rec["micro"], rec["lengths"]):
                    report["results"][i] = {k: v for k, v in rec.items() if k != "event"}
        write()

    ok, why = unsloth_available()
    runnable = [c for c in args.configs if ok or c not in UNSLOTH_CONFIGS]
    for r in report["results"]:
        if r["config"] not in runnable:
            r.update(status="skipped", reason=why)
    write()
    model_dir = Path(args.workdir).resolve() / f"model-{o.arch}"
    if runnable and (args.rebuild or not model_dir_ready(o.arch, model_dir)):
        log(f"building random {o.arch} weights -> {model_dir}")
        recs, rc = _spawn("--build", {"arch": o.arch, "model_dir": str(model_dir), "save": args.save}, log, "build",
                          deadline, put, {})
        if rc != 0 or not recs or recs[-1].get("status") != "ok":
            for r in report["results"]:
                if r["status"] == "pending":
                    r.update(status="failed", reason=f"model build failed ({rc})")
            write()
            return report
    elif runnable:
        report["build"] = {"event": "build", "status": "reused", "folder": str(model_dir)}
    max_len = max([o.seq_len] + ([o.max_len] if "mixed" in args.lengths else []))
    for c in runnable:
        spec = {"config": c, "options": asdict(o), "phases": phases(args, c), "model_dir": str(model_dir),
                "max_seq_length": max_len, "workdir": str(Path(args.workdir).resolve() / f"run-{c}")}
        log(f"--- {CONFIG_LABELS[c]}")
        env = {} if c in UNSLOTH_CONFIGS else {"GPT_OSS_TUTORIAL_BACKEND": "transformers+peft"}
        _, rc = _spawn("--child", spec, log, c, deadline, put, env)
        for r in report["results"]:
            if r["config"] == c and r["status"] == "pending":
                r.update(status="timeout" if rc == "timeout" else "failed",
                         reason="time budget reached" if rc == "timeout" else f"process ended with {rc}")
        write()
        if rc == "timeout":
            for r in report["results"]:
                if r["status"] == "pending":
                    r.update(status="timeout", reason="time budget reached before this configuration started")
            break
    write()
    return report


# =========================================================================== goals and report
def _find(results, config, micro, lengths):
    return next((r for r in results if (r["config"], r["micro"], r["lengths"]) == (config, micro, lengths)
                 and r["status"] == "ok"), None)


def _goal(goal: str, target: str, measured: str | None, met: bool | None, why: str = "") -> dict:
    return {"goal": goal, "target": target, "measured": measured, "met": met,
            "result": "not measured" if met is None else "met" if met else "missed", "why": why}


def evaluate_goals(results: list[dict]) -> list[dict]:
    """The goals for notebook 03's trainer on gpt-oss-20b (16 GB setting 4 x 4, 24 GB setting 8 x 2)."""
    goals = []
    b8 = _find(results, "b", "8x2", "fixed")
    if b8:
        sixty = 60 * b8["s_per_step"]
        goals.append(_goal("24 GB setting (8 x 2): 60 steps of 1024-token rows", f"<= {GOAL_SECONDS_60_STEPS:.0f} s "
                           f"(>= {GOAL_TOKENS_PER_S:,} real tokens/s)", f"{sixty:.0f} s ({b8['real_tokens_per_s']:,.0f}"
                           " real tokens/s)", sixty <= GOAL_SECONDS_60_STEPS,
                           "" if sixty <= GOAL_SECONDS_60_STEPS else f"{b8['s_per_step']:.2f} s/step"))
    else:
        goals.append(_goal("24 GB setting (8 x 2): 60 steps of 1024-token rows", f"<= {GOAL_SECONDS_60_STEPS:.0f} s",
                           None, None, "(b) 8x2 fixed not measured"))
    b4 = _find(results, "b", "4x4", "fixed")
    reserved = b4.get("peak_reserved_gb") if b4 else None
    goals.append(_goal("16 GB setting (4 x 4): peak reserved at 1024 tokens", f"<= {GOAL_RESERVED_16GB} GiB",
                       None if reserved is None else f"{reserved:.2f} GiB",
                       None if reserved is None else reserved <= GOAL_RESERVED_16GB))
    b8m = _find(results, "b", "8x2", "mixed")
    reserved = b8m.get("peak_reserved_gb") if b8m else None
    goals.append(_goal("24 GB setting (8 x 2): peak reserved with rows up to 2048 tokens",
                       f"<= {GOAL_RESERVED_24GB} GiB", None if reserved is None else f"{reserved:.2f} GiB",
                       None if reserved is None else reserved <= GOAL_RESERVED_24GB))
    c_rows = [r for r in results if r["config"] == "c" and r["lengths"] == "fixed" and r["status"] == "ok"]
    c_best = max(c_rows, key=lambda r: r["real_tokens_per_s"]) if c_rows else None
    for micro in ("8x2", "16x1"):
        b = _find(results, "b", micro, "fixed")
        if b and c_best:
            ratio = b["real_tokens_per_s"] / c_best["real_tokens_per_s"]
            goals.append(_goal(f"(b) {micro} real tokens/s vs (c) at its best batch ({c_best['micro']})",
                               f">= {GOAL_SPEEDUP_VS_C:.1f}x", f"{ratio:.2f}x", ratio >= GOAL_SPEEDUP_VS_C))
        else:
            goals.append(_goal(f"(b) {micro} real tokens/s vs (c) at its best batch", f">= {GOAL_SPEEDUP_VS_C:.1f}x",
                               None, None, "(b) or (c) fixed not measured"))
        mixed = _find(results, "b", micro, "mixed")
        if b and mixed:
            frac = mixed["real_tokens_per_s"] / b["real_tokens_per_s"]
            goals.append(_goal(f"(b) {micro} mixed lengths: real tokens/s vs fixed", f">= {GOAL_MIXED_FRACTION:.0%}",
                               f"{frac:.0%}", frac >= GOAL_MIXED_FRACTION,
                               f"real-token share {mixed['real_fraction']:.0%}, {mixed['new_shapes_in_timed_steps']} "
                               f"new shape(s) first seen in the timed steps"))
    return goals


def _fmt(v, spec=",.0f"):
    return "–" if v is None else format(v, spec)


def render_markdown(report: dict) -> str:
    meta, o = report["meta"], report["meta"]["options"]
    loaded = report.get("loaded") or {}
    first = next(iter(loaded.values()), {})
    versions = ", ".join(f"{k} {v}" for k, v in (first.get("versions") or {}).items())
    lines = [f"# Fine-tuning benchmark: {meta['arch']}", "",
             f"Device: {first.get('device_name', 'not loaded')}" + (f"; {versions}" if versions else "") +
             f". Started {meta['started']}, {meta.get('elapsed_s', '?')} s. Random weights of the real architecture.",
             f"Fixed: every row {o['seq_len']} tokens. Mixed: rows of {o['min_len']}-{o['max_len']} tokens (uniform, "
             f"seed {o['seed']}), length-grouped by the trainer. {o['effective_batch']} rows per optimizer step; "
             f"{o['steps']} timed step(s) after {o['warmup']} warm-up step(s); micro-batches padded to multiples of "
             f"{o['pad_multiple']}. Memory in GiB.", f"Method: {meta['method']}.", ""]
    for c, info in loaded.items():
        lines.append(f"- ({c}) {info.get('weights')}: import {info.get('import_seconds')} s, load "
                     f"{info.get('load_seconds')} s, {info.get('trainable_params', 0):,} trainable of "
                     f"{info.get('total_params', 0):,} parameters")
    lines += ["", "| configuration | rows | micro-batch x GA | s/step | real tokens/s | real share | shapes | "
              "peak reserved | warm-up s | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        mem = _fmt(r.get("peak_reserved_gb"), ".2f") if "peak_reserved_gb" in r else (
            f"RSS {r['peak_rss_gb']:.2f}" if "peak_rss_gb" in r else "–")
        reason = r.get("reason") or ""
        status = reason if reason.startswith(r["status"]) else f"{r['status']}: {reason}".rstrip(": ")
        lines.append(f"| {r['label']} | {r['lengths']} | {r['micro_batch']} x {r['grad_accum']} | "
                     f"{_fmt(r.get('s_per_step'), '.2f')} | {_fmt(r.get('real_tokens_per_s'))} | "
                     f"{_fmt(r.get('real_fraction'), '.0%')} | {r.get('n_shapes', '–')} | {mem} | "
                     f"{_fmt(r.get('warmup_seconds'), '.0f')} | {status.replace('|', '/')[:300]} |")
    lines += ["", "## Goals", "", "| goal | target | measured | result | note |", "|---|---|---|---|---|"]
    for g in report.get("goals") or []:
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured'] or '–'} | {g['result']} | {g['why']} |")
    return "\n".join(lines) + "\n"


# =========================================================================== command line
def _micro(values: list[str] | None, effective_batch: int) -> dict:
    micro = {"a": [f"1x{effective_batch}"], "b": [], "c": []}
    for m in (4, 8, 16):
        if effective_batch % m == 0:
            micro["b"].append(f"{m}x{effective_batch // m}")
    micro["c"] = micro["b"][-1:] or [f"1x{effective_batch}"]
    for item in values or []:
        config, _, specs = item.partition("=")
        if config not in ("b", "c") or not specs:
            raise ValueError(f"--micro-batches {item!r}: write b=4x4,8x2 or c=16x1 ((a) is always 1 x the batch)")
        micro[config] = [s for s in specs.split(",") if s]
        for s in micro[config]:
            parse_micro(s, effective_batch)
    return micro


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--child"], ["--build"]):
        payload = json.loads(argv[1])
        if argv[0] == "--child":
            return child_main(payload)
        try:
            _emit(build_model_dir(payload["arch"], Path(payload["model_dir"]), save=payload.get("save", "parallel")))
            return 0
        except Exception as exc:
            traceback.print_exc()
            _emit({"event": "build", "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:2000]})
            return 1
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=["gpt-oss-20b", "tiny"], default="gpt-oss-20b")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=["b", "c", "a"],
                        help="configurations, in this order (default b c a: the tutorial's first)")
    parser.add_argument("--lengths", nargs="+", choices=LENGTH_SETS, default=list(LENGTH_SETS))
    parser.add_argument("--micro-batches", nargs="+", metavar="CONFIG=MxG[,MxG]",
                        help="micro-batch x grad-accum for b and c (default b=4x4,8x2,16x1 c=16x1)")
    parser.add_argument("--mixed-micro-batches", nargs="+", metavar="MxG",
                        help="measure mixed lengths only at these micro-batches (default: every one)")
    parser.add_argument("--seq-len", type=int, default=1024, help="tokens per row of the fixed set")
    parser.add_argument("--min-len", type=int, default=256, help="shortest row of the mixed set")
    parser.add_argument("--max-len", type=int, default=2048, help="longest row of the mixed set")
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per phase")
    parser.add_argument("--warmup", type=int, default=1, help="untimed optimizer steps first (compilation)")
    parser.add_argument("--effective-batch", type=int, default=16, help="rows per optimizer step")
    parser.add_argument("--pad-multiple", type=int, default=64, help="micro-batch widths are multiples of this")
    parser.add_argument("--seed", type=int, default=3407)
    parser.add_argument("--workdir", type=Path, default=Path("/dev/shm/bench") if os.access("/dev/shm", os.W_OK)
                        else Path("bench-work"), help="model folder and checkpoints (a RAM disk is fastest)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the model folder even if it is there")
    parser.add_argument("--save", choices=["parallel", "transformers"], default="parallel")
    parser.add_argument("--json", type=Path, help="write the JSON report here")
    parser.add_argument("--markdown", type=Path, help="write the markdown report here")
    parser.add_argument("--time-budget", type=float, default=0, help="stop after this many seconds (0: no limit)")
    args = parser.parse_args(argv)
    for name in ("seq_len", "min_len", "max_len", "steps", "effective_batch", "pad_multiple"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or args.min_len > args.max_len:
        parser.error("--warmup must be >= 0 and --min-len <= --max-len")
    try:
        micro = _micro(args.micro_batches, args.effective_batch)
        for s in args.mixed_micro_batches or []:
            parse_micro(s, args.effective_batch)
    except ValueError as exc:
        parser.error(str(exc))
    options = Options(arch=args.arch, seq_len=args.seq_len, min_len=args.min_len, max_len=args.max_len,
                      steps=args.steps, warmup=args.warmup, effective_batch=args.effective_batch,
                      pad_multiple=args.pad_multiple, seed=args.seed)
    report = run(RunArgs(configs=tuple(dict.fromkeys(args.configs)), lengths=tuple(dict.fromkeys(args.lengths)),
                         micro=micro, mixed_micro=tuple(args.mixed_micro_batches) if args.mixed_micro_batches
                         else None, options=options, workdir=args.workdir, json_path=args.json,
                         markdown_path=args.markdown, time_budget=args.time_budget, rebuild=args.rebuild,
                         save=args.save))
    print()
    print(render_markdown(report))
    return 1 if any(r["status"] not in ("ok", "skipped") for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
