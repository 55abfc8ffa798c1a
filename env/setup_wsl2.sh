#!/usr/bin/env bash
# One-time set-up of the tutorial inside WSL2 (Ubuntu/Debian). Safe to run again: each step skips what is done.
#
#   bash env/setup_wsl2.sh          # GPU: the conda env of environment.yml with the GPU set (requirements.txt)
#   bash env/setup_wsl2.sh --cpu    # no usable GPU: the same env with the CPU tutorial's set (requirements-cpu.txt)
#
# Steps: WSL2 check; NVIDIA driver from Windows (no Linux driver inside WSL); build tools; Miniconda if absent;
# the conda env (Python 3.11, name gpt-oss or $GPT_OSS_ENV); inside it `make setup`'s installer (env/bootstrap.sh:
# preflight, then the pinned set with the torch build the Windows driver runs); HF_HOME on the Linux filesystem;
# memory; the preflight again with the installed versions. Guide: env/WSL2.md
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_NAME="${GPT_OSS_ENV:-gpt-oss}"
CONDA_DIR="${CONDA_DIR:-$HOME/miniconda3}"
GUIDE="$REPO/env/WSL2.md"
MODE=gpu
for arg in "$@"; do
  case "$arg" in
    --cpu) MODE=cpu ;;
    -h | --help)
      sed -n '2,9p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "unknown option: $arg (use --cpu or --help)" >&2
      exit 2
      ;;
  esac
done

n_step=0
step() {
  n_step=$((n_step + 1))
  printf '\n==> [%d] %s\n' "$n_step" "$*"
}
info() { printf '    %s\n' "$*"; }
warn() { printf '    WARNING: %s\n' "$*" >&2; }
die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

