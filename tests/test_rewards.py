"""GRPO rewards: exact values on hand-made completions, robustness on arbitrary input (hypothesis), TRL's call."""
from __future__ import annotations

import functools
import math
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_oss_tutorial import rewards
from gpt_oss_tutorial.harmony import CALL, CHANNEL, END, MESSAGE, RETURN, START
from gpt_oss_tutorial.rewards import (
    DEFAULT_MAX_CHARS,
    combined_reward,
    correctness_reward,
    extract_reasoning_and_answer,
    format_reward,
    language_reward,
    make_reward_funcs,
)

FR = "On additionne douze et quarante-sept, ce qui donne cinquante-neuf euros au total pour Marie."
DE = "Wir addieren zwölf und siebenundvierzig, das ergibt insgesamt neunundfünfzig Euro für Maria."


def harmony(analysis: str | None, final: str | None, stop: str = RETURN) -> str:
    text = f"{CHANNEL}analysis{MESSAGE}{analysis}{END}" if analysis is not None else ""
    if final is not None:
        text += f"{START}assistant{CHANNEL}final{MESSAGE}{final}{stop}"
    return text


GOOD = harmony(FR, "The answer is 59.")
WRONG = harmony(FR, "The answer is 58.")
NO_VALUE = harmony(FR, "I could not finish the computation.")
TRUNCATED = f"{CHANNEL}analysis{MESSAGE}{FR}"  # cut by max_new_tokens: no final
GERMAN = harmony(DE, "The answer is 59.")
FINAL_ONLY = f"{CHANNEL}final{MESSAGE}The answer is 59.{RETURN}"
PLAIN = "The answer is 59."
OVERLONG = harmony(FR + " " + "x" * DEFAULT_MAX_CHARS, "The answer is 59.")


# ----------------------------------------------------------------------------------------------------------------------
# exact values
# ----------------------------------------------------------------------------------------------------------------------
def test_format_reward_values():
    completions = [GOOD, WRONG, NO_VALUE, TRUNCATED, FINAL_ONLY, PLAIN, OVERLONG, "", None, 42]
    assert format_reward(completions) == [1.0, 1.0, 0.75, 0.25, 0.5, -0.5, 0.5, -1.0, -1.0, -1.0]


def test_format_reward_max_chars_option():
    assert format_reward([GOOD], max_chars=len(GOOD) - 1) == [0.5]
    assert format_reward([GOOD], max_chars=len(GOOD)) == [1.0]
    assert format_reward([PLAIN * 1000], max_chars=100) == [-1.0]  # no structure and overlong: clipped at -1


def test_format_reward_stop_tokens():
    assert format_reward([harmony(FR, "The answer is 59.", stop=CALL)]) == [0.75]  # not valid: <|call|>
    assert format_reward([harmony(FR, "The answer is 59.", stop="")]) == [0.75]  # no <|return|>


def test_correctness_reward_values():
    completions = [GOOD, WRONG, NO_VALUE, TRUNCATED, FINAL_ONLY, PLAIN, None]
    assert correctness_reward(completions, answer=["59"] * 7) == [1.0, -0.5, -1.0, -1.0, 1.0, -1.0, -1.0]


def test_correctness_reward_ground_truth_forms():
    assert correctness_reward([GOOD, GOOD, GOOD], answer=["59.0", "118/2", "\\boxed{59}"]) == [1.0, 1.0, 1.0]
    assert correctness_reward([harmony(FR, "x = 2 or x = -3")], answer=["-3, 2"]) == [1.0]
    assert correctness_reward([GOOD, GOOD], answer="59") == [1.0, 1.0]  # a scalar column applies to every row


def test_correctness_reward_missing_truth_is_neutral():
    assert correctness_reward([GOOD, GOOD, GOOD], answer=["59"]) == [1.0, 0.0, 0.0]  # column shorter
    assert correctness_reward([GOOD, GOOD, GOOD, GOOD], answer=[None, "", float("nan"), True]) == [0.0] * 4
    assert correctness_reward([GOOD]) == [0.0]  # no column at all


