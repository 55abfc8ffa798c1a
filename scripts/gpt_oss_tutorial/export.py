"""Notebook 06's plumbing: write each export atomically, then check that it is the fine-tuned model.

The notebook makes the save calls; this module keeps what is around them: the disk check and the atomic folder
(``writing``), the fixed probe, and ``judge``, the one criterion every export is held to (see CRITERION below).
Exports are read back in a separate Python process with plain transformers (+ peft), never Unsloth, in float32:
that is how vLLM or a reader's script loads them, and it keeps Unsloth's process-wide patches out of the reload
(after a pre-quantized 4-bit load Unsloth swaps transformers' gpt-oss expert and router classes, so a 16-bit gpt-oss
checkpoint can no longer be loaded in that process).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, backends, errors, gguf_tools, harmony, paths
from .presets import Preset

FORMATS = ("lora", "merged16", "gguf")
GGUF_QUANTS = gguf_tools.OUTTYPES
GGUF_NAME = "model.gguf"
INFO_FILE = "export_info.json"
CHECK_FILE = "export_check.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# Bytes per parameter of each format on disk, and the margin the free-space check adds.
BYTES_PER_PARAM = {"merged16": 2.0, "f16": 2.0, "bf16": 2.0, "f32": 4.0, "q8_0": 34 / 32}
DISK_MARGIN = 1.10
TOKENIZER_BYTES = 30 * 10**6
LEFTOVER_MERGE = re.compile(r"^\..+\.merged16$")  # temporary merges of earlier versions of this module

# --------------------------------------------------------------------------- CRITERION
# "This export is the fine-tuned model" means, on the probe below, run in float32:
#   1. the typical difference is small against what the fine-tune changed:
#        median over positions of mean |export - fine-tuned| logits  <=  MAX_SHARE  x
#        median over positions of mean |fine-tuned - base| logits    (the fine-tune's effect);
#   2. the export predicts the fine-tuned model's next token at >= MIN_TOP1 of the decisive positions: those where the
#      fine-tuned model's best token leads the second by more than twice the allowed difference (a closer race can
#      be flipped by a difference criterion 1 allows);
#   3. it can only be judged when the effect stands clear of arithmetic noise: the model's own bf16-vs-fp32 difference
#      (same statistic) must be <= MAX_NOISE_SHARE x the effect (half the allowed difference, so that noise alone
#      cannot fail a right export), else the verdict is "cannot judge" (train longer; the export may be right, the
#      probe cannot tell). Measured: a 3-step tiny-gpt-oss adapter 2%, SmolLM2 with a random LoRA (B ~ N(0, 0.02)) 9%.
# Why these numbers (tiny-gpt-oss, 2-step LoRA): an export that lost the adapter is at 100% of the effect, a wrong
# LoRA scale k at about |k - 1| (x2: 72%, x0.5: 62%), a mis-packed adapter further still; a correct bf16 merge measured
# 8%: one rounding flipped the expert chosen for a token of the system block every Harmony conversation starts with,
# and that flip spreads to every later token (a merge of the same adapter scaled x3 had no flip: 0.6%). 15% keeps
# twice that margin to the right merge and four times to the nearest wrong one. Medians, not maxima or means: flips
# move single positions by a lot, which made a max-based check fail at random. Where the arithmetic is the same (the
# adapter reloaded with transformers + peft onto the same base, both in float32) the logits must be identical.
MAX_SHARE = 0.15
MIN_TOP1 = 0.90
MAX_NOISE_SHARE = MAX_SHARE / 2  # the model's own noise may use at most half of the allowed difference

# The probe: complete Harmony conversations (developer, user, assistant analysis + final), each run on its own.
PROBE_DATE = "2025-08-05"
PROBE_CONVERSATIONS = (
    ({"role": "developer", "content": "reasoning language: French"},
     {"role": "user", "content": "What is 12 + 7?"},
     {"role": "assistant", "thinking": "L'utilisateur demande 12 + 7. 12 + 7 = 19.", "content": "12 + 7 = 19."}),
    ({"role": "developer", "content": "reasoning language: German"},
     {"role": "user", "content": "Name a primary colour."},
     {"role": "assistant", "thinking": "Der Nutzer will eine Grundfarbe. Rot ist eine.", "content": "Red."}),
    ({"role": "developer", "content": "reasoning language: Spanish"},
     {"role": "user", "content": "Is 9 a prime number?"},
     {"role": "assistant", "thinking": "9 = 3 x 3, así que no es primo.", "content": "No: 9 = 3 x 3."}),
    ({"role": "developer", "content": "reasoning language: English"},
     {"role": "user", "content": "Translate 'bonjour' to English."},
     {"role": "assistant", "thinking": "Bonjour is French for hello.", "content": "Hello."}),
)
GENERATION_PROMPT = dict(developer="reasoning language: French", user="What is 12 + 7?")


class ExportCheckFailed(AssertionError):
    """An export was made but is not the fine-tuned model by the criterion (the CLI exits 1, not 2)."""


# --------------------------------------------------------------------------- probe and logits
def probe_ids(tokenizer) -> list:
    """The probe conversations as token ids, one (1, T) tensor each, rendered by the tokenizer's chat template."""
    out = []
    for messages in PROBE_CONVERSATIONS:
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, current_date=PROBE_DATE)
        out.append(tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids)
    return out


