"""Run the notebooks headless with papermill: the repository's "main job" and the tests' smoke runs.

``run_all("auto")`` executes every ``notebooks/NN_*.ipynb`` in order on one preset, writes the executed notebooks to
``outputs/notebooks/``, a machine-readable ``outputs/summary.json`` and a readable ``outputs/report.md``.

Each notebook reports its key figures with ``figures.record("NN_name", key=value, ...)`` (a JSON file under
``outputs/figures/``); the runner collects them after the notebook has run. A notebook may also record
``summary={"eval": {...}}``: those keys become top-level sections of ``summary.json`` and of the report.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from . import atomic, figures
from .errors import NotebookCellError
from .paths import REPO_ROOT, outputs_dir

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
SUMMARY_KEY = "summary"  # figures recorded under this key become top-level sections of summary.json
# Top-level keys of summary.json that a notebook's ``summary=`` figures may not replace.
RESERVED_KEYS = frozenset({"preset", "resolved_preset", "smoke", "started", "seconds", "status", "notebooks", "machine",
                           "outputs", "warnings"})

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class NotebookResult:
    name: str  # the notebook's stem, e.g. "03_sft" (also the name its figures are recorded under)
    path: Path  # the source notebook
    status: str  # "ok" | "failed" | "skipped"
    seconds: float
    error: str | None = None
    figures: dict = field(default_factory=dict)
    output: Path | None = None  # the executed notebook (None when skipped)
    error_type: str | None = None  # the exception's class name, e.g. "DataError"
    error_message: str | None = None  # the exception's own message, without the cell it was raised in

    def to_dict(self) -> dict:
        """The notebook's entry in summary.json (its ``summary`` figures are lifted to the top level instead)."""
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "figures": {k: v for k, v in self.figures.items() if k != SUMMARY_KEY},
            "executed_notebook": str(self.output) if self.output else None,
        }


# ---------------------------------------------------------------------------------------------------------------
# discovery and selection


