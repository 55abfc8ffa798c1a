"""Which torch build this machine's NVIDIA driver runs, and the pip arguments that install it.

Standard library only and free of package-relative imports, so setup can run it as a script before anything is
installed (``python3 scripts/gpt_oss_tutorial/torch_choice.py [--requirements | --pip-args | --json]``); the
preflight (envcheck) imports it to show the same choice.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GPU_SET = "requirements.txt"
CPU_SET = "requirements-cpu.txt"
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"

# The CUDA builds of the pinned torch, newest first: (tag, CUDA version). PyPI's Linux wheel of the pinned torch
# (2.11.0) is the CUDA 13.0 build (its metadata requires cuda-toolkit 13.0.2); the PyTorch index has the same torch
# version built for CUDA 12.8 and 12.6. Review both constants when the torch pin moves.
BUILDS = (("cu130", (13, 0)), ("cu128", (12, 8)), ("cu126", (12, 6)))
PYPI_BUILD = "cu130"
# Driver branch -> the newest CUDA it supports (what nvidia-smi prints as "CUDA Version"), for when the header cannot
# be read. Linux and Windows drivers share these branch numbers (WSL2 reports the Windows driver: 566.36 is CUDA 12.7).
DRIVER_CUDA = ((580, (13, 0)), (575, (12, 9)), (570, (12, 8)), (565, (12, 7)), (560, (12, 6)), (555, (12, 5)),
               (550, (12, 4)), (545, (12, 3)), (535, (12, 2)), (530, (12, 1)), (525, (12, 0)))
# Volta (7.0) and older only have kernels in the cu126 build of torch 2.11; Blackwell (10.0, 12.0) needs cu128+.
OLDEST_ARCH_OF = {"cu130": 7.5, "cu128": 7.5, "cu126": 5.0}
NEWEST_ARCH_OF = {"cu130": 99.0, "cu128": 99.0, "cu126": 9.0}
UPDATE_DRIVER = (
    "update the NVIDIA driver (WSL2: the Windows driver, then `wsl --shutdown`; Linux: "
    "`sudo ubuntu-drivers install`): 580 or newer runs PyPI's CUDA 13.0 build"
)


@dataclass
class TorchChoice:
    """The pinned set and torch build setup installs here, and why (status ``ok``/``warn``/``fail`` with a fix)."""

    requirements: str  # requirements.txt (GPU) or requirements-cpu.txt
    build: str  # "cu130", "cu128", "cu126" or "cpu"
    torch: str  # the torch version pip will install, e.g. "2.11.0+cu128"
    index_url: str | None  # None: PyPI (or the CPU set's own sources)
    pip_args: list[str] = field(default_factory=list)  # added to `pip install -r <requirements>`
    reason: str = ""
    status: str = "ok"
    fix: str = ""

    def describe(self) -> str:
        if self.build == "cpu":
            return f"{self.requirements} (torch {self.torch}): {self.reason}"
        where = f"from {self.index_url}" if self.index_url else "from PyPI"
        return f"{self.requirements} with torch {self.torch} {where}: {self.reason}"


def pinned(requirements_text: str, name: str) -> str | None:
    """The ``name==version`` pin of a requirements file, or None."""
    m = re.search(rf"^{re.escape(name)}\s*==\s*([^\s;#]+)", requirements_text, re.M)
    return m.group(1) if m else None


def parse_cuda(text: str | None) -> tuple[int, int] | None:
    """``"12.7"`` -> (12, 7); None for anything else."""
    m = re.match(r"^\s*(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def cuda_from_header(nvidia_smi_output: str) -> tuple[int, int] | None:
    """The "CUDA Version: 12.7" of nvidia-smi's header: the newest CUDA the driver supports."""
    m = re.search(r"CUDA Version:\s*([0-9]+\.[0-9]+)", nvidia_smi_output or "")
    return parse_cuda(m.group(1)) if m else None


def cuda_from_driver(driver: str | None) -> tuple[int, int] | None:
    """The newest CUDA a driver version supports, from its branch number (566.36 -> (12, 7))."""
    m = re.match(r"^\s*(\d+)", driver or "")
    if not m:
        return None
    branch = int(m.group(1))
    return next((cuda for first, cuda in DRIVER_CUDA if branch >= first), None)


def _fmt(cuda: tuple[int, int]) -> str:
    return f"{cuda[0]}.{cuda[1]}"


