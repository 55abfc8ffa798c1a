#!/usr/bin/env bash
# Install the pinned set that fits this machine, after a preflight that stops on what must be fixed first.
#   env/bootstrap.sh                    # into .venv/ (built from python3), or into the active conda env of environment.yml
#   PYTHON=python3.11 env/bootstrap.sh  # the interpreter that builds .venv/ (3.11 or newer)
#   TUTORIAL_REQUIREMENTS=requirements-cpu.txt env/bootstrap.sh   # force a set
#   TUTORIAL_TORCH_BUILD=cu128 env/bootstrap.sh                    # force a torch build of the GPU set (cu130/cu128/cu126)
# The torch build follows the NVIDIA driver (scripts/gpt_oss_tutorial/torch_choice.py says which and why).
# Idempotent: a stamp in the environment records what was installed; it is written only after a complete install.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { # the first argument is the error, the others are lines of advice
  printf '[setup] ERROR: %s\n' "$1" >&2
  shift
  [[ $# -eq 0 ]] || printf '[setup]        %s\n' "$@" >&2
  exit 1
}

MIN_MAJOR=3 MIN_MINOR=11
PRESET=${PRESET:-auto}
choice_py=scripts/gpt_oss_tutorial/torch_choice.py
conda_env=${GPT_OSS_ENV:-$(sed -n 's/^name:[[:space:]]*//p' environment.yml | head -n 1)}

# Where to install: the prefix env/setup_wsl2.sh names, the active conda env of environment.yml, else .venv/.
if [[ -n "${TUTORIAL_ENV_PREFIX:-}" ]]; then
  prefix=$TUTORIAL_ENV_PREFIX
elif [[ -n "${CONDA_PREFIX:-}" && "${CONDA_DEFAULT_ENV:-}" == "$conda_env" ]]; then
  prefix=$CONDA_PREFIX
else
  prefix=.venv
fi
if [[ $prefix == .venv ]]; then
  PYTHON=${PYTHON:-python3}
  where=".venv"
else
  PYTHON="$prefix/bin/python"
  where="the conda environment at $prefix"
fi

python_version() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null; }
too_old() { # major.minor.micro -> true when older than the floor
  local major minor
  IFS=. read -r major minor _ <<<"$1"
  ((major < MIN_MAJOR || (major == MIN_MAJOR && minor < MIN_MINOR)))
}

ways_to_python=(
  "Pick one, then run 'make setup' again:"
  "  conda:  conda env create -f environment.yml && conda activate $conda_env"
  "  Ubuntu: sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt install python3.11 python3.11-venv"
  "          then: make setup PYTHON=python3.11"
  "  uv:     uv python install 3.11, then: make setup PYTHON=\"\$(uv python find 3.11)\""
)
command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' found: the tutorial needs Python $MIN_MAJOR.$MIN_MINOR or newer." \
  "${ways_to_python[@]}"
version=$(python_version "$PYTHON") || die "'$PYTHON' does not run"
if too_old "$version"; then
  die "$PYTHON is Python $version; the pinned sets need Python $MIN_MAJOR.$MIN_MINOR or newer (their TRL requires it)." \
    "${ways_to_python[@]}"
fi

# Which set, and which torch build of it (the driver decides; nvidia-smi is asked once per call, quickly).
req=${TUTORIAL_REQUIREMENTS:-$("$PYTHON" "$choice_py" --print-requirements)}
[[ -f $req ]] || die "$req not found: update the repository (git pull)"
asked=()
[[ -z "${TUTORIAL_REQUIREMENTS:-}" ]] || asked=(--requirements "$req")
torch_args=()
if [[ $req == requirements.txt ]]; then
  args_text=$("$PYTHON" "$choice_py" ${asked[@]+"${asked[@]}"} --pip-args) || die "$choice_py failed (above)"
  while IFS= read -r arg; do [[ -z $arg ]] || torch_args+=("$arg"); done <<<"$args_text"
fi
choice=$("$PYTHON" "$choice_py" ${asked[@]+"${asked[@]}"} | head -n 1 || true)

stamp_id=$({
  cat "$req" requirements-offline.txt requirements-gguf.txt pyproject.toml
  printf '%s\n' ${torch_args[@]+"${torch_args[@]}"}
} | sha256sum | cut -c1-16)
stamp="$prefix/.installed-$stamp_id"

pip_works() { "$1" -m pip --version >/dev/null 2>&1; }
venv_ok() { [[ -x .venv/bin/python ]] && pip_works .venv/bin/python && ! too_old "$(python_version .venv/bin/python)"; }
ready() { if [[ $prefix == .venv ]]; then venv_ok; else pip_works "$PYTHON"; fi; }