def test_language_reward_values():
    completions = [GOOD, GERMAN, TRUNCATED, FINAL_ONLY, harmony("42", "42"), None]
    assert language_reward(completions, reasoning_language=["French"] * 6) == [1.0, -0.5, 1.0, 0.0, 0.0, 0.0]
    assert language_reward([GOOD, GERMAN], reasoning_language=["fr", "German"]) == [1.0, 1.0]
    assert language_reward([GOOD, GOOD], reasoning_language=["Klingon", None]) == [0.0, 0.0]
    assert language_reward([GOOD]) == [0.0]


def test_combined_reward():
    f = combined_reward({"format": 0.3, "correctness": 0.7, "language": 0.0})
    assert f.__name__ == "combined_reward"
    values = f(prompts=["q"] * 4, completions=[GOOD, WRONG, TRUNCATED, None], answer=["59"] * 4,
               reasoning_language=["French"] * 4)
    expected = [0.3 * 1 + 0.7 * 1, 0.3 * 1 + 0.7 * -0.5, 0.3 * 0.25 + 0.7 * -1, 0.3 * -1 + 0.7 * -1]
    assert all(math.isclose(v, e) for v, e in zip(values, expected, strict=True))
    g = combined_reward({"format": 1.0, "language": 2.0})
    assert g(completions=[GERMAN], reasoning_language=["French"]) == [1.0 + 2.0 * -0.5]


def test_combined_reward_default_weights():
    f = combined_reward()
    assert math.isclose(f(completions=[WRONG], answer=["59"])[0], 0.3 * 1.0 + 0.7 * -0.5)


def test_make_reward_funcs():
    funcs, weights = make_reward_funcs({"format": 0.3, "correctness": 0.7, "language": 0.0})
    assert [f.__name__ for f in funcs] == ["format_reward", "correctness_reward", "language_reward"]
    assert weights == [0.3, 0.7, 0.0]
    kwargs = dict(completions=[GOOD, GERMAN], answer=["59", "60"], reasoning_language=["French", "French"])
    assert [f(**kwargs) for f in funcs] == [[1.0, 1.0], [1.0, -0.5], [1.0, -0.5]]
    funcs, weights = make_reward_funcs({"correctness": 1})
    assert [f.__name__ for f in funcs] == ["correctness_reward"] and weights == [1.0]
    # picklable (TRL's supported reward forms are picklable)
    clone = pickle.loads(pickle.dumps(funcs[0]))
    assert clone(completions=[GOOD], answer=["59"]) == [1.0]


@pytest.mark.parametrize(
    "weights,options",
    [({"fromat": 1.0}, {}), ({"format": float("nan")}, {}), ({"format": "1"}, {}), ([0.3, 0.7], {}),
     ({"format": 1.0}, {"style": "xml"}), ({"format": 1.0}, {"max_len": 5})],
)
def test_bad_configuration_is_loud(weights, options):
    with pytest.raises(ValueError):
        make_reward_funcs(weights, **options)
    with pytest.raises(ValueError):
        combined_reward(weights, **options)


# ----------------------------------------------------------------------------------------------------------------------
# completion shapes and chat styles
# ----------------------------------------------------------------------------------------------------------------------
def test_conversational_completions():
    as_message = [{"role": "assistant", "content": GOOD}]
    parsed_by_trl = [{"role": "assistant", "thinking": FR, "content": "The answer is 59."}]  # TRL parse_response
    reasoning_content = [{"role": "assistant", "reasoning_content": FR, "content": "The answer is 59."}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]
    for completion in (as_message, parsed_by_trl, reasoning_content, parts):
        assert format_reward([completion]) == [1.0]
        assert correctness_reward([completion], answer=["59"]) == [1.0]
        assert language_reward([completion], reasoning_language=["French"]) == [1.0]
        assert extract_reasoning_and_answer(completion) == (FR, "The answer is 59.")


def test_special_tokens_stripped_by_the_decoder():
    # TRL decodes non-conversational completions with skip_special_tokens=True: the markers vanish.
    stripped = f"analysis{FR}assistantfinalThe answer is 59."
    assert extract_reasoning_and_answer(stripped) == (FR, "The answer is 59.")
    assert format_reward([stripped]) == [1.0]
    assert correctness_reward([stripped], answer=["59"]) == [1.0]
    assert extract_reasoning_and_answer(f"analysis{FR}") == (FR, None)
    assert format_reward([f"analysis{FR}"]) == [0.25]