# ------------------------------------------------------------------------------------------------------------------
step "Checking that this is WSL2"
kernel="$(uname -r)"
if [[ "$kernel" =~ ^4\.4\.0-[0-9]+-Microsoft ]]; then
  die "this is WSL1 (kernel $kernel): no GPU access. In PowerShell: wsl --set-version ${WSL_DISTRO_NAME:-<distro>} 2
       ($GUIDE#check-wsl2)"
fi
if [[ "${kernel,,}" != *microsoft* && -z "${WSL_DISTRO_NAME:-}" && ! -d /usr/lib/wsl/lib ]]; then
  die "not running inside WSL2 (kernel $kernel). On native Linux use 'make setup' instead."
fi
info "WSL2 ${WSL_DISTRO_NAME:+($WSL_DISTRO_NAME) }kernel $kernel"
case "$REPO" in
  /mnt/[a-zA-Z]/* | /mnt/[a-zA-Z])
    warn "the repository is on a Windows drive ($REPO): checkpoints and exports will be slow."
    warn "clone it inside Linux instead: cd ~ && git clone <repo-url> ($GUIDE#hugging-face-cache-on-the-linux-filesystem)"
    ;;
esac

# ------------------------------------------------------------------------------------------------------------------
step "Checking the NVIDIA driver (Windows side only)"
linux_driver="$(dpkg-query -W -f='${binary:Package} ${Status}\n' 'nvidia-driver-*' 'libnvidia-compute-*' \
  'nvidia-utils-*' 'cuda-drivers*' 2>/dev/null | grep ' install ok installed$' | cut -d' ' -f1 || true)"
stray_libcuda=()
for lib in /usr/lib/x86_64-linux-gnu/libcuda.so* /usr/lib64/libcuda.so*; do
  [[ -e "$lib" ]] || continue
  target="$(readlink -f "$lib")"
  [[ "$target" == /usr/lib/wsl/* ]] || stray_libcuda+=("$lib")
done
if [[ -n "$linux_driver" || ${#stray_libcuda[@]} -gt 0 ]]; then
  info "found a Linux NVIDIA driver inside WSL: ${linux_driver//$'\n'/ } ${stray_libcuda[*]}"
  info "it shadows the driver that Windows provides. Remove it, then run 'wsl --shutdown' in PowerShell:"
  info "  sudo apt-get remove --purge '^nvidia-.*' '^libnvidia-.*' && sudo apt-get autoremove"
  info "  ($GUIDE#no-linux-driver-inside-wsl)"
  if [[ "$MODE" == gpu ]]; then
    die "uninstall the Linux driver inside WSL; install only the Windows driver (see above), then run this again."
  fi
  warn "continuing for the CPU tutorial (--cpu)"
fi
smi=/usr/lib/wsl/lib/nvidia-smi
if [[ -x "$smi" ]] && "$smi" -L >/dev/null 2>&1; then
  "$smi" -L | sed 's/^/    /'
  "$smi" | grep -o 'Driver Version: [0-9.]* *CUDA Version: [0-9.]*' | sed 's/^/    Windows driver: /' || true
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    warn "/usr/lib/wsl/lib is not on PATH; add it: echo 'export PATH=\$PATH:/usr/lib/wsl/lib' >> ~/.bashrc"
  fi
elif [[ "$MODE" == gpu ]]; then
  die "no GPU from the Windows driver ($smi missing or failing). Install/update the NVIDIA driver on Windows,
       then 'wsl --shutdown' in PowerShell ($GUIDE#nvidia-driver-on-windows-only).
       Without a usable GPU: bash env/setup_wsl2.sh --cpu (the CPU tutorial)."
else
  info "no GPU visible: fine for the CPU tutorial"
fi

# ------------------------------------------------------------------------------------------------------------------
step "Installing build tools (build-essential, git, curl)"
missing=()
for pkg in build-essential git curl ca-certificates; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  info "installing ${missing[*]} (sudo asks for your password)"
  sudo apt-get update
  sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
  info "already installed"
fi

# ------------------------------------------------------------------------------------------------------------------
step "Finding conda (installing Miniconda in $CONDA_DIR if absent)"
CONDA=""
for candidate in "${CONDA_EXE:-}" "$(command -v conda || true)" "$CONDA_DIR/bin/conda" \
  "$HOME/miniforge3/bin/conda" "$HOME/anaconda3/bin/conda"; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    CONDA="$candidate"
    break
  fi
done
if [[ -z "$CONDA" ]]; then
  arch="$(uname -m)"
  installer="$(mktemp -d)/miniconda.sh"
  info "downloading Miniconda for $arch"
  curl -fsSL "https://repo.anaconda.com/miniconda/Miniconda3-latest-Linux-${arch}.sh" -o "$installer"
  bash "$installer" -b -p "$CONDA_DIR"
  rm -f "$installer"
  CONDA="$CONDA_DIR/bin/conda"
  "$CONDA" init bash >/dev/null
  info "installed; 'conda activate' works in new terminals (conda init added itself to ~/.bashrc)"
fi
info "conda: $CONDA ($("$CONDA" --version))"

# ------------------------------------------------------------------------------------------------------------------
preset=gpt-oss-20b
requirements=requirements.txt
if [[ "$MODE" == cpu ]]; then
  preset=smollm2-135m
  requirements=requirements-cpu.txt
fi
step "The conda environment '$ENV_NAME' (environment.yml: Python 3.11) with ${requirements}"
env_exists() { "$CONDA" env list | awk '{print $1}' | grep -qx "$ENV_NAME"; }
in_env() { "$CONDA" run --no-capture-output -n "$ENV_NAME" "$@"; }
if env_exists; then
  info "'$ENV_NAME' exists"
else
  "$CONDA" env create -n "$ENV_NAME" -f "$REPO/environment.yml"
fi
prefix="$(in_env python -c 'import sys; print(sys.prefix)')"
# The same installer as `make setup` (preflight, torch build for the driver, pinned set, stamp), into this env.
TUTORIAL_ENV_PREFIX="$prefix" TUTORIAL_REQUIREMENTS="$requirements" PRESET="$preset" GPT_OSS_ENV="$ENV_NAME" \
  "$REPO/env/bootstrap.sh" || die "the install into '$ENV_NAME' stopped (the reason is above); fix it and run this again"

# ------------------------------------------------------------------------------------------------------------------
step "Keeping the Hugging Face cache on the Linux filesystem (HF_HOME)"
# shellcheck disable=SC2016  # $HOME is meant to be expanded by ~/.bashrc, not here
hf_line='export HF_HOME="$HOME/.cache/huggingface"'
if [[ "${HF_HOME:-}" == /mnt/* ]]; then
  warn "HF_HOME was $HF_HOME (a Windows drive: ~10x slower); the line below in ~/.bashrc overrides it"
fi
if grep -qxF "$hf_line" "$HOME/.bashrc" 2>/dev/null; then
  info "already in ~/.bashrc"
else
  printf '\n# gpt-oss tutorial: Hugging Face cache on the Linux filesystem (env/WSL2.md)\n%s\n' "$hf_line" \
    >>"$HOME/.bashrc"
  info "added to ~/.bashrc: $hf_line"
fi
export HF_HOME="$HOME/.cache/huggingface"
mkdir -p "$HF_HOME"
if [[ "$(readlink -f "$HF_HOME")" == /mnt/* ]]; then
  warn "$HF_HOME links to $(readlink -f "$HF_HOME") on a Windows drive: move the cache into Linux"
fi
info "HF_HOME=$HF_HOME"

# ------------------------------------------------------------------------------------------------------------------
step "Checking WSL's memory"
mem_gib=$(awk '/^MemTotal:/ {printf "%d", $2 / 1048576}' /proc/meminfo)
swap_gib=$(awk '/^SwapTotal:/ {printf "%d", $2 / 1048576}' /proc/meminfo)
info "RAM ${mem_gib} GiB, swap ${swap_gib} GiB"
if [[ "$mem_gib" -lt 15 ]]; then
  warn "WSL has less than 16 GB of RAM (by default half of the Windows RAM)."
  warn "copy env/wslconfig.example to %UserProfile%\\.wslconfig on Windows, then 'wsl --shutdown' in PowerShell"
  warn "($GUIDE#memory-and-swap-with-wslconfig)"
fi

# ------------------------------------------------------------------------------------------------------------------
step "Preflight with the installed versions: scripts/check_env.py --preset $preset"
if in_env python "$REPO/scripts/check_env.py" --preset "$preset"; then
  info "ready."
else
  warn "the preflight found something to fix for $preset: see the FAIL rows above."
fi

printf '\nDone. In a new terminal (or after "source ~/.bashrc"):\n'
printf '    conda activate %s\n    cd %s\n    make check-env PRESET=%s\n    make lab      # or: make run PRESET=%s\n' \
  "$ENV_NAME" "$REPO" "$preset" "$preset"
printf 'With %s active, every make target uses it (no .venv/).\n' "$ENV_NAME"
