"""Answer extraction/checking, scoring one generation, and the metric arithmetic."""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from gpt_oss_tutorial.harmony import CHANNEL, END, MESSAGE, RETURN, START
from gpt_oss_tutorial.scoring import (
    aggregate,
    check_answer,
    extract_answer,
    normalize_truth,
    overall,
    score_generation,
)


def harmony(analysis: str | None, final: str | None, stop: str = RETURN) -> str:
    text = ""
    if analysis is not None:
        text += f"{CHANNEL}analysis{MESSAGE}{analysis}{END}"
    if final is not None:
        text += f"{START}assistant{CHANNEL}final{MESSAGE}{final}{stop}"
    return text


# ----------------------------------------------------------------------------------------------------------------------
# extract_answer
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "final,expected",
    [
        ("Answer: 59 euros.", "59"),
        ("La réponse est 12.", "12"),
        ("Die Antwort ist 7.", "7"),
        ("La respuesta es 3.", "3"),
        ("La risposta è 5.", "5"),
        ("答案是 5。", "5"),
        ("答案：59 欧元。", "59"),
        ("Final answer: \\boxed{42}", "42"),
        ("First \\boxed{1}, then corrected: \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}"),
        ("\\boxed{x = 2 \\text{ or } x = -3}", "2, -3"),
        ("The answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
        ("The answer is 3/4 of the cake.", "3/4"),
        ("The answer is 3.5.", "3.5"),
        ("The answer is -3.", "-3"),
        ("**Answer:** 42", "42"),
        ("The answer is 59 euros (12 + 47).", "59"),
        ("The answer is 12 + 47 = 59 euros.", "59"),
        ("The answer is 2^{10}.", "2^{10}"),
        ("The solutions are x = 2 and x = -3.", "2, -3"),
        ("Les solutions sont 2 et -3.", "2, -3"),
        ("方程的解是 x = 2 和 x = 3。", "2, 3"),
        ("x = 3", "3"),
        ("So (2+1)(2+1) = 9 divisors.", "9"),
        ("x = -3 or x = 2", "-3, 2"),
        ("x = 2 + 3 = 5", "5"),
        ("She has 7 apples left.", "7"),
        ("It costs 1,000 dollars.", "1000"),
        ("La réponse est 2,5.", "2.5"),
        ("Réponse : 12 000 €", "12000"),
        ("The answer is yes.", "yes"),
        ("<|channel|>final<|message|>The answer is 8.<|return|>", "8"),
    ],
)
def test_extract_answer(final, expected):
    assert extract_answer(final) == expected


@pytest.mark.parametrize("final", [None, "", "   ", "no numbers here, sorry", 42, b"The answer is 4", ["4"]])
def test_extract_answer_none(final):
    assert extract_answer(final) is None


# ----------------------------------------------------------------------------------------------------------------------
# check_answer
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "final,truth,expected",
    [
        ("The answer is 42.", "42", True),
        ("The answer is 41.", "42", False),
        ("\\boxed{3}", "3", True),
        ("x = 3", "3", True),
        ("x = 4", "3", False),
        ("\\boxed{\\frac{3}{4}}", "3/4", True),
        ("The answer is 0.75.", "3/4", True),
        ("The answer is 3/4.", "0.75", True),
        ("The answer is 6/8.", "3/4", True),
        ("The answer is 2/3.", "3/4", False),
        ("\\boxed{2, -3}", "2, -3", True),
        ("x = -3 or x = 2", "2, -3", True),
        ("Les solutions sont -3 et 2.", "2, -3", True),
        ("The answer is 2.", "2, -3", False),
        ("\\boxed{2, -3, 4}", "2, -3", False),
        ("\\boxed{2, 3}", "2, -3", False),
        ("La réponse est 2,5.", "2.5", True),
        ("It costs 1,000 dollars.", "1000", True),
        ("Answer: 59 euros.", 59, True),
        ("Answer: 59 euros.", "Natalia sold 48/2 = 24 clips in May... #### 59", True),
        ("Answer: 59 euros.", "\\boxed{59}", True),
        ("The answer is \\sqrt{2}/2.", "\\frac{\\sqrt{2}}{2}", True),
    ],
)
def test_check_answer(final, truth, expected):
    assert check_answer(final, truth) is expected


@pytest.mark.parametrize(
    "final,truth",
    [(None, "42"), ("", "42"), ("I do not know.", "42"), (12, "12"), ("The answer is 12.", None),
     ("The answer is 12.", ""), ("The answer is 12.", float("nan"))],
)
def test_check_answer_none_when_nothing_to_compare(final, truth):
    assert check_answer(final, truth) is None


