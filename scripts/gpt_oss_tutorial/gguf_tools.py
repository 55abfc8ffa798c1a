"""GGUF for llama.cpp and Ollama: llama.cpp's own converter (fetched, never built), reading GGUF files back, and an
Ollama ``Modelfile`` that speaks Harmony.

The converter. PyPI has no binary wheel of ``llama-cpp-python``, and building it takes ~17 min on 2 cores; but its
source distribution vendors llama.cpp, whose ``convert_hf_to_gguf.py`` (+ its ``conversion/`` package and a newer
``gguf-py``) is pure Python and quantizes to ``q8_0`` in numpy. ``ensure_converter()`` downloads that sdist once with
pip (the version and sha256 are pinned in ``requirements-gguf.txt``), extracts only those files into
``.cache/llama.cpp/<version>/`` (atomically) and never runs anything else from the archive; ``make setup`` does it
once, so exports need no network. On a machine without network, copy that folder and name it in
``$GPT_OSS_TUTORIAL_GGUF_CONVERTER``. ``convert()`` runs the converter as a subprocess of this venv's Python with the
vendored ``gguf-py`` first on ``PYTHONPATH``, in its own process group, killed with its parent (``run_child``).

What the converter does with gpt-oss (read in ``conversion/gpt_oss.py`` and measured on its output):
* a checkpoint whose experts are MXFP4 (``quantization_config.quant_method == "mxfp4"``, e.g.
  ``openai/gpt-oss-20b``) has its expert blocks repacked as MXFP4 without de-quantization, and the file type
  becomes ``MOSTLY_MXFP4_MOE``;
* float experts -- what a merged 16-bit fine-tune has -- are accepted with the warning "... is not in MXFP4, performance
  may be degraded" and written like every other matrix: F16 for ``--outtype f16``, Q8_0 for ``q8_0``. There is no
  ``--outtype mxfp4``: re-quantizing float experts to MXFP4 needs llama.cpp's C ``llama-quantize`` (type MXFP4_MOE);
* ``gate_up_proj`` (interleaved gate/up columns) is split into ``ffn_gate_exps`` / ``ffn_up_exps``; ``sinks`` become
  ``attn_sinks.weight``; norms, biases, sinks and the router stay F32.
* llama.cpp always computes YaRN's correction range with floor/ceil (``ggml_rope_yarn_corr_dims``), i.e. as if the HF
  config said ``truncate: true``; gpt-oss configs say ``false``. A GGUF therefore runs slightly different rotary
  frequencies than transformers unless the config already uses ``truncate=True`` (our tiny-gpt-oss does).

Reading back: transformers' GGUF loader handles llama-family files (the smollm2 preset) but cannot read gpt-oss GGUFs,
so gpt-oss exports are checked tensor by tensor (``compare_gpt_oss_weights``: gguf-py de-quantizes each tensor and it
is compared with the merged safetensors after the converter's own transforms). Running a gpt-oss GGUF needs llama.cpp
itself: ``llama_cpp_generate`` uses ``llama-cpp-python`` when it is installed (see ``LLAMA_CPP_INSTALL``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, harmony
from .paths import REPO_ROOT

REQUIREMENTS_FILE = REPO_ROOT / "requirements-gguf.txt"
SDIST_ENV = "GPT_OSS_TUTORIAL_LLAMA_CPP_SDIST"  # a local llama-cpp-python sdist (offline machines); sha256 checked
CACHE_ENV = "GPT_OSS_TUTORIAL_LLAMA_CPP_CACHE"  # where converters are extracted (default .cache/llama.cpp)
CONVERTER_ENV = "GPT_OSS_TUTORIAL_GGUF_CONVERTER"  # an extracted converter folder to use as is (copied from setup)
READY_FILE = "converter.json"
OUTTYPES = ("f16", "q8_0", "bf16", "f32")  # what convert_hf_to_gguf.py writes in Python (no C binary needed)
SDIST_DOWNLOAD_BYTES = 80 * 10**6  # 0.3.36: 76.6 MB
LLAMA_CPP_INSTALL = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF" pip install --no-binary llama-cpp-python '
    "llama-cpp-python=={version}"
    "   # ~17 min on 2 CPU cores (cmake + a C++ compiler needed); -DGGML_CUDA=ON for an NVIDIA GPU"
)
# Files of the sdist's vendor/llama.cpp/ that are kept: the converter, its package, gguf-py and the licences.
_KEEP_FILES = ("convert_hf_to_gguf.py", "LICENSE", "gguf-py/LICENSE")
_KEEP_PREFIXES = ("conversion/", "gguf-py/gguf/")
_REQUIRED = ("convert_hf_to_gguf.py", "conversion/__init__.py", "conversion/base.py", "conversion/llama.py",
             "conversion/gpt_oss.py", "gguf-py/gguf/__init__.py", "gguf-py/gguf/quants.py")


class ConverterUnavailable(RuntimeError):
    """The llama.cpp converter could not be obtained (offline, no local sdist, wrong hash)."""


class ConversionError(RuntimeError):
    """convert_hf_to_gguf.py failed; the message carries the end of its log."""


# --------------------------------------------------------------------------- the pinned sdist
@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"

    @property
    def sdist_name(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}.tar.gz"


def converter_pin(requirements: str | os.PathLike = REQUIREMENTS_FILE) -> Pin:
    """The ``llama-cpp-python==X --hash=sha256:Y`` line of requirements-gguf.txt."""
    text = Path(requirements).read_text(encoding="utf-8")
    for line in text.splitlines():
        m = re.match(r"^\s*(llama-cpp-python)==([\w.]+)\s+--hash=sha256:([0-9a-f]{64})\s*$", line)
        if m:
            return Pin(*m.groups())
    raise ValueError(f"{requirements} has no pinned line `llama-cpp-python==X --hash=sha256:...`")


def converter_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or REPO_ROOT / ".cache" / "llama.cpp")


@dataclass
class Converter:
    folder: Path  # .cache/llama.cpp/<version>/ : convert_hf_to_gguf.py, conversion/, gguf-py/
    version: str
    sha256: str
    fetched: bool = False  # True when this call downloaded and extracted it
    download_seconds: float | None = None
    extract_seconds: float | None = None

    @property
    def script(self) -> Path:
        return self.folder / "convert_hf_to_gguf.py"

    @property
    def gguf_py(self) -> Path:
        return self.folder / "gguf-py"

    def info(self) -> dict:
        return {"version": self.version, "folder": str(self.folder), "sha256": self.sha256, "fetched": self.fetched,
                "download_seconds": self.download_seconds, "extract_seconds": self.extract_seconds}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _offline_help(pin: Pin) -> str:
    return (f"On a machine with network: `pip download --no-deps --no-binary :all: {pin.name}=={pin.version}`, copy "
            f"{pin.sdist_name} here and set {SDIST_ENV}=/path/to/{pin.sdist_name}. The LoRA and merged 16-bit exports "
            "do not need it.")


def _download_sdist(pin: Pin, dest: Path, *, timeout: float) -> Path:
    """pip download of the pinned sdist (hash-checked by pip). pip prepares the sdist's metadata with its build
    backend (scikit-build-core, from PyPI) in an isolated environment: that reads pyproject.toml, it builds nothing."""
    req = dest / "requirements-gguf.txt"
    req.write_text(pin.requirement + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes",
           "-r", str(req), "-d", str(dest / "dl"), "--disable-pip-version-check", "--progress-bar", "off"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ConverterUnavailable(f"downloading {pin.name}=={pin.version} from PyPI took over {timeout:.0f} s. "
                                   + _offline_help(pin)) from exc
    found = sorted((dest / "dl").glob("*.tar.gz"))
    if proc.returncode != 0 or not found:
        tail = " | ".join(ln.strip() for ln in (proc.stderr or proc.stdout).splitlines()
                          if ln.strip() and "is ignored: it is neither a file nor a directory" not in ln)[-600:]
        raise ConverterUnavailable(
            f"could not download the {pin.name}=={pin.version} source distribution from PyPI (offline?) -- it carries "
            f"llama.cpp's GGUF converter. pip said: {tail or '(nothing)'}. " + _offline_help(pin))
    return found[0]


def _extract_converter(tar_path: Path, dest: Path, version: str) -> list[str]:
    """Copy the converter's files out of the sdist (plain reads: no links, no paths outside ``dest``)."""
    import tarfile

    written = []
    with tarfile.open(tar_path, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            # <top>/vendor/llama.cpp/<rel>
            if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"] or not member.isfile():
                continue
            rel = "/".join(parts[3:])
            if not (rel in _KEEP_FILES or rel.startswith(_KEEP_PREFIXES)):
                continue
            if any(p in ("", "..") for p in parts[3:]) or "__pycache__" in parts:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            written.append(rel)
    missing = [r for r in _REQUIRED if not (dest / r).is_file()]
    if missing:
        raise ConverterUnavailable(f"{tar_path.name} does not contain the expected converter files: {missing}")
    return written


def ensure_converter(*, cache_dir: str | os.PathLike | None = None, sdist: str | os.PathLike | None = None,
                     requirements: str | os.PathLike = REQUIREMENTS_FILE, timeout: float = 900) -> Converter:
    """llama.cpp's convert_hf_to_gguf.py, extracted once from the pinned llama-cpp-python sdist.

    The sdist comes from PyPI (``pip download``) or from ``sdist`` / ``$GPT_OSS_TUTORIAL_LLAMA_CPP_SDIST``; its sha256
    must match requirements-gguf.txt. Raises ``ConverterUnavailable`` with what to do when it cannot be had.
    """
    pin = converter_pin(requirements)
    override = os.environ.get(CONVERTER_ENV)
    if override and cache_dir is None and sdist is None:
        return converter_from_folder(override, pin)
    folder = Path(cache_dir or converter_cache_dir()) / pin.version
    ready = folder / READY_FILE
    if ready.is_file():
        try:
            info = json.loads(ready.read_text(encoding="utf-8"))
            if info.get("sha256") == pin.sha256 and all((folder / r).is_file() for r in _REQUIRED):
                return Converter(folder=folder, version=pin.version, sha256=pin.sha256)
        except ValueError:
            pass
    folder.parent.mkdir(parents=True, exist_ok=True)
    sdist = sdist or os.environ.get(SDIST_ENV) or None
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder.parent) as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        if sdist:
            tar_path = Path(sdist)
            if not tar_path.is_file():
                raise ConverterUnavailable(f"{SDIST_ENV} / sdist points to {tar_path}, which does not exist. "
                                           + _offline_help(pin))
        else:
            free = shutil.disk_usage(folder.parent).free
            if free < 2 * SDIST_DOWNLOAD_BYTES:
                raise OSError(f"not enough free disk space in {folder.parent} to download the GGUF converter: needs "
                              f"about {2 * SDIST_DOWNLOAD_BYTES / 1e9:.2f} GB, {free / 1e9:.2f} GB free")
            tar_path = _download_sdist(pin, tmp, timeout=timeout)
        download_seconds = time.perf_counter() - start
        digest = _sha256(tar_path)
        if digest != pin.sha256:
            raise ConverterUnavailable(f"{tar_path} has sha256 {digest}, but requirements-gguf.txt pins {pin.sha256} "
                                       f"for {pin.name}=={pin.version}. " + _offline_help(pin))
        start = time.perf_counter()
        with atomic.atomic_dir(folder) as out:
            files = _extract_converter(tar_path, out, pin.version)
            extract_seconds = time.perf_counter() - start
            (out / READY_FILE).write_text(json.dumps({
                "package": pin.name, "version": pin.version, "sha256": pin.sha256, "source": str(sdist or "PyPI"),
                "files": len(files), "download_seconds": round(download_seconds, 2),
                "extract_seconds": round(extract_seconds, 2),
            }, indent=2) + "\n", encoding="utf-8")
    return Converter(folder=folder, version=pin.version, sha256=pin.sha256, fetched=True,
                     download_seconds=round(download_seconds, 2), extract_seconds=round(extract_seconds, 2))


