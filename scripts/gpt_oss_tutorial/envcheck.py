"""Preflight: what to fix on this machine *before* 20 GB of downloads.

Every fact about the machine comes from one ``Probes`` object (kernel string, environment variables, ``nvidia-smi``,
torch, installed versions, disk, memory, hub reachability), so the tests can simulate a WSL2 laptop, a 16 GB card,
a full disk or a Windows-mounted cache without owning any of them. ``run_checks`` turns the facts into a list of
``Check`` rows (status ``ok`` / ``warn`` / ``fail``, each with a concrete fix) and a verdict: which presets fit here
and whether the chosen one can run.

    report = run_checks("gpt-oss-20b")
    render_table(report)      # rich table, terminal or Jupyter
    require(report)           # raises EnvironmentNotReady when the preset cannot run here

Standard library only at import time (torch, rich, psutil and packaging are imported inside the functions that
use them), so ``python3 scripts/check_env.py`` runs on a bare Python before anything is installed.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from . import torch_choice
from .presets import CPU_TUTORIAL, PRESETS, Preset, auto_preset_name, get_preset

REPO_ROOT = Path(__file__).resolve().parents[2]

OK, WARN, FAIL = "ok", "warn", "fail"
_SEVERITY = {OK: 0, WARN: 1, FAIL: 2}

GUIDE = "env/WSL2.md"
# Section links of the WSL2 guide (GitHub heading anchors); tests check that each one exists in env/WSL2.md.
SECTION = {
    "wsl2": f"{GUIDE}#check-wsl2",
    "driver": f"{GUIDE}#nvidia-driver-on-windows-only",
    "no_linux_driver": f"{GUIDE}#no-linux-driver-inside-wsl",
    "conda": f"{GUIDE}#conda-environment",
    "cache": f"{GUIDE}#hugging-face-cache-on-the-linux-filesystem",
    "memory": f"{GUIDE}#memory-and-swap-with-wslconfig",
    "disk": f"{GUIDE}#disk-space",
    "vram": f"{GUIDE}#gpu-memory",
    "torch": f"{GUIDE}#pytorch-and-cuda-versions",
    "pins": f"{GUIDE}#pinned-versions",
    "offline": f"{GUIDE}#working-offline",
}

NVIDIA_SMI_QUERY = (
    "--query-gpu=name,memory.total,memory.free,driver_version,compute_cap",
    "--format=csv,noheader,nounits",
)
HF_ENDPOINT = "https://huggingface.co"
HUB_TIMEOUT_S = 3.0
MIN_PYTHON = (3, 11)  # TRL 1.15 (GPU set) and 1.16 (CPU set) require Python >= 3.11
FIX_PYTHON = (
    "install Python 3.11 or newer, then run setup with it: conda (`conda env create -f environment.yml && conda "
    "activate gpt-oss`); Ubuntu 22.04: deadsnakes (`sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt install "
    "python3.11 python3.11-venv`, then `make setup PYTHON=python3.11`); or uv (`uv python install 3.11`, then "
    "`make setup PYTHON=$(uv python find 3.11)`)"
)

# Free disk where the Hugging Face cache lives, in GiB: (fail below, warn below). gpt-oss-20b: the 4-bit download is
# ~13 GB, a merged 16-bit export ~42 GB more. gpt-oss-120b: ~65 GB download, ~235 GB merged in 16 bit.
DISK_NEEDS_GIB: dict[str, tuple[float, float]] = {
    "gpt-oss-20b": (15.0, 60.0),
    "gpt-oss-120b": (70.0, 310.0),
    "smollm2-135m": (1.0, 3.0),
    "tiny-gpt-oss": (0.5, 1.0),
}
DISK_WHY: dict[str, str] = {
    "gpt-oss-20b": "~13 GB download + ~42 GB merged 16-bit export",
    "gpt-oss-120b": "~65 GB download + ~235 GB merged 16-bit export",
    "smollm2-135m": "~0.3 GB model + checkpoints",
    "tiny-gpt-oss": "built locally, a few MB",
}
# RAM (GiB as reported by the OS; a "16 GB" machine or .wslconfig memory=16GB reports ~15.5 GiB).
RAM_WARN_GPU_GIB = 15.0
RAM_WARN_CPU_GIB = 4.0

LIBCUDA_WSL = ("/usr/lib/wsl/lib/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so", "/usr/lib/wsl/lib/libcuda.so.1.1")
# Where a Linux NVIDIA driver package puts libcuda; inside WSL2 it shadows the one WSL provides.
LIBCUDA_LINUX = (
    "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
    "/usr/lib/x86_64-linux-gnu/libcuda.so",
    "/usr/lib64/libcuda.so.1",
    "/usr/lib/libcuda.so.1",
    "/usr/lib/aarch64-linux-gnu/libcuda.so.1",
)
WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"

FIX_REMOVE_LINUX_DRIVER = (
    "uninstall the Linux driver inside WSL; install only the Windows driver: "
    "`sudo apt-get remove --purge '^nvidia-.*' '^libnvidia-.*' && sudo apt-get autoremove`, then `wsl --shutdown` "
    f"from Windows ({SECTION['no_linux_driver']})"
)
FIX_WINDOWS_DRIVER = (
    "install or update the NVIDIA driver on Windows (https://www.nvidia.com/Download/index.aspx), not inside WSL; "
    f"then run `wsl --shutdown` in PowerShell and reopen the terminal ({SECTION['driver']})"
)
FIX_HF_HOME = (
    "keep the cache on the Linux filesystem: `echo 'export HF_HOME=~/.cache/huggingface' >> ~/.bashrc && "
    f"source ~/.bashrc` ({SECTION['cache']})"
)


class EnvironmentNotReady(RuntimeError):
    """The chosen preset cannot run on this machine; the message says what to fix."""


class CommandResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str = ""


# ----------------------------------------------------------------------------------------------------------------
# Probes: the only place that touches the machine


@dataclass
class Probes:
    """Everything ``run_checks`` knows about the machine. ``Probes.real()`` asks this machine; tests inject fakes."""

    system: Callable[[], str]  # platform.system(): "Linux", "Windows", "Darwin"
    kernel_release: Callable[[], str]  # platform.release(): "5.15.167.4-microsoft-standard-WSL2"
    env: Mapping[str, str]  # environment variables
    path_exists: Callable[[str], bool]
    realpath: Callable[[str], str]  # resolves symlinks (a cache linked to /mnt/d is on /mnt/d)
    which: Callable[[str], "str | None"]  # shutil.which
    run_command: Callable[[Sequence[str]], "CommandResult | tuple | None"]  # None: executable not found
    torch_info: Callable[[], "dict | None"]  # None: torch not installed
    package_versions: Callable[[Iterable[str]], "dict[str, str | None]"]  # None: not installed
    disk_usage: Callable[[str], tuple]  # (total, used, free) bytes, like shutil.disk_usage
    memory: Callable[[], "tuple | None"]  # (ram_total, ram_available, swap_total) bytes
    python_version: tuple  # (major, minor, micro)
    hub_reachable: Callable[[str, float], "tuple[bool, str]"]  # (reachable, detail); never called when offline
    repo_root: Path = REPO_ROOT  # where requirements.txt and requirements-cpu.txt live
    home: str = field(default_factory=lambda: os.path.expanduser("~"))

    @classmethod
    def real(cls) -> "Probes":
        return cls(
            system=platform.system,
            kernel_release=platform.release,
            env=dict(os.environ),
            path_exists=os.path.exists,
            realpath=os.path.realpath,
            which=shutil.which,
            run_command=_run_command,
            torch_info=_torch_info,
            package_versions=_package_versions,
            disk_usage=lambda path: tuple(shutil.disk_usage(path)),
            memory=_memory,
            python_version=tuple(sys.version_info[:3]),
            hub_reachable=_hub_head,
            repo_root=REPO_ROOT,
            home=os.path.expanduser("~"),
        )


def _run_command(argv: Sequence[str], timeout: float = 20.0) -> CommandResult | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"{argv[0]} did not answer within {timeout:g} s")
    except OSError as exc:
        return CommandResult(126, "", str(exc))
    return CommandResult(done.returncode, done.stdout, done.stderr)


def _torch_info() -> dict | None:
    try:
        import torch  # lazy: a second or two, and only here
    except Exception:  # noqa: BLE001 - not installed or broken install: both mean "no usable torch"
        return None
    info: dict[str, Any] = {"version": torch.__version__, "cuda": torch.version.cuda, "cuda_available": False}
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            props = torch.cuda.get_device_properties(0)
            info.update(
                device_name=props.name,
                total_gib=props.total_memory / 2**30,
                capability=f"{props.major}.{props.minor}",
                bf16=bool(torch.cuda.is_bf16_supported()),
            )
    except Exception as exc:  # noqa: BLE001 - report, don't crash the preflight
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def _package_versions(names: Iterable[str]) -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in names:
        version = None
        for candidate in dict.fromkeys([name, name.replace("-", "_"), name.replace("_", "-")]):
            try:
                version = metadata.version(candidate)
                break
            except metadata.PackageNotFoundError:
                continue
        found[name] = version
    return found


def _memory() -> tuple | None:
    try:
        import psutil
    except ImportError:
        return _memory_from_proc()
    vm = psutil.virtual_memory()
    return (vm.total, vm.available, psutil.swap_memory().total)


def _memory_from_proc(path: str = "/proc/meminfo") -> tuple | None:
    """(ram_total, ram_available, swap_total) bytes from Linux's /proc/meminfo: the preflight runs before psutil."""
    try:
        with open(path, encoding="utf-8") as fh:
            kib = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in fh if ":" in line)}
        return (kib["MemTotal"] * 1024, kib.get("MemAvailable", kib.get("MemFree", 0)) * 1024,
                kib.get("SwapTotal", 0) * 1024)
    except (OSError, KeyError, ValueError):
        return None


