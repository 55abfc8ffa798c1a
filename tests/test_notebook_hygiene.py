"""The notebooks as committed: clean, portable between JupyterLab and VS Code, and in sync with their `# %%` scripts.

Fast (reads JSON, parses Python): part of the default suite. What runs them is tests/test_notebooks.py (papermill)
and tests/browser/ (a real JupyterLab in Chromium).
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from gpt_oss_tutorial import runner

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
HELPERS_DIR = REPO_ROOT / "scripts" / "gpt_oss_tutorial"

ABSOLUTE_PATH = re.compile(r"^(/(?:home|root|work|tmp|mnt|usr|opt|Users|content)\b|~[/\\]|[A-Za-z]:[\\/])")
MACHINE_PATH_TEXT = re.compile(r"(/wor[k]/|/root/|/home/[a-z]|C:\\\\Users|/Users/[A-Za-z])")
REPO_RELATIVE = re.compile(r"^(\.\.?[/\\]|(outputs|data|notebooks|scripts|env)/)")
PLAIN_TQDM = re.compile(r"^\s*(from\s+tqdm\s+import\b|import\s+tqdm\s*$|import\s+tqdm\s+as\b|from\s+tqdm\.(std|notebook)\b"
                        r"|import\s+tqdm\.(std|notebook)\b)", re.M)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb):
    return [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def _load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _where(path: Path, index: int) -> str:
    return f"{path.name} cell {index + 1}"


def test_notebooks_exist_and_are_numbered():
    assert NOTEBOOKS, f"no notebooks/NN_*.ipynb in {NOTEBOOKS_DIR}"
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(len(NOTEBOOKS))], [p.name for p in NOTEBOOKS]
    stray = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb") if p not in NOTEBOOKS)
    assert not stray, f"notebooks not named NN_name.ipynb (the runner and the tests ignore them): {stray}"


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    path = request.param
    return path, _load(path)


def test_valid_nbformat_4(notebook):
    path, nb = notebook
    assert nb["nbformat"] == 4, path.name
    nbformat.validate(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4))


def test_committed_without_outputs(notebook):
    path, nb = notebook
    dirty = [_where(path, i) for i, c in _code_cells(nb) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"outputs or execution counts committed (clear them: Edit -> Clear Outputs of All Cells): {dirty}"
    leftovers = sorted({"widgets", "papermill"} & set(nb.get("metadata", {})))
    assert not leftovers, f"{path.name}: metadata {leftovers} left by an executed copy"
    executed = [_where(path, i) for i, c in enumerate(nb["cells"])
                if {"papermill", "execution"} & set(c.get("metadata", {}))]
    assert not executed, f"cell metadata of an executed run (papermill/execution timings): {executed}"


def test_kernelspec_is_python3(notebook):
    path, nb = notebook
    spec = nb.get("metadata", {}).get("kernelspec", {})
    assert spec.get("name") == "python3", f"{path.name}: kernelspec {spec} (JupyterLab and VS Code both know 'python3')"
    assert spec.get("language") == "python", f"{path.name}: kernelspec {spec}"


def test_first_cell_is_a_title_with_a_chinese_summary(notebook):
    path, nb = notebook
    first = nb["cells"][0]
    text = _source(first)
    assert first["cell_type"] == "markdown" and text.startswith("# "), f"{path.name}: first cell is not a # title"
    assert re.search(r"^> 中文摘要[：:]\s*\S", text, re.M), f"{path.name}: first cell has no '> 中文摘要：…' line"


def test_one_parameters_cell_with_preset(notebook):
    path, nb = notebook
    tagged = [(i, c) for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters' (papermill needs exactly one)"
    index, cell = tagged[0]
    assert cell["cell_type"] == "code", f"{_where(path, index)}: the parameters cell is not a code cell"
    first_code = _code_cells(nb)[0][0]
    assert index == first_code, f"{path.name}: code runs before the parameters cell (cell {first_code + 1})"
    tree = ast.parse(_source(cell))
    values = {}
    for stmt in tree.body:
        assert isinstance(stmt, (ast.Assign, ast.AnnAssign)), (
            f"{_where(path, index)}: the parameters cell should only assign values, found {type(stmt).__name__} "
            f"at line {stmt.lineno}")
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(target, ast.Name):
                values[target.id] = stmt.value
    assert "PRESET" in values, f"{_where(path, index)} defines {sorted(values)}"
    assert ast.literal_eval(values["PRESET"]) == "auto", f"{path.name}: PRESET must default to 'auto'"
    # the smoke switch is the runner's business, not the reader's (notebook metadata, below)
    assert "SMOKE" not in values, f"{_where(path, index)}: SMOKE belongs in the metadata's smoke_parameters"
    # the quick test configuration is the runner's (notebook metadata); every name it sets is a parameter here
    metadata = nb.get("metadata", {}).get("tutorial", {}).get("smoke_parameters")
    if metadata is not None:
        assert isinstance(metadata, dict), f"{path.name}: tutorial.smoke_parameters must be a dict"
        assert "PRESET" not in metadata, f"{path.name}: the smoke run sets PRESET itself (tiny-gpt-oss)"
    smoke = runner.smoke_parameters(path)
    assert set(smoke) <= set(values), f"{path.name}: smoke parameters {sorted(set(smoke) - set(values))} not in cell"
    assert runner.parameter_names(path) == set(values)
    # the browser test rewrites these lines: one assignment each, at the start of a line
    for name in ("PRESET", *smoke):
        hits = re.findall(rf"^{name}\s*=", _source(cell), re.M)
        assert len(hits) == 1, f"{_where(path, index)}: {name} assigned {len(hits)} times at the start of a line"


def test_code_is_plain_python_without_magics(notebook):
    """No `%` / `!` magics, no get_ipython(): VS Code's cells, a `# %%` script and plain Python all run them."""
    path, nb = notebook
    for i, cell in _code_cells(nb):
        source = _source(cell)
        magic = [ln for ln in source.splitlines() if ln.lstrip().startswith(("%", "!"))]
        assert not magic, f"{_where(path, i)}: IPython magic or shell escape {magic}"
        assert "get_ipython" not in source, f"{_where(path, i)}: get_ipython() is IPython-only"
        try:
            ast.parse(source)
        except SyntaxError as exc:
            pytest.fail(f"{_where(path, i)} is not valid Python (line {exc.lineno}): {exc.msg}")


