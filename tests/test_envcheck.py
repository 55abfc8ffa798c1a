"""The preflight (envcheck): every situation of the issue simulated through injected probes, no GPU, no network."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from gpt_oss_tutorial import envcheck
from gpt_oss_tutorial.envcheck import FAIL, OK, WARN, Check, EnvironmentNotReady, Probes
from gpt_oss_tutorial.paths import REPO_ROOT
from gpt_oss_tutorial.presets import auto_preset_name

GIB = 2**30
WSL2_KERNEL = "5.15.167.4-microsoft-standard-WSL2"
WSL_LIB = ["/usr/lib/wsl/lib", "/usr/lib/wsl/lib/libcuda.so.1", "/usr/lib/wsl/lib/nvidia-smi"]

GPU_REQUIREMENTS = """\
# GPU set (test copy)
--extra-index-url https://example.invalid/simple
unsloth==2026.10.9
unsloth_zoo==2026.10.9
torch==2.11.0
transformers==5.17.0   # Unsloth caps it
trl==1.15.0
bitsandbytes==0.50.2
math-verify[antlr4_13_2]==0.9.0
"""
CPU_REQUIREMENTS = """\
# CPU set (test copy)
torch==2.13.0+cpu
transformers==5.23.0
trl==1.16.0
peft==0.21.2
datasets==4.8.5
"""
GPU_INSTALLED = {
    "unsloth": "2026.10.9",
    "unsloth_zoo": "2026.10.9",
    "torch": "2.11.0+cu128",  # the local label does not count against the pin torch==2.11.0
    "transformers": "5.17.0",
    "trl": "1.15.0",
    "bitsandbytes": "0.50.2",
    "math-verify": "0.9.0",
}
CPU_INSTALLED = {"torch": "2.13.0+cpu", "transformers": "5.23.0", "trl": "1.16.0", "peft": "0.21.2",
                 "datasets": "4.8.5"}

RTX_4090 = "NVIDIA GeForce RTX 4090, 24564, 23800, 566.36, 8.9\n"
RTX_4080_BUSY = "NVIDIA GeForce RTX 4080, 16376, 14500, 566.36, 8.9\n"  # 16 GB, the Windows desktop holds 1.8 GiB
TESLA_T4 = "Tesla T4, 15360, 14900, 550.54.15, 7.5\n"  # a free Colab T4: "16 GB", 15 GiB usable


def smi_header(cuda: str = "12.9") -> str:
    return (
        "+-----------------------------------------------------------------------------------------+\n"
        f"| NVIDIA-SMI 565.77.01    Driver Version: 566.36    CUDA Version: {cuda}     |\n"
    )


def make_probes(
    tmp_path: Path,
    *,
    kernel: str = "6.8.0-45-generic",
    system: str = "Linux",
    env: dict | None = None,
    paths: tuple | list = (),
    links: dict | None = None,
    smi: str | None = None,  # the CSV nvidia-smi prints; None: no nvidia-smi
    smi_path: str = "/usr/bin/nvidia-smi",
    smi_rc: int = 0,
    smi_stderr: str = "",
    driver_cuda: str = "12.9",
    torch: dict | None | str = "default",
    installed: dict | None = None,
    disk_free_gib: dict | float = 500.0,
    ram_gib: float = 64.0,
    swap_gib: float = 8.0,
    python: tuple = (3, 11, 7),
    hub=(True, "HTTP 200"),
    requirements: bool = True,
    calls: list | None = None,
) -> Probes:
    """A healthy machine (native Linux, or with ``smi`` a GPU box) unless a keyword says otherwise."""
    home = "/home/u"
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    if requirements:
        (repo / "requirements.txt").write_text(GPU_REQUIREMENTS)
        (repo / "requirements-cpu.txt").write_text(CPU_REQUIREMENTS)
    existing = {home, str(repo), *paths}
    if smi is not None:
        existing.add(smi_path)
    links = dict(links or {})
    calls = calls if calls is not None else []

    def path_exists(p: str) -> bool:
        p = p.rstrip("/") or "/"
        return p == "/" or any(e == p or e.startswith(p + "/") for e in existing)

    def realpath(p: str) -> str:
        for src, dst in links.items():
            if p == src or p.startswith(src + "/"):
                return dst + p[len(src):]
        return p

    def which(name: str):
        return smi_path if (name == "nvidia-smi" and smi is not None and not smi_path.startswith("/usr/lib/wsl/")) \
            else None

    def run_command(argv):
        calls.append(("run", list(argv)))
        if smi is None or argv[0] != smi_path:
            return None
        if len(argv) == 1:
            return envcheck.CommandResult(0, smi_header(driver_cuda), "")
        return envcheck.CommandResult(smi_rc, smi if smi_rc == 0 else "", smi_stderr)

    if torch == "default":
        torch = (
            {"version": "2.11.0+cu128", "cuda": "12.8", "cuda_available": True}
            if smi is not None
            else {"version": "2.13.0+cpu", "cuda": None, "cuda_available": False}
        )
    if installed is None:
        installed = GPU_INSTALLED if smi is not None else CPU_INSTALLED

    def package_versions(names):
        names = list(names)
        calls.append(("versions", names))
        return {n: installed.get(n) for n in names}

    free = disk_free_gib if isinstance(disk_free_gib, dict) else {"/": disk_free_gib}

    def disk_usage(p: str):
        calls.append(("disk", p))
        best = max((k for k in free if p == k or p.startswith(k.rstrip("/") + "/")), key=len)
        return (1000 * GIB, 0, int(free[best] * GIB))

    def hub_reachable(url, timeout):
        calls.append(("hub", url, timeout))
        if isinstance(hub, Exception):
            raise hub
        return hub

    return Probes(
        system=lambda: system,
        kernel_release=lambda: kernel,
        env=dict(env or {}),
        path_exists=path_exists,
        realpath=realpath,
        which=which,
        run_command=run_command,
        torch_info=lambda: torch,
        package_versions=package_versions,
        disk_usage=disk_usage,
        memory=lambda: (int(ram_gib * GIB), int(ram_gib * GIB * 0.8), int(swap_gib * GIB)),
        python_version=python,
        hub_reachable=hub_reachable,
        repo_root=repo,
        home=home,
    )


def wsl_probes(tmp_path, *, env=None, paths=WSL_LIB, **kw) -> Probes:
    """A WSL2 distro with the Windows driver: nvidia-smi and libcuda in /usr/lib/wsl/lib."""
    kw.setdefault("smi_path", "/usr/lib/wsl/lib/nvidia-smi")
    return make_probes(tmp_path, kernel=WSL2_KERNEL, env={"WSL_DISTRO_NAME": "Ubuntu", **(env or {})},
                       paths=paths, **kw)


# ---------------------------------------------------------------------------------------------------------------
# OS and WSL


@pytest.mark.parametrize(
    "kernel, env, expected",
    [
        ("5.15.167.4-microsoft-standard-WSL2", {}, 2),
        ("6.6.87.2-microsoft-standard-WSL2", {}, 2),
        ("5.10.16.3-microsoft-standard-WSL2+", {}, 2),
        ("4.4.0-19041-Microsoft", {}, 1),
        ("4.4.0-22621-Microsoft", {"WSL_DISTRO_NAME": "Ubuntu"}, 1),
        ("6.8.0-45-generic", {}, 0),
        ("6.8.0-custom", {"WSL_DISTRO_NAME": "Ubuntu"}, 2),  # a self-built WSL2 kernel
    ],
)
def test_detect_wsl_from_kernel_strings(kernel, env, expected):
    assert envcheck.detect_wsl(kernel, env, lambda p: False) == expected


def test_wsl2_with_windows_driver_is_ok(tmp_path):
    report = envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, smi=RTX_4090))
    assert report.check("OS").status == OK
    assert "WSL2 (Ubuntu)" in report.check("OS").value
    assert report.check("WSL2 GPU driver").status == OK
    assert report.check("NVIDIA driver").value == "566.36 (supports CUDA 12.9)"
    assert report.preset_ok, report.message


def test_wsl1_cannot_use_the_gpu(tmp_path):
    probes = make_probes(tmp_path, kernel="4.4.0-19041-Microsoft", env={"WSL_DISTRO_NAME": "Ubuntu"})
    gpu = envcheck.run_checks("gpt-oss-20b", probes).check("OS")
    assert gpu.status == FAIL and "WSL1" in gpu.value
    assert "wsl --set-version Ubuntu 2" in gpu.fix
    assert envcheck.run_checks("smollm2-135m", probes).check("OS").status == WARN
    assert "WSL2 GPU driver" not in [c.name for c in envcheck.run_checks(None, probes).checks]


def test_native_linux_has_no_wsl_checks(tmp_path):
    report = envcheck.run_checks(None, make_probes(tmp_path, smi=RTX_4090))
    names = [c.name for c in report.checks]
    assert "WSL2 GPU driver" not in names
    assert report.check("OS").value == "Linux 6.8.0-45-generic"


def test_native_windows_points_to_wsl2(tmp_path):
    check = envcheck.run_checks(None, make_probes(tmp_path, system="Windows", kernel="10")).check("OS")
    assert check.status == WARN and "wsl --install" in check.fix


def test_wsl2_without_libcuda_fails_with_windows_driver_fix(tmp_path):
    probes = wsl_probes(tmp_path, paths=["/usr/lib/wsl/lib/libd3d12.so"])  # no libcuda, no nvidia-smi
    check = envcheck.run_checks("gpt-oss-20b", probes).check("WSL2 GPU driver")
    assert check.status == FAIL
    assert "no libcuda" in check.value
    assert "NVIDIA driver on Windows" in check.fix and "not inside WSL" in check.fix
    assert "wsl --shutdown" in check.fix
    assert envcheck.SECTION["driver"] in check.fix
    # the CPU tutorial does not need it: a warning only
    assert envcheck.run_checks("auto", probes).check("WSL2 GPU driver").status == WARN


def test_wsl2_without_wsl_lib_folder(tmp_path):
    check = envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, paths=[])).check("WSL2 GPU driver")
    assert check.status == FAIL and "/usr/lib/wsl/lib is missing" in check.value


def test_linux_driver_inside_wsl_is_flagged(tmp_path):
    probes = wsl_probes(
        tmp_path,
        paths=[*WSL_LIB, "/usr/lib/x86_64-linux-gnu/libcuda.so.1"],
        smi="",
        smi_path="/usr/bin/nvidia-smi",  # from the nvidia-utils package
        smi_rc=18,
        smi_stderr="Failed to initialize NVML: Driver/library version mismatch",
    )
    report = envcheck.run_checks("gpt-oss-20b", probes)
    check = report.check("WSL2 GPU driver")
    assert check.status == FAIL
    assert "/usr/lib/x86_64-linux-gnu/libcuda.so.1" in check.value and "/usr/bin/nvidia-smi" in check.value
    assert "uninstall the Linux driver inside WSL; install only the Windows driver" in check.fix
    assert "apt-get remove --purge" in check.fix
    assert report.check("NVIDIA driver").status == FAIL
    assert "reboot" in report.check("NVIDIA driver").fix  # the mismatch message has its own fix
    assert not report.preset_ok


def test_libcuda_linked_into_wsl_lib_is_fine(tmp_path):
    """Containers on WSL (nvidia-container-toolkit) link libcuda.so.1 into /usr/lib/wsl: not a Linux driver."""
    lib = "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
    probes = wsl_probes(tmp_path, paths=[*WSL_LIB, lib], smi=RTX_4090,
                        links={lib: "/usr/lib/wsl/drivers/nv_dispi.inf_amd64/libcuda.so.1.1"})
    assert envcheck.run_checks("gpt-oss-20b", probes).check("WSL2 GPU driver").status == OK


def test_wsl_nvidia_smi_found_off_path(tmp_path):
    """PATH lost /usr/lib/wsl/lib: nvidia-smi is still found there."""
    calls = []
    report = envcheck.run_checks(None, wsl_probes(tmp_path, smi=RTX_4090, calls=calls))
    assert report.check("GPU").value == "NVIDIA GeForce RTX 4090"
    assert ("run", ["/usr/lib/wsl/lib/nvidia-smi", *envcheck.NVIDIA_SMI_QUERY]) in calls


# ---------------------------------------------------------------------------------------------------------------
# NVIDIA driver, GPU, VRAM


def test_no_nvidia_smi_is_a_warning_for_the_cpu_tutorial(tmp_path):
    report = envcheck.run_checks(None, make_probes(tmp_path))
    check = report.check("NVIDIA driver")
    assert check.status == WARN and "no nvidia-smi" in check.value
    assert "smollm2-135m" in check.fix and "ubuntu-drivers" in check.fix
    assert report.recommended_preset == "smollm2-135m" == report.preset
    assert report.preset_ok
    assert set(report.fitting_presets) == {"smollm2-135m", "tiny-gpt-oss"}
    assert "none found" in report.unfit_presets["gpt-oss-20b"]
    assert "GPU" not in [c.name for c in report.checks]


def test_no_nvidia_smi_fails_gpt_oss_20b(tmp_path):
    report = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path))
    assert report.check("NVIDIA driver").status == FAIL
    assert report.check("VRAM").status == FAIL
    assert report.check("PyTorch").status == FAIL and "needs CUDA" in report.check("PyTorch").value
    assert not report.preset_ok
    assert "Preset 'gpt-oss-20b' cannot run on this machine" in report.message
    assert 'PRESET="smollm2-135m"' in report.message
    with pytest.raises(EnvironmentNotReady, match="NVIDIA driver: no nvidia-smi"):
        envcheck.require(report)


def test_24gb_card_runs_gpt_oss_20b(tmp_path):
    report = envcheck.run_checks("auto", make_probes(tmp_path, smi=RTX_4090))
    assert report.recommended_preset == "gpt-oss-20b" == report.preset
    assert report.check("GPU").value == "NVIDIA GeForce RTX 4090"
    vram = report.check("VRAM")
    assert vram.status == OK and vram.value.startswith("24.0 GiB total, 23.2 GiB free")
    assert "15.5 GiB VRAM at max_seq_length 1024" in vram.value
    assert report.check("Compute capability").status == OK
    assert report.check("Compute capability").value == "8.9, bf16 supported"
    assert all(c.status == OK for c in report.checks), [c for c in report.checks if c.status != OK]
    assert report.preset_ok and report.message == "Preset 'gpt-oss-20b' (auto: gpt-oss-20b) can run here."
    assert set(report.fitting_presets) == {"gpt-oss-20b", "smollm2-135m", "tiny-gpt-oss"}
    assert "24.0 GiB" in report.fitting_presets["gpt-oss-20b"]
    assert "66 GiB" in report.unfit_presets["gpt-oss-120b"]
    assert envcheck.require(report) is report
    # the 120b preset does not fit this card
    big = envcheck.run_checks("gpt-oss-120b", make_probes(tmp_path, smi=RTX_4090))
    assert big.check("VRAM").status == FAIL and "66 GiB" in big.check("VRAM").value
    assert 'PRESET="gpt-oss-20b"' in big.check("VRAM").fix


def test_16gb_t4_is_too_small_for_gpt_oss_20b(tmp_path):
    probes = make_probes(tmp_path, smi=TESLA_T4, driver_cuda="12.4",
                         torch={"version": "2.11.0+cu124", "cuda": "12.4", "cuda_available": True})
    report = envcheck.run_checks("gpt-oss-20b", probes)
    vram = report.check("VRAM")
    assert vram.status == FAIL
    assert "15.0 GiB total" in vram.value and "needs 15.5 GiB" in vram.value
    assert "24 GB" in vram.fix and 'PRESET="smollm2-135m"' in vram.fix
    cap = report.check("Compute capability")
    assert cap.status == WARN and "no bf16" in cap.value
    assert report.recommended_preset == "smollm2-135m"
    assert "gpt-oss-20b" in report.unfit_presets and "only 15.0 GiB" in report.unfit_presets["gpt-oss-20b"]
    assert not report.preset_ok
    # auto picks the CPU tutorial and says why the GPU was not used
    auto = envcheck.run_checks("auto", probes)
    assert auto.preset == "smollm2-135m" and auto.preset_ok
    assert auto.check("VRAM").status == WARN and "Colab T4" in auto.check("VRAM").fix


def test_16gb_card_with_busy_desktop_warns_about_free_vram(tmp_path):
    report = envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, smi=RTX_4080_BUSY))
    assert report.recommended_preset == "gpt-oss-20b"
    vram = report.check("VRAM")
    assert vram.status == WARN
    assert "16.0 GiB total, 14.2 GiB free" in vram.value and "other programs hold 1.8 GiB" in vram.value
    assert "close programs using the GPU" in vram.fix
    assert report.preset_ok


@pytest.mark.parametrize("mib", [None, 4096, 8192, 12288, 15360, 15872, 16376, 24564, 49140, 81559])
def test_recommended_preset_agrees_with_auto_preset_name(tmp_path, mib):
    smi = None if mib is None else f"Some GPU, {mib}, {mib - 500}, 570.86.15, 8.6\n"
    report = envcheck.run_checks(None, make_probes(tmp_path, smi=smi))
    assert report.recommended_preset == auto_preset_name(0.0 if mib is None else mib / 1024)
    assert report.preset == report.recommended_preset


def test_parse_nvidia_smi_several_gpus_and_na():
    gpus = envcheck.parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559, 81000, 570.86.15, 9.0\n"
                                     "NVIDIA A10G, [N/A], [N/A], 570.86.15, 8.6\n\n")
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA A10G"]
    assert gpus[0].total_gib == pytest.approx(79.647, abs=1e-3) and gpus[0].capability == "9.0"
    assert gpus[1].total_gib is None and gpus[1].free_gib is None


def test_old_driver_without_compute_cap_field(tmp_path):
    calls = []
    probes = make_probes(tmp_path, smi="x", calls=calls,
                         torch={"version": "2.11.0+cu128", "cuda": "12.8", "cuda_available": True,
                                "capability": "8.6"})

    def run_command(argv):  # an old driver rejects the compute_cap field
        calls.append(list(argv))
        if len(argv) == 1:
            return (0, smi_header("12.9"), "")
        if "compute_cap" in argv[1]:
            return (6, 'Field "compute_cap" is not a valid field to query.\n', "")
        return (0, "NVIDIA GeForce RTX 3090, 24576, 24000, 535.54.03\n", "")

    probes.run_command = run_command
    report = envcheck.run_checks(None, probes)
    assert report.check("GPU").value == "NVIDIA GeForce RTX 3090"
    assert report.check("Compute capability").value == "8.6, bf16 supported"  # from torch
    queries = [a[1] for a in calls if isinstance(a, list) and len(a) > 1]
    assert queries == [envcheck.NVIDIA_SMI_QUERY[0], "--query-gpu=name,memory.total,memory.free,driver_version"]


def test_nvidia_smi_that_cannot_talk_to_the_driver(tmp_path):
    probes = make_probes(tmp_path, smi="", smi_rc=9, smi_stderr="NVIDIA-SMI has failed because it couldn't "
                         "communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed.")
    report = envcheck.run_checks("gpt-oss-20b", probes)
    check = report.check("NVIDIA driver")
    assert check.status == FAIL and "couldn't communicate" in check.value
    assert "ubuntu-drivers" in check.fix
    assert report.recommended_preset == "smollm2-135m"


# ---------------------------------------------------------------------------------------------------------------
# torch vs driver


def test_cpu_torch_on_a_gpu_machine(tmp_path):
    probes = make_probes(tmp_path, smi=RTX_4090, torch={"version": "2.13.0+cpu", "cuda": None,
                                                         "cuda_available": False})
    check = envcheck.run_checks("gpt-oss-20b", probes).check("PyTorch")
    assert check.status == FAIL and "CPU build" in check.value and "RTX 4090" in check.value
    assert "pip install -r requirements.txt" in check.fix
    assert envcheck.run_checks("smollm2-135m", probes).check("PyTorch").status == WARN


def test_driver_older_than_torch_cuda_build(tmp_path):
    minor = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, driver_cuda="12.4"))
    assert minor.check("PyTorch").status == WARN and "driver supports CUDA 12.4" in minor.check("PyTorch").value
    assert "update the NVIDIA driver" in minor.check("PyTorch").fix
    major = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, driver_cuda="11.8"))
    assert major.check("PyTorch").status == FAIL and "only CUDA 11.8" in major.check("PyTorch").value
    assert not major.preset_ok
    wsl = envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, smi=RTX_4090, driver_cuda="11.8"))
    assert "(on Windows)" in wsl.check("PyTorch").fix


def test_cuda_hidden_by_cuda_visible_devices(tmp_path):
    probes = make_probes(tmp_path, smi=RTX_4090, env={"CUDA_VISIBLE_DEVICES": ""},
                         torch={"version": "2.11.0+cu128", "cuda": "12.8", "cuda_available": False})
    check = envcheck.run_checks("gpt-oss-20b", probes).check("PyTorch")
    assert check.status == FAIL and "is_available() is False" in check.value
    assert check.fix == "`unset CUDA_VISIBLE_DEVICES`"


def test_torch_not_installed(tmp_path):
    check = envcheck.run_checks(None, make_probes(tmp_path, torch=None)).check("PyTorch")
    assert check.status == FAIL and check.value == "not installed"
    assert "requirements-cpu.txt" in check.fix


def test_torch_build_for_each_driver(tmp_path):
    """PyPI's torch 2.11.0 is the CUDA 13.0 build: driver 580+ takes it, older drivers the same version's cu126/cu128."""
    old = envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, smi=RTX_4090, driver_cuda="12.7"))
    check = old.check("torch for this driver")
    assert check.status == OK and check.value.startswith(
        "requirements.txt with torch 2.11.0+cu126 from https://download.pytorch.org/whl/cu126: driver 566.36 supports "
        "CUDA 12.7")
    assert "needs driver 580+" in check.value
    new = envcheck.run_checks("gpt-oss-20b", make_probes(
        tmp_path, smi=RTX_4090.replace("566.36", "580.95.05"), driver_cuda="13.0"))
    assert new.check("torch for this driver").value.startswith("requirements.txt with torch 2.11.0+cu130 from PyPI")
    assert new.machine["torch_choice"]["build"] == "cu130" and new.machine["torch_choice"]["pip_args"] == []


def test_driver_too_old_for_any_torch_build(tmp_path):
    probes = make_probes(tmp_path, smi=RTX_4090.replace("566.36", "470.256.02"), driver_cuda="11.4")
    check = envcheck.run_checks("gpt-oss-20b", probes).check("torch for this driver")
    assert check.status == FAIL and "too old for any torch 2.11.0 build" in check.value
    assert "update the NVIDIA driver" in check.fix
    assert envcheck.run_checks("smollm2-135m", probes).check("torch for this driver").status == WARN


def test_cu130_torch_under_an_older_windows_driver(tmp_path):
    """The issue's reader: PyPI's cu130 torch installed under WSL2 with driver 566 gets a GPU-less torch."""
    probes = wsl_probes(tmp_path, smi=RTX_4090, driver_cuda="12.7", torch={
        "version": "2.11.0+cu130", "cuda": "13.0", "cuda_available": False})
    report = envcheck.run_checks("gpt-oss-20b", probes)
    check = report.check("PyTorch")
    assert check.status == FAIL and "driver supports only CUDA 12.7" in check.value and "(on Windows)" in check.fix
    assert not report.preset_ok


def test_before_the_install_nothing_installed_is_not_a_failure(tmp_path):
    probes = make_probes(tmp_path, smi=RTX_4090, driver_cuda="12.7", torch=None, installed={})
    report = envcheck.run_checks("gpt-oss-20b", probes)
    torch = report.check("PyTorch")
    assert torch.status == WARN and torch.value == "not installed yet (setup installs torch 2.11.0+cu126)"
    assert "make setup" in torch.fix
    pins = report.check("Pinned versions")
    assert pins.status == WARN and pins.value == "GPU set (requirements.txt): none of its 7 pins installed yet"
    assert report.preset_ok, report.message
    cpu = envcheck.run_checks(None, make_probes(tmp_path, torch=None, installed={}))
    assert cpu.check("PyTorch").value == "not installed yet (setup installs torch 2.13.0+cpu)"


def test_memory_from_proc_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318480 kB\nMemFree:  1000 kB\nMemAvailable:   12000000 kB\n"
                       "SwapTotal:       4194304 kB\n")
    assert envcheck._memory_from_proc(str(meminfo)) == (16318480 * 1024, 12000000 * 1024, 4194304 * 1024)
    assert envcheck._memory_from_proc(str(tmp_path / "missing")) is None


# ---------------------------------------------------------------------------------------------------------------
# pinned versions


def test_version_mismatch_is_a_warning_against_the_gpu_set(tmp_path):
    installed = {**GPU_INSTALLED, "transformers": "5.23.0", "trl": None}
    report = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, installed=installed))
    check = report.check("Pinned versions")
    assert check.status == WARN
    assert "GPU set (requirements.txt): 2 of 7 differ" in check.value
    assert "transformers 5.23.0 (pinned 5.17.0)" in check.value and "trl not installed (pinned 1.15.0)" in check.value
    assert "unsloth" not in check.value  # matching pins are not listed
    # the reinstall command carries the torch build this driver runs (CUDA 12.9: cu128 from the PyTorch index)
    assert ("`make setup`, or `pip install -r requirements.txt --extra-index-url https://download.pytorch.org/whl/cu128 "
            "torch==2.11.0+cu128`") in check.fix
    assert report.preset_ok  # a mismatch warns, it does not stop the run


def test_cpu_machine_is_compared_with_the_cpu_set(tmp_path):
    calls = []
    ok = envcheck.run_checks(None, make_probes(tmp_path, calls=calls)).check("Pinned versions")
    assert ok.status == OK and ok.value == "CPU set (requirements-cpu.txt): all 5 pins match"
    assert ("versions", ["torch", "transformers", "trl", "peft", "datasets"]) in calls
    bad = envcheck.run_checks(None, make_probes(tmp_path, installed={**CPU_INSTALLED, "trl": "1.15.0"}))
    assert bad.check("Pinned versions").status == WARN and "trl 1.15.0 (pinned 1.16.0)" in bad.check(
        "Pinned versions").value
    assert "requirements-cpu.txt" in bad.check("Pinned versions").fix


def test_missing_requirements_file_warns(tmp_path):
    check = envcheck.run_checks(None, make_probes(tmp_path, requirements=False)).check("Pinned versions")
    assert check.status == WARN and "requirements-cpu.txt not found" in check.value
    assert "git pull" in check.fix


def test_parse_requirements():
    text = (
        "# comment\n--extra-index-url https://x\n-r other.txt\n-e .\n\n"
        "Torch==2.11.0  # trailing comment\nmath-verify[antlr4_13_2]==0.9.0\nrich>=13\nnumpy\n"
        'pywin32==306 ; sys_platform == "win32"\nuvloop==0.21.0; sys_platform != "win32"\n'
    )
    assert envcheck.parse_requirements(text) == {"Torch": "2.11.0", "math-verify": "0.9.0", "uvloop": "0.21.0"}


# ---------------------------------------------------------------------------------------------------------------
# disk, cache location, memory, Python, hub


@pytest.mark.parametrize(
    "preset, free, status",
    [
        ("gpt-oss-20b", 200.0, OK),
        ("gpt-oss-20b", 40.0, WARN),
        ("gpt-oss-20b", 10.0, FAIL),
        ("smollm2-135m", 10.0, OK),
        ("smollm2-135m", 0.5, FAIL),
    ],
)
def test_free_disk_where_the_cache_lives(tmp_path, preset, free, status):
    calls = []
    probes = make_probes(tmp_path, smi=RTX_4090, disk_free_gib={"/": 900.0, "/home/u": free}, calls=calls)
    check = envcheck.run_checks(preset, probes).check("Disk (HF cache)")
    assert check.status == status
    assert ("disk", "/home/u") in calls  # the nearest existing folder above ~/.cache/huggingface/hub
    assert f"{free:.1f} GiB free at /home/u/.cache/huggingface/hub" in check.value
    if status != OK:
        assert "HF_HOME" in check.fix and envcheck.SECTION["disk"] in check.fix
    if preset == "gpt-oss-20b" and status == WARN:
        assert "42 GB merged 16-bit export" in check.value


def test_disk_follows_hf_home(tmp_path):
    probes = make_probes(tmp_path, env={"HF_HOME": "/data/hf"}, paths=["/data"],
                         disk_free_gib={"/": 900.0, "/data": 2.0})
    check = envcheck.run_checks(None, probes).check("Disk (HF cache)")
    assert check.status == WARN and "2.0 GiB free at /data/hf/hub" in check.value


def test_wsl_disk_image_on_a_full_c_drive(tmp_path):
    probes = wsl_probes(tmp_path, smi=RTX_4090, paths=[*WSL_LIB, "/mnt/c"],
                        disk_free_gib={"/": 950.0, "/mnt/c": 20.0})
    check = envcheck.run_checks("gpt-oss-20b", probes).check("Disk (HF cache)")
    assert check.status == WARN and "C: has only 20.0 GiB free" in check.value
    assert "wsl --export" in check.fix


@pytest.mark.parametrize(
    "env, links",
    [
        ({"HF_HOME": "/mnt/c/Users/me/hf"}, {}),
        ({"HF_HUB_CACHE": "/mnt/d/cache"}, {}),
        ({}, {"/home/u/.cache/huggingface": "/mnt/d/huggingface"}),  # a symlink to the Windows drive
    ],
)
def test_cache_on_a_windows_mount_under_wsl2(tmp_path, env, links):
    report = envcheck.run_checks(None, wsl_probes(tmp_path, smi=RTX_4090, env=env, links=links))
    check = report.check("HF cache location")
    assert check.status == WARN and "cache on a Windows drive (/mnt/" in check.value
    assert "export HF_HOME=~/.cache/huggingface" in check.fix
    assert envcheck.SECTION["cache"] in check.fix
    assert report.preset_ok


def test_cache_in_linux_home_under_wsl2_is_ok(tmp_path):
    check = envcheck.run_checks(None, wsl_probes(tmp_path, smi=RTX_4090)).check("HF cache location")
    assert check.status == OK and check.value == "/home/u/.cache/huggingface/hub (Linux filesystem)"


def test_mnt_path_outside_wsl_is_fine(tmp_path):
    check = envcheck.run_checks(None, make_probes(tmp_path, env={"HF_HOME": "/mnt/d/hf"})).check("HF cache location")
    assert check.status == OK


def test_repository_on_a_windows_mount_under_wsl2(tmp_path):
    probes = wsl_probes(tmp_path, smi=RTX_4090, links={str(tmp_path / "repo"): "/mnt/c/Users/me/repo"})
    check = envcheck.run_checks(None, probes).check("HF cache location")
    assert check.status == WARN and "/mnt/c/Users/me/repo" in check.value and "git clone" in check.fix


def test_low_ram_under_wsl_points_to_wslconfig(tmp_path):
    check = envcheck.run_checks(None, wsl_probes(tmp_path, smi=RTX_4090, ram_gib=7.7, swap_gib=2)).check(
        "RAM and swap")
    assert check.status == WARN and "RAM 7.7 GiB" in check.value
    assert ".wslconfig" in check.fix and "wsl --shutdown" in check.fix and "memory=" in check.fix
    assert envcheck.SECTION["memory"] in check.fix


def test_low_ram_native(tmp_path):
    assert envcheck.run_checks(None, make_probes(tmp_path, ram_gib=7.7)).check("RAM and swap").status == OK
    gpu = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, ram_gib=7.7)).check("RAM and swap")
    assert gpu.status == WARN and "mkswap" in gpu.fix


@pytest.mark.parametrize("preset", ["smollm2-135m", "gpt-oss-20b"])
def test_python_3_10_fails_with_three_ways_to_get_3_11(tmp_path, preset):
    report = envcheck.run_checks(preset, make_probes(tmp_path, smi=RTX_4090, python=(3, 10, 12)))
    check = report.check("Python")
    assert check.status == FAIL and check.value == "3.10.12 (needs >= 3.11: the pinned sets' TRL requires it)"
    for way in ("conda env create -f environment.yml", "ppa:deadsnakes/ppa", "python3.11-venv",
                "make setup PYTHON=python3.11", "uv python install 3.11"):
        assert way in check.fix
    assert not report.preset_ok and "Python: 3.10.12" in report.message
    assert envcheck.run_checks(preset, make_probes(tmp_path, python=(3, 11, 0))).check("Python").status == OK


def test_hf_hub_offline_needs_no_network(tmp_path):
    calls = []
    probes = make_probes(tmp_path, env={"HF_HUB_OFFLINE": "1"}, hub=AssertionError("network used"), calls=calls)
    report = envcheck.run_checks(None, probes)
    check = report.check("Hugging Face Hub")
    assert check.status == WARN and "offline (HF_HUB_OFFLINE=1)" in check.value
    assert 'PRESET="smollm2-135m"' in check.fix
    assert not [c for c in calls if c[0] == "hub"]
    assert report.preset_ok


def test_offline_gpu_preset_needs_the_model_in_the_cache(tmp_path):
    offline = {"HF_HUB_OFFLINE": "1"}
    report = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, env=offline,
                                                             hub=AssertionError("network used")))
    check = report.check("Hugging Face Hub")
    assert check.status == FAIL and "unsloth/gpt-oss-20b must be downloaded" in check.value
    assert "unset HF_HUB_OFFLINE" in check.fix and "smollm2-135m" in check.fix
    snapshot = "/home/u/.cache/huggingface/hub/models--unsloth--gpt-oss-20b/snapshots/abc"
    cached = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, env=offline, paths=[snapshot]))
    assert cached.check("Hugging Face Hub").status == WARN and cached.preset_ok


def test_hub_probe_uses_endpoint_and_timeout(tmp_path):
    calls = []
    ok = envcheck.run_checks(None, make_probes(tmp_path, calls=calls))
    assert ok.check("Hugging Face Hub").status == OK
    assert ("hub", "https://huggingface.co", 3.0) in calls
    mirror = envcheck.run_checks(None, make_probes(tmp_path, env={"HF_ENDPOINT": "https://hf-mirror.com"},
                                                   hub=(False, "timed out"), calls=calls))
    assert ("hub", "https://hf-mirror.com", 3.0) in calls
    assert mirror.check("Hugging Face Hub").status == WARN and "unreachable (timed out)" in mirror.check(
        "Hugging Face Hub").value


# ---------------------------------------------------------------------------------------------------------------
# report: JSON, table, require, links


def _scenarios(tmp_path):
    yield envcheck.run_checks(None, make_probes(tmp_path))
    yield envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, python=(3, 8, 10), ram_gib=4, swap_gib=0,
                                                         disk_free_gib=5.0, requirements=False))
    yield envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, smi=TESLA_T4, env={"HF_HOME": "/mnt/c/hf"},
                                                        ram_gib=7.5, driver_cuda="11.8", hub=(False, "timeout")))
    yield envcheck.run_checks("gpt-oss-20b", wsl_probes(tmp_path, paths=[]))


def test_every_problem_has_a_fix_and_every_link_exists(tmp_path):
    guide = (REPO_ROOT / "env" / "WSL2.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#{1,6} (.+)$", guide, flags=re.M)
    }
    for link in envcheck.SECTION.values():
        assert link.split("#", 1)[1] in anchors, link
    seen = set()
    for report in _scenarios(tmp_path):
        for c in report.checks:
            seen.add(c.status)
            assert c.status in (OK, WARN, FAIL)
            if c.status != OK:
                assert c.fix.strip(), c
            for anchor in re.findall(r"env/WSL2\.md#([\w-]+)", c.fix):
                assert anchor in anchors, (c.name, anchor)
    assert seen == {OK, WARN, FAIL}


def test_to_json_shape(tmp_path):
    report = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path))
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) >= {"checks", "recommended_preset", "preset", "preset_ok", "fitting_presets", "message"}
    assert data["recommended_preset"] == "smollm2-135m" and data["preset"] == "gpt-oss-20b"
    assert data["preset_ok"] is False
    for row in data["checks"]:
        assert set(row) == {"name", "status", "value", "fix"}
        assert row["status"] in ("ok", "warn", "fail")
    assert [r["name"] for r in data["checks"]] == [c.name for c in report.checks]


def test_check_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        Check("x", "error", "v")


def test_render_table_prints_every_check(tmp_path):
    smi = "NVIDIA [Test] GPU, 24564, 23800, 566.36, 8.9\n"  # brackets must not be read as rich markup
    report = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=smi, python=(3, 9, 1)))
    buf = io.StringIO()
    console = Console(file=buf, width=220, color_system=None)
    table = envcheck.render_table(report, console=console)
    assert table.row_count == len(report.checks)
    text = buf.getvalue()
    for c in report.checks:
        assert c.name in text
    assert "NVIDIA [Test] GPU" in text and "FAIL" in text and "3.9.1 (needs >= 3.11" in text
    envcheck.render_verdict(report, console=console)
    assert "+ gpt-oss-20b" in buf.getvalue() and "cannot run on this machine" in buf.getvalue()
    quiet = io.StringIO()
    envcheck.render_table(report, console=Console(file=quiet), show=False)
    assert quiet.getvalue() == ""


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        envcheck.run_checks("llama-70b", make_probes(tmp_path))


# ---------------------------------------------------------------------------------------------------------------
# the real thing: the CLI on this machine, the module's imports, notebook 00


def test_cli_json_and_exit_code():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}  # no network in tests
    script = str(REPO_ROOT / "scripts" / "check_env.py")
    runs = {
        "json": subprocess.Popen([sys.executable, script, "--json"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env),
        "20b": subprocess.Popen([sys.executable, script, "--preset", "gpt-oss-20b"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env),
        "imports": subprocess.Popen(
            [sys.executable, "-c", "import sys, gpt_oss_tutorial.envcheck as e; e.Probes.real(); "
             "print(sorted(m for m in ('torch', 'unsloth', 'transformers') if m in sys.modules))"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
    }
    out = {k: (p.communicate(timeout=120), p.returncode) for k, p in runs.items()}

    (stdout, stderr), rc = out["json"]
    data = json.loads(stdout)
    assert set(data) >= {"checks", "recommended_preset"}
    assert all(set(r) >= {"name", "status", "value", "fix"} and r["status"] in ("ok", "warn", "fail")
               for r in data["checks"])
    assert rc == (0 if data["preset_ok"] else 1) == (1 if any(r["status"] == "fail" for r in data["checks"]) else 0)
    assert data["recommended_preset"] == data["preset"]

    (stdout, stderr), rc = out["imports"]
    assert rc == 0, stderr
    assert stdout.strip() == "[]"  # nothing heavy at import time

    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi: gpt-oss-20b may well run here")
    (stdout, stderr), rc = out["20b"]
    assert rc == 1, stdout + stderr
    assert "cannot run on this machine" in stdout and "NVIDIA driver" in stdout


STDLIB_ONLY = ["check_env.py", "gpt_oss_tutorial/__init__.py", "gpt_oss_tutorial/envcheck.py",
               "gpt_oss_tutorial/presets.py", "gpt_oss_tutorial/torch_choice.py"]


def test_preflight_on_a_bare_interpreter(tmp_path):
    """`python -I -S`: no site-packages (no rich, torch, psutil, packaging), as on a fresh machine before setup."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    script = str(REPO_ROOT / "scripts" / "check_env.py")
    bare = [sys.executable, "-I", "-S"]
    probe = subprocess.run([*bare, "-c", "import rich"], capture_output=True, text=True, env=env)
    assert probe.returncode != 0, "-S should hide site-packages"
    done = subprocess.run([*bare, script, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.stderr == ""
    data = json.loads(done.stdout)
    rows = {r["name"]: r for r in data["checks"]}
    assert {"OS", "NVIDIA driver", "torch for this driver", "Python", "Disk (HF cache)", "RAM and swap",
            "Hugging Face Hub"} <= set(rows)
    assert rows["PyTorch"]["value"].startswith("not installed yet")
    if sys.platform == "linux":  # without psutil the RAM comes from /proc/meminfo
        assert rows["RAM and swap"]["value"].startswith("RAM ")
    assert done.returncode == (0 if data["preset_ok"] else 1)
    plain = subprocess.run([*bare, script, "--preset", "smollm2-135m"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert plain.stderr == "" and plain.stdout.startswith("Environment check for preset 'smollm2-135m'")
    assert re.search(r"^(OK|WARN|FAIL) +torch for this driver +", plain.stdout, re.M)
    assert "Presets that fit this machine:" in plain.stdout


@pytest.mark.parametrize("name", STDLIB_ONLY)
def test_preflight_modules_parse_as_python_3_8(name):
    """The preflight runs on the reader's python3 before setup, which may be old: it must at least parse there."""
    import ast

    source = (REPO_ROOT / "scripts" / name).read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 8))
    assert "removeprefix" not in source and "removesuffix" not in source


def test_render_plain_lists_every_check_and_fix(tmp_path):
    report = envcheck.run_checks("gpt-oss-20b", make_probes(tmp_path, smi=RTX_4090, python=(3, 10, 12)))
    text = envcheck.render_plain(report)
    for c in report.checks:
        assert c.name in text
    assert re.search(r"^FAIL +Python +3\.10\.12", text, re.M) and "fix: install Python 3.11" in text
    assert text.rstrip().endswith(report.message)


def test_cli_rejects_unknown_preset():
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "check_env.py"), "--preset", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_notebook_00_layout():
    nb = nbformat.read(str(REPO_ROOT / "notebooks" / "00_environment_check.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and "> 中文摘要：" in nb.cells[0].source
    assert "What it costs" in nb.cells[0].source and "python3 scripts/check_env.py" in nb.cells[0].source
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'PRESET = "auto"' in tagged[0].source and "SMOKE" not in tagged[0].source
    assert nb.metadata["tutorial"]["smoke_parameters"] == {}  # nothing to shrink: the checks take seconds
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "envcheck.run_checks(PRESET)" in "".join(c.source for c in code)
    assert code[-2].source.startswith("envcheck.require(report)")  # stops a run-all before the runner's cell
    assert code[-1].source.startswith('figures.record(\n    "00_environment_check"')
    assert not any(line.lstrip().startswith(("%", "!")) for c in code for line in c.source.splitlines())
