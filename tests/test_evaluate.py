"""Evaluation: batched generation, items, and a tiny end-to-end before/after run on tiny-gpt-oss."""
from __future__ import annotations

import importlib.util
import json
import math

import pytest

from gpt_oss_tutorial import evaluate, harmony
from gpt_oss_tutorial.paths import REPO_ROOT


# ------------------------------------------------------------------------------------------------ items
def _rows():
    return [
        {"id": f"r{i}", "reasoning_language": lang, "developer": f"reasoning language: {lang}\n\nBe brief.",
         "user": f"What is {i} + {i}?", "user_language": "en", "answer": str(2 * i), "category": "arithmetic"}
        for i, lang in enumerate(["English", "English", "French", "French", "Chinese", "Chinese"])
    ]


def test_build_eval_items_cross_product_and_effort_subset():
    items = evaluate.build_eval_items(_rows(), ["fr", "Chinese"], ["low", "medium", "high"], 3, effort_limit=1,
                                      trained_languages=["English", "French"])
    # 3 prompts x 2 languages at medium, plus the first prompt x 2 languages x (low, high)
    assert len(items) == 3 * 2 + 1 * 2 * 2
    assert len({i["item_id"] for i in items}) == len(items)
    assert {i["row_id"] for i in items} == {"r0", "r2", "r4"}  # spread over the languages, not the first three
    for item in items:
        assert item["developer"] == f"reasoning language: {item['reasoning_language']}\n\nBe brief."
        assert item["trained"] is (item["reasoning_language"] == "French")
    assert sorted(i["effort"] for i in items if i["row_id"] != "r0") == ["medium"] * 4
    assert sorted(i["effort"] for i in items if i["row_id"] == "r0") == ["high", "high", "low", "low", "medium",
                                                                         "medium"]


def test_build_eval_items_keeps_row_language_by_default():
    items = evaluate.build_eval_items(_rows(), None, ["medium"], None)
    assert [i["reasoning_language"] for i in items].count("Chinese") == 2
    assert all(i["effort"] == "medium" for i in items) and len(items) == 6
    with pytest.raises(ValueError, match="effort"):
        evaluate.build_eval_items(_rows(), None, ["extreme"], None)
    with pytest.raises(ValueError, match="unknown language"):
        evaluate.build_eval_items(_rows(), ["Klingon"], ["medium"], None)


def test_with_reasoning_language_replaces_or_adds_the_line():
    assert evaluate.with_reasoning_language("reasoning language: German\n\nBe brief.", "French") == \
        "reasoning language: French\n\nBe brief."
    assert evaluate.with_reasoning_language("Be brief.", "French") == "reasoning language: French\n\nBe brief."
    assert evaluate.with_reasoning_language(None, "Chinese") == "reasoning language: Chinese"


def test_visible_text_drops_markers():
    text = "<|channel|>analysis<|message|>2 + 2 = 4<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"
    assert evaluate.visible_text(text) == "2 + 2 = 4   4"


# ------------------------------------------------------------------------------------------------ generation
@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_preset):
    from transformers import AutoTokenizer

    from gpt_oss_tutorial import backends

    return AutoTokenizer.from_pretrained(backends.model_source(tiny_preset))


class _ScriptedModel:
    """Stands in for a model: ``generate`` appends a scripted continuation to each (left-padded) row."""

    device = "cpu"

    def __init__(self, continuations):
        self.continuations = continuations
        self.calls = []

    def generate(self, input_ids, attention_mask, **kwargs):
        import torch

        self.calls.append({"input_ids": input_ids.clone(), "attention_mask": attention_mask.clone(), **kwargs})
        rows = []
        for row in input_ids.tolist():
            unpadded = tuple(t for t, m in zip(row, attention_mask[len(rows)].tolist()) if m)
            rows.append(row + self.continuations[unpadded])
        return torch.tensor(rows)


