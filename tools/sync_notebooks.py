#!/usr/bin/env python3
"""Write `notebooks/py/NN_name.py`, a `# %%` script of each notebook, for stepping through in any editor.

The notebooks are the source; the scripts are generated (never edit them by hand):

    python tools/sync_notebooks.py           # (re)write notebooks/py/*.py, remove scripts of deleted notebooks
    python tools/sync_notebooks.py --check   # exit 1 and name the stale, missing or orphaned scripts
    python tools/sync_notebooks.py --from-py notebooks/py/03_sft.py   # write a script's cells back into its notebook

A script saved after its notebook with other cells is an edit not yet written back: it is kept (and named) rather
than regenerated, unless --force.

The format is the "percent" format that VS Code, PyCharm, Spyder and jupytext understand: `# %%` starts a code cell
(`# %% tags=["parameters"]` for the tagged one), `# %% [markdown]` a markdown cell whose lines are `# ` comments.
The scripts import the helpers the same way the notebooks do and find files through `gpt_oss_tutorial.paths`, so
they run from any working directory (VS Code's interactive window: "Run Cell" above each `# %%`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SCRIPTS_DIR = NOTEBOOKS_DIR / "py"
HEADER = (
    "# Generated from notebooks/{name} by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.\n"
    "# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.\n"
)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def to_percent(nb: dict, name: str) -> str:
    """The `# %%` script of a notebook (a dict as read from .ipynb JSON)."""
    parts = [HEADER.format(name=name)]
    for cell in nb.get("cells", []):
        source = _source(cell).rstrip("\n")
        if cell.get("cell_type") == "code":
            tags = cell.get("metadata", {}).get("tags") or []
            marker = "# %%" + (f" tags={json.dumps(list(tags))}" if tags else "")
            parts.append(f"{marker}\n{source}\n" if source else f"{marker}\n")
        elif cell.get("cell_type") in ("markdown", "raw"):
            kind = cell["cell_type"]
            lines = [("# " + line).rstrip() for line in source.split("\n")] if source else []
            parts.append("\n".join([f"# %% [{kind}]", *lines]) + "\n")
    return "\n".join(parts)


def expected_scripts(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[Path, str]:
    """{script path: text} for every `NN_*.ipynb` of ``notebooks_dir``."""
    out = {}
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        out[notebooks_dir / "py" / f"{path.stem}.py"] = to_percent(nb, path.name)
    return out


def check(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """What is out of sync (empty: every script matches its notebook and none is orphaned)."""
    expected = expected_scripts(notebooks_dir)
    problems = []
    for path, text in expected.items():
        rel = path.relative_to(notebooks_dir.parent)
        if not path.exists():
            problems.append(f"{rel} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel} differs from its notebook")
    scripts_dir = notebooks_dir / "py"
    for path in sorted(scripts_dir.glob("*.py")) if scripts_dir.is_dir() else []:
        if path not in expected:
            problems.append(f"{path.relative_to(notebooks_dir.parent)} has no notebook")
    return problems


def edited_scripts(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Scripts that differ from their notebook and were saved after it: edits not yet written back (``--from-py``)."""
    edited = []
    for path, text in expected_scripts(notebooks_dir).items():
        notebook = notebooks_dir / f"{path.stem}.ipynb"
        if path.exists() and path.read_text(encoding="utf-8") != text \
                and path.stat().st_mtime > notebook.stat().st_mtime:
            edited.append(path)
    return edited


def write(notebooks_dir: Path = NOTEBOOKS_DIR, *, force: bool = False) -> list[Path]:
    """(Re)write the scripts that differ, atomically; remove scripts whose notebook is gone. Returns what changed.

    A script edited after its notebook is left as it is (regenerating it would lose the edit) unless ``force``."""
    expected = expected_scripts(notebooks_dir)
    keep = set() if force else set(edited_scripts(notebooks_dir))
    scripts_dir = notebooks_dir / "py"
    scripts_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for path, text in expected.items():
        if path not in keep and (not path.exists() or path.read_text(encoding="utf-8") != text):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            changed.append(path)
    for path in sorted(scripts_dir.glob("*.py")):
        if path not in expected:
            path.unlink()
            changed.append(path)
    return changed


def from_percent(text: str) -> list[dict]:
    """The cells of a `# %%` script (the inverse of ``to_percent``): dicts with ``cell_type``, ``source``, ``tags``."""
    cells: list[dict] = []
    for line in text.split("\n"):
        if line.startswith("# %%"):
            marker = line[4:].strip()
            kind = "code"
            tags: list[str] = []
            if marker.startswith("[") and marker.endswith("]"):
                kind = marker[1:-1]
            elif marker.startswith("tags="):
                tags = json.loads(marker[len("tags="):])
            cells.append({"cell_type": kind, "lines": [], "tags": tags})
        elif cells:
            cells[-1]["lines"].append(line)
    out = []
    for cell in cells:
        lines = cell.pop("lines")
        if cell["cell_type"] != "code":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        cell["source"] = "\n".join(lines).strip("\n")
        out.append(cell)
    return out


def write_notebook(script: Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Replace the cells of the notebook a script was generated from with the script's cells (outputs cleared).

    For maintainers who prefer editing the `# %%` script: the notebook's own metadata is kept; cell ids are new.
    """
    script = Path(script)
    path = notebooks_dir / f"{script.stem}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    text = script.read_text(encoding="utf-8")
    body = text.split("\n\n", 1)[1] if text.startswith("# Generated from") else text
    cells = []
    for i, cell in enumerate(from_percent(body)):
        entry = {"cell_type": cell["cell_type"], "id": f"{script.stem[:2]}-{i:02d}",
                 "metadata": {"tags": cell["tags"]} if cell["tags"] else {},
                 "source": cell["source"].splitlines(keepends=True)}
        if cell["cell_type"] == "code":
            entry.update(execution_count=None, outputs=[])
        cells.append(entry)
    nb["cells"] = cells
    nb.setdefault("nbformat", 4)
    nb.setdefault("nbformat_minor", 5)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when a script is out of sync")
    parser.add_argument("--from-py", nargs="+", metavar="SCRIPT", type=Path,
                        help="write these notebooks/py/NN_name.py scripts back into their notebooks, then re-sync")
    parser.add_argument("--force", action="store_true",
                        help="regenerate scripts edited after their notebook too (their edits are lost)")
    args = parser.parse_args(argv)
    if args.from_py:
        for script in args.from_py:
            print("wrote " + str(write_notebook(script).relative_to(REPO_ROOT)))
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python tools/sync_notebooks.py", file=sys.stderr)
            return 1
        print(f"notebooks/py/ is in sync with {len(expected_scripts())} notebook(s)")
        return 0
    for path in [] if args.force else edited_scripts():
        rel = path.relative_to(REPO_ROOT)
        print(f"kept {rel}: edited after its notebook. Write it back with --from-py {rel}, or regenerate it "
              "from the notebook with --force (the edit is lost)", file=sys.stderr)
    changed = write(force=args.force)
    for path in changed:
        print(("wrote " if path.exists() else "removed ") + str(path.relative_to(REPO_ROOT)))
    if not changed:
        print("notebooks/py/ already in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