def test_think_style():
    good = f"<think>{FR}</think>\n\nThe answer is 59."
    no_open = f"{FR}</think>The answer is 59."  # Qwen3/DeepSeek-R1 templates put <think> in the prompt
    truncated = f"<think>{FR}"
    two_blocks = f"<think>{FR}</think>The answer is 59.</think>"
    assert extract_reasoning_and_answer(good, style="think") == (FR, "The answer is 59.")
    assert extract_reasoning_and_answer(no_open, style="think") == (FR, "The answer is 59.")
    assert extract_reasoning_and_answer(truncated, style="think") == (FR, None)
    assert extract_reasoning_and_answer(PLAIN, style="think") == (None, PLAIN)
    think_format = functools.partial(format_reward, style="think")
    assert think_format([good, no_open, truncated, two_blocks, PLAIN, ""]) == [1.0, 1.0, 0.25, 0.75, 0.5, -1.0]
    assert correctness_reward([good, truncated], answer=["59", "59"], style="think") == [1.0, -1.0]
    assert language_reward([good], reasoning_language=["French"], style="think") == [1.0]
    message = [{"role": "assistant", "reasoning_content": FR, "content": "The answer is 59."}]
    assert think_format([message]) == [1.0]


def test_plain_style():
    assert extract_reasoning_and_answer(PLAIN, style="plain") == (None, PLAIN)
    funcs, _ = make_reward_funcs({"format": 1, "correctness": 1, "language": 1}, style="plain")
    text = f"{FR} Donc la réponse est 59."
    assert [f(completions=[text, "Je ne sais pas, désolé.", ""], answer=["59"] * 3,
              reasoning_language=["French"] * 3) for f in funcs] == [
        [1.0, 0.5, -1.0], [1.0, -1.0, -1.0], [1.0, 1.0, 0.0]]


def test_unknown_style():
    with pytest.raises(ValueError, match="harmony"):
        extract_reasoning_and_answer(GOOD, style="xml")
    assert format_reward([GOOD], style="xml") == [1.0]  # a bad per-row value falls back to Harmony, no crash


def test_trl_call_path():
    """The real GRPOTrainer._calculate_rewards, on a stand-in trainer: TRL's exact call and kwargs."""
    from types import SimpleNamespace

    from trl import GRPOTrainer
    from trl.trainer.utils import get_callable_name, is_async_callable

    funcs, weights = make_reward_funcs({"format": 0.3, "correctness": 0.7, "language": 0.0})
    funcs.append(combined_reward({"format": 0.3, "correctness": 0.7}))
    funcs.append(functools.partial(format_reward, style="think"))
    assert not any(is_async_callable(f) for f in funcs)
    names = [get_callable_name(f) for f in funcs]
    assert names == ["format_reward", "correctness_reward", "language_reward", "combined_reward", "format_reward"]
    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(device="cpu", is_main_process=True), reward_funcs=funcs,
        reward_processing_classes=[None] * len(funcs), reward_func_names=names, state=SimpleNamespace(global_step=0),
        args=SimpleNamespace(report_to=[]), _log_completion_extra=lambda *a, **k: None,
        _log_metric=lambda *a, **k: None, environments=None)
    inputs = [{"prompt": "q1", "answer": "59", "reasoning_language": "French"},
              {"prompt": "q2", "answer": "60", "reasoning_language": "German"}]
    out = GRPOTrainer._calculate_rewards(trainer, inputs, ["q1", "q2"], [GOOD, GOOD], [[1, 2], [3]])
    # a Harmony text read as "think" style: no reasoning, not well formed, but an answer with a value
    expected = [[1.0, 1.0, 1.0, 1.0, 0.5], [1.0, -0.5, -0.5, 0.3 - 0.35, 0.5]]
    assert [pytest.approx(r) for r in out.tolist()] == expected


# ----------------------------------------------------------------------------------------------------------------------
# robustness: any input, one finite float per completion
# ----------------------------------------------------------------------------------------------------------------------
MARKERS = [START, END, MESSAGE, CHANNEL, RETURN, CALL, "<|constrain|>", "analysis", "final", "commentary",
           "assistant", "<think>", "</think>", "\\boxed{", "}", "$", "The answer is ", "=", "x = 3", "3/4", "9^9^9",
           "La réponse est ", "答案是", "\n", " ", "-", "1,000", "2,5", "\x00", "\u202e"]