def test_generate_batch_cuts_at_stop_tokens(tiny_tokenizer):
    tok = tiny_tokenizer
    ids = lambda t: tok.convert_tokens_to_ids(t)  # noqa: E731
    word = tok("hello", add_special_tokens=False)["input_ids"]
    ret, call, pad = ids(harmony.RETURN), ids(harmony.CALL), tok.pad_token_id
    prompts = ["<|start|>user<|message|>a much longer question here<|end|><|start|>assistant",
               "<|start|>user<|message|>hi<|end|><|start|>assistant",
               "<|start|>user<|message|>third<|end|><|start|>assistant"]
    encoded = [tuple(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    harmony_turn = tok("<|channel|>analysis<|message|>hello<|end|><|start|>assistant<|channel|>final<|message|>hello",
                       add_special_tokens=False)["input_ids"]
    width = len(harmony_turn) + 4
    scripted = [harmony_turn + [ret] + word * 3, word + [call], word * width]
    model = _ScriptedModel({e: (s + [pad] * width)[:width] for e, s in zip(encoded, scripted)})
    side = tok.padding_side
    outs = evaluate.generate_batch(model, tok, prompts, max_new_tokens=width, batch_size=3, progress=False)
    assert tok.padding_side == side  # restored
    call_kwargs = model.calls[0]
    assert call_kwargs["eos_token_id"][:2] == [ret, call]
    assert call_kwargs["eos_token_id"] == evaluate.stop_token_ids(tok) and len(set(call_kwargs["eos_token_id"])) > 1
    assert evaluate.stop_token_ids(tok, harmony_only=True) == [ret, call]
    assert call_kwargs["do_sample"] is False and call_kwargs["pad_token_id"] == pad
    mask = call_kwargs["attention_mask"]
    assert mask[:, -1].tolist() == [1, 1, 1]  # left padding: every prompt ends at the last column
    assert mask.sum(dim=1).tolist() == sorted((len(e) for e in encoded), reverse=True)  # sorted by length
    assert outs[0].text.endswith(harmony.RETURN) and outs[0].stopped
    assert outs[0].new_tokens == len(harmony_turn) + 1
    parsed = harmony.parse_harmony(outs[0].text)
    assert parsed.valid and parsed.stop == harmony.RETURN and parsed.final == "hello"
    assert outs[1].text.endswith(harmony.CALL) and outs[1].new_tokens == len(word) + 1
    assert not outs[2].stopped and outs[2].new_tokens == width
    assert harmony.RETURN not in outs[2].text and "<|endoftext|>" not in outs[1].text
    assert evaluate.generate_batch(model, tok, [], max_new_tokens=4, progress=False) == []


@pytest.fixture(scope="module")
def tiny_base(tiny_preset):
    """tiny-gpt-oss without any adapter (bf16, as the backends load it)."""
    from gpt_oss_tutorial import backends

    loaded = backends.load(tiny_preset, lora=False)
    loaded.model.eval()
    return loaded


def test_batched_generation_equals_one_at_a_time(tiny_base):
    import copy

    import torch

    from gpt_oss_tutorial import data

    tok = tiny_base.tokenizer
    model = copy.deepcopy(tiny_base.model).to(torch.float32)  # fp32: padding must not flip a greedy choice by rounding
    rows = data.load_rows("eval", offline=True).rows
    prompts = [data.render(tok, r, with_answer=False) for r in (rows[0], rows[30], rows[61])]
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    assert len(set(lengths)) == 3  # really different lengths, so the batch is padded
    batched = evaluate.generate_batch(model, tok, prompts, max_new_tokens=8, batch_size=3, progress=False)
    alone = [evaluate.generate_batch(model, tok, [p], max_new_tokens=8, batch_size=1, progress=False)[0]
             for p in prompts]
    assert [o.text for o in batched] == [o.text for o in alone]
    assert [o.new_tokens for o in batched] == [o.new_tokens for o in alone]
    assert all(o.new_tokens > 0 for o in batched)


# ------------------------------------------------------------------------------------------------ end to end
def test_before_after_tiny(tiny_trained, tiny_base, tmp_path):
    """Notebook 04's steps: one load with the adapter, "before" inside disable_adapter(), summary, saved passes."""
    from gpt_oss_tutorial import backends

    _, trained = tiny_trained
    loaded = backends.load_adapter(trained_preset(tiny_trained), trained.adapter_dir)
    model, tok = loaded.model, loaded.tokenizer
    items = evaluate.build_eval_items(evaluate_rows(), ["French", "Chinese"], ["low", "medium"], 3, effort_limit=1,
                                      trained_languages=["English", "French", "German", "Spanish", "Italian"])
    with model.disable_adapter():
        before = evaluate.run_evaluation(model, tok, items, label="before", max_new_tokens=8, batch_size=8,
                                         progress=False)
    after = evaluate.run_evaluation(model, tok, items, label="after", max_new_tokens=8, batch_size=8, progress=False)
    n = 3 * 2 + 1 * 2  # 3 prompts x 2 languages at medium, 1 prompt x 2 languages at low
    assert len(before) == len(after) == n
    timings = evaluate.timing(before, after)
    s = evaluate.summarize(before, after, timing=timings, settings={"items": n})
    evaluate.write_results(tmp_path, before, after, settings={"items": n}, timings=timings)
    for label in ("before", "after"):
        saved = json.loads((tmp_path / f"{label}.json").read_text())
        assert saved["label"] == label and len(saved["rows"]) == n
        assert {r["model"] for r in saved["rows"]} == {label}
        assert set(saved["metrics"]["per_language"]) == {"French", "Chinese"}
        assert all(0 < r["new_tokens"] <= 8 for r in saved["rows"])
        assert saved["settings"]["items"] == n and saved["timing"]["prompts"] == n

    assert set(s["per_language"]) == {"French", "Chinese"}
    assert s["per_language"]["Chinese"]["trained"] is False and s["per_language"]["French"]["trained"] is True
    assert s["before"]["n"] == s["after"]["n"] == 4  # French only: the trained languages
    assert s["untrained"]["languages"] == ["Chinese"] and s["untrained"]["after"]["n"] == 4
    assert set(s["per_effort"]) == {"medium", "low"} and s["per_effort"]["low"]["after"]["n"] == 2
    fractions = [s[side][m] for side in ("before", "after") for m in ("valid", "language", "final_language",
                                                                       "correct", "correct_lenient")]
    assert all(isinstance(f, float) and 0.0 <= f <= 1.0 for f in fractions)
    assert s["timing"]["before"]["prompts"] == n and s["timing"]["after"]["prompts_per_second"] > 0
    json.dumps(s)  # summary.json material

    # "before" really is the base model: the same prompts through a model that never had an adapter
    prompts = [evaluate.render_item(tiny_base.tokenizer, r) for r in before]
    plain = evaluate.generate_batch(tiny_base.model, tiny_base.tokenizer, prompts, max_new_tokens=8, batch_size=8,
                                    progress=False)
    assert [o.text for o in plain] == [r["text"] for r in before]

    # the saved generations can be scored again without a model, to the same verdicts
    rescored = evaluate.rescore(tmp_path, progress=False)
    assert rescored["after"] == s["after"] and rescored["before"] == s["before"]


def trained_preset(tiny_trained):
    return tiny_trained[0].preset


def evaluate_rows():
    from gpt_oss_tutorial import data

    return data.load_rows("eval", offline=True).rows


def _scored_rows(label):
    good = (f"{harmony.CHANNEL}analysis{harmony.MESSAGE}Je calcule douze plus sept, cela fait dix-neuf.{harmony.END}"
            f"{harmony.START}assistant{harmony.CHANNEL}final{harmony.MESSAGE}The answer is 19.{harmony.RETURN}")
    return [{"model": label, "reasoning_language": "French", "trained": True, "effort": "medium",
             "user_language": "en", "answer": "19", "text": good if label == "after" else "nothing", "new_tokens": 9,
             "seconds": 0.5, "stopped": True, "analysis_tokens": 7}]


def test_rescore_without_language_identifier_reports_not_measured(tmp_path, monkeypatch, capsys):
    from gpt_oss_tutorial import scoring

    evaluate.write_results(tmp_path, _scored_rows("before"), _scored_rows("after"))
    monkeypatch.setattr(scoring, "available", lambda: False)
    summary = evaluate.rescore(tmp_path, progress=False)
    assert summary["after"]["valid"] == 1.0 and summary["after"]["correct"] == 1.0
    assert summary["after"]["language"] is None and summary["after"]["final_language"] is None
    assert summary["targets"]["after_language>=0.90"] is None
    evaluate.print_summary(summary)
    assert "language not measured" in capsys.readouterr().out
    monkeypatch.setattr(scoring, "available", lambda: True)
    assert evaluate.rescore(tmp_path, progress=False)["after"]["language"] == 1.0


def cli():
    spec = importlib.util.spec_from_file_location("evaluate_cli", REPO_ROOT / "scripts" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv", [["--n-prompts", "0"], ["--max-new-tokens", "-5"], ["--batch-size", "0"],
                                  ["--effort-prompts", "-1"], ["--languages", "Klingon"], ["--efforts", "extreme"],
                                  ["--adapter", "/nonexistent/adapter"], ["--score-only", "/nonexistent/eval"],
                                  ["--preset", "gpt-5"]])
def test_cli_rejects_bad_arguments_up_front(argv, capsys, monkeypatch):
    from gpt_oss_tutorial import runner

    monkeypatch.setattr(runner, "run_stage", lambda *a, **k: pytest.fail("ran the notebook with a bad argument"))
    with pytest.raises(SystemExit) as exit_info:
        cli().main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_passes_every_flag_as_a_notebook_parameter(monkeypatch, tmp_path):
    from gpt_oss_tutorial import runner

    calls = []
    monkeypatch.setattr(runner, "run_stage", lambda stem, params: calls.append((stem, params)) or 0)
    argv = ["--preset", "tiny-gpt-oss", "--languages", "fr", "zh", "--efforts", "medium", "--n-prompts", "4",
            "--effort-prompts", "0", "--max-new-tokens", "32", "--batch-size", "2", "--out", str(tmp_path)]
    assert cli().main(argv) == 0
    stem, params = calls[0]
    assert stem == "04_before_after"
    assert params == {"PRESET": "tiny-gpt-oss", "ADAPTER_DIR": None, "N_PROMPTS": 4, "LANGUAGES": ["fr", "zh"],
                      "EFFORTS": ["medium"], "EFFORT_PROMPTS": 0, "MAX_NEW_TOKENS": 32, "BATCH_SIZE": 2,
                      "OUTPUT_DIR": str(tmp_path.resolve())}
    assert set(params) <= notebook_parameters("04_before_after")


def test_cli_score_only(tmp_path, capsys):
    evaluate.write_results(tmp_path, _scored_rows("before"), _scored_rows("after"))
    assert cli().main(["--score-only", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Rescored" in out and "valid 1.00" in out


def notebook_parameters(stem):
    """The names the notebook's parameters cell assigns."""
    import ast

    nb = json.loads((REPO_ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {t.id for stmt in tree.body for t in getattr(stmt, "targets", [getattr(stmt, "target", None)])
            if isinstance(t, ast.Name)}


def test_summarize_arithmetic_on_hand_made_rows():
    def row(model, lang, trained, valid, language, correct, tokens):
        return {"model": model, "reasoning_language": lang, "trained": trained, "effort": "medium", "valid": valid,
                "language_ok": language, "final_language_ok": False, "correct": correct,
                "correct_lenient": correct, "analysis_tokens": tokens, "new_tokens": 10, "analysis_language": "en"}

    before = [row("before", "French", True, False, False, None, None) for _ in range(3)] + \
             [row("before", "Chinese", False, False, False, False, None)]
    after = [row("after", "French", True, True, True, True, 10), row("after", "French", True, True, False, False, 20),
             row("after", "French", True, False, True, None, 30), row("after", "Chinese", False, True, False, False, 5)]
    s = evaluate.summarize(before, after)
    assert s["after"]["valid"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["after"]["language"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["after"]["correct"] == pytest.approx(1 / 3, abs=1e-4) and s["after"]["analysis_tokens"] == 20
    assert s["before"]["valid"] == 0.0 and s["before"]["analysis_tokens"] is None and s["before"]["n"] == 3
    assert s["untrained"]["after"]["valid"] == 1.0
    assert s["untrained"]["analysis_language_after"] == {"Chinese": {"en": 1}}
    assert s["targets"]["after_valid>=0.90"] is False and s["targets"]["before_valid<=0.20"] is True
    assert s["targets"]["trained_items>=40"] is False
    assert not any(isinstance(v, float) and math.isnan(v) for v in s["after"].values())