def discover_notebooks(notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR) -> list[Path]:
    """The notebooks of ``notebooks_dir``, sorted by file name (``NN_name.ipynb`` gives the teaching order)."""
    notebooks_dir = Path(notebooks_dir)
    return sorted(
        (p for p in notebooks_dir.glob("*.ipynb") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def select_notebooks(paths: list[Path], only: list[str] | None) -> list[Path]:
    """Keep the notebooks named by ``only``: a number ("3" or "03"), a stem ("03_sft") or a file name.

    Raises ``ValueError`` for a name that matches nothing, so that a typo does not silently run nothing.
    """
    if not only:
        return list(paths)
    keep: set[Path] = set()
    for raw in only:
        key = str(raw).strip()
        if key.endswith(".ipynb"):
            key = key[: -len(".ipynb")]
        if key.isdigit():
            key = key.zfill(2)
        matches = [p for p in paths if p.stem == key or p.stem.startswith(key + "_")]
        if not matches:
            names = ", ".join(p.stem for p in paths) or "(none)"
            raise ValueError(f"no notebook matches {raw!r}; available: {names}")
        keep.update(matches)
    return [p for p in paths if p in keep]


# ---------------------------------------------------------------------------------------------------------------
# one notebook


@contextlib.contextmanager
def _environ(env: dict | None) -> Iterator[None]:
    """Set (value) or unset (None) environment variables for the duration of the block, then restore them."""
    env = env or {}
    saved = {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_paragraph(text: str) -> str:
    return " ".join(_ANSI.sub("", str(text)).split())


def _cell_number(source_nb_path: Path, source: str) -> int | None:
    """1-based position of the cell with this source in the source notebook (as JupyterLab counts cells)."""
    try:
        import nbformat

        nb = nbformat.read(str(source_nb_path), as_version=4)
    except Exception:
        return None
    for i, cell in enumerate(nb.cells, start=1):
        if cell.get("source", "") == source:
            return i
    return None


def format_error(exc: BaseException, notebook: Path | None = None, *, timeout: int | None = None) -> str:
    """A readable one-paragraph message: exception type and message, and where it happened."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        ename = _one_paragraph(exc.ename) or "Error"
        evalue = _one_paragraph(exc.evalue)
        head = f"{ename}: {evalue}" if evalue else ename
        where = []
        number = _cell_number(notebook, exc.source) if notebook is not None else None
        if number is not None:
            where.append(f"cell {number} of {notebook.name}")
        if exc.exec_count is not None:
            where.append(f"In [{exc.exec_count}]")
        first_line = next((ln.strip() for ln in str(exc.source).splitlines() if ln.strip()), "")
        if len(first_line) > 80:
            first_line = first_line[:77] + "..."
        message = head
        if where:
            message += f" (raised in {', '.join(where)}"
            message += f": `{first_line}`)" if first_line else ")"
        return message
    name = type(exc).__name__
    text = _one_paragraph(str(exc))
    if "Timeout" in name and timeout is not None and str(timeout) not in text:
        text = f"a cell ran longer than the {timeout} s timeout. {text}".strip()
    return f"{name}: {text}" if text else name


def run_notebook(
    path: str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    parameters: dict,
    timeout: int | None = None,
    env: dict | None = None,
    progress_bar: bool | dict = False,
) -> NotebookResult:
    """Execute one notebook with papermill into ``out_dir/<stem>.ipynb`` and collect its figures; a failing notebook
    is a result, not an exception.

    The kernel runs in the notebook's folder (as in JupyterLab) with ``env`` added (None unsets a variable); pass
    ``GPT_OSS_TUTORIAL_OUTPUTS`` there to redirect the outputs. ``timeout``: seconds per cell (None: no limit).
    One process at a time runs a notebook into one ``out_dir``: a second gets a failed result with an ``OutputError``.
    """
    from . import errors

    path = Path(path).resolve()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(atomic.exclusive(Path(out_dir).resolve() / f"{path.stem}.ipynb"))
        except errors.OutputError as exc:
            return NotebookResult(path.stem, path, "failed", 0.0, f"OutputError: {exc}", error_type="OutputError",
                                  error_message=str(exc))
        return _execute(path, out_dir, parameters, timeout, env, progress_bar)


def _execute(path: Path, out_dir, parameters: dict, timeout: int | None, env: dict | None,
             progress_bar: bool | dict) -> NotebookResult:
    """``run_notebook`` once its lock is held."""
    import papermill

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{path.stem}.ipynb"
    kernel_env = {"MPLBACKEND": INLINE_BACKEND, "PYDEVD_DISABLE_FILE_VALIDATION": "1", **(env or {})}

    status, error, error_type, error_message = "ok", None, None, None
    with _environ(kernel_env):
        with contextlib.suppress(FileNotFoundError):  # a figure of an earlier run must not pass for this run's
            figures.figures_path(path.stem).unlink()
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(path),
                str(output),
                parameters=dict(parameters),
                kernel_name="python3",
                language="python",
                cwd=str(path.parent),
                progress_bar=progress_bar,
                log_output=False,
                execution_timeout=timeout,
            )
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failing notebook is a result, not a crash of the runner
            status, error = "failed", format_error(exc, path, timeout=timeout)
            error_type = getattr(exc, "ename", None) or type(exc).__name__
            error_message = _ANSI.sub("", str(getattr(exc, "evalue", exc))).strip()
        seconds = time.perf_counter() - start
        try:
            found = figures.load(path.stem)
        except Exception as exc:  # an unreadable figures file must not hide the notebook's own result
            found = {}
            if status == "ok":
                status = "failed"
                error = f"the figures file of {path.stem} could not be read: {format_error(exc)}"
    return NotebookResult(path.stem, path, status, seconds, error, found, output if output.exists() else None,
                          error_type, error_message)


def parameter_names(path: str | os.PathLike) -> set[str]:
    """The names the notebook's ``parameters`` cell assigns: what papermill (and a command-line flag) may set."""
    import ast

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            for stmt in ast.parse("".join(source) if isinstance(source, list) else source).body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def smoke_parameters(path: str | os.PathLike) -> dict:
    """The parameters that make a notebook quick for the tests: its metadata ``tutorial.smoke_parameters``.

    They live in the metadata, out of the reader's way. A notebook without them that still has a ``SMOKE`` switch in
    its parameters cell (the older convention) gets ``SMOKE=True``; one with neither runs as it is.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    found = nb.get("metadata", {}).get("tutorial", {}).get("smoke_parameters")
    if found is not None:
        return dict(found)
    return {"SMOKE": True} if "SMOKE" in parameter_names(path) else {}


# ---------------------------------------------------------------------------------------------------------------
# command-line arguments (argparse ``type=``): a bad value is named before any notebook starts

def at_least(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    parse.__name__ = f"whole number >= {minimum}"  # what argparse names in its own messages
    return parse


def learning_rate(text: str) -> float:
    """An argparse type: a learning rate, a number between 0 and 1 (e.g. 2e-4)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 2e-4)") from None
    if not (math.isfinite(value) and 0 < value < 1):
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 2e-4), got {text}")
    return value


def tagged_cells(stem: str, tag: str, *, notebooks_dir: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """``(name, source)`` of the code cells of ``notebooks/<stem>.ipynb`` tagged ``tag``, in order; the name reads
    like ``01_load_and_lora.ipynb, cell 7`` (cells counted as JupyterLab counts them)."""
    path = Path(notebooks_dir or NOTEBOOKS_DIR) / f"{stem}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") == "code" and tag in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            found.append((f"{path.name}, cell {number}", "".join(source) if isinstance(source, list) else source))
    if not found:
        raise NotebookCellError(
            f"{path} has no code cell tagged {tag!r}: the other notebooks run that cell, so it must keep its tag "
            f"(JupyterLab: the property inspector, right sidebar). `git checkout {path.relative_to(path.parents[1])}` "
            "restores the notebook as published.")
    return found


def run_cells(stem: str, tags: list[str] | tuple[str, ...], namespace: dict, *,
              notebooks_dir: str | os.PathLike | None = None) -> dict:
    """Run a notebook's cells tagged ``tags`` (in that order) in ``namespace``, as the notebook runs them.

    This is how a stage's lesson exists once: notebook 01's load and LoRA cells are what every later notebook,
    command-line tool and test loads a model with, and notebook 03's configuration and trainer cells are what the
    benchmark and the tests train with. Edit a cell and everything that runs it changes with it. A traceback names
    the notebook and the cell. Returns ``namespace``, which holds what the cells defined.
    """
    import linecache

    for tag in tags:
        for name, source in tagged_cells(stem, tag, notebooks_dir=notebooks_dir):
            try:
                code = compile(source, name, "exec")
            except SyntaxError as exc:
                raise NotebookCellError(f"{name} (tagged {tag!r}) does not compile: {exc.msg}, line {exc.lineno}. "
                                        "Fix the cell; the other notebooks run it too.") from exc
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # tracebacks show the line
            exec(code, namespace)
    return namespace


def run_stage(stem: str, parameters: dict, *, outputs: str | os.PathLike | None = None,
              notebooks_dir: str | os.PathLike | None = None) -> int:
    """Run one notebook with ``parameters`` for a command-line tool; returns the tool's exit status.

    The command-line tools are this and nothing more, so that a stage's lines exist once: in its notebook.
    0: the notebook ran (its figures are printed); 2: it stopped on a problem the reader can fix (a
    ``TutorialError``: the message alone is printed, no traceback); 1: anything else (the error and where), including
    a parameter the notebook's ``parameters`` cell does not have.
    """
    from . import errors

    path = Path(notebooks_dir or NOTEBOOKS_DIR) / f"{stem}.ipynb"
    try:
        unknown = sorted(set(parameters) - parameter_names(path))
    except (OSError, ValueError, SyntaxError) as exc:
        print(f"error: cannot read the parameters of {path}: {format_error(exc)}", file=sys.stderr)
        return 1
    if unknown:
        print(f"error: {path.name} has no parameter {', '.join(unknown)} in its parameters cell", file=sys.stderr)
        return 1
    outputs = Path(outputs).resolve() if outputs is not None else outputs_dir().resolve()
    env = {"GPT_OSS_TUTORIAL_OUTPUTS": str(outputs)}
    result = run_notebook(path, out_dir=outputs / "notebooks", parameters=parameters, env=env,
                          progress_bar=sys.stderr.isatty())
    if result.status == "ok":
        for key, value in result.figures.items():
            if key != SUMMARY_KEY:
                print(f"{key}: {_short(value, 100)}")
        print(f"executed notebook: {result.output}")
        return 0
    if result.error_type in errors.user_error_names():
        print(f"error: {result.error_message}", file=sys.stderr)
        return 2
    print(f"error: {result.error}", file=sys.stderr)
    if result.output is not None:
        print(f"the executed notebook shows where: {result.output}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------------------------
# the whole series


def machine_info() -> dict:
    """Python, torch version and accelerator, found without importing torch (that alone takes seconds on a CPU)."""
    info = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    try:
        from importlib.metadata import version

        info["torch"] = version("torch")
    except Exception:
        info["torch"] = None
    device = "cpu"
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch, "cuda", None) is not None and torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)}"
    elif shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=15,
            )
            gpus = [line.strip() for line in out.stdout.splitlines() if line.strip()]
            if out.returncode == 0 and gpus:
                device = "cuda: " + "; ".join(gpus)
        except Exception:
            pass
    info["device"] = device
    return info


