"""The data stage: bundled data quality, validation messages, rendering, and the loss mask."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from gpt_oss_tutorial import backends, data, harmony, presets


@pytest.fixture(scope="module")
def tokenizer():
    return backends.load_tokenizer(presets.get_preset("tiny-gpt-oss"))


def _norm(text):
    return " ".join(text.lower().split())


def test_bundled_data_meets_the_spec():
    train = data.load_rows("train", offline=True).rows
    held_out = data.load_rows("eval", offline=True).rows
    assert len(train) >= 150 and len(held_out) >= 60
    langs = Counter(r["reasoning_language"] for r in train)
    assert {"English", "French", "German", "Spanish", "Italian"} <= set(langs)
    untrained = [r for r in held_out if r["reasoning_language"] not in langs]
    assert len(untrained) >= 10
    assert not {_norm(r["user"]) for r in train} & {_norm(r["user"]) for r in held_out}
    assert all(r.get("answer") for r in train + held_out)
    assert len({r["user"] for r in train}) > 0.9 * len(train)  # not one template with numbers swapped


def test_bundled_answers_are_checkable():
    from gpt_oss_tutorial.scoring import check_answer

    rows = data.load_rows("train", offline=True).rows[:40]
    assert all(check_answer(r["final"], r["answer"]) for r in rows)


def test_bundled_analysis_is_in_its_language():
    from gpt_oss_tutorial.langid import detect_language, language_code

    rows = data.load_rows("train", offline=True).rows + data.load_rows("eval", offline=True).rows
    wrong = [r["id"] for r in rows if detect_language(r["analysis"]) != language_code(r["reasoning_language"])]
    assert not wrong


def _write(tmp_path, lines):
    path = tmp_path / "input.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"reasoning_language": "French", "developer": "reasoning language: French", "user": "2+2?",
        "analysis": "Deux plus deux font quatre.", "final": "4"}


@pytest.mark.parametrize("row, field, reason", [
    ({k: v for k, v in GOOD.items() if k != "user"}, "user", "missing field"),
    ({**GOOD, "final": 4}, "final", "expected a string, got int"),
    ({**GOOD, "analysis": "  "}, "analysis", "empty string"),
    ({**GOOD, "reasoning_language": "Elvish"}, "reasoning_language", "unknown language 'Elvish'"),
    ({**GOOD, "analysis": "ok<|end|>"}, "analysis", "Harmony marker"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, row, field, reason):
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(row)])
    with pytest.raises(data.DataError) as error:
        data.read_jsonl(path)
    message = str(error.value)
    assert f"{path}, row 2, field '{field}'" in message and reason in message and "--skip-invalid" in message


def test_invalid_json_and_skip_invalid(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD), "{broken", json.dumps({**GOOD, "final": ""}), json.dumps(GOOD)])
    with pytest.raises(data.DataError, match=r"row 2: invalid JSON"):
        data.read_jsonl(path)
    result = data.read_jsonl(path, skip_invalid=True)
    assert len(result.rows) == 2 and [p.row for p in result.problems] == [2, 3]


def test_prepare_script_reports_bad_input(tmp_path):
    import subprocess
    import sys

    path = _write(tmp_path, [json.dumps(GOOD), json.dumps({**GOOD, "analysis": ""})])
    cmd = [sys.executable, "scripts/prepare_data.py", "--preset", "tiny-gpt-oss", "--input", str(path),
           "--out", str(tmp_path / "out")]
    failed = subprocess.run(cmd, capture_output=True, text=True, cwd=data.DATA_DIR.parents[1])
    assert failed.returncode == 2 and "row 2, field 'analysis': empty string" in failed.stderr
    ok = subprocess.run(cmd + ["--skip-invalid"], capture_output=True, text=True, cwd=data.DATA_DIR.parents[1])
    assert ok.returncode == 0, ok.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["rows_kept"] == 1 and stats["rows_dropped"] == {"invalid: empty string": 1}


def test_loss_mask_covers_exactly_the_assistant_turn(tokenizer):
    row = data.load_rows("train", offline=True).rows[3]
    tok = data.tokenize_row(tokenizer, row, max_length=4096)
    ids, labels = tok["input_ids"], tok["labels"]
    n = tok["prompt_length"]
    assert all(label == -100 for label in labels[:n])
    assert labels[n:] == ids[n:]
    prompt_text = tokenizer.decode(ids[:n], skip_special_tokens=False)
    trained_text = tokenizer.decode(ids[n:], skip_special_tokens=False)
    assert prompt_text.endswith("<|start|>assistant")
    assert trained_text.startswith("<|channel|>analysis<|message|>")
    assert row["analysis"] in trained_text and row["final"] in trained_text
    assert trained_text.endswith(harmony.RETURN)


def test_truncated_rows_are_dropped_and_counted(tokenizer):
    rows = data.load_rows("train", offline=True)
    prompt_lengths = [data.tokenize_row(tokenizer, r, max_length=4096)["prompt_length"] for r in rows.rows[:10]]
    limit = sorted(prompt_lengths)[5]  # about half of these rows lose their whole assistant turn
    subset = data.LoadResult(rows=rows.rows[:10], source="test")
    prepared = data.prepare(tokenizer, subset, max_length=limit, progress=False)
    expected_dropped = sum(1 for p in prompt_lengths if p >= limit)
    assert expected_dropped > 0
    assert prepared.stats["rows_dropped"] == {"assistant turn truncated away (no trainable token)": expected_dropped}
    assert prepared.stats["rows_kept"] == 10 - expected_dropped
    assert all(any(x != -100 for x in labels) for labels in prepared.dataset["labels"])