def _hub_head(url: str, timeout: float = HUB_TIMEOUT_S) -> tuple[bool, str]:
    """HEAD ``url``; the whole attempt (DNS included) is bounded by ``timeout`` through a daemon thread."""
    import urllib.error
    import urllib.request

    result: dict[str, tuple[bool, str]] = {}

    def attempt() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - fixed https URL
                result["r"] = (True, f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:  # the server answered: reachable
            result["r"] = (True, f"HTTP {exc.code}")
        except Exception as exc:  # noqa: BLE001
            result["r"] = (False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return result.get("r", (False, f"no answer within {timeout:g} s"))


# ----------------------------------------------------------------------------------------------------------------
# Report types


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    value: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in _SEVERITY:
            raise ValueError(f"status must be ok, warn or fail, not {self.status!r}")


@dataclass
class EnvReport:
    checks: list[Check]
    recommended_preset: str
    fitting_presets: dict[str, str]  # preset name -> why it fits
    preset: str  # the preset the checks were judged for ("auto" resolved)
    preset_ok: bool
    message: str
    requested_preset: str = "auto"
    unfit_presets: dict[str, str] = field(default_factory=dict)  # preset name -> why it does not fit
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def fails(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warns(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self.checks]}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict: ``{"checks": [{name, status, value, fix}], "recommended_preset": ...}`` + more."""
        return {
            "checks": [asdict(c) for c in self.checks],
            "recommended_preset": self.recommended_preset,
            "preset": self.preset,
            "requested_preset": self.requested_preset,
            "preset_ok": self.preset_ok,
            "fitting_presets": dict(self.fitting_presets),
            "unfit_presets": dict(self.unfit_presets),
            "message": self.message,
            "machine": dict(self.machine),
        }


# ----------------------------------------------------------------------------------------------------------------
# Facts: probes called once each, parsed


@dataclass
class _Gpu:
    name: str
    total_gib: float | None
    free_gib: float | None
    driver: str
    capability: str | None


@dataclass
class _Facts:
    system: str
    kernel: str
    env: Mapping[str, str]
    wsl: int  # 0 = not WSL, 1 = WSL1, 2 = WSL2
    smi_path: str | None
    smi_error: str | None  # nvidia-smi present but failed
    gpus: list[_Gpu]
    driver_cuda: str | None  # "CUDA Version" of the nvidia-smi header: the newest CUDA the driver supports
    torch: dict | None
    hub_cache: str  # resolved (symlinks followed)
    offline_flag: str | None  # the variable that forces offline mode
    hub: tuple[bool, str] | None  # None when not probed (offline flag)

    @property
    def gpu(self) -> _Gpu | None:
        return self.gpus[0] if self.gpus else None

    @property
    def vram_gib(self) -> float:
        gpu = self.gpu
        return float(gpu.total_gib) if gpu and gpu.total_gib else 0.0


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def detect_wsl(kernel_release: str, env: Mapping[str, str], path_exists: Callable[[str], bool]) -> int:
    """0 when not under WSL, else the WSL version (1 or 2) from the kernel string, the env and /usr/lib/wsl/lib."""
    release = kernel_release or ""
    if re.match(r"^4\.4\.0-\d+-Microsoft", release):  # WSL1's fake kernel: "4.4.0-19041-Microsoft"
        return 1
    if "microsoft" in release.lower() or "wsl" in release.lower():  # "5.15.167.4-microsoft-standard-WSL2"
        return 2
    if env.get("WSL_DISTRO_NAME") or env.get("WSL_INTEROP") or path_exists("/usr/lib/wsl/lib"):
        return 2  # only WSL2 runs custom kernels, whose release string need not say "microsoft"
    return 0


def hf_hub_cache(env: Mapping[str, str], home: str) -> str:
    """Where huggingface_hub downloads to: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""

    def expand(p: str) -> str:
        return home + p[1:] if p == "~" or p.startswith("~/") else p

    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return expand(env[var])
    hf_home = env.get("HF_HOME") or os.path.join(expand(env.get("XDG_CACHE_HOME") or "~/.cache"), "huggingface")
    return os.path.join(expand(hf_home), "hub")


def parse_nvidia_smi(text: str) -> list[_Gpu]:
    """Parse ``--query-gpu=name,memory.total,memory.free,driver_version,compute_cap --format=csv,noheader,nounits``."""

    def number(s: str) -> float | None:
        try:
            return float(s)
        except ValueError:  # "[N/A]", "[Not Supported]"
            return None

    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.rsplit(",", 4)]
        if len(parts) == 4:  # queried without compute_cap (old driver)
            parts.append("")
        if len(parts) != 5:
            continue
        name, total, free, driver, cap = parts
        total_mib, free_mib = number(total), number(free)
        gpus.append(
            _Gpu(
                name=name,
                total_gib=None if total_mib is None else total_mib / 1024,
                free_gib=None if free_mib is None else free_mib / 1024,
                driver=driver,
                capability=cap if number(cap) is not None else None,
            )
        )
    return gpus


def _run(probes: Probes, argv: Sequence[str]) -> CommandResult | None:
    result = probes.run_command(list(argv))
    return None if result is None else CommandResult(*result)


def _gather(probes: Probes) -> _Facts:
    env = dict(probes.env)
    kernel = probes.kernel_release() or ""
    wsl = detect_wsl(kernel, env, probes.path_exists)

    smi = probes.which("nvidia-smi")
    if smi is None and wsl and probes.path_exists(WSL_NVIDIA_SMI):  # /usr/lib/wsl/lib not on PATH
        smi = WSL_NVIDIA_SMI
    gpus: list[_Gpu] = []
    smi_error = None
    driver_cuda = None
    if smi is not None:
        result = _run(probes, [smi, *NVIDIA_SMI_QUERY])
        if result is not None and result.returncode != 0 and "compute_cap" in (result.stdout + result.stderr):
            # drivers older than ~510 do not know the compute_cap field
            result = _run(probes, [smi, NVIDIA_SMI_QUERY[0].replace(",compute_cap", ""), NVIDIA_SMI_QUERY[1]])
        if result is None:
            smi = None
        elif result.returncode != 0:
            lines = (result.stderr + "\n" + result.stdout).strip().splitlines()
            smi_error = lines[0].strip() if lines else f"exit code {result.returncode}"
        else:
            gpus = parse_nvidia_smi(result.stdout)
            if not gpus:
                smi_error = "nvidia-smi lists no GPU"
            header = _run(probes, [smi])
            if header is not None and header.returncode == 0:
                m = re.search(r"CUDA Version:\s*([0-9]+\.[0-9]+)", header.stdout)
                driver_cuda = m.group(1) if m else None

    torch = probes.torch_info()
    if not gpus and torch and torch.get("cuda_available") and torch.get("total_gib"):
        # no nvidia-smi (some containers) but torch sees a GPU: trust torch
        gpus = [
            _Gpu(
                name=str(torch.get("device_name", "CUDA GPU")),
                total_gib=float(torch["total_gib"]),
                free_gib=None,
                driver="?",
                capability=torch.get("capability"),
            )
        ]

    cache = hf_hub_cache(env, probes.home)
    try:
        cache = probes.realpath(cache)
    except OSError:
        pass

    offline_flag = next((v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if _truthy(env.get(v))), None)
    hub = None if offline_flag else probes.hub_reachable(env.get("HF_ENDPOINT") or HF_ENDPOINT, HUB_TIMEOUT_S)

    return _Facts(
        system=probes.system() or "",
        kernel=kernel,
        env=env,
        wsl=wsl,
        smi_path=smi,
        smi_error=smi_error,
        gpus=gpus,
        driver_cuda=driver_cuda,
        torch=torch,
        hub_cache=cache,
        offline_flag=offline_flag,
        hub=hub,
    )


# ----------------------------------------------------------------------------------------------------------------
# Checks: facts + the preset being judged -> Check rows


def _gib(x: float) -> str:
    return f"{x:.1f} GiB"


def _on_windows_mount(path: str) -> bool:
    return re.match(r"^/mnt/[A-Za-z](/|$)", path or "") is not None


def _check_python(version: tuple) -> Check:
    v = ".".join(str(x) for x in version[:3])
    if tuple(version[:2]) < MIN_PYTHON:
        return Check(
            "Python",
            FAIL,
            f"{v} (needs >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]}: the pinned sets' TRL requires it)",
            f"{FIX_PYTHON} ({SECTION['conda']})",
        )
    return Check("Python", OK, v)


def _check_os(f: _Facts, p: Preset) -> Check:
    if f.wsl == 1:
        distro = f.env.get("WSL_DISTRO_NAME") or "<distro>"
        return Check(
            "OS",
            FAIL if p.needs_cuda else WARN,
            f"WSL1 (kernel {f.kernel}): no GPU access",
            f"convert the distro to WSL2 in PowerShell: `wsl --set-version {distro} 2` ({SECTION['wsl2']})",
        )
    if f.wsl == 2:
        distro = f.env.get("WSL_DISTRO_NAME")
        return Check("OS", OK, f"WSL2{f' ({distro})' if distro else ''}, kernel {f.kernel}")
    if f.system == "Windows":
        return Check(
            "OS",
            WARN,
            f"native Windows ({f.kernel})",
            f"the tutorial targets Linux: run it inside WSL2 (`wsl --install -d Ubuntu`, then {SECTION['wsl2']})",
        )
    if f.system == "Darwin":
        return Check(
            "OS",
            FAIL if p.needs_cuda else OK,
            f"macOS {f.kernel}: no CUDA",
            "" if not p.needs_cuda else f"use the CPU tutorial (PRESET=\"{CPU_TUTORIAL}\") or a Linux/cloud CUDA GPU",
        )
    return Check("OS", OK, f"{f.system or 'unknown'} {f.kernel}".strip())


def _check_wsl_driver(f: _Facts, p: Preset, probes: Probes) -> Check | None:
    if f.wsl != 2:
        return None
    bad = FAIL if p.needs_cuda else WARN
    linux_libcuda = []
    for path in LIBCUDA_LINUX:
        if probes.path_exists(path):
            try:
                target = probes.realpath(path)
            except OSError:
                target = path
            if not target.startswith("/usr/lib/wsl/"):  # containers on WSL link into /usr/lib/wsl: fine
                linux_libcuda.append(path)
    linux_smi = f.smi_path if f.smi_path and not f.smi_path.startswith("/usr/lib/wsl/") else None
    if linux_libcuda or linux_smi:
        found = ", ".join([*linux_libcuda, *([f"nvidia-smi at {linux_smi}"] if linux_smi else [])])
        return Check("WSL2 GPU driver", bad, f"a Linux NVIDIA driver is installed inside WSL ({found})",
                     FIX_REMOVE_LINUX_DRIVER)
    if not probes.path_exists("/usr/lib/wsl/lib"):
        return Check("WSL2 GPU driver", bad, "/usr/lib/wsl/lib is missing: the Windows driver exposes no GPU",
                     FIX_WINDOWS_DRIVER)
    if not any(probes.path_exists(p_) for p_ in LIBCUDA_WSL):
        return Check("WSL2 GPU driver", bad, "no libcuda in /usr/lib/wsl/lib", FIX_WINDOWS_DRIVER)
    return Check("WSL2 GPU driver", OK, "libcuda from the Windows driver (/usr/lib/wsl/lib)")


def _driver_fix(f: _Facts) -> str:
    if f.wsl:
        return FIX_WINDOWS_DRIVER
    if f.system == "Darwin":
        return f"no CUDA on macOS: use the CPU tutorial (PRESET=\"{CPU_TUTORIAL}\") or a cloud GPU"
    return (
        "install the NVIDIA driver (Ubuntu: `sudo ubuntu-drivers install && sudo reboot`; "
        "https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/), or run the CPU tutorial "
        f"(PRESET=\"{CPU_TUTORIAL}\")"
    )


def _check_driver(f: _Facts, p: Preset) -> Check:
    bad = FAIL if p.needs_cuda else WARN
    if f.smi_path is None and not f.gpus:
        return Check("NVIDIA driver", bad, "no nvidia-smi: no NVIDIA driver, no CUDA GPU",
                     _driver_fix(f) if p.needs_cuda else f"fine for the CPU tutorial (PRESET=\"{CPU_TUTORIAL}\"); "
                     f"for gpt-oss-20b: {_driver_fix(f)}")
    if f.smi_error:
        fix = _driver_fix(f)
        if "mismatch" in f.smi_error.lower():
            fix = "driver/library version mismatch after a driver update: reboot (WSL: `wsl --shutdown`)"
        elif f.wsl == 2:
            fix = f"{FIX_WINDOWS_DRIVER}; if a Linux driver is installed inside WSL: {FIX_REMOVE_LINUX_DRIVER}"
        return Check("NVIDIA driver", bad, f"nvidia-smi failed: {f.smi_error}", fix)
    gpu = f.gpu
    cuda = f" (supports CUDA {f.driver_cuda})" if f.driver_cuda else ""
    return Check("NVIDIA driver", OK, f"{gpu.driver}{cuda}" if gpu else "?")


def _check_gpu(f: _Facts) -> Check | None:
    if not f.gpus:
        return None
    names = [g.name for g in f.gpus]
    extra = f" (+{len(names) - 1} more; training uses GPU 0)" if len(names) > 1 else ""
    return Check("GPU", OK, f"{names[0]}{extra}")


def _vram_need(p: Preset) -> str:
    return f"{p.min_vram_gb:g} GiB VRAM at max_seq_length {p.max_seq_length}"


def _check_vram(f: _Facts, p: Preset) -> Check:
    gpu = f.gpu
    big = PRESETS["gpt-oss-20b"]
    if gpu is None or gpu.total_gib is None:
        if p.needs_cuda:
            return Check(
                "VRAM",
                FAIL,
                f"no CUDA GPU; {p.name} needs {_vram_need(p)}",
                f"see the NVIDIA driver row; or use a machine with a >= {p.min_vram_gb:g} GiB GPU, or the CPU tutorial "
                f"(PRESET=\"{CPU_TUTORIAL}\") ({SECTION['vram']})",
            )
        return Check("VRAM", OK, f"no CUDA GPU ({p.name} runs on the CPU)")
    free = "" if gpu.free_gib is None else f", {_gib(gpu.free_gib)} free"
    value = f"{_gib(gpu.total_gib)} total{free}"
    if p.needs_cuda:
        if gpu.total_gib < p.min_vram_gb:
            fitting = [n for n, q in PRESETS.items() if q.needs_cuda and q.min_vram_gb <= gpu.total_gib]
            alt = f"PRESET=\"{fitting[-1]}\"" if fitting else f"the CPU tutorial PRESET=\"{CPU_TUTORIAL}\""
            return Check(
                "VRAM",
                FAIL,
                f"{value}; {p.name} needs {_vram_need(p)}",
                f"use a GPU with >= {p.min_vram_gb:g} GiB (24 GB: RTX 3090/4090, L4, A10G; 80 GB for gpt-oss-120b) "
                f"or {alt} ({SECTION['vram']})",
            )
        if gpu.free_gib is not None and gpu.free_gib < p.min_vram_gb:
            return Check(
                "VRAM",
                WARN,
                f"{value}; {p.name} needs {_vram_need(p)}: other programs hold "
                f"{_gib(gpu.total_gib - gpu.free_gib)}",
                "close programs using the GPU (games, browsers with hardware acceleration, other notebooks); "
                f"`nvidia-smi` lists them ({SECTION['vram']})",
            )
        return Check("VRAM", OK, f"{value}; {p.name} needs {_vram_need(p)}")
    if gpu.total_gib < big.min_vram_gb:
        return Check(
            "VRAM",
            WARN,
            f"{value}: too small for gpt-oss-20b ({_vram_need(big)}); {p.name} runs",
            f"for the blog's model use a GPU with >= {big.min_vram_gb:g} GiB (a free Colab T4 has 15 GiB: too "
            f"small; RTX 3090/4090, L4, A10G fit) ({SECTION['vram']})",
        )
    return Check("VRAM", OK, value)


def _check_capability(f: _Facts, p: Preset) -> Check | None:
    gpu = f.gpu
    if gpu is None:
        return None
    cap = gpu.capability or (f.torch or {}).get("capability")
    if not cap:
        return Check("Compute capability", WARN, "unknown (old driver?)", _driver_fix(f))
    major = float(cap)
    if major < 7.0:
        return Check(
            "Compute capability",
            FAIL if p.needs_cuda else WARN,
            f"{cap}: too old for Triton/Unsloth kernels (needs >= 7.0)",
            f"use a GPU with compute capability >= 7.0 (Turing or newer) or the CPU tutorial "
            f"(PRESET=\"{CPU_TUTORIAL}\")",
        )
    if major < 8.0:
        return Check(
            "Compute capability",
            WARN,
            f"{cap}: no bf16 (fp16 instead: slower, less stable)",
            "bf16 needs compute capability >= 8.0 (Ampere: RTX 30xx, A10G, L4, A100 or newer); training still "
            "runs in fp16",
        )
    return Check("Compute capability", OK, f"{cap}, bf16 supported")


def _install_command(choice: torch_choice.TorchChoice | None, requirements: str) -> str:
    extra = " ".join(choice.pip_args) if choice and choice.requirements == requirements else ""
    return f"`pip install -r {requirements}{' ' + extra if extra else ''}`"


def _planned_torch(choice: torch_choice.TorchChoice | None, probes: Probes) -> str:
    """The torch version setup installs here: the driver's build of the GPU set, else the CPU set's."""
    if choice is not None:
        return choice.torch
    cpu_set = torch_choice.read_text(Path(probes.repo_root) / torch_choice.CPU_SET)
    return torch_choice.pinned(cpu_set, "torch") or "of requirements-cpu.txt"


def _check_torch_choice(f: _Facts, p: Preset, choice: torch_choice.TorchChoice | None,
                        probes: Probes) -> Check | None:
    """Which torch build setup installs for this driver, and why (before the install as after it)."""
    if choice is None:
        return None if p.needs_cuda else Check(
            "torch for this driver", OK,
            f"no NVIDIA driver: the CPU set (requirements-cpu.txt) with torch {_planned_torch(None, probes)}")
    status = {"ok": OK, "warn": WARN, "fail": FAIL if p.needs_cuda else WARN}[choice.status]
    return Check("torch for this driver", status, choice.describe(), f"{choice.fix} ({SECTION['torch']})"
                 if choice.fix else "")


def _check_torch(f: _Facts, p: Preset, choice: torch_choice.TorchChoice | None = None,
                 planned: str | None = None) -> Check:
    """The installed torch against the GPU and the driver; ``planned``: nothing is installed yet, setup brings it."""
    pins = "requirements.txt" if p.needs_cuda else "requirements-cpu.txt"
    t = f.torch
    if t is None and planned:
        return Check("PyTorch", WARN, f"not installed yet (setup installs torch {planned})",
                     f"`make setup` (or `bash env/setup_wsl2.sh` under WSL2) ({SECTION['conda']})")
    if t is None:
        return Check("PyTorch", FAIL, "not installed", f"{_install_command(choice, pins)} ({SECTION['conda']})")
    build = t.get("cuda")
    desc = f"{t.get('version')} ({'CUDA ' + build if build else 'CPU'} build)"
    cuda_fix = f"install the CUDA build: {_install_command(choice, 'requirements.txt')} ({SECTION['torch']})"
    if f.gpus and not build:
        status = FAIL if p.needs_cuda else WARN
        return Check("PyTorch", status, f"{desc}: cannot use the {f.gpu.name}", cuda_fix)
    if p.needs_cuda and not build:
        return Check("PyTorch", FAIL, f"{desc}: {p.name} needs CUDA", cuda_fix)
    try:
        b, d = (tuple(int(x) for x in v.split(".")[:2]) for v in (build or "", f.driver_cuda or ""))
    except ValueError:  # no CUDA build, or a version we cannot read: nothing to compare
        b = d = None
    if b and d:
        if d[0] < b[0]:
            return Check(
                "PyTorch",
                FAIL if p.needs_cuda else WARN,
                f"{desc}, but the driver supports only CUDA {f.driver_cuda}",
                f"update the NVIDIA driver ({'on Windows' if f.wsl else 'Linux'}) to one supporting CUDA {build}, "
                f"or install torch built for CUDA {d[0]}.x ({SECTION['torch']})",
            )
        if d < b:
            return Check(
                "PyTorch",
                WARN,
                f"{desc}; driver supports CUDA {f.driver_cuda} (minor-version compatibility: most kernels run, "
                "JIT-compiled ones may fail)",
                f"update the NVIDIA driver{' on Windows' if f.wsl else ''} ({SECTION['torch']})",
            )
    if f.gpus and build and not t.get("cuda_available"):
        hidden = f.env.get("CUDA_VISIBLE_DEVICES")
        why = f" (CUDA_VISIBLE_DEVICES={hidden!r})" if hidden is not None and hidden.strip() in {"", "-1"} else ""
        fix = "`unset CUDA_VISIBLE_DEVICES`" if why else (
            FIX_REMOVE_LINUX_DRIVER if f.wsl == 2 else "reboot after a driver update; check `nvidia-smi`"
        )
        return Check("PyTorch", FAIL if p.needs_cuda else WARN,
                     f"{desc}: torch.cuda.is_available() is False{why}{'; ' + t['error'] if t.get('error') else ''}",
                     fix)
    avail = ", CUDA available" if t.get("cuda_available") else ""
    return Check("PyTorch", OK, desc + avail)


def parse_requirements(text: str) -> dict[str, str]:
    """``name==version`` pins of a requirements file; comments, options and unpinned lines are ignored.

    Lines whose environment marker does not hold here (``; sys_platform == "win32"``) are skipped.
    """
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        line, _, marker = line.partition(";")
        if marker.strip():
            try:
                from packaging.markers import Marker

                if not Marker(marker.strip()).evaluate():
                    continue
            except Exception:  # noqa: BLE001 - no packaging, or a marker it cannot read: keep the pin
                pass
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s,]+)$", line.strip())
        if m:
            pins[m.group(1)] = m.group(3)
    return pins