if [[ -f $stamp ]] && ready; then
  say "$where is up to date ($req)"
  exit 0
fi

# A set installed before and a different one chosen now, with nobody asking: usually nvidia-smi failing for a moment
# (after a driver update) rather than a machine that lost its GPU. Stop instead of replacing the GPU set.
previous=$(cat "$prefix"/.installed-* 2>/dev/null | sed -n 's/^requirements=//p' | head -n 1 || true)
if [[ -z "${TUTORIAL_REQUIREMENTS:-}" && $previous == requirements.txt && $req != requirements.txt ]]; then
  die "$where holds the GPU set, but no NVIDIA GPU answers now (nvidia-smi)." \
    "After a driver update: reboot (WSL2: 'wsl --shutdown' in PowerShell), then 'make setup' again." \
    "To switch to the CPU set on purpose: TUTORIAL_REQUIREMENTS=requirements-cpu.txt make setup"
fi

say "preflight (scripts/check_env.py --preset $PRESET), before anything is downloaded"
# -I -S: the standard library only, as on a fresh machine, whatever this interpreter has installed.
if ! "$PYTHON" -I -S scripts/check_env.py --preset "$PRESET"; then
  die "the preflight found a problem to fix first: see the FAIL rows and their fixes above." \
    "Then run 'make setup' again (or pick a preset that fits: make setup PRESET=smollm2-135m)."
fi
say "chose $choice"

venv_package="python$(cut -d. -f1,2 <<<"$version")-venv"
if [[ $prefix == .venv ]]; then
  if [[ -e .venv ]] && ! venv_ok; then
    say ".venv is incomplete (no working pip, or a Python older than $MIN_MAJOR.$MIN_MINOR): rebuilding it"
    rm -rf .venv
  fi
  if [[ ! -e .venv ]]; then
    say "creating .venv with Python $version ($PYTHON)"
    if ! "$PYTHON" -m venv .venv || ! venv_ok; then
      rm -rf .venv # half-made: no pip inside; the next run must not take it for a working environment
      die "'$PYTHON -m venv' made no environment with pip: the python3-venv package is missing" \
        "(for this Python $version: $venv_package). Debian/Ubuntu: sudo apt install $venv_package" \
        "then run 'make setup' again (or use conda: environment.yml)."
    fi
  fi
  py=.venv/bin/python
else
  py=$PYTHON
  pip_works "$py" || die "$where has no pip: conda install -n $conda_env pip"
fi
pip=("$py" -m pip --disable-pip-version-check)

# From here on nothing may claim that a set is installed: the stamp comes back only after everything succeeded.
rm -f "$prefix"/.installed-*

pip_twice() { # the same command once more: a dropped connection is the usual cause of a failure
  "${pip[@]}" install "$@" && return 0
  say "pip failed; trying the same install once more"
  "${pip[@]}" install "$@"
}

size="a few hundred MB"
[[ $req != requirements.txt ]] || size="~3 GB with torch's CUDA libraries"
say "installing $req into $where (first run: a few minutes; downloads $size)"
pip_twice -q setuptools==84.2.1 wheel==0.48.0 || die "pip could not install setuptools (network?); run 'make setup' again"
if [[ $req == requirements.txt ]]; then
  pip_twice -q -r "$req" ${torch_args[@]+"${torch_args[@]}"} \
    || die "installing $req failed (pip's message above); nothing is marked as installed: run 'make setup' again"
else
  # torch==2.13.0+cpu: a local wheel or the PyTorch CPU index. That index is for the CPU set only.
  if ! "${pip[@]}" install -q -r "$req"; then
    say "retrying with the PyTorch CPU index (torch==2.13.0+cpu lives there)"
    "${pip[@]}" install -q --extra-index-url https://download.pytorch.org/whl/cpu -r "$req" \
      || die "installing $req failed (pip's message above); nothing is marked as installed: run 'make setup' again"
  fi
fi
pip_twice -q --no-deps -r requirements-offline.txt || die "installing requirements-offline.txt failed"
pip_twice -q --no-deps --no-build-isolation -e . || die "installing this repository's helpers failed"
# llama.cpp's GGUF converter (notebook 06): fetched once now, so that later runs need no network. Not fatal: without
# it only the GGUF export is skipped, and notebook 06 says why and how to get it.
"$py" -c "from gpt_oss_tutorial.gguf_tools import ensure_converter; print('[setup] GGUF converter:', ensure_converter().folder)" \
  || say "GGUF converter not fetched (see requirements-gguf.txt); everything else works"
printf 'requirements=%s\ntorch_choice=%s\n' "$req" "$choice" >"$stamp"
say "done: $("$py" -c 'import torch, transformers, trl, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}")')"
