"""Run All in a real JupyterLab, in headless Chromium, for every notebook (opt-in: `pytest tests/browser`).

The notebooks run in order in one workspace and one outputs folder (later ones read what earlier ones wrote), from
copies whose `parameters` cell alone is set to the smoke configuration: PRESET = "tiny-gpt-oss" and the notebook's
smoke parameters from its metadata. Each must run every code cell with no error or traceback on the page, every image
decoded, every widget rendered and a plot wherever a cell plots; screenshots and a summary go to `outputs/browser/`.

Needs Debian's chromium (`$CHROMIUM` overrides the path) and the `playwright` package (its driver only); a missing one
fails the test with the command that installs it.
"""
from __future__ import annotations

import json
import os
import re
import time

import pytest

import lab_driver as lab
from gpt_oss_tutorial import runner

pytestmark = pytest.mark.browser

NOTEBOOKS = lab.discover_notebooks()
TIMEOUT = float(os.environ.get("BROWSER_NOTEBOOK_TIMEOUT", "300"))  # seconds per notebook's Run All
SCREENSHOTS = lab.REPO_ROOT / "outputs" / "browser"
_report: dict = {"notebooks": {}}


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return lab.find_chromium()
    except lab.BrowserTestSetupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def sync_playwright():
    try:
        return lab.import_playwright()
    except lab.BrowserTestSetupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    lab.prepare_workspace(root / "workspace", NOTEBOOKS)
    lab.write_selfcheck_notebook(root / "workspace" / "selfcheck" / "selfcheck.ipynb")
    return root


@pytest.fixture(scope="module")
def server(workspace):
    env = {
        "GPT_OSS_TUTORIAL_OUTPUTS": str(workspace / "outputs"),  # what the notebooks write; shared by 00..NN
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    started = time.monotonic()
    try:
        with lab.JupyterLabServer(workspace / "workspace", workspace / "state", env) as srv:
            yield srv
    except lab.BrowserTestSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        _report["total_seconds"] = round(time.monotonic() - started, 1)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "report.json").write_text(json.dumps(_report, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def browser(chromium, sync_playwright, server, workspace):
    with sync_playwright() as p:
        context = lab.launch_browser(p, chromium, workspace / "chromium-profile")
        try:
            yield context
        finally:
            context.close()


def _run(browser, server, rel_path, screenshot=None, timeout=TIMEOUT) -> lab.NotebookRun:
    try:
        return lab.run_all_in_browser(browser, server, rel_path, timeout=timeout, screenshot=screenshot)
    finally:
        server.shutdown_kernels()  # one kernel at a time


def test_notebooks_are_found():
    assert NOTEBOOKS, f"no notebooks/NN_*.ipynb under {lab.NOTEBOOKS_DIR}"
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(len(NOTEBOOKS))], [p.name for p in NOTEBOOKS]


def test_workspace_copies_change_only_the_parameters(workspace):
    for original in NOTEBOOKS:
        src = json.loads(original.read_text(encoding="utf-8"))
        copy = json.loads((workspace / "workspace" / "notebooks" / original.name).read_text(encoding="utf-8"))
        changed = [i for i, (a, b) in enumerate(zip(src["cells"], copy["cells"]))
                   if "".join(a["source"]) != "".join(b["source"])]
        assert len(src["cells"]) == len(copy["cells"])
        assert len(changed) == 1 and "parameters" in copy["cells"][changed[0]]["metadata"]["tags"], original.name
        params = "".join(copy["cells"][changed[0]]["source"])
        expected = {"PRESET": "tiny-gpt-oss", **runner.smoke_parameters(original)}
        for name, value in expected.items():
            line = f"{name} = {lab.python_literal(value)}  # set by tests/browser"
            assert re.search(rf"^{re.escape(line)}", params, re.M), params


def test_the_workspace_gets_the_smoke_parameters_of_the_metadata(tmp_path):
    """A notebook on the metadata convention: its smoke parameters are written, the rest of the cell is kept."""
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": None,
                     "source": 'PRESET = "auto"\nMAX_STEPS = None  # the preset\'s\nLANGUAGE = "French"\n'}],
          "metadata": {"tutorial": {"smoke_parameters": {"MAX_STEPS": 3, "LANGUAGE": "中文"}}},
          "nbformat": 4, "nbformat_minor": 5}
    source = tmp_path / "03_x.ipynb"
    source.write_text(json.dumps(nb), encoding="utf-8")
    copy, = lab.prepare_workspace(tmp_path / "ws", [source])
    cell = json.loads(copy.read_text(encoding="utf-8"))["cells"][0]["source"]
    assert cell.splitlines() == ['PRESET = "tiny-gpt-oss"  # set by tests/browser (smoke run)',
                                 "MAX_STEPS = 3  # set by tests/browser (smoke run)",
                                 'LANGUAGE = "中文"  # set by tests/browser (smoke run)']
    nb["cells"][0]["source"] = 'PRESET = "auto"\n'  # a smoke parameter the cell lacks: said, not ignored
    source.write_text(json.dumps(nb), encoding="utf-8")
    with pytest.raises(ValueError, match="03_x.ipynb: the parameters cell assigns MAX_STEPS 0 time"):
        lab.prepare_workspace(tmp_path / "ws", [source])


def test_the_checks_catch_a_broken_notebook(browser, server):
    """The same checks on a notebook that fails in known ways: each of them can fail."""
    run = _run(browser, server, "selfcheck/selfcheck.ipynb", timeout=120)
    problems = run.problems()
    by_index = {c.index: c for c in run.cells}
    assert by_index[2].images_rendered == 1 and by_index[2].expects_plot  # the plot cell
    assert by_index[4].widgets > 0 and not by_index[4].broken_widgets  # tqdm.auto: a rendered widget
    assert by_index[5].errors == ["ZeroDivisionError: division by zero"]
    assert any("Traceback" in t for t in by_index[5].error_texts_shown)
    assert by_index[6].execution_count is None
    assert not by_index[3].errors and not by_index[3].error_texts_shown  # a warning on stderr is not an error
    assert any("cell 6" in p and "ZeroDivisionError" in p for p in problems), problems
    assert any("cell 7" in p and "not executed" in p for p in problems), problems
    assert not any("cell 3" in p or "cell 4" in p for p in problems), problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_run_all_in_jupyterlab(browser, server, notebook):
    shot = SCREENSHOTS / f"{notebook.stem}.png"
    run = _run(browser, server, f"notebooks/{notebook.name}", screenshot=shot)
    problems = run.problems()
    _report["notebooks"][notebook.stem] = {
        "seconds": round(run.seconds, 1), "code_cells": len(run.code_cells),
        "images": sum(c.images_rendered for c in run.cells), "widgets": sum(c.widgets for c in run.cells),
        "problems": problems, "screenshot": str(shot),
        "stderr_shown": {c.where: c.stderr_shown for c in run.cells if c.stderr_shown},  # warnings: not asserted
    }
    message = f"{notebook.name} after Run All in JupyterLab (screenshot {shot}):\n  " + "\n  ".join(problems)
    if run.timed_out or run.kernel_status not in ("idle",):
        message += f"\n--- jupyter lab log (tail) ---\n{server.log_tail()}"
    assert not problems, message
    assert run.code_cells and all(c.execution_count is not None for c in run.code_cells)
