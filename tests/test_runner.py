"""The run-all runner: throwaway notebooks executed headless with papermill (4 kernel starts in all)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from gpt_oss_tutorial import runner
from gpt_oss_tutorial.paths import REPO_ROOT
from gpt_oss_tutorial.runner import NotebookResult


def make_notebook(path: Path, body: str, *, parameters: str = 'PRESET = "auto"\nSTEPS = 60',
                  smoke: dict | None = None) -> Path:
    """A notebook laid out as CONVENTIONS.md asks: title, a `parameters` cell, then the notebook's code; ``smoke``
    goes to the metadata as the notebook's smoke parameters."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if smoke is not None:
        nb.metadata["tutorial"] = {"smoke_parameters": smoke}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params, nbformat.v4.new_code_cell(body)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


PASSING = """\
import os
from gpt_oss_tutorial import figures
print("hello from", PRESET)
figures.record("{stem}", preset=PRESET, steps=STEPS, cwd=os.getcwd(), loss=0.125,
               summary={{"eval": {{"before": {{"accuracy": 0.25}}}}}})
"""


# ---------------------------------------------------------------------------------------------------------------
# no kernel


def test_discover_and_select(tmp_path):
    for name in ["02_b.ipynb", "00_a.ipynb", "10_c.ipynb", "01_x.ipynb", "notes.md"]:
        (tmp_path / name).write_text("{}")
    found = runner.discover_notebooks(tmp_path)
    assert [p.name for p in found] == ["00_a.ipynb", "01_x.ipynb", "02_b.ipynb", "10_c.ipynb"]
    assert [p.stem for p in runner.select_notebooks(found, ["2", "00_a", "10_c.ipynb"])] == ["00_a", "02_b", "10_c"]
    assert runner.select_notebooks(found, None) == found
    with pytest.raises(ValueError, match="no notebook matches '07'"):
        runner.select_notebooks(found, ["07"])
    # "1" means notebook 01, not every name that starts with a 1
    assert [p.stem for p in runner.select_notebooks(found, ["1"])] == ["01_x"]


def test_smoke_parameters_come_from_the_metadata(tmp_path):
    new = make_notebook(tmp_path / "03_new.ipynb", "pass", smoke={"STEPS": 3})
    older = make_notebook(tmp_path / "04_old.ipynb", "pass", parameters='PRESET = "auto"\nSMOKE = False  # quick run')
    plain = make_notebook(tmp_path / "05_plain.ipynb", "pass", parameters='PRESET: str = "auto"\nA = B = 1')
    assert runner.smoke_parameters(new) == {"STEPS": 3}
    assert runner.smoke_parameters(older) == {"SMOKE": True}  # a notebook still on the SMOKE switch
    assert runner.smoke_parameters(plain) == {}
    assert runner.parameter_names(plain) == {"PRESET", "A", "B"}
    assert runner.parameter_names(new) == {"PRESET", "STEPS"}


