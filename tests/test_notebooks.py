"""Every notebook, executed headless in its smoke configuration (tiny-gpt-oss), through the same runner as the
main job. This is the reader's first Run All, on every change."""
from __future__ import annotations

import json

from gpt_oss_tutorial import runner


def test_every_notebook_runs_in_smoke_mode(tmp_path):
    notebooks = runner.discover_notebooks()
    assert [p.name[:2] for p in notebooks] == [f"{i:02d}" for i in range(len(notebooks))] and len(notebooks) >= 7
    summary = runner.run_all("tiny-gpt-oss", smoke=True, outputs=tmp_path, stop_on_failure=False)
    failures = {n["name"]: n["error"] for n in summary["notebooks"] if n["status"] != "ok"}
    assert not failures, json.dumps(failures, indent=2)
    assert summary["status"] == "ok"
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert [n["name"] for n in on_disk["notebooks"]] == [p.stem for p in notebooks]
    assert all(n["seconds"] > 0 and n["figures"] for n in on_disk["notebooks"]), "each notebook records figures"
    assert (tmp_path / "report.md").read_text().count("| ok |") == len(notebooks)
    figures = {n["name"]: n["figures"] for n in on_disk["notebooks"]}
    assert figures["01_load_and_lora"]["trainable_parameters"] == figures["01_load_and_lora"]["expected_lora_parameters"]
    sft_notebook = next(p for p in notebooks if p.stem == "03_sft")
    assert figures["03_sft"]["steps"] == runner.smoke_parameters(sft_notebook).get("MAX_STEPS", 3)  # the smoke run's
    assert (tmp_path / "sft" / "tiny-gpt-oss" / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "base_answer.json").exists()