def _same_version(installed: str, pinned: str) -> bool:
    if "+" not in pinned:  # torch==2.9.0 is satisfied by 2.9.0+cu128
        installed = installed.split("+", 1)[0]
    try:
        from packaging.version import Version

        return Version(installed) == Version(pinned)
    except Exception:  # noqa: BLE001
        return installed == pinned


def _check_pins(f: _Facts, p: Preset, probes: Probes,
                choice: torch_choice.TorchChoice | None = None) -> tuple[Check, bool]:
    """The installed versions against the pinned set; also whether nothing of the set is installed yet."""
    gpu_set = bool(f.gpus) or p.needs_cuda
    filename = "requirements.txt" if gpu_set else "requirements-cpu.txt"
    label = "GPU set" if gpu_set else "CPU set"
    path = Path(probes.repo_root) / filename
    install = f"`make setup`, or {_install_command(choice, filename)}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return Check(
            "Pinned versions",
            WARN,
            f"{filename} not found in {probes.repo_root}: cannot compare the {label}",
            f"update the repository (`git pull`): the pinned sets live at its root ({SECTION['pins']})",
        ), False
    pins = parse_requirements(text)
    if not pins:
        return Check("Pinned versions", WARN, f"{filename} pins nothing (no name==version line)",
                     f"update the repository (`git pull`) ({SECTION['pins']})"), False
    installed = probes.package_versions(list(pins))
    if not any(installed.get(name) for name in pins):
        return Check("Pinned versions", WARN, f"{label} ({filename}): none of its {len(pins)} pins installed yet",
                     f"`make setup` installs them ({SECTION['pins']})"), True
    diffs = []
    for name, want in pins.items():
        have = installed.get(name)
        if have is None:
            diffs.append(f"{name} not installed (pinned {want})")
        elif not _same_version(have, want):
            diffs.append(f"{name} {have} (pinned {want})")
    if diffs:
        return Check(
            "Pinned versions",
            WARN,
            f"{label} ({filename}): {len(diffs)} of {len(pins)} differ: " + "; ".join(diffs),
            f"{install}: transformers/TRL/Unsloth must match each other ({SECTION['pins']})",
        ), False
    return Check("Pinned versions", OK, f"{label} ({filename}): all {len(pins)} pins match"), False


