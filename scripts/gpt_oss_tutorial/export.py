"""Notebook 06: save and export the fine-tuned model -- LoRA adapter, merged 16-bit, GGUF -- and check each one.

Every export is reloaded and compared with the fine-tuned model (base + LoRA adapter) on one fixed Harmony
conversation (the *probe*): same token ids in, logits out, ``max |logit difference|`` against a stated tolerance.

* ``lora``      ``model.save_pretrained(dir, safe_serialization=True)`` + the tokenizer. Reloaded onto a fresh base
                model with ``PeftModel.from_pretrained`` it computes the same thing: tolerance 1e-5 (0 measured).
* ``merged16``  CPU/peft: ``model.merge_and_unload()`` then ``save_pretrained(safe_serialization=True)``;
                GPU/Unsloth: ``model.save_pretrained_merged(dir, tokenizer, save_method="merged_16bit")``.
                Reloaded as a plain ``AutoModelForCausalLM``. The merged weights are rounded to bf16 once, so the
                logits move by bf16 rounding: the tolerance is twice the fine-tuned model's own *bf16 noise floor* --
                how far its logits move when it runs in bf16 (as in training) instead of fp32 -- measured on the
                probe. Twice, because the merged weights carry a rounding the floor does not see, and in a
                mixture-of-experts model one rounding can flip the expert chosen for a token (measured on a 3-step
                tiny-gpt-oss adapter: 0.28 against a floor of 0.21, mean difference 0.0025).
                Trained token rows (peft ``trainable_token_indices``, smollm2) are checked to be in the merged
                embedding (and in the tied output layer).
* ``gguf``      llama.cpp's own ``convert_hf_to_gguf.py`` on the merged folder (``gguf_tools``), at ``f16`` or
                ``q8_0`` (both done in Python), plus an Ollama ``Modelfile`` with the Harmony template next to it.
                llama family (smollm2): reloaded with transformers' GGUF loader and compared with the merged model
                (f16: max |diff| <= 1e-3 x the logit scale; q8_0: arg-max agreement >= 0.90). gpt-oss: transformers
                cannot read gpt-oss GGUFs, so every tensor is de-quantized and compared with the merged weights
                within the storage type's rounding bound (see ``gguf_tools.compare_gpt_oss_weights``).

Every export writes into a temporary folder renamed into place (``atomic.atomic_dir``), checks free disk space first
(the merged gpt-oss-20b needs ~42 GB), and writes safetensors only: a pickle file in an export is an error.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, backends, gguf_tools, harmony, paths
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
# Tolerances (see the module docstring for why each is what it is).
LORA_TOLERANCE = 1e-5  # absolute max |logit diff|: the reloaded adapter computes the same thing
MERGED_NOISE_FACTOR = 2.0  # merged16 on CPU: tolerance = this x the bf16 noise floor (see the module doc)
GGUF_FLOAT_REL_TOLERANCE = 1e-3  # f16/bf16/f32 GGUF: max |logit diff| <= this x max |logit|
GGUF_Q8_ARGMAX_MIN = 0.90  # q8_0 GGUF: share of probe positions whose most likely next token is unchanged
GPU_MERGED_REL_TOLERANCE = 0.05  # merged16 when no fp32 reference is affordable: max |diff| <= this x max |logit|

# The probe: a complete Harmony conversation (developer, user, assistant analysis + final).
PROBE_DATE = "2025-08-05"
PROBE_MESSAGES = (
    {"role": "developer", "content": "reasoning language: French"},
    {"role": "user", "content": "What is 12 + 7?"},
    {"role": "assistant", "thinking": "L'utilisateur demande 12 + 7. 12 + 7 = 19.", "content": "12 + 7 = 19."},
)
GENERATION_PROMPT = dict(developer="reasoning language: French", user="What is 12 + 7?")


class InsufficientDiskSpace(OSError):
    """Not enough free space for an export; the message names the folder and the GB needed and free."""


# --------------------------------------------------------------------------- small utilities
def check_free_space(folder: str | Path, needed_bytes: int, what: str) -> dict:
    """Raise ``InsufficientDiskSpace`` unless ``folder`` (or its nearest existing parent) has ``needed_bytes`` free."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    report = {"folder": str(folder), "needed_gb": round(needed_bytes / 1e9, 3), "free_gb": round(free / 1e9, 3)}
    if free < needed_bytes:
        raise InsufficientDiskSpace(
            f"Not enough free disk space for {what} in {folder}: it needs about {needed_bytes / 1e9:.2f} GB "
            f"(estimate incl. {round((DISK_MARGIN - 1) * 100)}% margin), only {free / 1e9:.2f} GB are free there. "
            "Free some space or export to another folder (--out)."
        )
    return report