def _deep_merge(into: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value
    return into


def build_summary(
    *,
    preset: str,
    smoke: bool,
    started: str,
    seconds: float,
    results: list[NotebookResult],
    machine: dict | None = None,
    outputs: Path | None = None,
    finished: bool = True,
) -> dict:
    """The summary.json dict. Top-level sections come from the notebooks' ``summary=`` figures, merged in order
    (dicts deep-merged, so two notebooks can both add to ``eval``; for a plain value the later notebook wins)."""
    if not finished:
        status = "running"
    elif results and all(r.status == "ok" for r in results):
        status = "ok"
    else:
        status = "failed"
    resolved = None
    for r in sorted(results, key=lambda r: not r.name.startswith("00")):  # notebook 00 first
        value = r.figures.get("preset")
        if isinstance(value, dict):  # a recorded preset as a dict: its name
            value = value.get("name")
        if value is not None:
            resolved = value
            break
    if resolved is None and preset != "auto":
        resolved = preset
    summary: dict = {
        "preset": preset,
        "resolved_preset": resolved,
        "smoke": bool(smoke),
        "started": started,
        "seconds": round(seconds, 2),
        "status": status,
        "machine": machine or {},
        "outputs": str(outputs) if outputs is not None else None,
        "notebooks": [r.to_dict() for r in results],
    }
    warnings = []
    for r in results:
        extra = r.figures.get(SUMMARY_KEY)
        if extra is None:
            continue
        if not isinstance(extra, dict):
            warnings.append(f"{r.name}: figure '{SUMMARY_KEY}' must be a dict, got {type(extra).__name__}")
            continue
        for key, value in extra.items():
            if key in RESERVED_KEYS:
                warnings.append(f"{r.name}: summary key {key!r} is reserved and was ignored")
            elif isinstance(value, dict) and isinstance(summary.get(key), dict):
                _deep_merge(summary[key], json.loads(json.dumps(value, default=str)))
            else:
                summary[key] = json.loads(json.dumps(value, default=str)) if isinstance(value, dict) else value
    if warnings:
        summary["warnings"] = warnings
    return summary


def _short(value, limit: int = 60) -> str:
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (int, str)):
        text = str(value)
    elif isinstance(value, (list, tuple)):
        text = f"[{len(value)} items]" if len(value) > 4 else "[" + ", ".join(_short(v, 20) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_short(v, 20)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_figures(figs: dict, limit: int = 160) -> str:
    """The key figures on one line: ``loss=0.731, steps=60, …``."""
    parts = [f"{k}={_short(v)}" for k, v in figs.items() if k != SUMMARY_KEY]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 60:
        minutes, secs = divmod(seconds, 60)
        return f"{int(minutes)} min {secs:04.1f} s"
    return f"{seconds:.1f} s"


def render_report(summary: dict) -> str:
    """report.md: header, failures (in notebook order, so notebook 00's refusal comes first), table, sections."""
    lines = ["# gpt-oss tutorial: run-all report", ""]
    machine = summary.get("machine") or {}
    preset = summary["preset"]
    resolved = summary.get("resolved_preset")
    preset_text = f"`{preset}`" + (f" → `{resolved}`" if resolved and resolved != preset else "")
    lines += [
        f"- **Status:** {summary['status']}",
        f"- **Preset:** {preset_text}" + (" (smoke configuration)" if summary.get("smoke") else ""),
        f"- **Started:** {summary['started']}, total {_fmt_seconds(summary['seconds'])}",
        f"- **Machine:** Python {machine.get('python', '?')}, torch {machine.get('torch') or 'not installed'}, "
        f"{machine.get('device', '?')}" + (f" ({machine['platform']})" if machine.get("platform") else ""),
        "",
    ]
    failed = [nb for nb in summary["notebooks"] if nb["status"] == "failed"]
    if failed:
        lines += ["## Failures", ""]
        for nb in failed:
            lines += [f"**{nb['name']}**: {nb['error'] or 'failed'}", ""]
            if nb.get("executed_notebook"):
                lines += [f"(executed notebook: `{nb['executed_notebook']}`)", ""]
    lines += ["## Notebooks", "", "| Notebook | Status | Time | Key figures |", "|---|---|---:|---|"]
    for nb in summary["notebooks"]:
        time_text = _fmt_seconds(nb["seconds"]) if nb["status"] != "skipped" else "–"
        lines.append(
            f"| {_md_cell(nb['name'])} | {nb['status']} | {time_text} | {_md_cell(short_figures(nb['figures']))} |"
        )
    lines.append("")
    skipped = [nb["name"] for nb in summary["notebooks"] if nb["status"] == "skipped"]
    if skipped:
        lines += [f"Skipped after the first failure: {', '.join(skipped)}.", ""]
    standard = RESERVED_KEYS
    for key, value in summary.items():
        if key in standard:
            continue
        lines += [f"## {key}", "", "```json", json.dumps(value, indent=2, ensure_ascii=False, default=str), "```", ""]
    if summary.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in summary["warnings"]] + [""]
    return "\n".join(lines)


