"""env/bootstrap.sh (`make setup`) and the torch choice, on simulated machines: fake `nvidia-smi` (driver 566 under
WSL2 numbering, 580), no `nvidia-smi`, a Python 3.10, a python3 without the venv module, a pip that fails once.

The fakes stand in a copy of the repository: a fake `python3` answers `-m venv` and `-m pip` (logging every pip call,
installing nothing) and hands every script (the preflight, the torch choice) to the real interpreter. Nothing is
downloaded; each run takes about a second.
"""
from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gpt_oss_tutorial import torch_choice
from gpt_oss_tutorial.paths import REPO_ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None, reason="bash on Linux")

FAKE_PYTHON = r"""#!/usr/bin/env bash
# A python3 for the tests: pip and venv are simulated, scripts run on the real interpreter.
here=$(cd "$(dirname "$0")" && pwd)
case "$1" in
  -c)
    case "$2" in
      *version_info*) echo "${FAKE_PY_VERSION:-3.11.9}"; exit 0 ;;
      *sys.prefix*) cd "$here/.." && pwd; exit 0 ;;
      *ensure_converter*) echo "[setup] GGUF converter: (fake)"; exit 0 ;;
      *"import torch"*) echo "torch (fake)"; exit 0 ;;
    esac ;;
  -m)
    case "$2" in
      venv)
        mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
        if [[ ${FAKE_VENV:-ok} == ok ]]; then touch "$3/pip-ok"; exit 0; fi
        echo "The virtual environment was not created successfully because ensurepip is not available." >&2
        exit 1 ;;
      pip)
        [[ -e $here/../pip-ok ]] || { echo "$0: No module named pip" >&2; exit 1; }
        shift 2
        [[ $1 == --disable-pip-version-check ]] && shift
        [[ $1 == --version ]] && { echo "pip 25.0 (fake)"; exit 0; }
        [[ $1 == install ]] && shift
        printf '%s\n' "$*" >>"$FAKE_LOG"
        if [[ " $* " == *" -r requirements"* ]]; then
          failed=$(cat "$FAKE_LOG.failed" 2>/dev/null || echo 0)
          if (( failed < ${FAKE_PIP_FAILS:-0} )); then
            echo $((failed + 1)) >"$FAKE_LOG.failed"
            echo "ERROR: Could not install packages due to an OSError: Connection reset by peer (fake)" >&2
            exit 1
          fi
        fi
        exit 0 ;;
    esac ;;
esac
exec "$REAL_PYTHON" -S "$@"  # no site-packages: the fake environment has nothing installed
"""


FAKE_CONDA = r"""#!/usr/bin/env bash
# conda for the tests: env list / env create / run, environments under $FAKE_CONDA_ROOT/envs
root=$FAKE_CONDA_ROOT
case "$1" in
  --version) echo "conda 25.1.0 (fake)" ;;
  env)
    case "$2" in
      list) echo "base  $root"; for d in "$root"/envs/*; do [[ -d $d ]] && echo "$(basename "$d")  $d"; done ;;
      create) mkdir -p "$root/envs/$4/bin" && cp "$FAKE_PYTHON_SOURCE" "$root/envs/$4/bin/python"
              touch "$root/envs/$4/pip-ok"; echo "env create -n $4 -f $6" >>"$FAKE_LOG.conda" ;;
    esac ;;
  run) name=$4; shift 4
       CONDA_PREFIX="$root/envs/$name" CONDA_DEFAULT_ENV=$name PATH="$root/envs/$name/bin:$PATH" exec "$@" ;;
esac
"""
WSL_TOOLS = {
    "uname": 'case "$1" in -r) echo 5.15.167.4-microsoft-standard-WSL2 ;; -m) echo x86_64 ;; *) echo Linux ;; esac\n',
    # build tools are "installed"; no Linux NVIDIA driver package is
    "dpkg-query": 'for a in "$@"; do [[ $a == nvidia-* || $a == "libnvidia-compute-*" || $a == "cuda-drivers*" ]] '
                  '&& exit 1; done; echo "install ok installed"\n',
}