def estimate_bytes(fmt: str, n_params: int, *, adapter_bytes: int = 0) -> int:
    """Disk space an export needs: adapter tensors for ``lora``, parameters x bytes/param otherwise, plus margin."""
    if fmt == "lora":
        return int(adapter_bytes * DISK_MARGIN) + TOKENIZER_BYTES
    if fmt not in BYTES_PER_PARAM:
        raise ValueError(f"unknown export format {fmt!r}")
    return int(n_params * BYTES_PER_PARAM[fmt] * DISK_MARGIN) + TOKENIZER_BYTES


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


def probe_ids(tokenizer):
    """The probe conversation as token ids (1, T), rendered by the tokenizer's Harmony chat template."""
    text = tokenizer.apply_chat_template(list(PROBE_MESSAGES), tokenize=False, current_date=PROBE_DATE)
    return tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids


def _device(model):
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def logits_of(model, input_ids):
    """Logits (T, V) as float32 on the CPU, without gradients."""
    import torch

    with torch.no_grad():
        out = model(input_ids=input_ids.to(_device(model)))
    return out.logits.float().cpu()[0]


def compare_logits(got, ref) -> dict:
    diff = (got - ref).abs()
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "logit_scale": float(ref.abs().max()),
        "argmax_agreement": float((got.argmax(-1) == ref.argmax(-1)).float().mean()),
        "positions": int(ref.shape[0]),
    }


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


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "peft", "unsloth", "gguf", "safetensors"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


# --------------------------------------------------------------------------- results
@dataclass
class Check:
    metric: str  # what ``value`` measures
    value: float | None
    tolerance: float | None
    passed: bool | None  # None: not checked
    compared_with: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": self.value, "tolerance": self.tolerance, "passed": self.passed,
                "compared_with": self.compared_with, "details": self.details}


@dataclass
class ExportResult:
    format: str  # "lora" | "merged16" | "gguf-f16" | "gguf-q8_0" | ...
    path: Path | None
    size_bytes: int = 0
    seconds: float = 0.0
    check: Check | None = None
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the export was not made (e.g. converter offline)
    extra: dict = field(default_factory=dict)
    reloaded: object = None  # (model, tokenizer) of the reload check, for generation; never serialised

    @property
    def passed(self) -> bool | None:
        return None if self.check is None else self.check.passed

    def row(self) -> dict:
        c = self.check
        return {
            "format": self.format,
            "size on disk (MB)": round(self.size_bytes / 1e6, 2) if self.path else None,
            "export s": round(self.seconds, 2),
            "check": (c.metric if c else ("skipped: " + self.skipped if self.skipped else "not checked")),
            "value": c.value if c else None,
            "tolerance": c.tolerance if c else None,
            "pass": c.passed if c else None,
            "max abs diff": (c.details.get("max_abs_diff") if c else None),
        }

    def to_dict(self) -> dict:
        return {"format": self.format, "path": str(self.path) if self.path else None, "size_bytes": self.size_bytes,
                "seconds": round(self.seconds, 2), "check": self.check.to_dict() if self.check else None,
                "files": self.files, "notes": self.notes, "skipped": self.skipped, "extra": self.extra}