def _device(model):
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def logits_of(model, ids: list):
    """Logits of every probe position, (positions, vocab) float32 on the CPU, conversations one after another."""
    import torch

    rows = []
    with torch.no_grad():
        for x in ids:
            rows.append(model(input_ids=x.to(_device(model))).logits.float().cpu()[0])
    return torch.cat(rows)


# --------------------------------------------------------------------------- the verdict
@dataclass
class Verdict:
    export: str  # "lora", "merged16", "gguf-q8_0", ...
    compared_with: str  # how the export was read back
    passed: bool | None  # None: cannot judge
    reason: str
    share: float | None = None  # median |export - fine-tuned| / median |fine-tuned - base|
    top1: float | None = None
    effect: float | None = None
    noise: float | None = None
    max_abs_diff: float | None = None  # reported, never a tolerance (except for exact checks, where it must be 0)
    exact: bool = False
    details: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "PASS" if self.passed else ("cannot judge" if self.passed is None else "FAIL")

    def row(self) -> dict:
        pct = lambda v: None if v is None else round(100 * v, 2)
        return {"export": self.export, "read back with": self.compared_with, "verdict": self.status,
                "diff / effect (%)": pct(self.share), "top-1 agreement (%)": pct(self.top1),
                "max |diff|": self.max_abs_diff, "why": self.reason}

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("export", "compared_with", "passed", "reason", "share", "top1",
                                              "effect", "noise", "max_abs_diff", "exact", "details")}


def _per_position(a, b):
    return (a - b).abs().mean(-1)


def noise_of(logits_bf16, logits_fp32) -> float:
    """The model's own arithmetic noise: median over positions of mean |bf16 - fp32| logits."""
    return float(_per_position(logits_bf16, logits_fp32).median())


def judge(export: str, got, finetuned, base, *, compared_with: str, noise: float | None = None,
          exact: bool = False, details: dict | None = None) -> Verdict:
    """The criterion (CRITERION above) for one export's logits ``got`` against the fine-tuned and base logits."""
    max_diff = float((got - finetuned).abs().max())
    details = dict(details or {})
    if exact:
        passed = max_diff == 0.0
        return Verdict(export, compared_with, passed, "identical logits" if passed else
                       f"the same arithmetic must give identical logits; max |diff| = {max_diff:.3g}",
                       max_abs_diff=max_diff, exact=True, details=details)
    effect = float(_per_position(finetuned, base).median())
    diff = float(_per_position(got, finetuned).median())
    best = finetuned.topk(2, dim=-1).values
    decisive = (best[:, 0] - best[:, 1]) > 2 * MAX_SHARE * effect
    agree = got.argmax(-1) == finetuned.argmax(-1)
    top1 = float(agree[decisive].float().mean()) if bool(decisive.any()) else None
    share = diff / effect if effect > 0 else None
    details.update(mean_share=float((got - finetuned).abs().mean() / max((finetuned - base).abs().mean(), 1e-30)),
                   decisive_positions=int(decisive.sum()), top1_all_positions=float(agree.float().mean()))
    common = dict(share=share, top1=top1, effect=effect, noise=noise, max_abs_diff=max_diff, details=details)
    if effect == 0 or (noise is not None and noise > MAX_NOISE_SHARE * effect):
        why = ("the adapter changes nothing on the probe" if effect == 0 else
               f"the fine-tune's effect ({effect:.3g}) is within {noise / effect:.0%} of the model's own bf16 noise "
               f"({noise:.3g}; needs <= {MAX_NOISE_SHARE:.0%}): train longer to judge this export")
        return Verdict(export, compared_with, None, why, **common)
    problems = []
    if share > MAX_SHARE:
        problems.append(f"differs by {share:.1%} of the fine-tune's effect (allowed {MAX_SHARE:.0%})")
    if top1 is not None and top1 < MIN_TOP1:
        problems.append(f"next token agrees at {top1:.1%} of the decisive positions (needs {MIN_TOP1:.0%})")
    why = "; ".join(problems) or (f"differs by {share:.1%} of the fine-tune's effect, next token agrees at "
                                  + ("no decisive position" if top1 is None else f"{top1:.1%}"))
    return Verdict(export, compared_with, not problems, why, **common)


def verdict_table(verdicts: list[Verdict]):
    import pandas as pd

    return pd.DataFrame([v.row() for v in verdicts])