def _nearest_existing(path: str, exists: Callable[[str], bool]) -> str:
    p = path
    while p and not exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p or "/"


def _check_disk(f: _Facts, p: Preset, probes: Probes) -> Check:
    fail_below, warn_below = DISK_NEEDS_GIB.get(p.name, (1.0, 3.0))
    why = DISK_WHY.get(p.name, "")
    where = _nearest_existing(f.hub_cache, probes.path_exists)
    try:
        free = probes.disk_usage(where)[2] / 2**30
    except OSError as exc:
        return Check("Disk (HF cache)", WARN, f"cannot read free space at {where}: {exc}",
                     f"`df -h {where}` ({SECTION['disk']})")
    value = f"{_gib(free)} free at {f.hub_cache}; {p.name} wants >= {warn_below:g} GiB ({why})"
    move = (
        f"free space, or point the cache at a bigger Linux disk: `export HF_HOME=/path/on/big/disk/huggingface` "
        f"({SECTION['disk']})"
    )
    if free < fail_below:
        return Check("Disk (HF cache)", FAIL, value.replace(f"wants >= {warn_below:g}", f"needs >= {fail_below:g}"),
                     move)
    if free < warn_below:
        return Check("Disk (HF cache)", WARN, value, move + "; skip the merged 16-bit export if you only need LoRA")
    if f.wsl == 2 and probes.path_exists("/mnt/c"):
        # WSL2's disk image (ext4.vhdx) reports up to 1 TB free but grows on the Windows drive, usually C:
        try:
            c_free = probes.disk_usage("/mnt/c")[2] / 2**30
        except OSError:
            c_free = None
        if c_free is not None and c_free < warn_below:
            return Check(
                "Disk (HF cache)",
                WARN,
                f"{value}; but C: has only {_gib(c_free)} free and WSL's disk image grows there",
                f"free space on C:, or move the distro to another drive (`wsl --export` / `wsl --import`) "
                f"({SECTION['disk']})",
            )
    return Check("Disk (HF cache)", OK, value)