def test_no_sys_path_edits_and_no_machine_paths(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        source = _source(cell)
        assert not MACHINE_PATH_TEXT.search(source), (
            f"{_where(path, i)}: a path of one machine ({MACHINE_PATH_TEXT.search(source).group(0)!r})")
        if cell["cell_type"] != "code":
            continue
        assert not re.search(r"\bsys\.path\b|\bPYTHONPATH\b", source), (
            f"{_where(path, i)}: edits the import path; import the helpers installed with `pip install -e .`")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" not in node.value:
                assert not ABSOLUTE_PATH.match(node.value), f"{_where(path, i)}: absolute path {node.value!r}"
                assert not REPO_RELATIVE.match(node.value), (
                    f"{_where(path, i)}: path {node.value!r} depends on the working directory (JupyterLab and VS Code "
                    "may differ); resolve it through gpt_oss_tutorial.paths")


def test_progress_bars_are_tqdm_auto(notebook):
    """tqdm.auto draws a widget in JupyterLab and VS Code and text in a terminal; plain tqdm spams stderr there."""
    path, nb = notebook
    for i, cell in _code_cells(nb):
        bad = PLAIN_TQDM.search(_source(cell))
        assert not bad, f"{_where(path, i)}: {bad.group(0).strip()!r}; use `from tqdm.auto import tqdm`"


def test_helpers_use_tqdm_auto():
    """The progress bars the notebooks show come from the helper package."""
    bad = [f"{p.relative_to(REPO_ROOT)}: {m.group(0).strip()}" for p in sorted(HELPERS_DIR.glob("*.py"))
           for m in PLAIN_TQDM.finditer(p.read_text(encoding="utf-8"))]
    assert not bad, f"use `from tqdm.auto import tqdm`: {bad}"


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_notebooks", REPO_ROOT / "tools" / "sync_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_percent_scripts_are_in_sync():
    problems = _sync_module().check(NOTEBOOKS_DIR)
    assert not problems, "notebooks/py/ is out of sync: " + "; ".join(problems) + \
        ". Run `python tools/sync_notebooks.py`."


def test_percent_script_round_trip(tmp_path):
    """The converter keeps every cell: one marker per cell, in order, each code cell's text verbatim, and
    `--check` sees a missing, edited or orphaned script."""
    sync = _sync_module()
    nb = _load(NOTEBOOKS[0])
    text = sync.to_percent(nb, NOTEBOOKS[0].name)
    markers = re.findall(r"^# %%(?: \[(markdown|raw)\])?(?: tags=.*)?$", text, re.M)
    assert [m or "code" for m in markers] == [c["cell_type"] for c in nb["cells"]]
    assert all(_source(c).rstrip("\n") in text for _, c in _code_cells(nb))
    assert '# %% tags=["parameters"]' in text
    compile(text, "script.py", "exec")

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    name = NOTEBOOKS[0]
    (notebooks / name.name).write_text(name.read_text(encoding="utf-8"), encoding="utf-8")
    assert sync.check(notebooks) == [f"notebooks/py/{name.stem}.py is missing"]
    sync.write(notebooks)
    assert sync.check(notebooks) == []
    script = notebooks / "py" / f"{name.stem}.py"
    script.write_text(script.read_text(encoding="utf-8") + "x = 1\n", encoding="utf-8")
    (notebooks / "py" / "99_gone.py").write_text("", encoding="utf-8")
    assert sync.check(notebooks) == [f"notebooks/py/{name.stem}.py differs from its notebook",
                                     "notebooks/py/99_gone.py has no notebook"]
    os.utime(notebooks / name.name, (1, 1))  # the notebook is older than the script: an edit not written back
    assert sync.edited_scripts(notebooks) == [script]
    sync.write(notebooks)
    assert script.read_text(encoding="utf-8").endswith("x = 1\n")  # kept, not regenerated
    assert not (notebooks / "py" / "99_gone.py").exists()
    sync.write(notebooks, force=True)
    assert sync.check(notebooks) == []


def test_from_py_writes_the_cells_back_and_keeps_the_metadata(tmp_path):
    """`--from-py`: a script's edit reaches its notebook; the notebook's smoke parameters (metadata) survive."""
    sync = _sync_module()
    notebooks = tmp_path / "notebooks"
    (notebooks / "py").mkdir(parents=True)
    nb = _load(NOTEBOOKS[0])
    nb["metadata"]["tutorial"] = {"smoke_parameters": {"PRESET_CHECK": "skip"}}
    (notebooks / NOTEBOOKS[0].name).write_text(json.dumps(nb), encoding="utf-8")
    script = notebooks / "py" / f"{NOTEBOOKS[0].stem}.py"
    script.write_text(sync.to_percent(nb, NOTEBOOKS[0].name) + "\n# %%\nprint('added')\n", encoding="utf-8")
    back = _load(sync.write_notebook(script, notebooks))
    assert back["metadata"] == nb["metadata"]
    assert [_source(c) for c in back["cells"]] == [_source(c).rstrip("\n") for c in nb["cells"]] + ["print('added')"]
    assert [c["cell_type"] for c in back["cells"]][:-1] == [c["cell_type"] for c in nb["cells"]]
