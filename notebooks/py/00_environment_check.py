# Generated from notebooks/00_environment_check.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 00 · Environment check
#
# Before 20 GB of downloads and an hour of training, this notebook checks the machine: WSL2 and the NVIDIA driver, the torch build that driver runs, the GPU and its memory, the installed torch and pinned library versions, Python, disk, memory and the Hugging Face cache. Every problem comes with its fix, and the verdict says which presets fit this machine; when the chosen preset cannot run here, a run-all stops at this notebook with that message instead of failing later.
#
# **What it costs**: no download and no GPU work. On the CPU tutorial's 2-core machine the checks took 3 s (`make run`, most of it importing torch); on an H200, 6 s (docs/gpu-run.md); on 16 GB and 24 GB cards: not measured, the same checks plus one `nvidia-smi` call.
#
# The same check runs in a terminal, even before anything is installed (a bare `python3`, standard library only): `python3 scripts/check_env.py --preset gpt-oss-20b`. `make setup` runs it first and stops on a failure.
#
# > 中文摘要：在下载 20 GB 模型之前检查环境（WSL2、NVIDIA 驱动及其可运行的 torch 版本、显存、已安装版本、Python、磁盘、内存、缓存位置），给出每个问题的修复方法，并判断所选预设能否在本机运行。不下载任何内容；终端里安装前也可运行 `python3 scripts/check_env.py`。

# %% tags=["parameters"]
# PRESET: "auto" (what this machine fits), or a preset name: "gpt-oss-20b", "gpt-oss-120b", "smollm2-135m",
# "tiny-gpt-oss". The checks below are judged for it; the cell after the verdict stops a run-all when it cannot run here.
PRESET = "auto"

# %%
import pandas as pd

from gpt_oss_tutorial import envcheck, figures

report = envcheck.run_checks(PRESET)
table = envcheck.render_table(report)  # prints the table (rich: terminal and notebook alike)

# %% [markdown]
# ## What each check looks at
#
# - **OS**: native Linux, WSL2 (kernel string `…-microsoft-standard-WSL2`, `$WSL_DISTRO_NAME`, `/usr/lib/wsl/lib`) or WSL1, which has no GPU access at all.
# - **WSL2 GPU driver** (WSL2 only): CUDA inside WSL comes from the *Windows* driver through `/usr/lib/wsl/lib/libcuda.so`; a Linux driver installed inside WSL shadows it and breaks CUDA.
# - **NVIDIA driver**: `nvidia-smi` runs and reports the driver and the newest CUDA it supports.
# - **torch for this driver**: PyPI's torch 2.11.0 is built for CUDA 13.0 and needs a driver of the 580 series or newer; older drivers get the CUDA 12.8 or 12.6 build of the same version from the PyTorch index. This row says which build setup installs here and why.
# - **GPU**, **VRAM**, **Compute capability**: the card's name, total and free memory against what the preset needs (gpt-oss-20b: 15.5 GiB at `max_seq_length` 1024, so a 15 GiB Colab T4 does not fit), and whether it has bf16 (compute capability 8.0, Ampere, or newer).
# - **PyTorch**: a `+cpu` build cannot use the GPU; a CUDA build newer than the driver's CUDA sees no GPU.
# - **Pinned versions**: installed packages against `requirements.txt` (GPU) or `requirements-cpu.txt` (CPU); Unsloth, transformers and TRL only work at versions that fit each other.
# - **Python**: 3.11 or newer (the pinned TRL requires it).
# - **Disk (HF cache)**: free space where the Hugging Face cache lives (gpt-oss-20b: ~13 GB download + ~42 GB for a merged 16-bit export).
# - **HF cache location**: under WSL2 a cache on `/mnt/c` goes through the Windows file server, ~10x slower.
# - **RAM and swap**: WSL2 gets half of the Windows RAM by default; `.wslconfig` raises it.
# - **Hugging Face Hub**: reachable or offline (`HF_HUB_OFFLINE=1`); offline, the CPU tutorial still runs.
#
# The fixes link to sections of [`env/WSL2.md`](../env/WSL2.md).

# %%
presets = pd.DataFrame(
    [{"preset": name, "fits here": "yes", "why": why} for name, why in report.fitting_presets.items()]
    + [{"preset": name, "fits here": "no", "why": why} for name, why in report.unfit_presets.items()]
).set_index("preset")
presets.loc[report.recommended_preset, "fits here"] = "yes (recommended)"
print(f"Checks judged for: {report.preset} (PRESET = {report.requested_preset!r})")
print(report.message)
presets

# %% [markdown]
# ## Stop here when the preset cannot run
#
# The next cell raises `EnvironmentNotReady` with the message above when a check failed for the chosen preset, so a run-all stops now rather than an hour later. Fix the `FAIL` rows, or choose a preset that fits (`PRESET = "smollm2-135m"` runs on any CPU, offline).

# %%
envcheck.require(report)
print(f"Ready for {report.preset}.")

# %%
figures.record(
    "00_environment_check",
    recommended_preset=report.recommended_preset,
    preset=report.preset,
    fails=[c.name for c in report.fails],
    warns=[c.name for c in report.warns],
)