def converter_from_folder(folder: str | os.PathLike, pin: Pin | None = None) -> Converter:
    """A converter extracted earlier (``.cache/llama.cpp/<version>/`` of a setup), e.g. carried to a machine without
    network and named by ``$GPT_OSS_TUTORIAL_GGUF_CONVERTER``; its files and recorded sha256 are checked."""
    pin = pin or converter_pin()
    folder = Path(folder)
    missing = [r for r in _REQUIRED if not (folder / r).is_file()]
    try:
        info = json.loads((folder / READY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if missing or info.get("sha256") != pin.sha256:
        why = f"files missing: {missing}" if missing else (
            f"its {READY_FILE} records sha256 {info.get('sha256')!r}, requirements-gguf.txt pins {pin.sha256}")
        raise ConverterUnavailable(
            f"{CONVERTER_ENV}={folder} is not the pinned GGUF converter ({why}). Point it at the "
            f".cache/llama.cpp/{pin.version}/ folder that `make setup` extracted, or unset it.")
    return Converter(folder=folder, version=pin.version, sha256=pin.sha256)


# --------------------------------------------------------------------------- child processes
def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGKILL when its parent dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def run_child(cmd: list[str], *, env: dict | None = None, timeout: float | None = None) -> tuple[int, str]:
    """Run ``cmd`` to completion in its own process group; (exit status, stdout + stderr).

    The child never outlives this process: on an exception here (KeyboardInterrupt, timeout) its whole group is
    killed, and on Linux it is also killed by the kernel if this process dies without cleaning up.
    """
    import signal

    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True, preexec_fn=preexec, encoding="utf-8", errors="replace")
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        raise
    return proc.returncode, out or ""


# --------------------------------------------------------------------------- running the converter
def bpe_pre_tokenizer_fallback(model_dir: str | os.PathLike) -> str | None:
    """The llama.cpp pre-tokenizer name to write when the converter does not know the tokenizer.

    The converter recognises a BPE tokenizer by hashing how it splits a fixed text; a tokenizer trained here (the
    tiny-gpt-oss one) has no known hash and the converter stops. Its ``tokenizer.json`` says what it really is: a plain
    ``ByteLevel`` pre-tokenizer with the GPT-2 regex is llama.cpp's ``gpt-2``. Anything else: None (no guess).
    """
    path = Path(model_dir) / "tokenizer.json"
    try:
        pre = json.loads(path.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    except (OSError, ValueError):
        return None
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    return None


@dataclass
class ConvertResult:
    path: Path
    outtype: str
    seconds: float
    command: list[str]
    warnings: list[str] = field(default_factory=list)  # the converter's WARNING lines, layer numbers folded
    pre_tokenizer_fallback: str | None = None  # set when the converter did not know the tokenizer
    printed_types: dict = field(default_factory=dict)  # {tensor: type} from the converter's own log


_FALLBACK_MARK = "gpt_oss_tutorial: pre-tokenizer fallback"


def _fold_warning(line: str) -> str:
    return re.sub(r"(layers|blk)\.\d+\.", r"\1.*.", line.strip())


def convert(model_dir: str | os.PathLike, outfile: str | os.PathLike, *, outtype: str = "f16",
            converter: Converter | None = None, log_path: str | os.PathLike | None = None,
            timeout: float | None = None) -> ConvertResult:
    """``python convert_hf_to_gguf.py MODEL_DIR --outtype T --outfile F`` with the vendored gguf-py.

    ``model_dir`` is a Hugging Face folder of safetensors (the merged 16-bit export). The log goes to ``log_path``.
    """
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {', '.join(OUTTYPES)}, got {outtype!r}")
    converter = converter or ensure_converter()
    model_dir, outfile = Path(model_dir), Path(outfile)
    pre = bpe_pre_tokenizer_fallback(model_dir) or "-"
    args = [str(model_dir), "--outtype", outtype, "--outfile", str(outfile)]
    cmd = [sys.executable, "-m", "gpt_oss_tutorial.gguf_tools", "run-converter", str(converter.folder), pre, "--",
           *args]
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)
    # the vendored gguf-py first (the converter needs its newer code), then whatever the caller's path had
    path = [str(converter.gguf_py), str(REPO_ROOT / "scripts")]
    path += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(PYTHONPATH=os.pathsep.join(path),
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONIOENCODING="utf-8")
    start = time.perf_counter()
    try:
        returncode, log = run_child(cmd, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ConversionError(f"convert_hf_to_gguf.py ran longer than {timeout} s on {model_dir}") from exc
    seconds = time.perf_counter() - start
    if log_path:
        Path(log_path).write_text(log, encoding="utf-8")
    if returncode != 0 or not outfile.is_file():
        tail = "\n".join(log.strip().splitlines()[-12:])
        raise ConversionError(f"convert_hf_to_gguf.py failed on {model_dir} (exit {returncode}):\n{tail}")
    warnings = []
    for line in log.splitlines():
        message = line.split(":", 2)[-1].strip() if line.startswith("WARNING:") else ""
        if message and not message.startswith("**"):  # "**" lines: the converter's banner for unknown tokenizers
            folded = _fold_warning(message)
            if folded not in warnings:
                warnings.append(folded)
    fallback = pre if _FALLBACK_MARK in log else None
    shown = [sys.executable, str(converter.script), *args]
    return ConvertResult(path=outfile, outtype=outtype, seconds=round(seconds, 2), command=shown, warnings=warnings,
                         pre_tokenizer_fallback=fallback, printed_types=printed_tensor_types(log))


def printed_tensor_types(log: str) -> dict:
    """Storage type per tensor as the converter printed it (``INFO:hf-to-gguf:blk.0.ffn_up_exps.weight, torch.bfloat16
    --> F16, shape = {...}``): {gguf tensor name: type}."""
    found = {}
    for m in re.finditer(r"^INFO:hf-to-gguf:([\w.]+),\s+[\w.]+\s+-->\s+(\w+),", log, re.M):
        found[m.group(1)] = m.group(2)
    return found


def _run_converter(argv: list[str]) -> None:
    """Subprocess entry: ``python -m gpt_oss_tutorial.gguf_tools run-converter DIR PRE -- <converter args>``.

    Runs the vendored convert_hf_to_gguf.py unchanged, except that a tokenizer it does not recognise gets the
    pre-tokenizer ``PRE`` (computed from its tokenizer.json, see ``bpe_pre_tokenizer_fallback``) instead of an error.
    """
    import runpy

    folder, pre, sep, *rest = argv
    if sep != "--":
        raise SystemExit("usage: run-converter DIR PRE -- <convert_hf_to_gguf.py arguments>")
    folder = Path(folder)
    sys.path[:0] = [str(folder), str(folder / "gguf-py")]
    if pre != "-":
        import conversion.base as base  # the converter's own package (vendored next to the script)

        original = base.TextModel.get_vocab_base_pre

        def get_vocab_base_pre(self, tokenizer):
            try:
                return original(self, tokenizer)
            except NotImplementedError:
                base.logger.warning(f"{_FALLBACK_MARK}: the converter does not know this BPE tokenizer; its "
                                    f"tokenizer.json uses a ByteLevel pre-tokenizer with the GPT-2 regex, so "
                                    f"tokenizer.ggml.pre = {pre!r}")
                return pre

        base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    script = folder / "convert_hf_to_gguf.py"
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")


# --------------------------------------------------------------------------- reading GGUF back
@dataclass
class GGUFSummary:
    path: Path
    size_bytes: int
    architecture: str
    file_type: str
    metadata: dict
    tensor_types: dict  # type name -> number of tensors
    tensors: list  # [{"name", "type", "shape"}] (shape in numpy order)

    def types_of(self, pattern: str) -> dict:
        """Tensor types of the tensors whose name matches ``pattern`` (regex), e.g. r"ffn_.*_exps\\.weight"."""
        out: dict[str, int] = {}
        for t in self.tensors:
            if re.search(pattern, t["name"]):
                out[t["type"]] = out.get(t["type"], 0) + 1
        return out


def _field_value(field_):
    try:
        value = field_.contents()
    except Exception:  # noqa: BLE001 - a field gguf-py cannot decode is just left out
        return None
    if isinstance(value, list) and len(value) > 16:
        return f"<{len(value)} items>"
    return value


def read_gguf(path: str | os.PathLike) -> GGUFSummary:
    """Metadata (large arrays summarised) and the type and shape of every tensor."""
    import gguf

    path = Path(path)
    reader = gguf.GGUFReader(str(path))
    metadata = {}
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                               "tokenizer.ggml.merges", "tokenizer.ggml.scores"):
            if key.startswith("tokenizer.ggml."):
                metadata[key] = f"<{len(f.data)} items>"
            continue
        metadata[key] = _field_value(f)
    tensors, types = [], {}
    for t in reader.tensors:
        name = t.tensor_type.name
        types[name] = types.get(name, 0) + 1
        tensors.append({"name": t.name, "type": name, "shape": [int(s) for s in reversed(t.shape)]})
    arch = metadata.get("general.architecture") or "?"
    ft = metadata.get("general.file_type")
    try:
        file_type = gguf.LlamaFileType(int(ft)).name if ft is not None else "?"
    except ValueError:
        file_type = str(ft)
    return GGUFSummary(path=path, size_bytes=path.stat().st_size, architecture=arch, file_type=file_type,
                       metadata=metadata, tensor_types=types, tensors=tensors)


def _safetensors_tensors(model_dir: Path):
    """(name, tensor) of every tensor in a model folder, one at a time (a 20B model never sits in memory twice)."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {model_dir}")
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():
                yield name, st.get_tensor(name)


def gpt_oss_expected_tensors(name: str, tensor, name_map):
    """What convert_hf_to_gguf.py writes for one HF gpt-oss tensor: [(gguf name, float32 numpy array)].

    Mirrors ``conversion/gpt_oss.py``: sinks get ``.weight``; fused experts are transposed to (E, out, in);
    ``gate_up_proj`` and its bias are split into even (gate) and odd (up) columns; everything else maps by name.
    """
    x = tensor.float()
    if name.endswith("mlp.experts.gate_up_proj"):
        t = x.transpose(-1, -2)
        base = name.replace("gate_up_proj", "")
        return [(name_map.get_name(base + "gate_proj.weight", try_suffixes=(".weight",)), t[:, ::2, :]),
                (name_map.get_name(base + "up_proj.weight", try_suffixes=(".weight",)), t[:, 1::2, :])]
    if name.endswith("mlp.experts.gate_up_proj_bias"):
        base = name.replace("gate_up_proj_bias", "")
        return [(name_map.get_name(base + "gate_proj.bias", try_suffixes=(".bias",)), x[..., ::2]),
                (name_map.get_name(base + "up_proj.bias", try_suffixes=(".bias",)), x[..., 1::2])]
    if name.endswith("mlp.experts.down_proj"):
        return [(name_map.get_name(name + ".weight", try_suffixes=(".weight",)), x.transpose(-1, -2))]
    if name.endswith("mlp.experts.down_proj_bias"):
        return [(name_map.get_name(name.replace("down_proj_bias", "down_proj.bias"), try_suffixes=(".bias",)), x)]
    if name.endswith("sinks"):
        name += ".weight"
    return [(name_map.get_name(name, try_suffixes=(".weight", ".bias")), x)]


def _within_bound(qtype: str, expected, got):
    """(max |diff|, bound-respected?) for one tensor stored as ``qtype``.

    F32 and BF16 hold bf16 values exactly; F16 rounds to 11 significant bits (|d| <= 2^-11 |w| + 2^-24, the second term
    for values below f16's normal range); Q8_0 stores blocks of 32 as int8 times an f16 scale max|block|/127, so each
    value is within that scale of the original.
    """
    import numpy as np

    diff = np.abs(got - expected)
    max_diff = float(diff.max()) if diff.size else 0.0
    if qtype in ("F32", "BF16"):
        return max_diff, max_diff == 0.0
    if qtype == "F16":
        return max_diff, bool(np.all(diff <= np.abs(expected) * 2.0**-11 + 2.0**-24))
    if qtype == "Q8_0" and expected.shape[-1] % 32 == 0:
        blocks = expected.reshape(-1, 32)
        scale = np.abs(blocks).max(axis=1, keepdims=True) / 127.0
        return max_diff, bool(np.all(diff.reshape(-1, 32) <= scale * (1 + 2.0**-10) + 1e-12))
    return max_diff, None


def compare_gpt_oss_weights(gguf_path: str | os.PathLike, model_dir: str | os.PathLike) -> dict:
    """De-quantize every tensor of a gpt-oss GGUF and compare it with the HF safetensors it was made from, one
    tensor at a time."""
    import gguf
    import numpy as np

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GPT_OSS, int(config["num_hidden_layers"]))
    reader = gguf.GGUFReader(str(gguf_path))
    in_gguf = {t.name: t for t in reader.tensors}
    rows, missing, unmapped, seen = [], [], [], set()
    for name, tensor in _safetensors_tensors(model_dir):
        for gname, arr in gpt_oss_expected_tensors(name, tensor, name_map):
            if gname is None:
                unmapped.append(name)
                continue
            if gname not in in_gguf:
                missing.append(gname)
                continue
            seen.add(gname)
            t = in_gguf[gname]
            exp = arr.contiguous().numpy().astype(np.float32)
            got = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
            if got.size != exp.size:
                rows.append({"name": gname, "type": t.tensor_type.name, "shape": list(exp.shape),
                             "max_abs_diff": None, "max_rel_diff": None, "within_bound": False,
                             "error": f"size {got.size} != {exp.size}"})
                continue
            max_diff, ok = _within_bound(t.tensor_type.name, exp, got.reshape(exp.shape))
            scale = float(np.abs(exp).max()) or 1.0
            rows.append({"name": gname, "type": t.tensor_type.name, "shape": list(exp.shape),
                         "max_abs_diff": max_diff, "max_rel_diff": max_diff / scale, "within_bound": ok})
            del exp, got
    extra = sorted(set(in_gguf) - seen)
    bounded = [r for r in rows if r["within_bound"] is not None]
    worst = max(rows, key=lambda r: r["max_rel_diff"] if r["max_rel_diff"] is not None else float("inf"),
                default=None)
    return {
        "tensors_compared": len(rows),
        "missing_in_gguf": sorted(missing),
        "not_in_model": extra,
        "unmapped": unmapped,
        "max_abs_diff": max((r["max_abs_diff"] for r in rows if r["max_abs_diff"] is not None), default=None),
        "max_rel_diff": max((r["max_rel_diff"] for r in rows if r["max_rel_diff"] is not None), default=None),
        "worst_tensor": worst["name"] if worst else None,
        "all_within_bounds": bool(rows) and not missing and not extra and not unmapped
        and all(r["within_bound"] for r in bounded) and len(bounded) == len(rows),
        "rows": rows,
    }


# --------------------------------------------------------------------------- Ollama
# Go template (Ollama) rendering Harmony like our chat template: the system block (with Ollama's date and think
# level), the SYSTEM prompt as the developer block ("# Instructions\n\n...\n\n<|end|>", as the gpt-oss template
# writes it), user turns, earlier assistant turns as their final message only, then "<|start|>assistant".
OLLAMA_TEMPLATE = (
    "<|start|>system<|message|>" + harmony.MODEL_IDENTITY + "\n"
    "Knowledge cutoff: " + harmony.KNOWLEDGE_CUTOFF + "\n"
    "Current date: {{ currentDate }}\n\n"
    "Reasoning: {{ if .ThinkLevel }}{{ .ThinkLevel }}{{ else }}medium{{ end }}\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>\n"
    "{{- if .System }}<|start|>developer<|message|># Instructions\n\n{{ .System }}\n\n<|end|>\n{{- end }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" }}<|start|>user<|message|>{{ .Content }}<|end|>\n'
    '{{- else if eq .Role "assistant" }}<|start|>assistant<|channel|>final<|message|>{{ .Content }}<|end|>\n'
    "{{- end }}\n"
    "{{- end }}<|start|>assistant"
)


def modelfile_text(gguf_name: str = "model.gguf", *, system: str | None = None, num_ctx: int | None = None,
                   temperature: float | None = None, title: str | None = None) -> str:
    """An Ollama Modelfile for a Harmony model: FROM, the Harmony TEMPLATE, and both Harmony stop tokens."""
    if '"""' in OLLAMA_TEMPLATE or (system and '"""' in system):
        raise ValueError('a Modelfile block cannot contain """')
    lines = [
        f"# Ollama Modelfile{': ' + title if title else ''} (written by gpt_oss_tutorial.export)",
        "#   ollama create my-model -f Modelfile",
        "#   ollama run my-model      then e.g. `/set system reasoning language: French`",
        "# SYSTEM (or /set system) becomes the Harmony developer message; generation stops on <|return|> (final",
        "# answer) and <|call|> (tool call), never on <|end|>, which only closes the analysis message.",
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{OLLAMA_TEMPLATE}"""',
    ]
    lines += [f'PARAMETER stop "{t}"' for t in harmony.STOP_TOKENS]
    if num_ctx:
        lines.append(f"PARAMETER num_ctx {int(num_ctx)}")
    if temperature is not None:
        lines.append(f"PARAMETER temperature {temperature}")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def write_modelfile(folder: str | os.PathLike, gguf_name: str = "model.gguf", **kwargs) -> Path:
    return atomic.write_text(Path(folder) / "Modelfile", modelfile_text(gguf_name, **kwargs))


# --------------------------------------------------------------------------- llama.cpp (optional)
def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def llama_cpp_generate(gguf_path: str | os.PathLike, prompt: str, *, max_tokens: int = 64, n_ctx: int = 2048) -> str:
    """Greedy completion of a Harmony prompt with llama.cpp (``llama-cpp-python``, built from source).

    The only way to run a gpt-oss GGUF from Python here: transformers cannot load gpt-oss GGUFs.
    """
    if not llama_cpp_available():
        raise RuntimeError("llama-cpp-python is not installed (PyPI has no binary wheel). Build it with:\n    "
                           + LLAMA_CPP_INSTALL.format(version=converter_pin().version))
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf_path), n_ctx=n_ctx, verbose=False)
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    out = []
    stop_ids = {llm.tokenize(t.encode("utf-8"), add_bos=False, special=True)[0] for t in harmony.STOP_TOKENS}
    for token in llm.generate(tokens, temp=0.0, top_k=1):
        if token in stop_ids or token == llm.token_eos() or len(out) >= max_tokens:
            break
        out.append(token)
    return llm.detokenize(out, special=True).decode("utf-8", errors="replace")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run-converter":
        _run_converter(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m gpt_oss_tutorial.gguf_tools run-converter DIR PRE -- <converter args>")