@pytest.mark.parametrize(
    "final",
    ["\\boxed{9^{9^{9^{9}}}}", "The answer is 9^9^9.", "\\boxed{10^{100000000}}", "\\boxed{100000!}",
     "\\boxed{" * 3000, "The answer is " + "(" * 3000 + "1" + ")" * 3000, "\\boxed{\\frac{1}{0}}", "\\boxed{}{}}{",
     "$" * 1000, "= " * 5000 + "5", "x" * 100_000 + " = 5"],
)
def test_check_answer_never_raises_and_stays_bounded(final):
    assert check_answer(final, "5") in (True, False, None)


@pytest.mark.parametrize(
    "truth,expected",
    [("42", "42"), (42, "42"), (2.5, "2.5"), (" 3/4 ", "3/4"), ("2, -3", "2, -3"), ("\\boxed{7}", "7"),
     ("She sold 24 + 48 = 72 clips.\n#### 72", "72"), ("1,000", "1000"), (None, None), ("", None), ("  ", None),
     (float("nan"), None), (float("inf"), None), (True, None), (b"42", None), (["42"], None)],
)
def test_normalize_truth(truth, expected):
    assert normalize_truth(truth) == expected


def test_check_answer_from_worker_threads():
    # math-verify's signal-based timeouts only work in the main thread: scoring must switch them off elsewhere.
    cases = [("\\boxed{3/4}", "0.75", True), ("x = -3 or x = 2", "2, -3", True), ("The answer is 4.", "3", False),
             ("\\boxed{9^{9^{9^9}}}", "3", False)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: check_answer(c[0], c[1]), cases))
    assert results == [c[2] for c in cases]


# ----------------------------------------------------------------------------------------------------------------------
# score_generation
# ----------------------------------------------------------------------------------------------------------------------
FR_ANALYSIS = ("On cherche le prix total. Trois cahiers à quatre euros font douze euros, plus un sac à dos à "
               "quarante-sept euros : cela donne cinquante-neuf euros.")


def test_score_generation_good():
    s = score_generation(harmony(FR_ANALYSIS, "The answer is 59 euros."), requested_language="French",
                         user_language="English", truth="59")
    assert s == {"valid": True, "analysis_language": "fr", "final_language": "en", "language_ok": True,
                 "final_language_ok": True, "correct": True, "answer": "59", "analysis_chars": len(FR_ANALYSIS),
                 "errors": []}


def test_score_generation_wrong_language_and_answer():
    s = score_generation(harmony(FR_ANALYSIS, "La réponse est 60 euros."), requested_language="de",
                         user_language="en", truth="59")
    assert s["valid"] is True
    assert (s["analysis_language"], s["language_ok"]) == ("fr", False)
    assert (s["final_language"], s["final_language_ok"]) == ("fr", False)
    assert s["correct"] is False


def test_score_generation_truncated():
    s = score_generation(f"{CHANNEL}analysis{MESSAGE}{FR_ANALYSIS}", requested_language="French",
                         user_language="English", truth="59")
    assert s["valid"] is False and s["errors"]
    assert s["language_ok"] is True
    assert s["final_language"] is None and s["final_language_ok"] is False
    assert s["correct"] is None and s["answer"] is None


@pytest.mark.parametrize("text", [None, "", "The answer is 59.", 42, "<|end|><|end|>"])
def test_score_generation_garbage(text):
    s = score_generation(text, requested_language="French", user_language="English", truth="59")
    assert s["valid"] is False
    assert s["language_ok"] is False and s["final_language_ok"] is False
    assert s["correct"] is None
    assert s["analysis_chars"] == 0


def test_score_generation_numeric_final_has_no_language():
    s = score_generation(harmony(FR_ANALYSIS, "59"), requested_language="French", user_language="English",
                         truth="59")
    assert s["correct"] is True and s["final_language"] is None and s["final_language_ok"] is False


def test_score_generation_unknown_language_is_loud():
    with pytest.raises(ValueError, match="Klingon"):
        score_generation(harmony(FR_ANALYSIS, "59"), requested_language="Klingon", user_language="en", truth="59")


# ----------------------------------------------------------------------------------------------------------------------
# aggregate / overall
# ----------------------------------------------------------------------------------------------------------------------
def row(model, lang, valid, language_ok, final_ok, correct, tokens=None, effort="medium"):
    r = {"model": model, "reasoning_language": lang, "effort": effort, "valid": valid, "language_ok": language_ok,
         "final_language_ok": final_ok, "correct": correct}
    if tokens is not None:
        r["analysis_tokens"] = tokens
    return r