def _tagged(path: Path, cells: list[tuple[str, list[str]]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# tagged")]
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def test_run_cells_runs_the_tagged_cells_as_written_and_names_the_cell_of_a_problem(tmp_path):
    from gpt_oss_tutorial.errors import NotebookCellError, TutorialError

    _tagged(tmp_path / "01_lesson.ipynb", [("x = base + 1", ["first"]), ("y = 'not run'", []),
                                          ("x = x * 10\nz = x", ["second"])])
    namespace = runner.run_cells("01_lesson", ["first", "second"], {"base": 4}, notebooks_dir=tmp_path)
    assert (namespace["x"], namespace["z"]) == (50, 50) and "y" not in namespace
    # an edited cell is what runs next time: the notebook holds the one copy
    _tagged(tmp_path / "01_lesson.ipynb", [("x = base - 1", ["first"]), ("x = x * 10\nz = x", ["second"])])
    assert runner.run_cells("01_lesson", ["first", "second"], {"base": 4}, notebooks_dir=tmp_path)["z"] == 30

    with pytest.raises(NotebookCellError, match=r"01_lesson.ipynb has no code cell tagged 'third'") as missing:
        runner.run_cells("01_lesson", ["third"], {}, notebooks_dir=tmp_path)
    assert isinstance(missing.value, TutorialError) and "git checkout" in str(missing.value)
    _tagged(tmp_path / "02_broken.ipynb", [("ok = 1", []), ("x = (1,", ["first"])])
    with pytest.raises(NotebookCellError, match=r"02_broken.ipynb, cell 3 \(tagged 'first'\) does not compile"):
        runner.run_cells("02_broken", ["first"], {}, notebooks_dir=tmp_path)
    _tagged(tmp_path / "03_fails.ipynb", [("a = 1\nb = 1 / 0", ["first"])])
    with pytest.raises(ZeroDivisionError) as failed:
        runner.run_cells("03_fails", ["first"], {}, notebooks_dir=tmp_path)
    last = failed.traceback[-1]
    assert str(last.path) == "03_fails.ipynb, cell 2" and "1 / 0" in str(last.statement)


def test_the_published_notebooks_carry_the_tags_other_stages_run():
    """backends, sft and export run these cells; a lost tag would break every later notebook."""
    from gpt_oss_tutorial import backends, sft

    for stem, tags in [(backends.LESSON, [backends.LOAD_CELL, backends.LORA_CELL]),
                       (sft.LESSON, ["sft-start", "sft-config", "sft-trainer", "sft-train"]),
                       ("06_save_and_export", ["load-adapter"])]:
        for tag in tags:
            [(name, source)] = runner.tagged_cells(stem, tag)
            compile(source, name, "exec")
    [(_, config)] = runner.tagged_cells(sft.LESSON, "sft-config")
    [(_, lora)] = runner.tagged_cells(backends.LESSON, backends.LORA_CELL)
    assert "SFTConfig(" in config and "FastLanguageModel.get_peft_model(" in lora and "LoraConfig(" in lora


def test_format_error_names_exception_and_cell(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    nb_path = make_notebook(tmp_path / "03_x.ipynb", 'raise ValueError("boom")')
    exc = PapermillExecutionError(
        cell_index=3, exec_count=4, source='raise ValueError("boom")', ename="ValueError",
        evalue="boom\n  on two lines", traceback=["\x1b[0;31mValueError\x1b[0m: boom"],
    )
    message = runner.format_error(exc, nb_path)
    assert message.startswith("ValueError: boom on two lines")
    assert "cell 3 of 03_x.ipynb" in message and "In [4]" in message
    assert "\n" not in message and "\x1b" not in message
    assert runner.format_error(RuntimeError("kernel died")) == "RuntimeError: kernel died"


def test_build_summary_merges_sections_and_render_report_puts_failures_first(tmp_path):
    results = [
        NotebookResult("00_env", tmp_path / "00_env.ipynb", "failed", 1.5,
                       "RuntimeError: gpt-oss-20b needs a CUDA GPU with 15.5 GB", {"preset": "gpt-oss-20b"}),
        NotebookResult("04_eval", tmp_path / "04_eval.ipynb", "ok", 2.0, None,
                       {"accuracy": 0.5, "summary": {"eval": {"before": {"acc": 0.1}}, "status": "hijack"}}),
        NotebookResult("06_grpo", tmp_path / "06_grpo.ipynb", "ok", 3.0, None,
                       {"summary": {"eval": {"after": {"acc": 0.9}}, "grpo": {"steps": 4}}}),
        NotebookResult("07_export", tmp_path / "07_export.ipynb", "skipped", 0.0),
    ]
    summary = runner.build_summary(preset="auto", smoke=True, started="2025-01-01T00:00:00+00:00", seconds=6.5,
                                   results=results, machine={"python": "3.11", "torch": None, "device": "cpu"})
    assert summary["status"] == "failed"
    assert summary["resolved_preset"] == "gpt-oss-20b"
    assert summary["eval"] == {"before": {"acc": 0.1}, "after": {"acc": 0.9}}  # deep-merged across notebooks
    assert summary["grpo"] == {"steps": 4}
    assert any("'status' is reserved" in w for w in summary["warnings"])
    assert [nb["status"] for nb in summary["notebooks"]] == ["failed", "ok", "ok", "skipped"]
    assert summary["notebooks"][1]["figures"] == {"accuracy": 0.5}  # `summary` lifted out of the entry
    json.dumps(summary)  # serialisable as is

    report = runner.render_report(summary)
    refusal = report.index("needs a CUDA GPU with 15.5 GB")
    assert refusal < report.index("| Notebook | Status |")
    assert "| 04_eval | ok | 2.0 s | accuracy=0.5 |" in report
    assert "## eval" in report and '"after"' in report and "## grpo" in report
    assert "torch not installed, cpu" in report

    all_ok = runner.build_summary(preset="smollm2-135m", smoke=False, started="x", seconds=1.0, results=results[1:3])
    assert all_ok["status"] == "ok" and all_ok["resolved_preset"] == "smollm2-135m"


def _hold(path: Path, inside, release) -> None:
    """In another process: hold the writer lock of ``path`` until released."""
    from gpt_oss_tutorial import atomic

    with atomic.exclusive(path):
        inside.set()
        release.wait(timeout=60)


def test_two_series_into_one_outputs_folder_are_refused(tmp_path):
    """A second run_all into the same outputs folder stops before any notebook runs, naming the other process."""
    import multiprocessing

    from gpt_oss_tutorial.errors import OutputError

    nbs, out = tmp_path / "nbs", tmp_path / "out"
    make_notebook(nbs / "00_any.ipynb", "print(1)")
    fork = multiprocessing.get_context("fork")
    inside, release = fork.Event(), fork.Event()
    other = fork.Process(target=_hold, args=(out / "summary.json", inside, release))
    other.start()
    try:
        assert inside.wait(timeout=60)
        with pytest.raises(OutputError, match=rf"being written by another process \(pid {other.pid}\)"):
            runner.run_all("tiny-gpt-oss", outputs=out, notebooks_dir=nbs, console=Console(file=io.StringIO()))
    finally:
        release.set()
        other.join(timeout=60)
    assert not (out / "notebooks").exists() and not (out / "summary.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# with a kernel


@pytest.mark.slow
def test_run_all_ok_failed_skipped(tmp_path):
    nbs, out = tmp_path / "notebooks", tmp_path / "outputs"
    make_notebook(nbs / "00_pass.ipynb", PASSING.format(stem="00_pass"), smoke={"STEPS": 3})
    make_notebook(nbs / "01_fail.ipynb", 'x = 1\nraise ValueError("boom")')
    make_notebook(nbs / "02_after.ipynb", 'from gpt_oss_tutorial import figures\nfigures.record("02_after", ran=True)')
    stale = out / "figures" / "02_after.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"ran": "stale"}')
    env_before = os.environ.get("GPT_OSS_TUTORIAL_OUTPUTS")
    printed = io.StringIO()

    summary = runner.run_all("tiny-gpt-oss", smoke=True, outputs=out, notebooks_dir=nbs,
                             console=Console(file=printed, width=120))

    assert os.environ.get("GPT_OSS_TUTORIAL_OUTPUTS") == env_before  # restored
    assert summary["status"] == "failed"
    ok, failed, skipped = summary["notebooks"]
    assert [ok["name"], failed["name"], skipped["name"]] == ["00_pass", "01_fail", "02_after"]
    # passing notebook: parameters injected, figures collected, ran in its own folder
    assert ok["status"] == "ok" and ok["error"] is None
    assert ok["figures"] == {"preset": "tiny-gpt-oss", "steps": 3, "cwd": str(nbs.resolve()), "loss": 0.125}
    assert summary["resolved_preset"] == "tiny-gpt-oss"
    assert summary["eval"] == {"before": {"accuracy": 0.25}}
    # failing notebook: a readable message; the next one skipped, its stale figures gone
    assert failed["status"] == "failed"
    assert "ValueError" in failed["error"] and "boom" in failed["error"] and "cell 3" in failed["error"]
    assert skipped["status"] == "skipped" and skipped["figures"] == {}
    assert not stale.exists()

    # files: summary.json equals the returned dict, report, executed notebooks
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    executed = nbformat.read(str(out / "notebooks" / "00_pass.ipynb"), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'PRESET = "tiny-gpt-oss"' in injected[0].source and "STEPS = 3" in injected[0].source
    assert any("hello from tiny-gpt-oss" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert (out / "notebooks" / "01_fail.ipynb").exists()
    assert not (out / "notebooks" / "02_after.ipynb").exists()
    report = (out / "report.md").read_text()
    assert "`tiny-gpt-oss` (smoke configuration)" in report
    assert "| 00_pass | ok |" in report and "| 01_fail | failed |" in report and "| 02_after | skipped |" in report
    assert "loss=0.125" in report and "## eval" in report
    assert failed["error"] in report
    assert not list(out.glob(".*.tmp"))  # atomic writes left nothing behind
    lines = printed.getvalue().splitlines()
    assert any(ln.startswith("00_pass") and " ok " in ln for ln in lines)
    assert any(ln.startswith("02_after") and "skipped" in ln for ln in lines)


@pytest.mark.slow
def test_cli_exit_codes_keep_going_and_only(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "out"
    make_notebook(nbs / "00_env.ipynb", 'raise RuntimeError(f"preset {PRESET} cannot run on this machine")')
    make_notebook(nbs / "01_ok.ipynb", PASSING.format(stem="01_ok"))
    make_notebook(nbs / "02_unused.ipynb", "print(2)")
    script = REPO_ROOT / "scripts" / "run_all.py"
    base = [sys.executable, str(script), "--notebooks-dir", str(nbs), "--outputs", str(out), "--smoke"]

    failed = subprocess.run(base + ["--preset", "smollm2-135m", "--keep-going", "--only", "00", "1"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [(nb["name"], nb["status"]) for nb in summary["notebooks"]] == [("00_env", "failed"), ("01_ok", "ok")]
    assert "RuntimeError: preset smollm2-135m cannot run on this machine" in summary["notebooks"][0]["error"]
    report = (out / "report.md").read_text()
    assert report.index("cannot run on this machine") < report.index("| Notebook |")
    assert str(out / "report.md") in failed.stdout

    passed = subprocess.run(base + ["--only", "01"], capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["preset"] == "auto"
    assert summary["resolved_preset"] == "auto"  # what 01_ok recorded as the PRESET it saw

    bad = subprocess.run(base + ["--only", "09"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no notebook matches '09'" in bad.stderr

    import multiprocessing

    fork = multiprocessing.get_context("fork")
    inside, release = fork.Event(), fork.Event()
    other = fork.Process(target=_hold, args=(out / "summary.json", inside, release))
    other.start()
    try:
        assert inside.wait(timeout=60)
        busy = subprocess.run(base + ["--only", "01"], capture_output=True, text=True, timeout=120)
    finally:
        release.set()
        other.join(timeout=60)
    assert busy.returncode == 2 and "Traceback" not in busy.stderr, busy.stderr
    assert busy.stderr.startswith(f"error: {out / 'summary.json'} is being written by another process (pid {other.pid})")


@pytest.mark.slow
def test_run_stage_exit_status_and_what_it_prints(tmp_path, capsys):
    """What a command-line tool built on run_stage prints and returns: 0 figures, 2 the reader's problem, 1 a bug."""
    nbs, out = tmp_path / "nbs", tmp_path / "out"
    make_notebook(nbs / "03_ok.ipynb", PASSING.format(stem="03_ok"))
    make_notebook(nbs / "04_input.ipynb", 'from gpt_oss_tutorial.errors import DataError\n'
                  'raise DataError(f"rows.jsonl row 3, field \'final\': empty ({STEPS}). Fill it or remove the row.")')
    make_notebook(nbs / "05_bug.ipynb", 'x = {}\nx["missing"]')

    stale = out / "figures" / "03_ok.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"old_figure": 1}')
    assert runner.run_stage("03_ok", {"PRESET": "tiny-gpt-oss", "STEPS": 7}, outputs=out, notebooks_dir=nbs) == 0
    printed = capsys.readouterr()
    assert "old_figure" not in printed.out
    assert "steps: 7" in printed.out and "preset: tiny-gpt-oss" in printed.out and "summary" not in printed.out
    assert f"executed notebook: {out.resolve() / 'notebooks' / '03_ok.ipynb'}" in printed.out

    assert runner.run_stage("04_input", {"STEPS": 5}, outputs=out, notebooks_dir=nbs) == 2
    printed = capsys.readouterr()
    assert printed.err == "error: rows.jsonl row 3, field 'final': empty (5). Fill it or remove the row.\n"
    assert printed.out == ""

    assert runner.run_stage("05_bug", {}, outputs=out, notebooks_dir=nbs) == 1
    err = capsys.readouterr().err
    assert "KeyError: 'missing'" in err and "cell 3 of 05_bug.ipynb" in err
    assert f"the executed notebook shows where: {out.resolve() / 'notebooks' / '05_bug.ipynb'}" in err

    # another process running the same notebook into the same outputs: the reader's problem, said plainly
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    inside, release = fork.Event(), fork.Event()
    other = fork.Process(target=_hold, args=(out / "notebooks" / "03_ok.ipynb", inside, release))
    other.start()
    try:
        assert inside.wait(timeout=60)
        stale.write_text('{"the_other_run": 1}')
        assert runner.run_stage("03_ok", {"STEPS": 1}, outputs=out, notebooks_dir=nbs) == 2
        assert stale.read_text() == '{"the_other_run": 1}'  # the running one's figures are left alone
    finally:
        release.set()
        other.join(timeout=60)
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"03_ok.ipynb is being written by another process (pid {other.pid})" in err

    # a flag the notebook does not have: refused before a kernel starts
    assert runner.run_stage("03_ok", {"PRESET": "x", "MAX_STEPS": 3}, outputs=out, notebooks_dir=nbs) == 1
    assert "03_ok.ipynb has no parameter MAX_STEPS" in capsys.readouterr().err


def test_a_missing_adapter_is_a_message_not_a_traceback(tmp_path):
    """Notebooks 04-06 need notebook 03's adapter: without it the tools exit 2 with a message naming notebook 03."""
    from gpt_oss_tutorial import errors, paths

    with pytest.raises(errors.MissingStageOutput, match="03_sft") as caught:
        paths.require_adapter("tiny-gpt-oss", tmp_path / "nothing-here")
    assert isinstance(caught.value, FileNotFoundError)  # older `except FileNotFoundError` still catch it
    assert "MissingStageOutput" in errors.user_error_names()