# --------------------------------------------------------------------------- the fine-tuned model
@dataclass
class Reference:
    """The fine-tuned model as trained and what every export is compared with."""

    preset: Preset
    adapter_dir: Path
    model: object  # the PeftModel (None once merged: merge_and_unload works in place)
    tokenizer: object
    backend: str
    ids: list  # the probe
    logits: object  # (positions, vocab) float32: fp32 compute on transformers+peft, Unsloth's own arithmetic on GPU
    base_logits: object  # the same model with the adapter disabled
    noise: float | None  # the model's bf16-vs-fp32 noise (transformers+peft); None where fp32 is not affordable
    exact: bool  # True: logits computed in float32 from the exact weights (the LoRA reload must match to 0.0)
    n_params: int
    source: str
    harmony_rows: object = None  # effective embedding rows of the Harmony tokens (trainable_token_indices presets)
    merged: bool = False
    plain_base_logits: object = None  # the 16-bit base read back by plain transformers (set by check_lora)

    @property
    def effect(self) -> float:
        return float(_per_position(self.logits, self.base_logits).median())

    def summary(self) -> dict:
        return {"preset": self.preset.name, "adapter": str(self.adapter_dir), "backend": self.backend,
                "probe conversations": len(self.ids), "probe positions": int(self.logits.shape[0]),
                "float32 reference": self.exact, "fine-tune effect (median |ft - base|)": round(self.effect, 5),
                "bf16 noise": None if self.noise is None else round(self.noise, 5),
                "base parameters": self.n_params}


def _count_base_parameters(model) -> int:
    total = 0
    for name, p in model.named_parameters():
        if "lora_" in name or "trainable_tokens" in name:
            continue
        n = p.numel()
        if type(p).__name__ == "Params4bit":  # bitsandbytes packs two 4-bit values per byte
            n *= 2
        total += n
    return total


def check_adapter(adapter_dir: str | os.PathLike) -> Path:
    """The adapter folder, or an ``ExportError`` naming the missing or damaged file and what to do."""
    folder = Path(adapter_dir)
    redo = ("Run notebook 03_sft.ipynb (or `python scripts/train_sft.py`) again, or copy the adapter folder again "
            "if it came from elsewhere.")
    config = folder / "adapter_config.json"
    weights = folder / "adapter_model.safetensors"
    if not folder.is_dir():
        raise errors.ExportError(f"No LoRA adapter folder at {folder}. {redo}")
    for path in (config, weights):
        if not path.is_file():
            raise errors.ExportError(f"{path} is missing: the adapter at {folder} is incomplete. {redo}")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise errors.ExportError(f"{config} cannot be read as JSON ({exc}). {redo}") from None
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            for key in f.keys():
                f.get_slice(key)
    except Exception as exc:  # safetensors raises its own error types for a short or corrupt file
        raise errors.ExportError(f"{weights} is damaged (truncated or not a safetensors file: {exc}). {redo}") from None
    return folder


def reference(model, tokenizer, preset: Preset, adapter_dir: str | os.PathLike, backend: str) -> Reference:
    """Run the probe through the fine-tuned model (and with its adapter disabled): what every export must match.

    transformers + peft: the bf16 model is moved to float32 (lossless: the base weights are bf16 values, LoRA fp32),
    so the reference is exact and the bf16 noise is measured. Unsloth: the model as trained, in its own arithmetic.
    """
    import torch

    ids = probe_ids(tokenizer)
    exact = backend == backends.PEFT
    logits16 = logits_of(model, ids)
    if exact:
        model.float()
        logits = logits_of(model, ids)
    else:
        logits = logits16
    with model.disable_adapter():
        base = logits_of(model, ids)
    rows = None
    if preset.train_new_tokens:
        with torch.no_grad():
            ids_h = torch.tensor([backends.harmony_token_ids(tokenizer)], device=_device(model))
            rows = model.get_input_embeddings()(ids_h).float().cpu()[0]
    return Reference(preset=preset, adapter_dir=Path(adapter_dir), model=model, tokenizer=tokenizer,
                     backend=backend, ids=ids, logits=logits, base_logits=base,
                     noise=noise_of(logits16, logits) if exact else None, exact=exact,
                     n_params=_count_base_parameters(model), source=backends.model_source(preset),
                     harmony_rows=rows)


def load_reference(preset: Preset, adapter_dir: str | os.PathLike | None = None) -> Reference:
    """Load base + adapter by notebook 06's ``load-adapter`` cell and compute the reference (for the tests)."""
    from . import runner

    adapter_dir = check_adapter(adapter_dir or paths.sft_adapter_dir(preset.name))
    namespace = runner.run_cells("06_save_and_export", ["load-adapter"],
                                 {"preset": preset, "adapter_dir": adapter_dir, "backends": backends})
    return reference(namespace["model"], namespace["tokenizer"], preset, adapter_dir, namespace["backend"])


