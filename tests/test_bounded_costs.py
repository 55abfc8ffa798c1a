"""Scoring costs stay linear in the input: one hostile completion or ground truth must not stall GRPO or the evaluation.

Each call gets a CPU-time budget (``time.process_time``: other processes on a busy machine do not count) far above
what a linear pass needs and far below what a quadratic pattern takes at these sizes (1 MB completions and
100,000-character answers: a quadratic regular expression or parser step would run for minutes).
"""
from __future__ import annotations

import logging
import time

import pytest

from gpt_oss_tutorial import evaluate, langid, rewards, scoring
from gpt_oss_tutorial.harmony import CHANNEL, END, MESSAGE, RETURN, START

BUDGET_S = 3.0  # CPU seconds per call
COMPLETION_CHARS = 1_000_000
TRUTH_CHARS = 100_000
# Runs that tripped regular expressions or parsers: digits, thousands groups, spaces, unclosed boxes, equals signs,
# answer phrases, marker runs, LaTeX openers, powers, factorials.
UNITS = ["1", "123 ", "1,000", " ", "\n", "\\boxed{", "= ", "answer is ", "x = 1 or ", "<|channel|>a<|constrain|>",
         f"{START}", "\\(", "2^{", "11111!", "analysis", "<|endoftext|>", "数"]


def _final(body: str) -> str:
    return f"{CHANNEL}analysis{MESSAGE}ok{END}{START}assistant{CHANNEL}final{MESSAGE}{body}{RETURN}"


def _analysis(body: str) -> str:
    return f"{CHANNEL}analysis{MESSAGE}{body}"


def _timed(func, *args, **kwargs) -> float:
    start = time.process_time()
    func(*args, **kwargs)
    return time.process_time() - start


def _hostile(unit: str, chars: int) -> str:
    return unit * (chars // len(unit))


@pytest.fixture(scope="module", autouse=True)
def warm():
    """Load math-verify, sympy and the language models once, so that no first-call import is timed."""
    logging.disable(logging.WARNING)
    for unit in UNITS:
        small = _hostile(unit, 2_000)
        scoring.check_answer(small, "5")
        scoring.check_answer("The answer is 5.", small)
        rewards.language_reward([_analysis(small)], reasoning_language="French")
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("wrap", [str, _final, _analysis], ids=["raw", "in-final", "in-analysis"])
def test_rewards_on_a_megabyte_completion(unit, wrap):
    completion = wrap(_hostile(unit, COMPLETION_CHARS))
    for func, kwargs in ((rewards.format_reward, {}), (rewards.correctness_reward, {"answer": "5"}),
                         (rewards.language_reward, {"reasoning_language": "French"}),
                         (rewards.format_reward, {"style": "think"}), (rewards.correctness_reward,
                                                                        {"answer": "5", "style": "plain"})):
        seconds = _timed(func, [completion], **kwargs)
        assert seconds < BUDGET_S, f"{func.__name__}{kwargs} on {unit!r} x {COMPLETION_CHARS:,} chars: {seconds:.1f} s"


@pytest.mark.parametrize("unit", UNITS)
def test_scorer_on_a_megabyte_generation(unit):
    text = _final(_hostile(unit, COMPLETION_CHARS))
    seconds = _timed(scoring.score_generation, text, requested_language="fr", user_language="en", truth="5")
    assert seconds < BUDGET_S, f"score_generation on {unit!r}: {seconds:.1f} s"
    seconds = _timed(evaluate.visible_text, text)
    assert seconds < BUDGET_S, f"visible_text on {unit!r}: {seconds:.1f} s"
    seconds = _timed(langid.detect_language, _hostile(unit, COMPLETION_CHARS))
    assert seconds < BUDGET_S, f"detect_language on {unit!r}: {seconds:.1f} s"


@pytest.mark.parametrize("unit", UNITS + ["9", "1.", "#### "])
def test_long_ground_truth(unit):
    """A 100,000-character answer column (a 40,000-digit answer once took 12 s per completion)."""
    truth = _hostile(unit, TRUTH_CHARS)
    completion = _final("The answer is 5.")
    seconds = _timed(rewards.correctness_reward, [completion] * 4, answer=truth)
    assert seconds < BUDGET_S, f"correctness_reward with a truth of {unit!r}: {seconds:.1f} s"
    seconds = _timed(scoring.check_answer, _hostile(unit, TRUTH_CHARS), truth)
    assert seconds < BUDGET_S, f"check_answer of a long answer against itself ({unit!r}): {seconds:.1f} s"


def test_long_answers_are_compared_as_text():
    """Past math-verify's limit an answer is compared as text: still right when equal, wrong otherwise."""
    long_number = "1" * 300
    assert scoring.check_answer(f"The answer is {long_number}.", long_number) is True
    assert scoring.check_answer(f"The answer is {long_number}2.", long_number) is False
    assert rewards.correctness_reward([_final(f"\\boxed{{{long_number}}}")], answer=long_number) == [1.0]
    assert rewards.correctness_reward([_final("The answer is 5.")], answer="1" * TRUTH_CHARS) == [-0.5]


@pytest.mark.parametrize("token", ["<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|reserved_200012|>", START, END,
                                   RETURN, "<｜end▁of▁sentence｜>"])
def test_special_tokens_inside_a_completion_do_not_break_scoring(token):
    """A tokenizer's special token inside the final answer is read past, never crashes a reward or the scorer."""
    completion = _final(f"The answer is {token}59.")
    assert rewards.correctness_reward([completion], answer="59") in ([1.0], [-1.0], [-0.5])
    assert rewards.format_reward([completion])[0] >= -1.0
    plain = f"The answer is {token} 59."
    assert rewards.correctness_reward([plain], answer="59", style="plain") == [1.0]
    row = scoring.score_generation(completion, requested_language="fr", user_language="en", truth="59")
    assert row["correct"] in (True, False, None) and isinstance(row["errors"], list)
