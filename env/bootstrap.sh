#!/usr/bin/env bash
# Create .venv/ in the repository root and install the pinned set that fits this machine, then the helpers.
# Idempotent: a stamp records what was installed; nothing is reinstalled while the requirement files are unchanged.
#   env/bootstrap.sh            # picks requirements.txt (CUDA GPU found) or requirements-cpu.txt
#   TUTORIAL_REQUIREMENTS=requirements-cpu.txt env/bootstrap.sh   # force a set
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [[ -n "${TUTORIAL_REQUIREMENTS:-}" ]]; then
  req=$TUTORIAL_REQUIREMENTS
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  req=requirements.txt
else
  req=requirements-cpu.txt
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)

stamp=".venv/.installed-$(cat "$req" requirements-offline.txt requirements-gguf.txt pyproject.toml | sha256sum | cut -c1-16)"
if [[ -f "$stamp" ]]; then
  echo "[setup] .venv is up to date ($req)"
  exit 0
fi

echo "[setup] installing $req into .venv (first run: a few minutes)"
"${pip[@]}" install -q setuptools==84.2.1 wheel==0.48.0
if ! "${pip[@]}" install -q -r "$req"; then
  # torch==2.13.0+cpu lives on the PyTorch CPU index; try again with it.
  echo "[setup] retrying with the PyTorch CPU index"
  "${pip[@]}" install -q --extra-index-url https://download.pytorch.org/whl/cpu -r "$req"
fi
"${pip[@]}" install -q --no-deps -r requirements-offline.txt
"${pip[@]}" install -q --no-deps --no-build-isolation -e .
# llama.cpp's GGUF converter (notebook 06): fetched once now, so that later runs need no network. Not fatal: without
# it only the GGUF export is skipped, and notebook 06 says why and how to get it.
.venv/bin/python -c "from gpt_oss_tutorial.gguf_tools import ensure_converter; print('[setup] GGUF converter:', ensure_converter().folder)" \
  || echo "[setup] GGUF converter not fetched (see requirements-gguf.txt); everything else works"
rm -f .venv/.installed-*
touch "$stamp"
echo "[setup] done: $(.venv/bin/python -c 'import torch, transformers, trl, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}")')"
