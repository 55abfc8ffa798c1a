"""Where things live: the repository, the outputs folder, the local model cache."""
from __future__ import annotations

import os
from pathlib import Path

# scripts/gpt_oss_tutorial/paths.py -> the repository root is two levels above the package.
REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data" / "multilingual_thinking"


def outputs_dir(*, create: bool = True) -> Path:
    """The folder every stage writes to (``outputs/`` in the repository, or ``$GPT_OSS_TUTORIAL_OUTPUTS``)."""
    path = Path(os.environ.get("GPT_OSS_TUTORIAL_OUTPUTS", REPO_ROOT / "outputs"))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def models_cache_dir(*, create: bool = True) -> Path:
    """Where the offline models are built (``.cache/models`` in the repository, or ``$GPT_OSS_TUTORIAL_MODELS``)."""
    path = Path(os.environ.get("GPT_OSS_TUTORIAL_MODELS", REPO_ROOT / ".cache" / "models"))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def stage_dir(stage: str, preset_name: str | None = None) -> Path:
    """``outputs/<stage>/<preset>/``: where a stage writes what later stages read.

    data -> prepared tokens (notebook 02), sft -> adapter + checkpoints (03), eval -> before/after (04),
    grpo -> GRPO adapter (05), export -> lora / merged16 / gguf (06).
    """
    path = outputs_dir() / stage
    if preset_name:
        path = path / preset_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def sft_adapter_dir(preset_name: str) -> Path:
    """The LoRA adapter notebook 03 saves and notebooks 04-06 load."""
    return stage_dir("sft", preset_name) / "adapter"


def require_adapter(preset_name: str, adapter_dir: str | os.PathLike | None = None) -> Path:
    """The SFT adapter folder, or a clear error that says which notebook/command makes it."""
    path = Path(adapter_dir) if adapter_dir else sft_adapter_dir(preset_name)
    if not (path / "adapter_config.json").exists():
        from .errors import MissingStageOutput

        raise MissingStageOutput(
            f"No LoRA adapter at {path}. Run notebook 03_sft.ipynb (or `python scripts/train_sft.py --preset "
            f"{preset_name}`) first."
        )
    return path