def _check_cache_location(f: _Facts, probes: Probes) -> Check:
    if f.wsl != 2:
        return Check("HF cache location", OK, f.hub_cache)
    problems, fixes = [], []
    if _on_windows_mount(f.hub_cache):
        problems.append(f"cache on a Windows drive ({f.hub_cache}): ~10x slower through WSL's 9P mount")
        fixes.append(FIX_HF_HOME)
    repo = str(probes.repo_root)
    try:
        repo = probes.realpath(repo)
    except OSError:
        pass
    outputs = f.env.get("GPT_OSS_TUTORIAL_OUTPUTS") or os.path.join(repo, "outputs")
    if _on_windows_mount(repo) or _on_windows_mount(outputs):
        where = repo if _on_windows_mount(repo) else outputs
        problems.append(f"repository/outputs on a Windows drive ({where}): checkpoints and exports crawl")
        fixes.append(f"clone the repository inside Linux: `cd ~ && git clone <repo-url>` ({SECTION['cache']})")
    if problems:
        return Check("HF cache location", WARN, "; ".join(problems), "; ".join(fixes))
    return Check("HF cache location", OK, f"{f.hub_cache} (Linux filesystem)")


def _check_memory(f: _Facts, p: Preset, probes: Probes) -> Check:
    mem = probes.memory()
    if mem is None:
        return Check("RAM and swap", WARN, "cannot read memory (psutil missing)", "`pip install psutil`")
    total, available, swap = (x / 2**30 for x in mem[:3])
    value = f"RAM {_gib(total)} ({_gib(available)} available), swap {_gib(swap)}"
    if f.wsl == 2 and total < RAM_WARN_GPU_GIB:
        return Check(
            "RAM and swap",
            WARN,
            f"{value}: WSL caps the VM at half the Windows RAM by default",
            "raise the cap: copy env/wslconfig.example to %UserProfile%\\.wslconfig (memory=24GB, swap=32GB), then "
            f"`wsl --shutdown` in PowerShell ({SECTION['memory']})",
        )
    if p.needs_cuda and total < RAM_WARN_GPU_GIB:
        return Check(
            "RAM and swap",
            WARN,
            f"{value}: loading and exporting {p.name} wants >= 16 GB",
            "add swap: `sudo fallocate -l 32G /swapfile && sudo chmod 600 /swapfile && sudo mkswap /swapfile && "
            "sudo swapon /swapfile`",
        )
    if total < RAM_WARN_CPU_GIB:
        return Check("RAM and swap", WARN, f"{value}: tight even for the CPU tutorial",
                     "close other programs or add swap (`sudo fallocate -l 8G /swapfile ...`)")
    return Check("RAM and swap", OK, value)


