"""Evaluation: batched generation, items, and a tiny end-to-end before/after run on tiny-gpt-oss."""
from __future__ import annotations

import json
import math

import pytest

from gpt_oss_tutorial import evaluate, harmony


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
def test_evaluate_before_after_tiny(tiny_trained, tiny_base, tmp_path):
    loaded, trained = tiny_trained
    result = evaluate.evaluate_before_after(
        loaded.preset, trained.adapter_dir, languages=["French", "Chinese"], efforts=["low", "medium"],
        n_prompts=3, effort_prompts=1, max_new_tokens=8, batch_size=8, out_dir=tmp_path, progress=False,
        trained_languages=["English", "French", "German", "Spanish", "Italian"],
    )
    n = 3 * 2 + 1 * 2  # 3 prompts x 2 languages at medium, 1 prompt x 2 languages at low
    assert len(result.before) == len(result.after) == n
    for label in ("before", "after"):
        saved = json.loads((tmp_path / f"{label}.json").read_text())
        assert saved["label"] == label and len(saved["rows"]) == n
        assert {r["model"] for r in saved["rows"]} == {label}
        assert set(saved["metrics"]["per_language"]) == {"French", "Chinese"}
        assert all(0 < r["new_tokens"] <= 8 for r in saved["rows"])
        assert saved["example"]["text"] and "valid" in saved["example"]
        assert saved["settings"]["items"] == n and saved["timing"]["prompts"] == n

    s = result.summary
    assert set(s["per_language"]) == {"French", "Chinese"}
    assert s["per_language"]["Chinese"]["trained"] is False and s["per_language"]["French"]["trained"] is True
    assert s["before"]["n"] == s["after"]["n"] == 4  # French only: the trained languages
    assert s["untrained"]["languages"] == ["Chinese"] and s["untrained"]["after"]["n"] == 4
    assert set(s["per_effort"]) == {"medium", "low"} and s["per_effort"]["low"]["after"]["n"] == 2
    fractions = [s[side][m] for side in ("before", "after") for m in ("valid", "language", "final_language",
                                                                       "correct", "correct_lenient")]
    fractions += [e[side][m] for e in s["per_language"].values() for side in ("before", "after")
                  for m in ("valid", "language", "correct")]
    assert all(isinstance(f, float) and 0.0 <= f <= 1.0 for f in fractions)
    assert s["timing"]["before"]["prompts"] == n and s["timing"]["after"]["prompts_per_second"] > 0
    assert isinstance(s["targets"]["after_valid>=0.90"], bool)
    json.dumps(s)  # summary.json material

    # "before" really is the base model: the same prompts, batched the same way, through a model that never had an
    # adapter give the same tokens
    prompts = [evaluate.render_item(tiny_base.tokenizer, r) for r in result.before]
    plain = evaluate.generate_batch(tiny_base.model, tiny_base.tokenizer, prompts, max_new_tokens=8, batch_size=8,
                                    progress=False)
    assert [o.text for o in plain] == [r["text"] for r in result.before]

    table = result.table()
    assert list(table["reasoning_language"]) == ["French", "Chinese"]
    assert all(0.0 <= v <= 1.0 for v in table["valid (after)"])


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