def fake_nvidia_smi(driver: str, cuda: str) -> str:
    return rf"""#!/usr/bin/env bash
case "$*" in
  *--query-gpu=name,*) echo "NVIDIA GeForce RTX 4090, 24564, 23800, {driver}, 8.9" ;;
  *--query-gpu=driver_version*) echo "{driver}, 8.9" ;;
  -L) echo "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-fake)" ;;
  "") echo "| NVIDIA-SMI {driver}    Driver Version: {driver}    CUDA Version: {cuda}     |" ;;
esac
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class Machine:
    """A copy of the repository's setup files plus a bin/ of fakes; ``run()`` runs env/bootstrap.sh there."""

    def __init__(self, root: Path, *, smi: tuple[str, str] | None):
        self.root = root
        self.repo = root / "repo"
        self.bin = root / "bin"
        self.log = root / "pip.log"
        for name in ("env", "scripts/gpt_oss_tutorial"):
            shutil.copytree(REPO_ROOT / name, self.repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("scripts/check_env.py", "requirements.txt", "requirements-cpu.txt", "requirements-offline.txt",
                     "requirements-gguf.txt", "pyproject.toml", "environment.yml", "Makefile"):
            shutil.copy2(REPO_ROOT / name, self.repo / name)
        self.bin.mkdir()
        _executable(self.bin / "python3", FAKE_PYTHON)
        if smi:
            _executable(self.bin / "nvidia-smi", fake_nvidia_smi(*smi))
        cache = root / "hub"  # gpt-oss-20b "in the cache", so the offline preflight only warns about the hub
        (cache / "models--unsloth--gpt-oss-20b" / "snapshots").mkdir(parents=True)
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(root),
            "REAL_PYTHON": sys.executable,
            "FAKE_LOG": str(self.log),
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_CACHE": str(cache),
            "LANG": "C.UTF-8",
        }

    def run(self, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "env/bootstrap.sh"], cwd=self.repo, env={**self.env, **env},
                              capture_output=True, text=True, timeout=120)

    def pip_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def stamps(self, prefix: str = ".venv") -> list[Path]:
        return sorted((self.repo / prefix).glob(".installed-*"))


@pytest.fixture
def machine(tmp_path):
    if shutil.which("nvidia-smi", path="/usr/bin:/bin"):
        pytest.skip("a real nvidia-smi in /usr/bin would answer instead of the fakes")
    return lambda smi=None: Machine(tmp_path, smi=smi)


def _set_install(calls: list[str]) -> list[str]:
    return [c for c in calls if " -r requirements.txt" in f" {c}" or " -r requirements-cpu.txt" in f" {c}"]


def test_driver_566_gets_the_cu126_build_of_the_same_torch(machine):
    m = machine(("566.36", "12.7"))  # WSL2 shows the Windows driver's number
    done = m.run(PRESET="gpt-oss-20b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("[setup] chose requirements.txt with torch 2.11.0+cu126 from https://download.pytorch.org/whl/cu126: "
            "driver 566.36 supports CUDA 12.7") in done.stdout
    assert _set_install(m.pip_calls()) == [
        "-q -r requirements.txt --extra-index-url https://download.pytorch.org/whl/cu126 torch==2.11.0+cu126 "
        "torchvision==0.26.0+cu126"]
    [stamp] = m.stamps()
    assert "requirements=requirements.txt" in stamp.read_text() and "cu126" in stamp.read_text()