def choose(driver: str | None, driver_cuda: tuple[int, int] | None = None, capability: str | None = None, *,
           requirements: str | None = None, force_build: str | None = None,
           repo_root: Path = REPO_ROOT) -> TorchChoice:
    """Pick the pinned set and torch build for a driver (None: no NVIDIA driver answered)."""
    cpu_torch = pinned(read_text(repo_root / CPU_SET), "torch") or "?"
    if requirements is None:
        if not (driver or force_build):
            return TorchChoice(CPU_SET, "cpu", cpu_torch, None, [],
                               "no NVIDIA driver answered (nvidia-smi): the CPU tutorial's set")
        gpu = choose(driver, driver_cuda, capability, requirements=GPU_SET, force_build=force_build,
                     repo_root=repo_root)
        if gpu.status != "fail":
            return gpu
        return TorchChoice(CPU_SET, "cpu", cpu_torch, None, [], f"{gpu.reason}; the CPU tutorial's set instead",
                           "warn", gpu.fix)
    if requirements != GPU_SET:
        return TorchChoice(requirements, "cpu", cpu_torch, None, [], f"{requirements}, as asked")
    gpu_text = read_text(repo_root / GPU_SET)

    torch_version = pinned(gpu_text, "torch") or "?"
    vision_version = pinned(gpu_text, "torchvision")
    cuda = driver_cuda or cuda_from_driver(driver)
    arch = _float(capability)
    status, fix = "ok", ""
    if force_build:
        if force_build not in dict(BUILDS):
            raise ValueError(f"unknown torch build {force_build!r}: use one of {', '.join(b for b, _ in BUILDS)}")
        build, reason = force_build, f"{force_build} as asked (TUTORIAL_TORCH_BUILD)"
    elif not driver:
        build, reason = PYPI_BUILD, "no NVIDIA driver answered here: PyPI's build, for a driver 580 or newer"
        status, fix = "warn", "run setup where `nvidia-smi` works to get the build that fits its driver"
    elif cuda is None:
        build, reason = PYPI_BUILD, f"driver {driver}: cannot tell which CUDA it supports; PyPI's CUDA 13.0 build"
        status, fix = "warn", "check `nvidia-smi`: driver 580 or newer runs this build; " + UPDATE_DRIVER
    else:
        fitting = [b for b, c in BUILDS if c <= cuda]
        if arch is not None:
            fitting = [b for b in fitting if OLDEST_ARCH_OF[b] <= arch <= NEWEST_ARCH_OF[b]]
        supported = f"driver {driver} supports CUDA {_fmt(cuda)}"
        if fitting:
            build = fitting[0]
            newest = BUILDS[0][0]
            reason = f"{supported}; the newest build it runs" if build == newest else (
                f"{supported}; PyPI's torch {torch_version} is the CUDA 13.0 build and needs driver 580+, so the "
                f"CUDA {_fmt(dict(BUILDS)[build])} build of the same version")
            if arch is not None and arch < OLDEST_ARCH_OF[newest] and build == "cu126":
                reason = f"{supported}; compute capability {capability} has kernels only in the cu126 build"
        elif cuda >= (12, 0) and (arch is None or arch <= NEWEST_ARCH_OF["cu126"]):
            build = "cu126"
            reason = (f"{supported}, older than the oldest build (CUDA 12.6): cu126 runs through CUDA minor-version "
                      "compatibility, but kernels compiled at run time (Triton, used by Unsloth) can fail")
            status, fix = "warn", UPDATE_DRIVER.replace("580 or newer", "560 or newer runs cu126, 580 or newer")
        else:
            build = "cu128" if arch is not None and arch > NEWEST_ARCH_OF["cu126"] else "cu126"
            need = _fmt(dict(BUILDS)[build])
            reason = f"{supported}: too old for any torch {torch_version} build (needs CUDA {need} or newer)"
            status, fix = "fail", UPDATE_DRIVER
    index_url = None if build == PYPI_BUILD else PYTORCH_INDEX + build
    args: list[str] = []
    if index_url:
        args = ["--extra-index-url", index_url, f"torch=={torch_version}+{build}"]
        if vision_version:
            args.append(f"torchvision=={vision_version}+{build}")
    return TorchChoice(GPU_SET, build, f"{torch_version}+{build}", index_url, args, reason, status, fix)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _nvidia_smi() -> str | None:
    found = shutil.which("nvidia-smi")
    if found is None and os.path.exists(WSL_NVIDIA_SMI):  # WSL2 with /usr/lib/wsl/lib missing from PATH
        found = WSL_NVIDIA_SMI
    return found


def probe_driver(timeout: float = 20.0) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """(driver version, newest CUDA it supports, compute capability of GPU 0) from nvidia-smi; Nones without one."""
    smi = _nvidia_smi()
    if smi is None:
        return None, None, None

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run([smi, *args], capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    rows = run("--query-gpu=driver_version,compute_cap", "--format=csv,noheader")
    if rows is None:  # drivers older than ~510 do not know compute_cap
        rows = run("--query-gpu=driver_version", "--format=csv,noheader")
    first = (rows or "").strip().splitlines()
    if not first:
        return None, None, None
    parts = [p.strip() for p in first[0].split(",")]
    capability = parts[1] if len(parts) > 1 and _float(parts[1]) is not None else None
    return parts[0], cuda_from_header(run() or ""), capability


def choice_for_this_machine(requirements: str | None = None) -> TorchChoice:
    """``choose`` with the driver this machine reports; ``TUTORIAL_TORCH_BUILD`` forces a build."""
    driver, cuda, capability = probe_driver()
    return choose(driver, cuda, capability, requirements=requirements,
                  force_build=os.environ.get("TUTORIAL_TORCH_BUILD") or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", dest="set", help="judge for this set (default: from the driver)")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--print-requirements", action="store_true", help="print the requirements file to install")
    shown.add_argument("--pip-args", action="store_true", help="print the extra pip arguments, one per line")
    shown.add_argument("--json", action="store_true", help="print the whole choice as JSON")
    args = parser.parse_args(argv)
    try:
        choice = choice_for_this_machine(args.set)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.print_requirements:
        print(choice.requirements)
    elif args.pip_args:
        print("\n".join(choice.pip_args))
    elif args.json:
        print(json.dumps(asdict(choice), indent=2))
    else:
        print(choice.describe())
        if choice.fix:
            print(f"fix: {choice.fix}")
        return 1 if choice.status == "fail" else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