def _row(console, cells: list[str] | None = None, *, header: bool = False) -> None:
    """One aligned line of the live table (or its header): rows line up because the column widths are fixed."""
    from rich.table import Table

    table = Table(show_header=header, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    for title, width, justify in (("notebook", 34, "left"), ("status", 8, "left"), ("time", 14, "right")):
        table.add_column(title, width=width, no_wrap=True, justify=justify)
    if not header:
        table.add_row(*cells)
    console.print(table)


_STYLE = {"ok": "green", "failed": "bold red", "skipped": "yellow", "running": "cyan"}


def run_all(
    preset: str,
    *,
    smoke: bool = False,
    notebooks: list[str] | None = None,
    outputs: str | os.PathLike | None = None,
    stop_on_failure: bool = True,
    extra_parameters: dict | None = None,
    timeout: int | None = None,
    notebooks_dir: str | os.PathLike | None = None,
    console=None,
) -> dict:
    """Run the notebooks in order on ``preset`` and return the summary dict (also written to summary.json).

    ``notebooks`` filters by number or stem ("03", "03_sft"); ``outputs`` defaults to ``paths.outputs_dir()`` and is
    passed to the kernels as ``GPT_OSS_TUTORIAL_OUTPUTS``; every notebook gets ``PRESET``, with ``smoke`` its own
    ``smoke_parameters``, then ``extra_parameters``. After a failure the remaining notebooks are "skipped" unless
    ``stop_on_failure`` is False. ``timeout`` is the per-cell timeout in seconds. Raises ``ValueError`` when there is
    nothing to run, ``errors.OutputError`` when another process runs a series into the same outputs folder.
    """
    from rich.console import Console

    console = console or Console()
    paths = select_notebooks(discover_notebooks(notebooks_dir or NOTEBOOKS_DIR), notebooks)
    if not paths:
        raise ValueError(f"no notebooks found in {notebooks_dir or NOTEBOOKS_DIR}")
    outputs = Path(outputs).resolve() if outputs is not None else outputs_dir().resolve()
    env = {"GPT_OSS_TUTORIAL_OUTPUTS": str(outputs)}
    parameters = {"PRESET": preset}
    executed_dir = outputs / "notebooks"
    summary_path, report_path = outputs / "summary.json", outputs / "report.md"

    # One series at a time per outputs folder: two would mix their figures and summaries.
    with atomic.exclusive(summary_path):
        # Stale figures of the notebooks about to run would be reported as theirs: remove them first.
        with _environ(env):
            for p in paths:
                with contextlib.suppress(FileNotFoundError):
                    figures.figures_path(p.stem).unlink()

        machine = machine_info()
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        t0 = time.perf_counter()
        results: list[NotebookResult] = []

        def write(finished: bool) -> dict:
            summary = build_summary(
                preset=preset, smoke=smoke, started=started, seconds=time.perf_counter() - t0, results=results,
                machine=machine, outputs=outputs, finished=finished,
            )
            atomic.write_json(summary_path, summary)
            atomic.write_text(report_path, render_report(summary))
            return summary

        mode = " (smoke)" if smoke else ""
        console.print(f"[bold]Running {len(paths)} notebook(s) on preset {preset}{mode}[/] → {outputs}")
        _row(console, header=True)
        interactive = sys.stderr.isatty()
        failed_at: str | None = None
        try:
            for i, path in enumerate(paths, start=1):
                if failed_at is not None and stop_on_failure:
                    result = NotebookResult(path.stem, path, "skipped", 0.0)
                else:
                    if not interactive:
                        console.print(f"[dim]… {path.stem} ({i}/{len(paths)})[/]")
                    bar = {"desc": f"{path.stem} ({i}/{len(paths)})", "leave": False} if interactive else False
                    smoke_values = smoke_parameters(path) if smoke else {}
                    result = run_notebook(path, out_dir=executed_dir, timeout=timeout, env=env, progress_bar=bar,
                                          parameters={**parameters, **smoke_values, **(extra_parameters or {})})
                    if result.status == "failed" and failed_at is None:
                        failed_at = result.name
                results.append(result)
                style = _STYLE.get(result.status, "")
                time_text = _fmt_seconds(result.seconds) if result.status != "skipped" else "–"
                _row(console, [result.name, f"[{style}]{result.status}[/]", time_text])
                if result.status == "failed":
                    console.print(f"  [red]{result.error}[/]", highlight=False)
                write(finished=False)
        except KeyboardInterrupt:  # keep a truthful summary of what ran, then stop
            for j, path in enumerate(paths[len(results):]):
                if j == 0:
                    results.append(NotebookResult(path.stem, path, "failed", 0.0, "interrupted (KeyboardInterrupt)"))
                else:
                    results.append(NotebookResult(path.stem, path, "skipped", 0.0))
            write(finished=True)
            raise
        return write(finished=True)
