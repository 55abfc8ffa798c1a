"""The hub code path, offline: `tools/hub_dataset.py` places rows shaped like HuggingFaceH4/Multilingual-Thinking in a
Hugging Face cache, and the real `load_dataset("HuggingFaceH4/Multilingual-Thinking", split="train")` reads them with
HF_HUB_OFFLINE=1 (no mock). The tests look at what a row becomes: the rendered text and the trained tokens."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpt_oss_tutorial import backends, data, presets
from gpt_oss_tutorial.errors import DataError

REPO = Path(__file__).resolve().parents[1]
HUB_ID = "HuggingFaceH4/Multilingual-Thinking"


def _tool():
    spec = importlib.util.spec_from_file_location("hub_dataset", REPO / "tools" / "hub_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    done = subprocess.run([sys.executable, "tools/hub_dataset.py", "--cache", str(home)], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture()
def offline_cache(hf_home, monkeypatch):
    """Point this process's Hugging Face libraries at the fixture cache, offline."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", hf_home / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return hf_home


@pytest.fixture(scope="module")
def tokenizer():
    return backends.load_tokenizer(presets.get_preset("tiny-gpt-oss"))


def test_the_tool_writes_the_hub_layout(hf_home):
    import pyarrow.parquet as pq

    repo = hf_home / "hub" / "datasets--HuggingFaceH4--Multilingual-Thinking"
    revision = (repo / "refs" / "main").read_text()
    snapshot = repo / "snapshots" / revision
    parquet = snapshot / "data" / "train-00000-of-00001.parquet"
    assert parquet.is_file() and (snapshot / "README.md").is_file()
    assert (hf_home / "datasets" / "HuggingFaceH4___multilingual-thinking" / "default" / "0.0.0" / revision /
            "dataset_info.json").is_file()
    schema = pq.read_schema(parquet)
    assert schema.names == ["reasoning_language", "developer", "user", "analysis", "final", "messages"]
    assert [f.name for f in schema.field("messages").type.value_type] == ["content", "role", "thinking"]
    rows = pq.read_table(parquet).to_pylist()
    assert len(rows) == 40
    for row in rows:
        assert "reasoning language" not in row["developer"].lower()  # the persona only
        assert row["messages"][0] == {"content": f"reasoning language: {row['reasoning_language']}\n\n"
                                                 f"{row['developer']}", "role": "system", "thinking": None}
    english = sum(r["user"].isascii() and r["final"].isascii() for r in rows)
    assert english >= 30, "user and final are mostly English, as on the hub"


def test_the_tool_is_deterministic_and_refuses_another_revision(tmp_path, hf_home):
    tool = _tool()
    assert tool.make_rows(40) == tool.make_rows(40) == tool.make_rows(1000)[:40]
    checker = data.RowChecker("fixture")
    for index, row in enumerate(tool.make_rows(1000)):
        checker.add(row, index + 1)
    assert len(checker.rows) == 1000 and not checker.problems and not checker.duplicates  # --rows 1000 for a GPU run
    other = tmp_path / "cache"
    (other / "hub" / "datasets--HuggingFaceH4--Multilingual-Thinking" / "snapshots" / ("0" * 40)).mkdir(parents=True)
    with pytest.raises(SystemExit, match="not touching it"):
        tool.place(other, tool.make_rows(10))


def test_analyses_are_in_the_reasoning_language():
    from gpt_oss_tutorial.langid import detect_language, language_code

    rows = _tool().make_rows(40)
    assert all(detect_language(r["analysis"]) == language_code(r["reasoning_language"]) for r in rows)


def test_real_load_dataset_reads_the_cache_offline(offline_cache):
    from datasets import load_dataset

    table = load_dataset(HUB_ID, split="train")
    assert table.num_rows == 40 and table.column_names[-1] == "messages"


def test_hub_rows_render_instruction_and_persona_in_the_developer_block(offline_cache, tokenizer):
    rows = data.load_rows(dataset=HUB_ID, tokenizer=tokenizer)
    assert rows.source == f"hub:{HUB_ID}" and rows.dataset == HUB_ID and len(rows.rows) == 40
    for row in rows.rows:
        text = data.render(tokenizer, row)
        block = (f"<|start|>developer<|message|># Instructions\n\nreasoning language: {row['reasoning_language']}"
                 f"\n\n{row['developer']}\n\n<|end|>")
        assert block in text
        assert text == tokenizer.apply_chat_template(row["messages"], tokenize=False)


def test_the_analysis_is_trained_and_truncated_rows_are_counted(offline_cache, tokenizer):
    preset = presets.get_preset("tiny-gpt-oss")
    rows = data.load_rows(dataset=HUB_ID, tokenizer=tokenizer)
    short = next(r for r in rows.rows if len(r["analysis"]) < 400)
    tok = data.tokenize_row(tokenizer, short, max_length=preset.max_seq_length)
    trained = tokenizer.decode([t for t, label in zip(tok["input_ids"], tok["labels"]) if label != -100],
                               skip_special_tokens=False)
    assert trained.startswith("<|channel|>analysis<|message|>" + short["analysis"] + "<|end|>")
    prompt = tokenizer.decode([t for t, label in zip(tok["input_ids"], tok["labels"]) if label == -100],
                              skip_special_tokens=False)
    assert short["analysis"] not in prompt and "reasoning language:" in prompt

    prepared = data.prepare(tokenizer, rows, max_length=preset.max_seq_length, progress=False)
    stats = prepared.stats
    assert stats["dataset"] == HUB_ID and stats["rows_in"] == 40
    assert stats["rows_truncated"] == 3  # the long analyses: cut, but their first tokens are still trained
    assert stats["rows_dropped"] == {"assistant turn truncated away (no trainable token)": 1}  # the long question
    assert stats["rows_kept"] == 39


def test_hub_rows_go_through_the_same_checks(tmp_path, monkeypatch, tokenizer):
    import datasets.config

    tool = _tool()
    rows = tool.make_rows(10)
    rows[2] = {**rows[2], "final": "Something else entirely."}  # the flat column contradicts messages
    rows[6]["messages"][2]["content"] += " <|endoftext|>"
    rows[6]["final"] = rows[6]["messages"][2]["content"]
    tool.place(tmp_path, rows)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError) as error:
        data.load_rows(dataset=HUB_ID, tokenizer=tokenizer)
    message = str(error.value)
    assert f"{HUB_ID}, row 3, field 'final'" in message and "differs from the assistant's content" in message
    assert f"{HUB_ID}, row 7, field 'final': contains the special token <|endoftext|>" in message
    kept = data.load_rows(dataset=HUB_ID, tokenizer=tokenizer, skip_invalid=True)
    assert len(kept.rows) == 8 and {p.row for p in kept.problems} == {3, 7}


def test_no_cached_copy_offline_is_a_clear_error(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="could not load the dataset .* Connect once to download it, or choose "
                                         "DATASET = 'bundled'"):
        data.load_rows(dataset=HUB_ID)


def test_prepare_script_on_the_hub_dataset_offline(hf_home, tmp_path):
    """The command line runs notebook 02 with --dataset <hub id>: the kernel loads it through the cache."""
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1",
           "GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs")}
    done = subprocess.run([sys.executable, "scripts/prepare_data.py", "--preset", "tiny-gpt-oss", "--dataset", HUB_ID],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((tmp_path / "outputs" / "data" / "tiny-gpt-oss" / "prepared" / "stats.json").read_text())
    assert stats["dataset"] == HUB_ID and stats["rows_truncated"] == 3 and stats["rows_kept"] == 39
    assert f"dataset: {HUB_ID}" in done.stdout