marker_text = st.lists(st.one_of(st.sampled_from(MARKERS), st.text(max_size=20)), max_size=12).map("".join)
leaf = st.one_of(
    st.none(), st.text(max_size=60), marker_text, st.binary(max_size=30), st.integers(), st.floats(allow_nan=True),
    st.booleans(), st.just(GOOD), st.just(TRUNCATED),
)
completion = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["role", "content", "thinking", "reasoning_content", "text", "type", "x"]),
                        children, max_size=4),
        st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user", None]), "content": children}),
    ),
    max_leaves=6,
)
column_value = st.one_of(st.none(), st.text(max_size=10), st.sampled_from(["59", "3/4", "2, -3", "French", "zh"]),
                         st.integers(), st.floats(allow_nan=True), st.binary(max_size=5))
column = st.one_of(st.none(), st.lists(column_value, max_size=8), column_value)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _check(values, n):
    assert isinstance(values, list) and len(values) == n
    assert all(type(v) is float and math.isfinite(v) for v in values)


ALL_FUNCS = [format_reward, correctness_reward, language_reward, combined_reward(),
             combined_reward({"format": 1, "correctness": 1, "language": 1}),
             *make_reward_funcs({"format": 1, "correctness": 1, "language": 1}, style="think")[0],
             *make_reward_funcs({"format": 1, "correctness": 1, "language": 1}, style="plain")[0]]


@SETTINGS
@given(completions=st.lists(completion, max_size=6), answer=column, language=column,
       style=st.one_of(st.none(), st.sampled_from(["harmony", "think", "plain", "nope"])))
def test_any_completions_any_columns(completions, answer, language, style):
    kwargs = {"answer": answer, "reasoning_language": language, "trainer_state": None,
              "log_extra": None, "log_metric": None, "completion_ids": [[0]] * len(completions),
              "prompts": ["p"] * len(completions)}
    for func in (format_reward, correctness_reward, language_reward):
        _check(func(completions=completions, style=style, **kwargs), len(completions))
    for func in ALL_FUNCS[3:]:
        _check(func(completions=completions, **kwargs), len(completions))


@SETTINGS
@given(completion=completion, style=st.sampled_from(["harmony", "think", "plain"]))
def test_extract_never_raises(completion, style):
    reasoning, answer = extract_reasoning_and_answer(completion, style=style)
    assert reasoning is None or (isinstance(reasoning, str) and reasoning.strip())
    assert answer is None or (isinstance(answer, str) and answer.strip())


@pytest.mark.parametrize(
    "completions,n",
    [(None, 0), ([], 0), ((), 0), ("", 0), (GOOD, 1), (b"bytes", 1), ({"content": GOOD}, 1), ((GOOD, WRONG), 2),
     (iter([GOOD, None, 3]), 3), (42, 1), (3.5, 1)],
)
def test_completions_container_coercion(completions, n):
    for func in ALL_FUNCS:
        if hasattr(completions, "__next__"):  # an iterator is consumed once: rebuild it
            completions = iter([GOOD, None, 3])
        _check(func(completions=completions, answer=["59"]), n)


def test_huge_and_hostile_strings():
    hostile = [
        GOOD.replace("59.", "59." + "9" * 200_000),
        harmony(FR * 5000, "The answer is 59."),
        START * 50_000,
        "\\boxed{" * 20_000,
        "analysis" + "assistant" * 20_000,
        harmony(FR, "\\boxed{9^{9^{9^{9}}}}"),
        harmony(FR, "The answer is " + "(" * 2000 + "59" + ")" * 2000),
        harmony(f"{FR}{RETURN}{FR}", f"{END}The answer{CHANNEL} is 59."),
        [[[[[[[[GOOD]]]]]]]],
        [{"role": "assistant", "content": [{"role": "assistant", "content": {"text": b"\xff\xfe"}}]}],
    ]
    for func in ALL_FUNCS:
        _check(func(completions=hostile, answer=["59"] * len(hostile), reasoning_language=["French"]),
               len(hostile))


def test_internal_errors_become_zero(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(rewards, "check_answer", boom)
    assert correctness_reward([GOOD, GOOD], answer=["59", "59"]) == [0.0, 0.0]
    assert make_reward_funcs({"correctness": 1})[0][0](completions=[GOOD], answer=["59"]) == [0.0]