def results_table(results: list[ExportResult]):
    import pandas as pd

    return pd.DataFrame([r.row() for r in results])


# --------------------------------------------------------------------------- the fine-tuned reference
@dataclass
class Reference:
    """The fine-tuned model (base + adapter) and what every export is compared with."""

    preset: Preset
    adapter_dir: Path
    model: object  # the PeftModel; None once merged (merge_and_unload works in place)
    tokenizer: object
    backend: str
    input_ids: object  # the probe (1, T)
    logits: object  # (T, V) fp32: the fine-tuned model's logits (fp32 computation when ``exact``)
    logits_16bit: object  # same model in its training dtype (bf16 base weights, fp32 LoRA)
    base_logits: object  # adapter disabled: the base model
    exact: bool  # True: the reference ran in fp32 (CPU presets); False: 16-bit (GPU / big models)
    harmony_ids: list
    harmony_rows: object  # effective input-embedding rows of the Harmony tokens (fp32)
    n_params: int
    source: str
    merged: bool = False
    merged_dir: Path | None = None
    merged_logits: object = None  # logits of the reloaded merged16 export (what GGUF files are compared with)

    @property
    def noise_floor(self) -> float | None:
        """max |logits_16bit - logits|: how much the fine-tuned model itself moves between bf16 and fp32."""
        if not self.exact:
            return None
        return float((self.logits_16bit - self.logits).abs().max())

    @property
    def lora_effect(self) -> float:
        """max |fine-tuned - base| logits: what the adapter changes (an export that lost it would be this far off)."""
        return float((self.logits - self.base_logits).abs().max())

    def summary(self) -> dict:
        return {"preset": self.preset.name, "adapter_dir": str(self.adapter_dir), "backend": self.backend,
                "probe_tokens": int(self.input_ids.shape[1]), "exact_fp32_reference": self.exact,
                "bf16_noise_floor": self.noise_floor, "lora_effect": self.lora_effect,
                "logit_scale": float(self.logits.abs().max()), "parameters": self.n_params}


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


def load_adapter_model(preset: Preset, adapter_dir: str | Path, *, backend: str | None = None):
    """(model, tokenizer, backend name): base + adapter, in eval mode.

    Unsloth (GPU): ``FastLanguageModel.from_pretrained(adapter_dir)``, its documented way to reload a LoRA -- it loads
    the base named in adapter_config.json and returns a model that has ``save_pretrained_merged``.
    transformers + peft: ``backends.load_adapter`` (``PeftModel.from_pretrained`` on the bf16 base).
    """
    chosen = backends.pick(preset, requested=backend)
    if chosen.name == backends.UNSLOTH:
        model, tokenizer = chosen.from_pretrained(preset, str(adapter_dir))
        chosen.for_inference(model)
        return model, tokenizer, chosen.name
    loaded = backends.load_adapter(preset, adapter_dir, backend=chosen.name)
    loaded.model.eval()
    return loaded.model, loaded.tokenizer, loaded.backend