def _check_hub(f: _Facts, p: Preset, probes: Probes) -> Check:
    if f.hub is not None and f.hub[0]:
        return Check("Hugging Face Hub", OK, f"reachable ({f.hub[1]})")
    why = f"offline ({f.offline_flag}=1)" if f.offline_flag else f"unreachable ({f.hub[1] if f.hub else '?'})"
    if p.offline:
        return Check(
            "Hugging Face Hub",
            WARN,
            f"{why}: {p.name} works offline",
            f"offline is fine for the CPU tutorial (PRESET=\"{CPU_TUTORIAL}\"); gpt-oss-20b needs the hub "
            f"({SECTION['offline']})",
        )
    org_name = p.model_id.replace("/", "--")
    cached = probes.path_exists(os.path.join(f.hub_cache, f"models--{org_name}", "snapshots"))
    reconnect = (
        "unset HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE" if f.offline_flag
        else "check the connection or proxy (HTTPS_PROXY), or set HF_ENDPOINT to a mirror"
    )
    if cached:
        return Check("Hugging Face Hub", WARN, f"{why}; {p.model_id} is in the cache",
                     f"fine if the cached copy is complete; otherwise {reconnect} ({SECTION['offline']})")
    return Check(
        "Hugging Face Hub",
        FAIL,
        f"{why}; {p.model_id} must be downloaded first",
        f"{reconnect}, or run the CPU tutorial offline (PRESET=\"{CPU_TUTORIAL}\") ({SECTION['offline']})",
    )


