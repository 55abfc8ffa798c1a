"""tools/gpu_report.py and tools/gpu_check.sh on the CPU: the report from a real smoke run's summary.json (the key
names notebooks record), the merge of several runs, and the script's mechanics that need no GPU."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import gpu_report  # noqa: E402

GPU = {"name": "NVIDIA H200", "driver": "580.95.05", "memory": "143771 MiB"}


def _work(tmp_path: Path, summaries: list[dict]) -> Path:
    work = tmp_path / "work"
    (work / "summaries").mkdir(parents=True)
    (work / "gpu_memory").mkdir()
    for i, summary in enumerate(summaries):
        (work / "summaries" / f"2026113{i}T000000Z.json").write_text(json.dumps(summary))
    env = {"python": "3.12.3", "cuda": "13.0", "gpus": [GPU], "versions": {"torch": "2.11.0", "unsloth": None}}
    (work / "env.json").write_text(json.dumps(env))
    return work


def _row(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {label} |"))


def test_report_from_a_smoke_run(tmp_path):
    from gpt_oss_tutorial import runner

    summary = runner.run_all("tiny-gpt-oss", smoke=True, notebooks=["00", "01"], outputs=tmp_path / "out")
    assert summary["status"] == "ok", summary
    work = _work(tmp_path, [json.loads((tmp_path / "out" / "summary.json").read_text())])
    (work / "gpu_memory" / "01_load_and_lora.csv").write_text(
        "2026/11/30 12:00:00.000, 1024\n2026/11/30 12:00:00.500, 13210\nnot a sample\n")
    text = gpu_report.render(work)
    figures = {nb["name"]: nb["figures"] for nb in summary["notebooks"]}["01_load_and_lora"]
    assert f"| {figures['trainable_parameters']:,} | `01_load_and_lora: trainable_parameters` |" in \
        _row(text, "Trainable LoRA parameters")
    assert "`01_load_and_lora: trainable_percent`" in _row(text, "Trainable share (%)")
    assert "| ok |" in _row(text, "01_load_and_lora") and "12.9 GiB" in _row(text, "01_load_and_lora")
    assert "not recorded" in _row(text, "00_environment_check")  # no memory samples for it
    assert _row(text, "SFT s/step").startswith("| SFT s/step | not recorded |")  # 03 did not run
    assert "NVIDIA H200 (143771 MiB)" in _row(text, "GPU") and "580.95.05" in _row(text, "Driver")
    assert "smoke" in text and _row(text, "unsloth") == "| unsloth | not installed |"


def test_latest_run_of_a_notebook_wins_and_sections_are_read(tmp_path):
    first = {"preset": "gpt-oss-20b", "smoke": False, "started": "2026-11-30T10:00:00+00:00", "notebooks": [
        {"name": "03_sft", "status": "failed", "seconds": 600.0, "error": "KeyboardInterrupt: interrupted",
         "figures": {}}]}
    second = {"preset": "gpt-oss-20b", "smoke": False, "started": "2026-11-30T10:20:00+00:00",
              "grpo": {"seconds_per_step": 17.7, "steps": 3},
              "export": {"lora": {"size_mb": 120.4, "passed": True, "skipped": False},
                         "gguf-f16": {"size_mb": None, "passed": None, "skipped": "no converter"}},
              "notebooks": [
                  {"name": "03_sft", "status": "ok", "seconds": 540.5, "error": None,
                   "figures": {"steps": 60, "wall_seconds": 540.5, "tokens_per_second": 14654.2, "first_loss": 12.1, "last_loss": 11.8,
                               "memory": {"peak_reserved_gb": 17.52}}},
                  {"name": "05_grpo", "status": "ok", "seconds": 80.0, "error": None, "figures": {"start": "sft"}},
                  {"name": "06_save_and_export", "status": "ok", "seconds": 300.0, "error": None,
                   "figures": {}}]}
    text = gpu_report.render(_work(tmp_path, [first, second]))
    assert "| 03_sft | ok | 9.0 min |" in text and "KeyboardInterrupt" not in text
    assert "14,654" in _row(text, "SFT tokens/s") and "60" in _row(text, "SFT steps")
    assert "12.1 / 11.8" in _row(text, "SFT first / last loss")
    assert "| 9.008 |" in _row(text, "SFT s/step") and "derived" in _row(text, "SFT s/step")
    assert "17.52" in _row(text, "SFT peak GPU memory (GiB, torch)")
    assert "17.7" in _row(text, "GRPO s/step") and "summary:grpo.seconds_per_step" in _row(text, "GRPO s/step")
    assert "check passed, 120 MB" in _row(text, "export lora")
    assert "skipped (no converter)" in _row(text, "export gguf-f16")
    assert _row(text, "Evaluation generations/s").startswith("| Evaluation generations/s | not recorded |")


def test_report_cli_writes_the_file_and_refuses_a_missing_work_folder(tmp_path):
    work = _work(tmp_path, [])
    out = tmp_path / "docs" / "gpu-run.md"
    assert gpu_report.main(["render", str(work), "--out", str(out)]) == 0
    assert "(no notebook ran)" in out.read_text()
    done = subprocess.run([sys.executable, str(REPO / "tools" / "gpu_report.py"), "render", str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "run tools/gpu_check.sh first" in done.stderr


def test_gpu_check_script(tmp_path):
    script = REPO / "tools" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "tools/gpu_check.sh build" in usage.stdout
    # Too little of the call's deadline left: nothing starts, the note says so, everything is copied to $OUT.
    env = {**os.environ, "GPU_CHECK_WORK": str(tmp_path / "work"), "GPU_CHECK_OUTPUTS": str(tmp_path / "outputs"),
           "GPU_CHECK_DEADLINE": "30", "OUT": str(tmp_path / "OUT"), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(script), "run", "03"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "notebook 03 not started in this call" in _archived(tmp_path / "OUT", "notes.md")
    assert (tmp_path / "OUT" / "gpu_check.log").exists() and _archived(tmp_path / "OUT", "logs/gpu_check.log")
    assert not list((tmp_path / "work" / "summaries").iterdir())
    status = subprocess.run(["bash", str(script), "status"], env=env, capture_output=True, text=True, timeout=300)
    assert "models--unsloth--gpt-oss-20b: not built" in status.stdout
    shutil.rmtree(tmp_path / "OUT")
    # A notebook run with cut parameters: through the runner, its summary kept, the cut noted. (On this CPU machine
    # notebook 00 stops: the gpt-oss-20b preset needs a GPU.)
    env.update(GPU_CHECK_DEADLINE="600", GPU_CHECK_PARAMETERS_00='{"PRESET": "gpt-oss-20b"}')
    done = subprocess.run(["bash", str(script), "run", "00"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "00_environment_check: Status: failed" in done.stdout, done.stdout + done.stderr
    saved = list((tmp_path / "work" / "summaries").glob("*-00_environment_check.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["notebooks"][0]["status"] == "failed"
    notes = _archived(tmp_path / "OUT", "notes.md")
    assert '00_environment_check runs with parameters {"PRESET": "gpt-oss-20b"}' in notes
    assert _archived(tmp_path / "OUT", "notebooks/00_environment_check.ipynb")


def _archived(out: Path, member: str) -> str:
    """A file of the one archive gpu_check leaves in $OUT (the device returns at most 8 files)."""
    import tarfile

    with tarfile.open(out / "gpu_check.tar.gz") as tar:
        return tar.extractfile(member).read().decode("utf-8")