def load_reference(preset: Preset, adapter_dir: str | Path | None = None, *, exact: bool | None = None,
                   backend: str | None = None) -> Reference:
    """Load base + adapter and compute the probe logits every export is compared with.

    ``exact`` (default: CPU presets) moves the model to fp32 after the bf16 pass -- lossless, the base weights are bf16
    values and the LoRA weights are fp32 -- so the reference is the adapter model's exact arithmetic and the bf16 noise
    floor can be measured. ``adapter_dir`` defaults to notebook 03's adapter (clear error if it is missing).
    """
    import torch

    adapter_dir = paths.require_adapter(preset.name, adapter_dir)
    model, tokenizer, backend_name = load_adapter_model(preset, adapter_dir, backend=backend)
    if exact is None:
        exact = backend_name == backends.PEFT and preset.offline
    ids = probe_ids(tokenizer)
    logits16 = logits_of(model, ids)
    if exact:
        model.float()
        logits = logits_of(model, ids)
    else:
        logits = logits16
    with model.disable_adapter():
        base = logits_of(model, ids)
    harmony_ids = backends.harmony_token_ids(tokenizer)
    with torch.no_grad():
        rows = model.get_input_embeddings()(torch.tensor([harmony_ids], device=_device(model))).float().cpu()[0]
    return Reference(
        preset=preset, adapter_dir=Path(adapter_dir), model=model, tokenizer=tokenizer, backend=backend_name,
        input_ids=ids, logits=logits, logits_16bit=logits16, base_logits=base, exact=exact,
        harmony_ids=harmony_ids, harmony_rows=rows, n_params=_count_base_parameters(model),
        source=backends.model_source(preset),
    )