def _fit(f: _Facts) -> tuple[dict[str, str], dict[str, str]]:
    fits, unfit = {}, {}
    gpu = f.gpu
    for name, p in PRESETS.items():
        if not p.needs_cuda:
            fits[name] = f"runs on the CPU (max_seq_length {p.max_seq_length}, no GPU needed)"
        elif gpu is None or gpu.total_gib is None:
            unfit[name] = f"needs a CUDA GPU with >= {_vram_need(p)}; none found"
        elif gpu.total_gib >= p.min_vram_gb:
            fits[name] = f"needs {_vram_need(p)}; the {gpu.name} has {_gib(gpu.total_gib)}"
        else:
            unfit[name] = f"needs {_vram_need(p)}; the {gpu.name} has only {_gib(gpu.total_gib)}"
    return fits, unfit


def _choose_torch(f: _Facts, probes: Probes) -> torch_choice.TorchChoice | None:
    """The GPU set's torch build for the driver nvidia-smi reported; None without a driver."""
    gpu = f.gpu
    if gpu is None or f.smi_error or gpu.driver in ("", "?"):
        return None
    return torch_choice.choose(gpu.driver, torch_choice.parse_cuda(f.driver_cuda), gpu.capability,
                               requirements=torch_choice.GPU_SET, repo_root=Path(probes.repo_root))