ROWS = [
    row("base", "fr", True, True, True, True, tokens=100),
    row("base", "fr", True, False, True, None, tokens=200),
    row("base", "fr", False, False, False, False, tokens=300),
    row("base", "fr", True, True, False, True),
    row("tuned", "fr", True, True, True, True),
    row("tuned", "de", False, True, True, None),
]


def test_overall_arithmetic():
    assert overall(ROWS[:4]) == {"valid": 0.75, "language": 0.5, "final_language": 0.5, "correct": 0.5, "n": 4}
    assert overall(ROWS) == {"valid": 4 / 6, "language": 4 / 6, "final_language": 4 / 6, "correct": 3 / 6, "n": 6}


def test_overall_empty():
    assert overall([]) == {"valid": 0.0, "language": 0.0, "final_language": 0.0, "correct": 0.0, "n": 0}


def test_aggregate_groups():
    records = aggregate(ROWS)
    assert [(r["model"], r["reasoning_language"], r["effort"]) for r in records] == [
        ("base", "fr", "medium"), ("tuned", "fr", "medium"), ("tuned", "de", "medium")]
    base = records[0]
    assert base["n"] == 4
    assert (base["valid"], base["language"], base["final_language"], base["correct"]) == (0.75, 0.5, 0.5, 0.5)
    assert base["analysis_tokens"] == 200.0  # mean over the 3 rows that have it
    assert records[1]["analysis_tokens"] is None
    assert records[2]["correct"] == 0.0  # None = no answer = not correct
    assert records[2]["valid"] == 0.0 and records[2]["language"] == 1.0


def test_aggregate_by_one_key_and_missing_keys():
    records = aggregate(ROWS + [{"valid": True, "correct": True}], by="model")
    assert [(r["model"], r["n"]) for r in records] == [("base", 4), ("tuned", 2), (None, 1)]
    assert records[2]["valid"] == 1.0 and records[2]["language"] is None  # no verdict in the group: not measured
    assert set(records[0]) == {"model", "n", "valid", "language", "final_language", "correct", "analysis_tokens"}


def test_language_not_measured_without_the_identifier(monkeypatch):
    """Without lingua the language verdicts are None and the fractions None (not measured), never 0."""
    import gpt_oss_tutorial.scoring as scoring_module

    text = ("<|channel|>analysis<|message|>Je calcule douze plus sept.<|end|>"
            "<|start|>assistant<|channel|>final<|message|>The answer is 19.<|return|>")
    monkeypatch.setattr(scoring_module, "available", lambda: False)
    row = score_generation(text, requested_language="French", user_language="en", truth="19")
    assert row["language_ok"] is None and row["final_language_ok"] is None and row["correct"] is True
    fractions = overall([row, row])
    assert fractions["language"] is None and fractions["final_language"] is None and fractions["correct"] == 1.0
    mixed = overall([row, {**row, "language_ok": True}])
    assert mixed["language"] == 0.5  # a group with some verdicts: the rows without one count as not ok


def test_aggregate_truthiness_is_strict():
    rows = [{"valid": "yes", "correct": 1, "language_ok": 0, "final_language_ok": float("nan"),
             "analysis_tokens": float("nan")},
            {"valid": True, "correct": 1.0, "language_ok": None, "final_language_ok": True, "analysis_tokens": 4}]
    (record,) = aggregate(rows, by=())
    assert record["valid"] == 0.5 and record["correct"] == 1.0 and record["language"] == 0.0
    assert record["final_language"] == 0.5 and record["analysis_tokens"] == 4.0


def test_metrics_match_scored_generations():
    texts = [harmony(FR_ANALYSIS, "The answer is 59."), harmony(FR_ANALYSIS, "The answer is 58."),
             f"{CHANNEL}analysis{MESSAGE}{FR_ANALYSIS}", harmony("Wir rechnen zwölf plus siebenundvierzig.", "59")]
    scored = [dict(score_generation(t, requested_language="French", user_language="English", truth="59"),
                   model="m", reasoning_language="French", effort="low") for t in texts]
    o = overall(scored)
    assert o == {"valid": 0.75, "language": 0.75, "final_language": 0.5, "correct": 0.5, "n": 4}
    (record,) = aggregate(scored)
    assert all(math.isclose(record[k], o[k]) for k in ("valid", "language", "final_language", "correct"))
