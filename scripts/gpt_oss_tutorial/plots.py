"""Small matplotlib helpers shared by the notebooks: every figure is saved atomically under ``outputs/`` and returned
(so a notebook shows it inline).

* ``line_plot({"label": (xs, ys), ...}, path)`` -- curves against a common x axis.
* ``bar_chart({"label": value, ...}, path)`` or ``bar_chart({"group": {"label": value}}, path)`` -- plain or grouped
  bars.
* ``loss_curve(log_history, path)`` -- SFT: the training loss per logged optimizer step.
* ``reward_curves(log_history, path)`` -- GRPO: the mean reward per step (TRL's ``reward``) and each component
  (``rewards/<func>/mean``), read from ``trainer.state.log_history``.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write ``fig`` to a temporary file beside ``path`` and rename it into place (same format as ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _finish(fig, ax, path, *, title, xlabel, ylabel, legend: bool, legend_outside: bool = False):
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and legend_outside:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    elif legend:
        ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def line_plot(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike | None = None, *,
              title: str = "", xlabel: str = "", ylabel: str = "", styles: Mapping[str, dict] | None = None,
              hline: float | None = None, figsize=(7, 3.8), legend_outside: bool = False):
    """One line per ``label: (xs, ys)``; ``styles`` gives matplotlib keywords per label; ``hline`` draws y=value;
    ``legend_outside`` puts the legend right of the axes (for busy plots)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    for label, (xs, ys) in series.items():
        kw = {"marker": "o" if len(xs) <= 30 else None, "linewidth": 1.5, "markersize": 3}
        kw.update((styles or {}).get(label, {}))
        ax.plot(list(xs), list(ys), label=label, **kw)
    if hline is not None:
        ax.axhline(hline, color="grey", linewidth=0.8, linestyle=":")
    return _finish(fig, ax, path, title=title, xlabel=xlabel, ylabel=ylabel, legend=len(series) > 1,
                   legend_outside=legend_outside)


def bar_chart(values: Mapping[str, float] | Mapping[str, Mapping[str, float]], path: str | os.PathLike | None = None,
              *, title: str = "", ylabel: str = "", annotate: bool = True, figsize=(7, 3.8)):
    """Bars for ``{label: value}``, or grouped bars for ``{group: {label: value}}`` (one colour per group)."""
    import matplotlib.pyplot as plt

    grouped = bool(values) and all(isinstance(v, Mapping) for v in values.values())
    groups = dict(values) if grouped else {"": dict(values)}
    labels = list(dict.fromkeys(k for g in groups.values() for k in g))
    width = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=figsize)
    for gi, (group, vals) in enumerate(groups.items()):
        xs = [i + (gi - (len(groups) - 1) / 2) * width for i in range(len(labels))]
        ys = [float(vals.get(label, float("nan"))) for label in labels]
        bars = ax.bar(xs, ys, width=width, label=group or None)
        if annotate:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(range(len(labels)), labels, rotation=20 if max(map(len, labels), default=0) > 10 else 0)
    ax.axhline(0, color="black", linewidth=0.6)
    return _finish(fig, ax, path, title=title, xlabel="", ylabel=ylabel, legend=grouped)


def loss_curve(log_history: list[dict], path: str | os.PathLike | None = None, *, title: str = "SFT training loss"):
    """The training loss per logged optimizer step (TRL's ``loss`` entries of ``trainer.state.log_history``)."""
    points = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    return line_plot({"loss": ([s for s, _ in points], [v for _, v in points])}, path, title=title,
                     xlabel="optimizer step", ylabel="loss (assistant tokens)", figsize=(7, 3.5))


def reward_series(log_history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """``{"reward": [(step, mean), ...], "format_reward": [...], ...}`` from TRL's logged ``reward`` (the weighted
    sum) and ``rewards/<func>/mean`` (each component, unweighted)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for h in log_history:
        step = h.get("step")
        if step is None:
            continue
        for key, value in h.items():
            if key == "reward":
                name = "reward"
            elif key.startswith("rewards/") and key.endswith("/mean"):
                name = key[len("rewards/"):-len("/mean")]
            else:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(name, []).append((step, float(value)))
    return series


def rolling_mean(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` values (the first points average what exists so far)."""
    out = []
    for i in range(len(values)):
        part = values[max(0, i - window + 1): i + 1]
        out.append(sum(part) / len(part))
    return out


def reward_curves(log_history: list[dict], path: str | os.PathLike | None = None, *, title: str = "GRPO rewards",
                  smooth: int = 3):
    """Mean reward per step (weighted sum, black; with its trailing rolling mean over ``smooth`` steps when there are
    at least ``2 * smooth`` steps) and each reward component (unweighted, thin) from TRL's log."""
    series = reward_series(log_history)
    if not series:
        raise ValueError("no reward in the log history: TRL logs 'reward' and 'rewards/<func>/mean' every "
                         "logging_steps; was the trainer run with logging_steps=1?")
    lines = {("mean reward (weighted sum)" if name == "reward" else name): ([s for s, _ in pts], [v for _, v in pts])
             for name, pts in series.items()}
    styles = {"mean reward (weighted sum)": {"linewidth": 2.2, "color": "black", "alpha": 0.45}}
    steps, values = lines["mean reward (weighted sum)"] if "reward" in series else ([], [])
    if len(values) >= 2 * smooth and smooth > 1:  # each step sees only a few prompts: show the trend too
        label = f"mean reward, rolling mean of {smooth}"
        lines[label] = (steps, rolling_mean(values, smooth))
        styles[label] = {"linewidth": 2.8, "color": "black", "marker": None}
    return line_plot(lines, path, title=title, xlabel="GRPO step", ylabel="reward (mean over the step's completions)",
                     styles=styles, hline=0.0, figsize=(9.5, 4.0), legend_outside=True)