def run_checks(preset: str | None = None, probes: Probes | None = None) -> EnvReport:
    """Probe the machine and judge it for ``preset`` (``None`` or ``"auto"``: the preset auto would pick)."""
    probes = probes or Probes.real()
    requested = preset or "auto"
    f = _gather(probes)
    recommended = auto_preset_name(f.vram_gib)
    p = get_preset(requested, cuda_vram_gb=f.vram_gib)
    choice = _choose_torch(f, probes)
    pins, nothing_installed = _check_pins(f, p, probes, choice)

    checks = [
        _check_os(f, p),
        _check_wsl_driver(f, p, probes),
        _check_driver(f, p),
        _check_torch_choice(f, p, choice, probes),
        _check_gpu(f),
        _check_vram(f, p),
        _check_capability(f, p),
        _check_torch(f, p, choice, _planned_torch(choice, probes) if nothing_installed else None),
        pins,
        _check_python(probes.python_version),
        _check_disk(f, p, probes),
        _check_cache_location(f, probes),
        _check_memory(f, p, probes),
        _check_hub(f, p, probes),
    ]
    checks = [c for c in checks if c is not None]
    fits, unfit = _fit(f)
    fails = [c for c in checks if c.status == FAIL]
    warns = [c for c in checks if c.status == WARN]
    auto = f" (auto: {recommended})" if requested == "auto" else ""
    if fails:
        lines = [f"Preset {p.name!r}{auto} cannot run on this machine:"]
        lines += [f"  - {c.name}: {c.value}\n    fix: {c.fix}" for c in fails]
        alternatives = [n for n in fits if n != p.name]
        if alternatives:
            lines.append(
                "Presets that fit this machine: " + ", ".join(alternatives)
                + f". Fix the above, or run with PRESET=\"{recommended if recommended != p.name else alternatives[0]}\"."
            )
        message = "\n".join(lines)
    else:
        message = f"Preset {p.name!r}{auto} can run here."
        if warns:
            message += f" {len(warns)} warning(s): " + ", ".join(c.name for c in warns) + "."
    gpu = f.gpu
    machine = {
        "os": f.system,
        "kernel": f.kernel,
        "wsl": f.wsl,
        "gpu": gpu.name if gpu else None,
        "vram_gib": round(f.vram_gib, 2),
        "gpu_count": len(f.gpus),
        "driver_cuda": f.driver_cuda,
        "torch": (f.torch or {}).get("version"),
        "torch_choice": asdict(choice) if choice else None,
        "hf_hub_cache": f.hub_cache,
    }
    return EnvReport(
        checks=checks,
        recommended_preset=recommended,
        fitting_presets=fits,
        preset=p.name,
        preset_ok=not fails,
        message=message,
        requested_preset=requested,
        unfit_presets=unfit,
        machine=machine,
    )


def require(report: EnvReport) -> EnvReport:
    """Raise ``EnvironmentNotReady`` with the report's message when its preset cannot run; return it otherwise."""
    if not report.preset_ok:
        raise EnvironmentNotReady(report.message)
    return report


# ----------------------------------------------------------------------------------------------------------------
# Rendering (rich: a terminal and Jupyter alike)

_STYLE = {OK: ("OK", "bold green"), WARN: ("WARN", "bold yellow"), FAIL: ("FAIL", "bold red")}


def render_table(report: EnvReport, *, console=None, show: bool = True):
    """Build the rich Table of the checks; print it (``show``) on ``console`` or rich's default. Returns the Table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"Environment check for preset {report.preset!r} (recommended here: {report.recommended_preset})",
        show_lines=True,
        expand=False,
    )
    table.add_column("Check", style="bold", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("Fix", overflow="fold")
    for c in report.checks:
        label, style = _STYLE[c.status]
        # Text(), not markup: values such as "[N/A]" must print as they are
        table.add_row(Text(c.name), Text(label, style=style), Text(c.value), Text(c.fix))
    if show:
        if console is None:
            from rich import get_console

            console = get_console()
        console.print(table)
    return table


def render_verdict(report: EnvReport, *, console=None) -> None:
    """Print which presets fit this machine and why, then the verdict for the chosen preset."""
    from rich.text import Text

    if console is None:
        from rich import get_console

        console = get_console()
    console.print(Text("Presets that fit this machine:", style="bold"))
    for name, why in report.fitting_presets.items():
        star = " (recommended)" if name == report.recommended_preset else ""
        console.print(Text(f"  + {name}{star}: {why}", style="green"))
    for name, why in report.unfit_presets.items():
        console.print(Text(f"  - {name}: {why}", style="red"))
    console.print(Text(report.message, style="bold green" if report.preset_ok else "bold red"))


def print_report(report: EnvReport, *, console=None) -> None:
    render_table(report, console=console)
    render_verdict(report, console=console)


def render_plain(report: EnvReport, width: int = 110) -> str:
    """The report as plain text: what a bare Python prints before rich is installed."""
    import textwrap

    name_width = max(len(c.name) for c in report.checks)
    indent = " " * (name_width + 8)
    lines = [f"Environment check for preset {report.preset!r} (recommended here: {report.recommended_preset})", ""]
    for c in report.checks:
        head = f"{_STYLE[c.status][0]:<5} {c.name:<{name_width}}  "
        lines += textwrap.wrap(c.value, width, initial_indent=head, subsequent_indent=indent) or [head]
        if c.fix:
            lines += textwrap.wrap(c.fix, width, initial_indent=indent + "fix: ", subsequent_indent=indent + "     ")
    lines += ["", "Presets that fit this machine:"]
    for name, why in report.fitting_presets.items():
        star = " (recommended)" if name == report.recommended_preset else ""
        lines.append(f"  + {name}{star}: {why}")
    lines += [f"  - {name}: {why}" for name, why in report.unfit_presets.items()]
    return "\n".join([*lines, report.message])


def cli(preset: str | None = None, as_json: bool = False) -> int:
    """What ``scripts/check_env.py`` does: print the report (table or JSON); exit code 1 when the preset cannot run."""
    import json

    report = run_checks(preset)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0 if report.preset_ok else 1
    try:
        from rich.console import Console
    except ImportError:  # the preflight before the install: standard library only
        print(render_plain(report))
    else:
        console = Console(width=None if sys.stdout.isatty() else 120)
        print_report(report, console=console)
    return 0 if report.preset_ok else 1