def test_driver_580_gets_pypis_cuda_13_build(machine):
    m = machine(("580.95.05", "13.0"))
    done = m.run(PRESET="gpt-oss-20b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chose requirements.txt with torch 2.11.0+cu130 from PyPI: driver 580.95.05 supports CUDA 13.0" in done.stdout
    assert _set_install(m.pip_calls()) == ["-q -r requirements.txt"]
    assert not any("download.pytorch.org" in c for c in m.pip_calls())


def test_no_nvidia_smi_installs_the_cpu_set(machine):
    m = machine(None)
    done = m.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chose requirements-cpu.txt (torch 2.13.0+cpu): no NVIDIA driver answered" in done.stdout
    assert _set_install(m.pip_calls()) == ["-q -r requirements-cpu.txt"]  # no extra index when pip finds the wheel
    again = m.run()
    assert again.returncode == 0 and "[setup] .venv is up to date (requirements-cpu.txt)" in again.stdout
    assert len(_set_install(m.pip_calls())) == 1  # nothing installed twice


def test_python_3_10_is_refused_with_the_ways_to_get_3_11(machine):
    m = machine(("566.36", "12.7"))
    done = m.run(FAKE_PY_VERSION="3.10.12")
    assert done.returncode == 1
    assert "python3 is Python 3.10.12; the pinned sets need Python 3.11 or newer" in done.stderr
    for way in ("conda env create -f environment.yml", "ppa:deadsnakes/ppa", "make setup PYTHON=python3.11",
                "uv python install 3.11"):
        assert way in done.stderr
    assert not (m.repo / ".venv").exists() and m.pip_calls() == []


def test_missing_venv_module_is_named_and_leaves_no_half_made_venv(machine):
    m = machine(None)
    done = m.run(FAKE_VENV="no-ensurepip")
    assert done.returncode == 1
    assert "the python3-venv package is missing" in done.stderr and "sudo apt install python3.11-venv" in done.stderr
    assert not (m.repo / ".venv").exists() and m.pip_calls() == []
    fixed = m.run()  # after `apt install python3.11-venv`
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert len(m.stamps()) == 1


def test_half_made_venv_from_an_earlier_run_is_rebuilt(machine):
    m = machine(None)
    (m.repo / ".venv" / "bin").mkdir(parents=True)
    _executable(m.repo / ".venv" / "bin" / "python", FAKE_PYTHON)  # a python without pip, as venv leaves it
    done = m.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[setup] .venv is incomplete (no working pip" in done.stdout and "rebuilding it" in done.stdout
    assert (m.repo / ".venv" / "pip-ok").exists() and len(m.stamps()) == 1


def test_a_transient_pip_failure_retries_the_same_gpu_set(machine):
    m = machine(("566.36", "12.7"))
    done = m.run(PRESET="gpt-oss-20b", FAKE_PIP_FAILS="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[setup] pip failed; trying the same install once more" in done.stdout
    first, second = _set_install(m.pip_calls())
    assert first == second and "whl/cu126" in second  # the same build again: never the CPU index for the GPU set
    assert not any("whl/cpu" in c for c in m.pip_calls())
    assert len(m.stamps()) == 1


def test_a_failed_install_leaves_no_stamp(machine):
    m = machine(("580.95.05", "13.0"))
    assert m.run(PRESET="gpt-oss-20b").returncode == 0 and len(m.stamps()) == 1
    with open(m.repo / "requirements.txt", "a") as fh:  # the pins changed (git pull): a new install is due
        fh.write("# a new pin\n")
    done = m.run(PRESET="gpt-oss-20b", FAKE_PIP_FAILS="9")
    assert done.returncode == 1
    assert "installing requirements.txt failed" in done.stderr and "nothing is marked as installed" in done.stderr
    assert m.stamps() == []  # neither the new stamp nor the old one: the environment is half old, half new


def test_the_cpu_set_alone_retries_with_the_pytorch_cpu_index(machine):
    m = machine(None)
    done = m.run(FAKE_PIP_FAILS="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _set_install(m.pip_calls()) == [
        "-q -r requirements-cpu.txt",
        "-q --extra-index-url https://download.pytorch.org/whl/cpu -r requirements-cpu.txt"]


def test_a_failing_preflight_stops_before_any_download(machine):
    m = machine(None)
    done = m.run(PRESET="gpt-oss-20b")  # no GPU here
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "NVIDIA driver" in done.stdout
    assert "the preflight found a problem to fix first" in done.stderr
    assert not (m.repo / ".venv").exists() and m.pip_calls() == []


def test_a_gpu_set_is_not_replaced_when_nvidia_smi_stops_answering(machine):
    m = machine(("580.95.05", "13.0"))
    assert m.run(PRESET="gpt-oss-20b").returncode == 0
    (m.bin / "nvidia-smi").unlink()
    done = m.run()
    assert done.returncode == 1 and "holds the GPU set, but no NVIDIA GPU answers now" in done.stderr
    assert "TUTORIAL_REQUIREMENTS=requirements-cpu.txt make setup" in done.stderr
    assert len(m.stamps()) == 1  # the GPU set stays as it was


def test_the_active_conda_env_of_environment_yml_is_used_instead_of_a_venv(machine):
    m = machine(("566.36", "12.7"))
    conda = m.root / "miniconda3" / "envs" / "gpt-oss"
    (conda / "bin").mkdir(parents=True)
    _executable(conda / "bin" / "python", FAKE_PYTHON)
    (conda / "pip-ok").touch()
    active = {"CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "gpt-oss"}
    done = m.run(PRESET="gpt-oss-20b", **active)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"installing requirements.txt into the conda environment at {conda}" in done.stdout
    assert not (m.repo / ".venv").exists() and len(list(conda.glob(".installed-*"))) == 1
    plan = subprocess.run(["make", "-n", "run", "lab"], cwd=m.repo, env={**m.env, **active}, capture_output=True,
                          text=True, timeout=60)
    assert f"{conda}/bin/python scripts/run_all.py" in plan.stdout and f"{conda}/bin/python -m jupyter lab" in plan.stdout
    other = subprocess.run(["make", "-n", "run"], cwd=m.repo, env={**m.env, **active, "CONDA_DEFAULT_ENV": "base"},
                           capture_output=True, text=True, timeout=60)
    assert ".venv/bin/python scripts/run_all.py" in other.stdout


# ---------------------------------------------------------------------------------------------------------------
# the choice itself (what bootstrap, setup_wsl2.sh and the preflight all use)


@pytest.mark.parametrize(
    "driver, cuda, capability, build, status",
    [
        ("580.95.05", (13, 0), "8.9", "cu130", "ok"),
        ("581.57", None, "8.9", "cu130", "ok"),  # Windows numbering, no header: from the driver branch
        ("572.16", (12, 8), "12.0", "cu128", "ok"),  # RTX 50xx (Blackwell) on a 570 driver
        ("566.36", (12, 7), "8.9", "cu126", "ok"),
        ("560.94", None, "8.6", "cu126", "ok"),
        ("550.54.15", (12, 4), "7.5", "cu126", "warn"),  # minor-version compatibility only
        ("580.95.05", (13, 0), "7.0", "cu126", "ok"),  # V100: Volta has kernels only in the cu126 build
    ],
)
def test_choice_for_drivers(driver, cuda, capability, build, status):
    choice = torch_choice.choose(driver, cuda, capability)
    assert (choice.requirements, choice.build, choice.status) == ("requirements.txt", build, status)
    if build == "cu130":
        assert choice.pip_args == [] and choice.index_url is None
    else:
        assert choice.pip_args == ["--extra-index-url", f"https://download.pytorch.org/whl/{build}",
                                   f"torch==2.11.0+{build}", f"torchvision==0.26.0+{build}"]


def test_a_driver_too_old_for_every_build_falls_back_to_the_cpu_set():
    auto = torch_choice.choose("470.256.02", (11, 4), "8.6")
    assert (auto.requirements, auto.status) == ("requirements-cpu.txt", "warn") and "update the NVIDIA" in auto.fix
    forced = torch_choice.choose("470.256.02", (11, 4), "8.6", requirements="requirements.txt")
    assert forced.status == "fail" and "too old for any torch 2.11.0 build" in forced.reason


def test_the_choice_script_on_a_bare_interpreter(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "nvidia-smi", fake_nvidia_smi("566.36", "12.7"))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    script = str(REPO_ROOT / "scripts" / "gpt_oss_tutorial" / "torch_choice.py")
    run = [sys.executable, "-I", "-S", script]
    args = subprocess.run([*run, "--pip-args"], env=env, capture_output=True, text=True, timeout=60)
    assert args.stdout.split() == ["--extra-index-url", "https://download.pytorch.org/whl/cu126",
                                   "torch==2.11.0+cu126", "torchvision==0.26.0+cu126"], args.stderr
    forced = subprocess.run([*run, "--pip-args"], env={**env, "TUTORIAL_TORCH_BUILD": "cu128"}, capture_output=True,
                            text=True, timeout=60)
    assert "torch==2.11.0+cu128" in forced.stdout.split()


def test_setup_wsl2_cpu_builds_one_conda_env_with_the_same_installer(machine):
    """WSL2 without a usable GPU: one conda env from environment.yml, filled by bootstrap.sh, used by make."""
    m = machine(None)
    for name, body in WSL_TOOLS.items():
        _executable(m.bin / name, "#!/usr/bin/env bash\n" + body)
    _executable(m.bin / "conda", FAKE_CONDA)
    env = {**m.env, "WSL_DISTRO_NAME": "Ubuntu", "FAKE_CONDA_ROOT": str(m.root / "miniconda3"),
           "FAKE_PYTHON_SOURCE": str(m.bin / "python3"), "CONDA_EXE": str(m.bin / "conda")}
    done = subprocess.run(["bash", "env/setup_wsl2.sh", "--cpu"], cwd=m.repo, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    prefix = m.root / "miniconda3" / "envs" / "gpt-oss"
    assert (m.log.parent / "pip.log.conda").read_text() == f"env create -n gpt-oss -f {m.repo}/environment.yml\n"
    assert _set_install(m.pip_calls()) == ["-q -r requirements-cpu.txt"]
    assert len(list(prefix.glob(".installed-*"))) == 1 and not (m.repo / ".venv").exists()
    assert f"installing requirements-cpu.txt into the conda environment at {prefix}" in done.stdout
    assert "Preflight with the installed versions: scripts/check_env.py --preset smollm2-135m" in done.stdout
    assert "conda activate gpt-oss" in done.stdout and "make check-env PRESET=smollm2-135m" in done.stdout
    assert 'export HF_HOME="$HOME/.cache/huggingface"' in (m.root / ".bashrc").read_text()
    again = subprocess.run(["bash", "env/setup_wsl2.sh", "--cpu"], cwd=m.repo, env=env, capture_output=True,
                           text=True, timeout=180)
    assert again.returncode == 0 and "is up to date (requirements-cpu.txt)" in again.stdout
    assert len(_set_install(m.pip_calls())) == 1