# --------------------------------------------------------------------------- writing an export
def check_free_space(folder: str | Path, needed_bytes: int, what: str) -> dict:
    """Raise ``ExportError`` unless ``folder`` (or its nearest existing parent) has ``needed_bytes`` free."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    report = {"folder": str(folder), "needed_gb": round(needed_bytes / 1e9, 3), "free_gb": round(free / 1e9, 3)}
    if free < needed_bytes:
        raise errors.ExportError(
            f"Not enough free disk space for {what} in {folder}: it needs about {needed_bytes / 1e9:.2f} GB "
            f"(estimate incl. {round((DISK_MARGIN - 1) * 100)}% margin), only {free / 1e9:.2f} GB are free there. "
            "Free some space or export to another folder (--out / OUT_DIR).")
    return report


def estimate_bytes(fmt: str, n_params: int, *, adapter_bytes: int = 0) -> int:
    """Disk space an export needs: adapter tensors for ``lora``, parameters x bytes/param otherwise, plus margin."""
    if fmt == "lora":
        return int(adapter_bytes * DISK_MARGIN) + TOKENIZER_BYTES
    if fmt not in BYTES_PER_PARAM:
        raise ValueError(f"unknown export format {fmt!r}")
    return int(n_params * BYTES_PER_PARAM[fmt] * DISK_MARGIN) + TOKENIZER_BYTES


def needed_bytes(ref: Reference, fmt: str) -> int:
    """Free space one export of ``ref`` needs (``fmt``: "lora", "merged16" or a GGUF type)."""
    adapter = folder_size(ref.adapter_dir) if fmt == "lora" else 0
    return estimate_bytes(fmt, ref.n_params, adapter_bytes=adapter)


def use_cached_merge_base(model, preset: Preset) -> str | None:
    """Offline, point Unsloth's 16-bit merge at the base in the Hugging Face cache (it would ask the hub for it).

    Unsloth merges a 4-bit fine-tune into the 16-bit base weights, which it locates by listing the hub repository;
    with ``HF_HUB_OFFLINE=1`` that fails although the base is cached. Returns the folder used (None: online).
    """
    from .hub import offline_requested

    if not offline_requested():
        return None
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(preset.model_id, local_files_only=True)
    except Exception as exc:
        raise errors.ExportError(
            f"the merged 16-bit export needs the 16-bit base {preset.model_id} and the hub is switched off "
            f"(HF_HUB_OFFLINE): download it once with the hub on, or unset HF_HUB_OFFLINE ({type(exc).__name__})"
        ) from None
    model.config._name_or_path = folder
    return folder


def gguf_converter() -> gguf_tools.Converter:
    """llama.cpp's converter from the setup's cache (or ``$GPT_OSS_TUTORIAL_GGUF_CONVERTER``), or an ``ExportError``
    that says how to get it."""
    try:
        return gguf_tools.ensure_converter()
    except gguf_tools.ConverterUnavailable as exc:
        raise errors.ExportError(f"GGUF export needs llama.cpp's converter: {exc}") from None


def folder_size(path: str | Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def assert_no_pickle(folder: str | Path) -> None:
    """Exports are safetensors / GGUF / JSON only: any pickle-format file is an error."""
    found = [str(f.relative_to(folder)) for f in Path(folder).rglob("*") if f.suffix.lower() in PICKLE_SUFFIXES]
    if found:
        raise RuntimeError(f"pickle-format files in the export {folder}: {found}; this project writes safetensors only")


def made_from(folder: str | os.PathLike, adapter_dir: str | os.PathLike, fmt: str) -> bool:
    """True when ``folder`` is a complete ``fmt`` export of this adapter (its export_info.json says so)."""
    try:
        info = json.loads((Path(folder) / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("format") == fmt and info.get("adapter") == str(adapter_dir)


def remove_leftovers(parent: str | os.PathLike) -> list[str]:
    """Remove temporary merges that an interrupted GGUF export of an earlier version left in ``parent``; their names.
    (Interrupted ``atomic_dir`` folders are ``atomic``'s to clean.)"""
    parent = Path(parent)
    removed = []
    if parent.is_dir():
        for p in sorted(parent.iterdir()):
            if p.is_dir() and LEFTOVER_MERGE.match(p.name):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
    return removed


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "peft", "unsloth", "gguf", "safetensors"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _readable(folder: Path) -> None:
    """Temporary folders are created private (0700); a finished export gets the usual umask permissions."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for f in folder.rglob("*"):
        f.chmod((0o777 if f.is_dir() else 0o666) & ~mask)


def write_failure(exc: OSError, out: Path, what: str) -> errors.TutorialError | None:
    """The reader-fixable form of an OS error met while writing an export (None: not one of those)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return errors.OutputError(f"The disk filled up while writing {what} to {out} ({exc.strerror}). Nothing was "
                                  "kept; free some space or choose another folder (--out / OUT_DIR), then run again.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return errors.OutputError(f"Cannot write {what} to {out}: {exc.strerror} ({exc.filename or out}). Choose a "
                                  "folder you can write to (--out / OUT_DIR) or change its permissions.")
    return None


@contextlib.contextmanager
def writing(out: str | os.PathLike, ref: Reference, fmt: str, *, needed_bytes: int, **info):
    """Yield a temporary folder for one export; on success it replaces ``out`` (``atomic.atomic_dir``).

    Checks the free space first, writes ``export_info.json``, refuses pickle files, and turns a full disk or a
    read-only folder into a message (``OutputError``). An exception leaves the previous ``out`` untouched.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise errors.OutputError(f"{out} is a file, not a folder: choose another output folder (--out / OUT_DIR).")
    check_free_space(out.parent, needed_bytes, f"the {fmt} export")
    try:
        with atomic.atomic_dir(out) as tmp:
            yield tmp
            details = {"format": fmt, "preset": ref.preset.name, "base_model": ref.source,
                       "adapter": str(ref.adapter_dir), "backend": ref.backend,
                       "created": _dt.datetime.now().isoformat(timespec="seconds"), "versions": _versions(), **info}
            (tmp / INFO_FILE).write_text(json.dumps(details, indent=2, default=str) + "\n", encoding="utf-8")
            assert_no_pickle(tmp)
    except OSError as exc:
        friendly = write_failure(exc, out, f"the {fmt} export")
        if friendly is None:
            raise
        raise friendly from None
    _readable(out)


def save_check(folder: str | os.PathLike, verdicts: list[Verdict]) -> None:
    """Record the verdicts next to the export (``export_check.json``)."""
    atomic.write_json(Path(folder) / CHECK_FILE, {"criterion": criterion_text(),
                                                  "verdicts": [v.to_dict() for v in verdicts]})


def criterion_text() -> str:
    return (f"median |export - fine-tuned| <= {MAX_SHARE:.0%} of median |fine-tuned - base| and top-1 agreement >= "
            f"{MIN_TOP1:.0%} at decisive positions, on {len(PROBE_CONVERSATIONS)} Harmony conversations in float32; "
            "judged only when the "
            f"model's bf16 noise is <= {MAX_NOISE_SHARE:.0%} of that effect; same arithmetic: identical logits")


# --------------------------------------------------------------------------- reading exports back
def _child_env() -> dict:
    """The environment of a read-back process: this package importable, no Unsloth state inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNSLOTH_")}
    path = [str(paths.REPO_ROOT / "scripts")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(PYTHONPATH=os.pathsep.join(path), TOKENIZERS_PARALLELISM="false", PYTHONIOENCODING="utf-8")
    return env


def read_back(kind: str, ids: list, *, model: str | os.PathLike, adapter: str | os.PathLike | None = None,
              gguf_file: str | None = None, tokenizer_text: str | None = None, timeout: float | None = None) -> dict:
    """Logits of an export computed in a fresh process with plain transformers (+ peft), float32 and bf16.

    ``kind``: "merged" (a model folder), "peft" (``adapter`` on the base ``model``), "gguf" (``model`` folder with
    ``gguf_file``, llama family). Returns {"fp32", "bf16"[, "base_fp32"]: logits, "info": {...}}.
    """
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory(prefix="gpt-oss-export-probe-") as tmp:
        spec = {"kind": kind, "model": str(model), "adapter": str(adapter) if adapter else None,
                "gguf_file": gguf_file, "ids": [x[0].tolist() for x in ids], "out": str(Path(tmp) / "logits"),
                "tokenizer_text": tokenizer_text}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        cmd = [sys.executable, "-m", "gpt_oss_tutorial.export", "read-back", str(Path(tmp) / "spec.json")]
        code, log = gguf_tools.run_child(cmd, env=_child_env(), timeout=timeout)
        if code != 0:
            tail = "\n".join(log.strip().splitlines()[-15:])
            raise errors.ExportError(f"Reading the export {model} back with plain transformers failed (exit {code}):"
                                     f"\n{tail}")
        out = dict(load_file(spec["out"] + ".safetensors"))
        out["info"] = json.loads(Path(spec["out"] + ".json").read_text(encoding="utf-8"))
        out["info"]["log_warnings"] = sorted({ln.strip() for ln in log.splitlines()
                                              if "warn" in ln.lower() and len(ln) < 400})[:20]
        return out


def _read_back_main(spec_path: str) -> None:
    """Child process of ``read_back``: load, run the probe in float32 then bf16, write the logits."""
    import warnings

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    cuda = torch.cuda.is_available()
    kwargs = dict(dtype=torch.float32)
    if cuda:
        kwargs["device_map"] = "auto"
    info, result = {"device": "cuda" if cuda else "cpu"}, {}
    source = spec["model"]
    config = {}
    if spec["kind"] != "gguf":
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(source).to_dict()
        kwargs["use_safetensors"] = True
    if config.get("model_type") == "gpt_oss":
        kwargs["attn_implementation"] = "eager"
        if (config.get("quantization_config") or {}).get("quant_method") == "mxfp4":
            from transformers import Mxfp4Config

            kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec["kind"] == "gguf":
            model = AutoModelForCausalLM.from_pretrained(source, gguf_file=spec["gguf_file"], **kwargs)
            if spec.get("tokenizer_text") is not None:
                tok = AutoTokenizer.from_pretrained(source, gguf_file=spec["gguf_file"])
                info["gguf_tokenizer_ids"] = tok(spec["tokenizer_text"], add_special_tokens=False).input_ids
        else:
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        if spec["kind"] == "peft":
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec["adapter"])
    info["warnings"] = sorted({str(w.message)[:300] for w in caught})
    model.eval()
    ids = [torch.tensor([x]) for x in spec["ids"]]
    result["fp32"] = logits_of(model, ids)
    if spec["kind"] == "peft":
        with model.disable_adapter():
            result["base_fp32"] = logits_of(model, ids)
    model.to(torch.bfloat16)
    result["bf16"] = logits_of(model, ids)
    save_file({k: v.contiguous() for k, v in result.items()}, spec["out"] + ".safetensors")
    Path(spec["out"] + ".json").write_text(json.dumps(info), encoding="utf-8")


# --------------------------------------------------------------------------- the checks
def check_lora(ref: Reference, folder: str | os.PathLike) -> list[Verdict]:
    """The saved adapter: (1) reloaded by this backend's transformers + peft in float32 onto a fresh base, identical
    logits (exact path only); (2) reloaded by plain transformers + peft in a fresh process onto the preset's 16-bit
    base, as vLLM or a reader's script would: the criterion against the model as trained."""
    folder = Path(folder)
    verdicts = []
    if ref.exact:
        loaded = backends.load_adapter(ref.preset, folder, backend=backends.PEFT)
        loaded.model.float()
        got = logits_of(loaded.model.eval(), ref.ids)
        del loaded
        verdicts.append(judge("lora", got, ref.logits, ref.base_logits, exact=True,
                              compared_with="PeftModel.from_pretrained on a fresh base, float32"))
    how = "plain transformers + peft, new process, float32, 16-bit base"
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    details = {"ignored_by_peft": sorted(k for k in ("lora_B_layout", "unsloth_fused_expert_lora") if k in config),
               "lora_B_layout": config.get("lora_B_layout")}
    try:
        back = read_back("peft", ref.ids, model=ref.source, adapter=folder)
    except errors.ExportError as exc:
        verdicts.append(_unreadable("lora", how, exc, details))
        return verdicts
    ref.plain_base_logits = back["base_fp32"]
    details.update(read_back=back["info"], adapter_effect_share=_effect_share(back, ref))
    verdicts.append(_explained(judge("lora", back["fp32"], ref.logits, ref.base_logits, noise=_noise(ref, back),
                                     compared_with=how, details=details)))
    return verdicts


def _explained(verdict: Verdict) -> Verdict:
    """A failed read-back whose adapter effect matches the training's differs by its base: say so."""
    share = verdict.details.get("adapter_effect_share")
    if verdict.passed is False and share is not None:
        if share <= MAX_SHARE:
            verdict.reason += (f"; the adapter's effect itself matches ({share:.1%}): the base differs (an adapter "
                               "trained on a 4-bit base, here on the 16-bit one)")
        else:
            verdict.reason += f"; the adapter's effect differs by {share:.1%}: the adapter is read differently"
    return verdict


def _unreadable(fmt: str, how: str, exc: Exception, details: dict | None = None) -> Verdict:
    """The verdict for an export that plain transformers could not even load: not usable without this project."""
    return Verdict(fmt, how, False, f"could not be loaded: {str(exc).splitlines()[-1][:300]}",
                   details={**(details or {}), "error": str(exc)})


def _noise(ref: Reference, back: dict) -> float:
    return ref.noise if ref.noise is not None else noise_of(back["bf16"], back["fp32"])


def _effect_share(back: dict, ref: Reference) -> float | None:
    """How far the adapter's effect as plain peft applies it ((reload - its base)) is from the effect as trained,
    as a share of that effect: small when only the base differs (e.g. 4-bit vs 16-bit), large when the adapter is
    read differently (e.g. a lora_B packing peft does not know)."""
    if "base_fp32" not in back:
        return None
    effect = float(_per_position(ref.logits, ref.base_logits).median())
    if effect == 0:
        return None
    moved = (back["fp32"] - back["base_fp32"]) - (ref.logits - ref.base_logits)
    return float(moved.abs().mean(-1).median()) / effect


GROUPED_BY_EXPERT, RANK_MAJOR = "grouped_by_expert", "rank_major"


def repack_lora_b(adapter_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a copy of an adapter whose fused-expert ``lora_B`` is packed grouped by expert (``lora_B_layout:
    grouped_by_expert`` in adapter_config.json, as older Unsloth versions trained it) in peft's rank-major packing,
    the one peft, vLLM and transformers read. lora_A is grouped by expert in both packings and is copied as is."""
    from safetensors.torch import load_file, save_file

    adapter_dir, out = check_adapter(adapter_dir), Path(out)
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("lora_B_layout") != GROUPED_BY_EXPERT:
        raise errors.ExportError(f"{adapter_dir / 'adapter_config.json'} does not declare lora_B_layout = "
                                 f"{GROUPED_BY_EXPERT!r}: nothing to repack")
    r = int(config["r"])
    state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    for key, b in state.items():
        a = state.get(key.replace("lora_B", "lora_A"))
        if "lora_B" not in key or a is None or a.shape[0] == r:  # only fused experts have r x E columns
            continue
        experts = a.shape[0] // r
        state[key] = b.reshape(b.shape[0], experts, r).transpose(1, 2).reshape(b.shape[0], r * experts).contiguous()
    config["lora_B_layout"] = RANK_MAJOR
    nested = (config.get("unsloth_fused_expert_lora") or {}).get("parameters") or {}
    for entry in nested.values():
        if isinstance(entry, dict) and "lora_B_layout" in entry:
            entry["lora_B_layout"] = RANK_MAJOR
    with atomic.atomic_dir(out) as tmp:
        for f in adapter_dir.iterdir():
            if f.is_file() and f.name not in ("adapter_model.safetensors", "adapter_config.json"):
                shutil.copy2(f, tmp / f.name)
        save_file(state, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out


def check_merged16(ref: Reference, folder: str | os.PathLike) -> list[Verdict]:
    """The merged folder reloaded with plain ``AutoModelForCausalLM`` in a fresh process, float32: the criterion."""
    folder = Path(folder)
    how = "AutoModelForCausalLM, new process, float32"
    try:
        back = read_back("merged", ref.ids, model=folder)
    except errors.ExportError as exc:
        return [_unreadable("merged16", how, exc)]
    details = {"read_back": back["info"]}
    if ref.plain_base_logits is not None:
        details["adapter_effect_share"] = _effect_share({**back, "base_fp32": ref.plain_base_logits}, ref)
    if ref.harmony_rows is not None:
        details.update(_harmony_rows_check(ref, folder))
    verdict = _explained(judge("merged16", back["fp32"], ref.logits, ref.base_logits, noise=_noise(ref, back),
                               compared_with=how, details=details))
    if ref.harmony_rows is not None and not details["harmony_rows_equal"]:
        verdict.passed = False
        verdict.reason += "; the trained Harmony token rows are not in the merged embedding"
    return [verdict]


def _harmony_rows_check(ref: Reference, folder: Path) -> dict:
    """The Harmony rows trained through peft's trainable_token_indices must be in the merged embedding (and in the
    tied output layer), rounded to bf16 once: an exact check read straight from the safetensors files."""
    import torch
    from safetensors import safe_open

    ids = torch.tensor(backends.harmony_token_ids(ref.tokenizer))
    expected = ref.harmony_rows.to(torch.bfloat16)
    found = {}
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                if key.endswith("embed_tokens.weight") or key == "lm_head.weight":
                    found[key] = st.get_tensor(key)[ids]
    rows = {k: bool(torch.equal(v.to(torch.bfloat16), expected)) for k, v in found.items()}
    return {"harmony_rows": rows, "harmony_rows_equal": bool(rows) and all(rows.values())}


def check_gguf(ref: Reference, folder: str | os.PathLike, quant: str, merged_dir: str | os.PathLike) -> list[Verdict]:
    """gpt-oss: every tensor de-quantized (gguf-py) and compared with the merged weights within its storage type's
    rounding (transformers cannot run gpt-oss GGUFs). llama family: read back by transformers' GGUF loader in a fresh
    process, the criterion against the fine-tuned model, and the GGUF's own tokenizer must give the probe's ids."""
    folder = Path(folder)
    fmt = f"gguf-{quant}"
    if ref.preset.is_gpt_oss:
        cmp = gguf_tools.compare_gpt_oss_weights(folder / GGUF_NAME, merged_dir)
        bounded = {"F32": "exact", "BF16": "exact", "F16": "f16 rounding", "Q8_0": "q8_0 block rounding"}
        reason = (f"{cmp['tensors_compared']} tensors within their storage type's rounding of the merged weights"
                  if cmp["all_within_bounds"] else
                  f"not the merged weights: worst {cmp['worst_tensor']} (missing {len(cmp['missing_in_gguf'])}, "
                  f"extra {len(cmp['not_in_model'])})")
        details = dict(cmp, bounds=bounded)
        return [Verdict(fmt, "gguf-py, tensor by tensor vs the merged safetensors", cmp["all_within_bounds"], reason,
                        max_abs_diff=cmp["max_abs_diff"], exact=True, details=details)]
    text = ref.tokenizer.decode(ref.ids[0][0])
    how = "transformers' GGUF loader, new process, float32"
    try:
        back = read_back("gguf", ref.ids, model=folder, gguf_file=GGUF_NAME, tokenizer_text=text)
    except errors.ExportError as exc:
        return [_unreadable(fmt, how, exc)]
    same_ids = back["info"].get("gguf_tokenizer_ids") == ref.ids[0][0].tolist()
    verdict = judge(fmt, back["fp32"], ref.logits, ref.base_logits, noise=_noise(ref, back), compared_with=how,
                    details={"gguf_tokenizer_same_ids": same_ids, "read_back": back["info"]})
    if not same_ids:
        verdict.passed = False
        verdict.reason += "; the GGUF's tokenizer splits the probe differently"
    return [verdict]


# --------------------------------------------------------------------------- GGUF
def convert_gguf(ref: Reference, merged_dir: str | os.PathLike, out: str | os.PathLike, quant: str,
                 converter: gguf_tools.Converter) -> dict:
    """llama.cpp's ``convert_hf_to_gguf.py MERGED --outtype QUANT --outfile out/model.gguf`` (+ a Harmony Modelfile),
    written atomically; returns what the converter did, read from its log and from the file."""
    if quant not in GGUF_QUANTS:
        raise errors.ExportError(f"GGUF type must be one of {', '.join(GGUF_QUANTS)}, got {quant!r}")
    out = Path(out)
    with writing(out, ref, f"gguf-{quant}", needed_bytes=estimate_bytes(quant, ref.n_params),
                 converter=converter.info()) as tmp:
        conv = gguf_tools.convert(merged_dir, tmp / GGUF_NAME, outtype=quant, converter=converter,
                                  log_path=tmp / "convert.log")
        summary = gguf_tools.read_gguf(tmp / GGUF_NAME)
        if not summary.tensors:
            raise gguf_tools.ConversionError(f"convert_hf_to_gguf.py wrote no tensors from {merged_dir}: is it a "
                                             "model folder with *.safetensors weights?")
        gguf_tools.write_modelfile(tmp, GGUF_NAME, title=f"{ref.preset.name} + LoRA, {quant}")
    experts = r"ffn_(gate|up|down)_exps\.weight$"
    printed = {}
    for name, kind in conv.printed_types.items():
        if re.search(experts, name):
            printed[kind] = printed.get(kind, 0) + 1
    return {"command": [c.replace(str(tmp), str(out)) for c in conv.command], "seconds": conv.seconds,
            "warnings": conv.warnings, "pre_tokenizer_fallback": conv.pre_tokenizer_fallback,
            "architecture": summary.architecture, "file_type": summary.file_type,
            "tensor_types": summary.tensor_types, "expert_types_in_file": summary.types_of(experts),
            "expert_types_printed": printed, "size_bytes": summary.size_bytes}


def expert_storage_note(info: dict) -> str:
    """What llama.cpp / Ollama get for the gpt-oss expert tensors, from the converter's log and the written file."""
    in_file = info["expert_types_in_file"]
    kinds = ", ".join(f"{n} x {t}" for t, n in sorted(in_file.items())) or "none"
    agree = info["expert_types_printed"] == in_file
    said = "the converter's log says the same" if agree else f"the converter printed {info['expert_types_printed']}"
    mxfp4 = [w for w in info["warnings"] if "MXFP4" in w]
    text = f"expert tensors in the file: {kinds} ({said}); file type {info['file_type']}."
    if "MXFP4" in in_file:
        return text + " llama.cpp and Ollama run these experts in MXFP4, as the original gpt-oss checkpoint."
    return (text + " llama.cpp and Ollama will run them in this type, not MXFP4"
            + (f" (converter: \"{mxfp4[0]}\")" if mxfp4 else "")
            + "; re-quantizing the experts to MXFP4 needs llama.cpp's compiled llama-quantize (type MXFP4_MOE).")


def generate(model, tokenizer, prompt: str, *, max_new_tokens: int = 32) -> str:
    """Greedy continuation of a Harmony prompt, stopping on <|return|> / <|call|> (special tokens kept)."""
    import torch

    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids.to(_device(model))
    stops = [tokenizer.convert_tokens_to_ids(t) for t in harmony.STOP_TOKENS]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stops, pad_token_id=pad)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=False)


def generation_prompt() -> str:
    return harmony.render_prompt(GENERATION_PROMPT["developer"], GENERATION_PROMPT["user"], current_date=PROBE_DATE)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "read-back":
        _read_back_main(sys.argv[2])
    else:
        raise SystemExit("usage: python -m gpt_oss_tutorial.export read-back SPEC.json")
