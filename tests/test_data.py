"""The data stage: bundled data quality, rows rendered from `messages`, checks that name file/row/field for every
class of bad input, the loss mask, and the command-line tool."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gpt_oss_tutorial import backends, data, data_checks, harmony, presets
from gpt_oss_tutorial.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer():
    return backends.load_tokenizer(presets.get_preset("tiny-gpt-oss"))


def _norm(text):
    return " ".join(text.lower().split())


# --------------------------------------------------------------------------- the bundled data
def test_bundled_data_meets_the_spec():
    train = data.load_rows("train").rows
    held_out = data.load_rows("eval").rows
    assert len(train) >= 150 and len(held_out) >= 60
    langs = Counter(r["reasoning_language"] for r in train)
    assert {"English", "French", "German", "Spanish", "Italian"} <= set(langs)
    untrained = [r for r in held_out if r["reasoning_language"] not in langs]
    assert len(untrained) >= 10
    assert not {_norm(r["user"]) for r in train} & {_norm(r["user"]) for r in held_out}
    assert all(r.get("answer") for r in train + held_out)
    assert len({r["user"] for r in train}) > 0.9 * len(train)  # not one template with numbers swapped


def test_bundled_rows_are_shaped_like_the_hub():
    """The persona alone in `developer`, the instruction first in the system message of `messages`."""
    for row in data.load_rows("train").rows + data.load_rows("eval").rows:
        system = row["messages"][0]
        assert system["role"] == "system"
        assert system["content"] == data_checks.system_message(row["developer"], row["reasoning_language"])
        assert "reasoning language" not in row["developer"].lower()
        assert row["messages"][-1] == {"role": "assistant", "content": row["final"], "thinking": row["analysis"]}


def test_bundled_answers_are_checkable():
    from gpt_oss_tutorial.scoring import check_answer

    rows = data.load_rows("train").rows[:40]
    assert all(check_answer(r["final"], r["answer"]) for r in rows)


def test_bundled_analysis_is_in_its_language():
    from gpt_oss_tutorial.langid import detect_language, language_code

    rows = data.load_rows("train").rows + data.load_rows("eval").rows
    wrong = [r["id"] for r in rows if detect_language(r["analysis"]) != language_code(r["reasoning_language"])]
    assert not wrong


# --------------------------------------------------------------------------- rendering from messages
PERSONA = "You are an AI chatbot with a lively and energetic personality."


def hub_row(language="French", user="What is 2 + 2?", analysis="Deux plus deux font quatre.", final="4"):
    """A row as HuggingFaceH4/Multilingual-Thinking stores it: the instruction only in messages[0]."""
    return {"reasoning_language": language, "developer": PERSONA, "user": user, "analysis": analysis, "final": final,
            "messages": [
                {"content": f"reasoning language: {language}\n\n{PERSONA}", "role": "system", "thinking": None},
                {"content": user, "role": "user", "thinking": None},
                {"content": final, "role": "assistant", "thinking": analysis}]}


def _write(tmp_path, lines, name="input.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_hub_shaped_rows_keep_the_instruction_in_every_prompt(tmp_path, tokenizer):
    langs = ["French", "German", "Spanish", "Italian", "English"]
    path = _write(tmp_path, [json.dumps(hub_row(lang, user=f"Question {i}?")) for i, lang in enumerate(langs)])
    rows = data.load_rows(dataset=path, tokenizer=tokenizer)
    prepared = data.prepare(tokenizer, rows, max_length=512, progress=False)
    kept = 0
    for record, lang in zip(prepared.dataset, langs):
        prompt_ids = [t for t, label in zip(record["input_ids"], record["labels"]) if label == -100]
        prompt = tokenizer.decode(prompt_ids, skip_special_tokens=False)
        block = f"<|start|>developer<|message|># Instructions\n\nreasoning language: {lang}\n\n{PERSONA}\n\n<|end|>"
        kept += block in prompt
    assert kept == 5


def test_messages_only_rows_read_the_language_from_the_system_message(tmp_path, tokenizer):
    row = hub_row("German")
    path = _write(tmp_path, [json.dumps({"messages": row["messages"]})])
    loaded = data.load_rows(dataset=path).rows[0]
    assert loaded["reasoning_language"] == "German" and loaded["developer"] == PERSONA
    assert loaded["analysis"] == row["analysis"] and loaded["final"] == "4"
    assert data.render(tokenizer, loaded) == tokenizer.apply_chat_template(row["messages"], tokenize=False)


def test_flat_rows_get_the_instruction_added_before_the_persona(tmp_path, tokenizer):
    flat = {k: v for k, v in hub_row("Spanish").items() if k != "messages"}
    path = _write(tmp_path, [json.dumps(flat)])
    loaded = data.load_rows(dataset=path).rows[0]
    assert data.render(tokenizer, loaded) == data.render(tokenizer, hub_row("Spanish"))
    assert "# Instructions\n\nreasoning language: Spanish\n\n" + PERSONA in data.render(tokenizer, loaded)


def test_generation_prompt_drops_the_assistant_turn(tokenizer):
    row = hub_row()
    prompt = data.render(tokenizer, row, with_answer=False)
    assert prompt.endswith("<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant")
    assert data.render(tokenizer, row).startswith(prompt)


# --------------------------------------------------------------------------- bad rows
GOOD = {"reasoning_language": "French", "developer": "reasoning language: French", "user": "2+2?",
        "analysis": "Deux plus deux font quatre.", "final": "4"}
HUB = hub_row()


@pytest.mark.parametrize("row, field, reason", [
    ({k: v for k, v in GOOD.items() if k != "user"}, "user", "missing field"),
    ({**GOOD, "final": 4}, "final", "expected a string, got int"),
    ({**GOOD, "analysis": "  "}, "analysis", "empty string"),
    ({**GOOD, "reasoning_language": "Elvish"}, "reasoning_language", "unknown language 'Elvish'"),
    ({**GOOD, "analysis": "ok<|end|>"}, "analysis", "special token <|end|>"),
    ({**GOOD, "developer": "reasoning language: German"}, "developer", "make them agree"),
    # messages that contradict the flat fields
    ({**HUB, "user": "Another question?"}, "user", "differs from the last user message"),
    ({**HUB, "analysis": "Quatre."}, "analysis", "differs from the assistant's thinking"),
    ({**HUB, "final": "5"}, "final", "differs from the assistant's content"),
    ({**HUB, "reasoning_language": "German"}, "reasoning_language", "says 'reasoning language: French'"),
    ({**HUB, "messages": [{"role": "system", "content": PERSONA}, *HUB["messages"][1:]]}, "messages",
     "no 'reasoning language: X' line"),
    ({**HUB, "messages": HUB["messages"][:2]}, "messages", "ending with the assistant"),
    ({**HUB, "messages": [*HUB["messages"][:2], {"role": "assistant", "content": "4"}]}, "messages[2].thinking",
     "reasoning (thinking) is missing"),
    ({**HUB, "messages": [HUB["messages"][0], {"role": "user", "content": "hi <|start|>"}, HUB["messages"][2]]},
     "messages[1].content", "special token <|start|>"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, row, field, reason):
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(row)])
    with pytest.raises(DataError) as error:
        data.read_jsonl(path)
    message = str(error.value)
    assert f"{path}, row 2, field '{field}'" in message and reason in message and "--skip-invalid" in message


def test_special_tokens_of_the_tokenizer_are_refused_in_any_text(tmp_path, tokenizer):
    assert "<|endoftext|>" in data.special_tokens_of(tokenizer)
    row = hub_row(final="4<|endoftext|>")
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(row)])
    with pytest.raises(DataError, match=r"row 2, field 'final': contains the special token <\|endoftext\|>"):
        data.load_rows(dataset=path, tokenizer=tokenizer)
    # rows loaded without the tokenizer are checked again before tokenizing
    rows = data.load_rows(dataset=_write(tmp_path, [json.dumps({"messages": row["messages"]})], "b.jsonl"))
    with pytest.raises(DataError, match=r"b.jsonl, row 1 of the rows kept, field 'final'.*<\|endoftext\|>"):
        data.prepare(tokenizer, rows, max_length=256, progress=False)


def test_invalid_json_and_skip_invalid(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD), "{broken", json.dumps({**GOOD, "final": ""}), json.dumps(HUB)])
    with pytest.raises(DataError, match=r"row 2: invalid JSON"):
        data.read_jsonl(path)
    result = data.read_jsonl(path, skip_invalid=True)
    assert len(result.rows) == 2 and [p.row for p in result.problems] == [2, 3]


# --------------------------------------------------------------------------- bad files
@pytest.mark.parametrize("content", [b"", b"   \n\n\t \n"])
def test_empty_or_blank_file_is_refused(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"empty.jsonl: the file is empty \(or only whitespace\)"):
        data.load_rows(dataset=path)


def test_a_long_blank_start_is_not_an_empty_file(tmp_path):
    path = tmp_path / "padded.jsonl"
    path.write_text("\n" * 100_000 + json.dumps(GOOD) + "\n", encoding="utf-8")
    assert len(data.load_rows(dataset=path).rows) == 1


def test_all_rows_invalid_is_refused_even_with_skip_invalid(tmp_path):
    path = _write(tmp_path, [json.dumps({**GOOD, "final": ""})])
    with pytest.raises(DataError, match="no usable row"):
        data.load_rows(dataset=path, skip_invalid=True)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_file_is_named(tmp_path, encoding):
    path = tmp_path / "utf16.jsonl"
    path.write_bytes((json.dumps(GOOD) + "\n").encode(encoding))
    with pytest.raises(DataError, match="UTF-16 encoded; save it as UTF-8"):
        data.load_rows(dataset=path)


def test_invalid_utf8_names_the_row(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes((json.dumps(GOOD) + "\n").encode() + json.dumps({**GOOD, "user": "café"}, ensure_ascii=False)
                     .encode("latin-1") + b"\n")
    with pytest.raises(DataError, match=r"latin1.jsonl, row 2: not valid UTF-8 \(byte 0xe9"):
        data.load_rows(dataset=path)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder, not a data file"):
        data.load_rows(dataset=tmp_path)


def test_an_unreadable_file_is_named(tmp_path, monkeypatch):
    path = _write(tmp_path, [json.dumps(GOOD)])
    if os.geteuid() == 0:  # root reads any file: make opening it fail the way a missing permission does
        real_open = Path.open

        def deny(self, *args, **kwargs):
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", deny)
    else:
        path.chmod(0)
    with pytest.raises(DataError, match=r"input.jsonl: cannot be read \(Permission denied\); check its permissions"):
        data.load_rows(dataset=path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        data.load_rows(dataset=tmp_path / "nope.jsonl")
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n")
    with pytest.raises(DataError, match="unsupported file type '.csv'"):
        data.load_rows(dataset=csv)
    with pytest.raises(DataError, match="not a file here and not a hub id"):
        data.resolve_dataset("no such thing")


def test_rows_over_the_size_limit_are_named_and_skipped_in_bounded_memory(tmp_path):
    import tracemalloc

    big = json.dumps({**GOOD, "analysis": "x" * 20_000_000})  # a 20 MB row
    path = _write(tmp_path, [json.dumps(GOOD), big, json.dumps({**GOOD, "user": "3+3?"})])
    tracemalloc.start()
    result = data.load_rows(dataset=path, skip_invalid=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [r["user"] for r in result.rows] == ["2+2?", "3+3?"]
    assert [(p.row, p.field) for p in result.problems] == [(2, None)]
    assert "20.0 MB, over the limit of 1 MB per row" in result.problems[0].reason
    assert peak < 4 * data.MAX_ROW_BYTES, f"peak {peak / 1e6:.1f} MB while skipping a 20 MB line"


def test_duplicate_rows_are_dropped_and_reported(tmp_path, tokenizer):
    path = _write(tmp_path, [json.dumps(HUB), json.dumps(GOOD), json.dumps({**HUB, "final": "4 "}), json.dumps(HUB)])
    result = data.load_rows(dataset=path)
    assert len(result.rows) == 2 and result.duplicates == 2
    assert any("2 repeated row(s) dropped" in w and "row 3 = row 1" in w for w in result.warnings)
    stats = data.prepare(tokenizer, result, max_length=256, progress=False).stats
    assert stats["rows_dropped"] == {"repeated row (first copy kept)": 2} and stats["rows_in"] == 4


def test_unknown_fields_are_reported_not_silently_passed(tmp_path):
    path = _write(tmp_path, [json.dumps({**GOOD, "source": "x"}), json.dumps({**GOOD, "user": "b", "source": "y"})])
    result = data.load_rows(dataset=path)
    assert len(result.rows) == 2
    assert result.warnings == [f"{path}: unknown field 'source' in 2 row(s) (first: row 1) is ignored; known fields: "
                               + ", ".join(data_checks.KNOWN_FIELDS)]
    misspelt = {k: v for k, v in GOOD.items() if k != "analysis"} | {"analysys": "x"}
    with pytest.raises(DataError, match=r"field 'analysis': missing field \(is 'analysys' a misspelling of it\?\)"):
        data.load_rows(dataset=_write(tmp_path, [json.dumps(misspelt)], "typo.jsonl"))


def test_checks_stay_linear_on_1mb_text():
    """A complexity guard, not a benchmark: a quadratic step would take minutes here."""
    text = ("<|" + "reasoning language: x\n" * 20 + "a" * 50) * (480_000 // 492)  # twice in the row: ~1 MB
    row = {**HUB, "analysis": text, "messages": [*HUB["messages"][:2],
                                                   {"role": "assistant", "content": "4", "thinking": text}]}
    start = time.perf_counter()
    clean, problems, _ = data.check_row(row, file="f", row_no=1)
    data_checks.row_key(clean)
    data_checks.instruction_language(text)
    data_checks.persona_of(text)
    assert not problems and time.perf_counter() - start < 10


# --------------------------------------------------------------------------- loss mask, truncation
def test_loss_mask_covers_exactly_the_assistant_turn(tokenizer):
    row = data.load_rows("train").rows[3]
    tok = data.tokenize_row(tokenizer, row, max_length=4096)
    ids, labels = tok["input_ids"], tok["labels"]
    n = tok["prompt_length"]
    assert all(label == -100 for label in labels[:n])
    assert labels[n:] == ids[n:]
    prompt_text = tokenizer.decode(ids[:n], skip_special_tokens=False)
    trained_text = tokenizer.decode(ids[n:], skip_special_tokens=False)
    assert prompt_text.endswith("<|start|>assistant")
    assert f"reasoning language: {row['reasoning_language']}" in prompt_text
    assert trained_text.startswith("<|channel|>analysis<|message|>")
    assert row["analysis"] in trained_text and row["final"] in trained_text
    assert trained_text.endswith(harmony.RETURN)


def test_truncated_rows_are_dropped_and_counted(tokenizer):
    rows = data.load_rows("train")
    prompt_lengths = [data.tokenize_row(tokenizer, r, max_length=4096)["prompt_length"] for r in rows.rows[:10]]
    limit = sorted(prompt_lengths)[5]  # about half of these rows lose their whole assistant turn
    subset = data.LoadResult(rows=rows.rows[:10], source="test")
    prepared = data.prepare(tokenizer, subset, max_length=limit, progress=False)
    expected_dropped = sum(1 for p in prompt_lengths if p >= limit)
    assert expected_dropped > 0
    assert prepared.stats["rows_dropped"] == {"assistant turn truncated away (no trainable token)": expected_dropped}
    assert prepared.stats["rows_kept"] == 10 - expected_dropped
    assert all(any(x != -100 for x in labels) for labels in prepared.dataset["labels"])


# --------------------------------------------------------------------------- what notebook 03 reads
def test_prepared_for_returns_what_was_saved_or_prepares_and_says_so(tokenizer, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GPT_OSS_TUTORIAL_OUTPUTS", str(tmp_path))
    preset = presets.get_preset("tiny-gpt-oss", max_seq_length=384)
    own = _write(tmp_path, [json.dumps(hub_row(lang, user=f"Q{lang}?")) for lang in ("French", "German", "Italian")])
    saved = data.prepare(tokenizer, data.load_rows(dataset=own), max_length=384, progress=False)
    data.save(saved, data.prepared_dir(preset))

    same = data.prepared_for(preset, tokenizer)  # DATASET None: exactly what notebook 02 saved
    assert same.stats == saved.stats and same.dataset["input_ids"] == saved.dataset["input_ids"]
    assert "what notebook 02 prepared" in capsys.readouterr().out
    assert data.prepared_for(preset, tokenizer, dataset=str(own)).stats == saved.stats

    other = data.prepared_for(preset, tokenizer, dataset="bundled")
    assert other.stats["dataset"] == "bundled" and other.stats["rows_kept"] > 100
    assert "not using" in capsys.readouterr().out

    longer = presets.get_preset("tiny-gpt-oss", max_seq_length=256)
    monkeypatch.setattr(data, "prepared_dir", lambda p: tmp_path / "data" / "tiny-gpt-oss" / "prepared")
    cut = data.prepared_for(longer, tokenizer)
    assert cut.stats["max_length"] == 256 and cut.stats["dataset"] == str(own)
    assert "cut at max_length=384" in capsys.readouterr().out


# --------------------------------------------------------------------------- the command-line tool
def _cli(*args, env=None):
    return subprocess.run([sys.executable, "scripts/prepare_data.py", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})})


def test_prepare_script_reports_bad_input(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps({**GOOD, "analysis": ""})])
    env = {"GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs")}
    cmd = ["--preset", "tiny-gpt-oss", "--dataset", str(path), "--out", str(tmp_path / "out")]
    failed = _cli(*cmd, env=env)
    assert failed.returncode == 2 and "row 2, field 'analysis': empty string" in failed.stderr
    assert "Traceback" not in failed.stderr
    ok = _cli(*cmd, "--skip-invalid", env=env)
    assert ok.returncode == 0, ok.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["rows_kept"] == 1 and stats["rows_dropped"] == {"invalid: empty string": 1}
    assert stats["dataset"] == str(path.resolve()) and f"dataset: {path.resolve()}" in ok.stdout


@pytest.mark.parametrize("args, message", [
    (["--dataset", "{tmp}"], "is a folder, not a data file"),
    (["--dataset", "{tmp}/missing.jsonl"], "file not found"),
    (["--out", "{tmp}/a_file"], "a file is there, not a folder"),
    (["--reasoning-effort", "extreme"], "invalid choice: 'extreme'"),
])
def test_prepare_script_validates_arguments_up_front(tmp_path, args, message):
    (tmp_path / "a_file").write_text("mine")
    result = _cli(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "a_file").read_text() == "mine"


def test_prepare_script_reports_a_utf16_file_without_traceback(tmp_path):
    path = tmp_path / "utf16.jsonl"
    path.write_bytes((json.dumps(GOOD) + "\n").encode("utf-16"))
    result = _cli("--preset", "tiny-gpt-oss", "--dataset", str(path), "--out", str(tmp_path / "out"),
                  env={"GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs")})
    assert result.returncode == 2 and "UTF-16 encoded; save it as UTF-8" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_parquet_files_are_loaded_and_checked_like_jsonl(tmp_path, tokenizer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [hub_row(lang, user=f"Q {lang}?") for lang in ("French", "German")] + [hub_row("Italian", final="5")]
    rows[2]["messages"][2]["content"] = "4"  # the flat final says 5: a contradiction
    path = tmp_path / "mine.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(DataError, match=r"mine.parquet, row 3, field 'final'.*differs from the assistant's content"):
        data.load_rows(dataset=path, tokenizer=tokenizer)
    kept = data.load_rows(dataset=path, tokenizer=tokenizer, skip_invalid=True)
    assert kept.dataset == str(path.resolve()) and [r["reasoning_language"] for r in kept.rows] == ["French", "German"]
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="damaged.parquet: not a readable Parquet file"):
        data.load_rows(dataset=damaged)