def _write_info(folder: Path, ref: Reference, fmt: str, **extra) -> None:
    info = {"format": fmt, "preset": ref.preset.name, "base_model": ref.source, "adapter": str(ref.adapter_dir),
            "backend": ref.backend, "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "versions": _versions(), **extra}
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")


def _readable(folder: Path) -> None:
    """Temporary folders are created private (0700/0600); a finished export gets the usual umask permissions."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for f in folder.rglob("*"):
        f.chmod((0o777 if f.is_dir() else 0o666) & ~mask)


def _finish(result: ExportResult) -> ExportResult:
    if result.path and result.path.exists():
        result.size_bytes = folder_size(result.path)
        result.files = sorted(str(f.relative_to(result.path)) for f in result.path.rglob("*") if f.is_file())
        if result.check is not None:
            atomic.write_json(result.path / CHECK_FILE, result.to_dict())
        _readable(result.path)
    return result


# --------------------------------------------------------------------------- 1. LoRA adapter
def export_lora(ref: Reference, out: str | Path, *, verify: bool = True) -> ExportResult:
    """Save the adapter (safetensors) + tokenizer atomically; reload it onto a fresh base model and compare."""
    if ref.merged or ref.model is None:
        raise RuntimeError("export the LoRA adapter before merging: merge_and_unload() changes the model in place")
    out = Path(out)
    adapter_bytes = sum(p.numel() * p.element_size() for n, p in ref.model.named_parameters()
                        if "lora_" in n or "trainable_tokens" in n)
    check_free_space(out.parent, estimate_bytes("lora", ref.n_params, adapter_bytes=adapter_bytes),
                     "the LoRA adapter")
    start = time.perf_counter()
    with atomic.atomic_dir(out) as tmp:
        ref.model.save_pretrained(str(tmp), safe_serialization=True)
        ref.tokenizer.save_pretrained(str(tmp))
        _write_info(tmp, ref, "lora")
        assert_no_pickle(tmp)
    result = ExportResult(format="lora", path=out, seconds=time.perf_counter() - start)
    if verify:
        result.check = check_lora(ref, out)
    return _finish(result)


def check_lora(ref: Reference, adapter_dir: str | Path) -> Check:
    model, _, _ = load_adapter_model(ref.preset, adapter_dir, backend=ref.backend)
    if ref.exact:
        model.float()
    cmp = compare_logits(logits_of(model, ref.input_ids), ref.logits)
    del model
    return Check(metric="max |logit diff| vs fine-tuned", value=cmp["max_abs_diff"], tolerance=LORA_TOLERANCE,
                 passed=cmp["max_abs_diff"] <= LORA_TOLERANCE,
                 compared_with="the exported adapter reloaded onto a fresh base model (PeftModel.from_pretrained)",
                 details=cmp)


# --------------------------------------------------------------------------- 2. merged 16-bit
def merge_and_save(ref: Reference, folder: Path) -> None:
    """Write the merged 16-bit model + tokenizer into ``folder`` (Unsloth on GPU, peft elsewhere)."""
    import torch

    if ref.backend == backends.UNSLOTH:
        # Unsloth merges the LoRA into 16-bit weights itself (de-quantizing the 4-bit base) and writes safetensors.
        if not hasattr(ref.model, "save_pretrained_merged"):
            raise RuntimeError("this Unsloth model has no save_pretrained_merged: load the adapter with "
                               "FastLanguageModel.from_pretrained(adapter_dir) (export.load_reference does)")
        ref.model.save_pretrained_merged(str(folder), ref.tokenizer, save_method="merged_16bit",
                                         safe_serialization=True)
        return
    merged = ref.model.merge_and_unload()  # in place: the PeftModel is gone after this
    ref.model, ref.merged = None, True
    merged = merged.to(torch.bfloat16)  # exact path: the merge ran in fp32, so bf16 rounding happens once, here
    merged.save_pretrained(str(folder), safe_serialization=True)
    ref.tokenizer.save_pretrained(str(folder))
    del merged


def export_merged16(ref: Reference, out: str | Path, *, verify: bool = True) -> ExportResult:
    """Merge the LoRA into the base weights, save 16-bit safetensors atomically, reload as a plain model, compare."""
    out = Path(out)
    if ref.merged:
        raise RuntimeError("this Reference was merged already (merge_and_unload works in place); load it again")
    check_free_space(out.parent, estimate_bytes("merged16", ref.n_params), "the merged 16-bit model")
    start = time.perf_counter()
    with atomic.atomic_dir(out) as tmp:
        merge_and_save(ref, tmp)
        _write_info(tmp, ref, "merged16", parameters=ref.n_params)
        assert_no_pickle(tmp)
    result = ExportResult(format="merged16", path=out, seconds=time.perf_counter() - start)
    if verify:
        result.check = check_merged16(ref, out)
    return _finish(result)


def load_merged(preset: Preset, folder: str | Path, *, dtype=None):
    """The merged export as a plain transformers model (safetensors only; eager attention for gpt-oss)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = dict(dtype=dtype or torch.bfloat16, use_safetensors=True)
    if preset.is_gpt_oss:
        kwargs["attn_implementation"] = "eager"
    if backends.has_cuda():
        kwargs["device_map"] = "auto"
    return AutoModelForCausalLM.from_pretrained(str(folder), **kwargs).eval()


def check_merged16(ref: Reference, folder: str | Path) -> Check:
    import torch

    model = load_merged(ref.preset, folder, dtype=torch.float32 if ref.exact else torch.bfloat16)
    got = logits_of(model, ref.input_ids)
    cmp = compare_logits(got, ref.logits)
    if ref.exact:
        tolerance = MERGED_NOISE_FACTOR * ref.noise_floor
        rule = f"{MERGED_NOISE_FACTOR:g} x the bf16 noise floor of the fine-tuned model (bf16 vs fp32 logits)"
    else:
        tolerance = GPU_MERGED_REL_TOLERANCE * cmp["logit_scale"]
        rule = f"{GPU_MERGED_REL_TOLERANCE} x max |logit|"
    details = dict(cmp, tolerance_rule=rule, lora_effect=ref.lora_effect, bf16_noise_floor=ref.noise_floor)
    passed = cmp["max_abs_diff"] <= tolerance
    if ref.preset.train_new_tokens:
        # The Harmony rows trained through trainable_token_indices must be in the merged embedding (bf16-rounded)
        # and, with tied embeddings (SmolLM2), in the output layer too.
        ids = torch.tensor(ref.harmony_ids)
        expected = ref.harmony_rows.to(torch.bfloat16).float()
        emb = model.get_input_embeddings().weight.detach()[ids].float().cpu()
        rows_ok = bool(torch.equal(emb.to(torch.bfloat16).float(), expected))
        details["harmony_rows_equal"] = rows_ok
        details["harmony_rows_max_diff"] = float((emb - ref.harmony_rows).abs().max())
        out_emb = model.get_output_embeddings()
        if getattr(model.config, "tie_word_embeddings", False) and out_emb is not None:
            details["output_rows_equal"] = bool(torch.equal(
                out_emb.weight.detach()[ids].float().cpu().to(torch.bfloat16).float(), expected))
            rows_ok = rows_ok and details["output_rows_equal"]
        passed = passed and rows_ok
    ref.merged_dir, ref.merged_logits = Path(folder), got
    del model
    return Check(metric="max |logit diff| vs fine-tuned", value=cmp["max_abs_diff"], tolerance=tolerance,
                 passed=bool(passed), compared_with="the merged folder reloaded with AutoModelForCausalLM",
                 details=details)


# --------------------------------------------------------------------------- 3. GGUF (+ Ollama Modelfile)
def export_gguf(ref: Reference, out: str | Path, *, quant: str = "f16", merged_dir: str | Path | None = None,
                verify: bool = True, check_tokenizer: bool = True,
                converter: gguf_tools.Converter | None = None) -> ExportResult:
    """Convert the merged model with llama.cpp's converter, write a Harmony Modelfile beside it, reload and check.

    Without a merged folder (``merged_dir`` or an earlier ``export_merged16``) the model is merged into a temporary
    folder first, removed afterwards. If the converter cannot be had (offline), the result is *skipped* with the
    reason instead of an error.
    """
    if quant not in GGUF_QUANTS:
        raise ValueError(f"GGUF type must be one of {', '.join(GGUF_QUANTS)}, got {quant!r}")
    out = Path(out)
    fmt = f"gguf-{quant}"
    try:
        converter = converter or gguf_tools.ensure_converter()
    except gguf_tools.ConverterUnavailable as exc:
        return ExportResult(format=fmt, path=None, skipped=str(exc))
    merged_dir = Path(merged_dir) if merged_dir else ref.merged_dir
    temp_merged = None
    if merged_dir is None:
        temp_merged = out.parent / f".{out.name}.merged16"
        export_merged16(ref, temp_merged, verify=verify)
        merged_dir = temp_merged
    try:
        check_free_space(out.parent, estimate_bytes(quant, ref.n_params), f"the {quant} GGUF")
        start = time.perf_counter()
        with atomic.atomic_dir(out) as tmp:
            conv = gguf_tools.convert(merged_dir, tmp / GGUF_NAME, outtype=quant, converter=converter,
                                      log_path=tmp / "convert.log")
            summary = gguf_tools.read_gguf(tmp / GGUF_NAME)
            if not summary.tensors:
                raise gguf_tools.ConversionError(f"convert_hf_to_gguf.py wrote no tensors from {merged_dir}: is it a "
                                                 "model folder with *.safetensors weights?")
            gguf_tools.write_modelfile(tmp, GGUF_NAME, title=f"{ref.preset.name} + LoRA, {quant}")
            _write_info(tmp, ref, fmt, converter=converter.info(),
                        command=conv.command[:-2] + ["--outfile", GGUF_NAME], converter_warnings=conv.warnings,
                        pre_tokenizer_fallback=conv.pre_tokenizer_fallback)
            assert_no_pickle(tmp)
            command = [c.replace(str(tmp), str(out)) for c in conv.command]  # as if run on the final folder
        result = ExportResult(format=fmt, path=out, seconds=time.perf_counter() - start)
        summary.path = out / GGUF_NAME
        result.extra.update(convert_seconds=conv.seconds, command=command, converter=converter.info(),
                            converter_warnings=conv.warnings, pre_tokenizer_fallback=conv.pre_tokenizer_fallback,
                            architecture=summary.architecture, file_type=summary.file_type,
                            tensor_types=summary.tensor_types, gguf_bytes=summary.size_bytes)
        if ref.preset.is_gpt_oss:
            result.extra["expert_tensor_types"] = summary.types_of(r"ffn_(gate|up|down)_exps\.weight$")
            result.notes += gpt_oss_notes(merged_dir, result.extra["expert_tensor_types"])
        if conv.pre_tokenizer_fallback:
            result.notes.append(f"the converter did not know this tokenizer; tokenizer.ggml.pre = "
                                f"{conv.pre_tokenizer_fallback!r} was written (from tokenizer.json's pre-tokenizer)")
        if verify:
            result.check = check_gguf(ref, result, quant, merged_dir, check_tokenizer=check_tokenizer)
    finally:
        if temp_merged is not None:
            shutil.rmtree(temp_merged, ignore_errors=True)
            ref.merged_dir = None
    return _finish(result)


def gpt_oss_notes(merged_dir: Path, expert_types: dict) -> list[str]:
    """What the tooling did with a gpt-oss model, in words (facts read from the files, not guessed)."""
    notes = []
    kinds = ", ".join(f"{n} x {t}" for t, n in sorted(expert_types.items()))
    if "MXFP4" in expert_types:
        notes.append(f"experts stored as MXFP4 ({kinds}): the source checkpoint was MXFP4 and was repacked as is")
    else:
        notes.append(f"experts stored as {kinds}: convert_hf_to_gguf.py keeps float experts (warning 'not in "
                     "MXFP4, performance may be degraded'); it has no MXFP4 output type -- llama.cpp's C "
                     "llama-quantize (MXFP4_MOE) would be needed")
    try:
        config = json.loads((Path(merged_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type") == "yarn":
        truncate = rope.get("truncate", True)
        notes.append("YaRN: llama.cpp always rounds the correction range (as truncate=True); this config says "
                     f"truncate={truncate}" + ("" if truncate else " -- llama.cpp's positions differ slightly from "
                                               "transformers'"))
    notes.append("transformers cannot load gpt-oss GGUFs: checked tensor by tensor; to generate, use llama.cpp "
                 "(llama-cpp-python built from source: " + gguf_tools.LLAMA_CPP_INSTALL.split("   #")[0].format(
                     version=gguf_tools.converter_pin().version) + ", ~17 min on 2 cores) or Ollama")
    return notes


@contextlib.contextmanager
def _cached_gguf_name_maps():
    """transformers' GGUF loader rebuilds gguf-py's tensor-name map once per sub-module (~400 times for SmolLM2, about
    half of its load time here); the map depends only on (architecture, layers), so cache it during the load."""
    import functools

    import gguf

    original = gguf.get_tensor_name_map
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original


def load_gguf(folder: str | Path, *, tokenizer: bool = True):
    """(model, tokenizer) read back from a llama-family GGUF by transformers (de-quantized to fp32):
    ``AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.gguf")``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _cached_gguf_name_maps():
        model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=GGUF_NAME, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF_NAME) if tokenizer else None
    return model, tok


def check_gguf(ref: Reference, result: ExportResult, quant: str, merged_dir: Path, *,
               check_tokenizer: bool = True) -> Check:
    folder = result.path
    if ref.preset.is_gpt_oss:
        cmp = gguf_tools.compare_gpt_oss_weights(folder / GGUF_NAME, merged_dir)
        rows = cmp.pop("rows")
        cmp["tensor_rows"] = rows
        return Check(metric="max |weight diff| / max|w| (per tensor)", value=cmp["max_rel_diff"],
                     tolerance=None if quant == "f32" else {"f16": 2.0**-11, "bf16": 0.0, "q8_0": 1 / 127}.get(quant),
                     passed=cmp["all_within_bounds"],
                     compared_with="every GGUF tensor de-quantized (gguf-py) vs the merged safetensors, within the "
                                   "storage type's rounding bound", details=cmp)
    model, tok = load_gguf(folder, tokenizer=check_tokenizer)
    got = logits_of(model, ref.input_ids)
    if ref.merged_logits is None:
        merged = load_merged(ref.preset, merged_dir, dtype=got.dtype)
        ref.merged_logits = logits_of(merged, ref.input_ids)
        del merged
    cmp = compare_logits(got, ref.merged_logits)
    details = dict(cmp, vs_fine_tuned=compare_logits(got, ref.logits))
    if quant == "q8_0":
        value, tolerance = cmp["argmax_agreement"], GGUF_Q8_ARGMAX_MIN
        metric, passed = "arg-max agreement vs merged", value >= tolerance
    else:
        value, tolerance = cmp["max_abs_diff"], GGUF_FLOAT_REL_TOLERANCE * cmp["logit_scale"]
        metric, passed = "max |logit diff| vs merged", value <= tolerance
    if tok is not None:
        ids = tok(ref.tokenizer.decode(ref.input_ids[0]), add_special_tokens=False, return_tensors="pt").input_ids
        details["gguf_tokenizer_same_ids"] = bool(ids.shape == ref.input_ids.shape and (ids == ref.input_ids).all())
        passed = passed and details["gguf_tokenizer_same_ids"]
    result.reloaded = (model, tok or ref.tokenizer)
    return Check(metric=metric, value=value, tolerance=tolerance, passed=bool(passed),
                 compared_with="the GGUF read back by transformers (AutoModelForCausalLM.from_pretrained(dir, "
                               "gguf_file=...)) vs the merged 16-bit model, fp32 compute", details=details)


# --------------------------------------------------------------------------- everything, in order
def export_all(preset: Preset, adapter_dir: str | Path | None = None, out_root: str | Path | None = None, *,
               formats=FORMATS, gguf_quants=("f16",), verify: bool = True, progress: bool = True,
               ref: Reference | None = None) -> list[ExportResult]:
    """LoRA, then merged16, then one GGUF per type (the order matters: merging works in place).

    Folders: ``out_root/lora``, ``out_root/merged16``, ``out_root/gguf-<type>/`` (default ``outputs/export/<preset>``).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    out_root = Path(out_root) if out_root else paths.stage_dir("export", preset.name)
    ref = ref or load_reference(preset, adapter_dir)
    steps = [f for f in FORMATS if f in formats and f != "gguf"]
    steps += [f"gguf-{q}" for q in gguf_quants] if "gguf" in formats else []
    try:
        from tqdm.auto import tqdm

        bar = tqdm(steps, desc="export", disable=not progress)
    except ImportError:  # pragma: no cover
        bar = steps
    results = []
    for step in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(step)
        if step == "lora":
            results.append(export_lora(ref, out_root / "lora", verify=verify))
        elif step == "merged16":
            results.append(export_merged16(ref, out_root / "merged16", verify=verify))
        else:
            quant = step.split("-", 1)[1]
            results.append(export_gguf(ref, out_root / step, quant=quant, verify=verify,
                                       check_tokenizer=verify and quant != "q8_0"))
    return results


def figures(results: list[ExportResult], ref: Reference | None = None) -> dict:
    """Key figures for figures.record("06_save_and_export", ...)."""
    out = {}
    for r in results:
        entry = {"size_mb": round(r.size_bytes / 1e6, 2) if r.path else None, "seconds": round(r.seconds, 1),
                 "skipped": r.skipped}
        if r.check:
            entry.update(metric=r.check.metric, value=r.check.value, tolerance=r.check.tolerance,
                         passed=r.check.passed)
            if "max_abs_diff" in r.check.details:
                entry["max_abs_diff"] = r.check.details["max_abs_diff"]
        for key in ("convert_seconds", "file_type", "expert_tensor_types"):
            if key in r.extra:
                entry[key] = r.extra[key]
        out[r.format.replace("-", "_")] = entry
    if ref is not None:
        out["reference"] = ref.summary()
    return out
