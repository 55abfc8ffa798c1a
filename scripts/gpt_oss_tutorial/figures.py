"""Key figures a notebook reports to the run-all summary (``outputs/figures/<notebook>.json``)."""
from __future__ import annotations

import json
from pathlib import Path

from . import atomic
from .paths import outputs_dir


def figures_path(notebook: str) -> Path:
    return outputs_dir() / "figures" / f"{notebook}.json"


def record(notebook: str, **figures) -> None:
    """Merge ``figures`` into the notebook's figures file (``load`` reads it back).

    The runner gathers these files into ``outputs/summary.json``; values must be JSON-serialisable. Returns None so
    that a notebook cell ending with ``figures.record(...)`` does not echo the dict.
    """
    path = figures_path(notebook)
    current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    current.update(figures)
    atomic.write_json(path, current)


def load(notebook: str) -> dict:
    path = figures_path(notebook)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
