"""Tests for gpt_oss_tutorial.harmony: golden Harmony strings, template == Python renderer, parser, split.

The golden strings are written out literally from shared/harmony-format.md (not built with the module's constants),
so a drift in the module's fixed texts fails here.
"""
from __future__ import annotations

import datetime as dt

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_oss_tutorial import harmony
from gpt_oss_tutorial.harmony import (
    CHAT_TEMPLATE,
    HarmonyParse,
    parse_harmony,
    render_chat_template,
    render_conversation,
    render_prompt,
    split_prompt_completion,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DATE = "2025-08-05"
MARKERS = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>"]

CONVERSATION = [
    {"role": "system", "content": "reasoning language: French"},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "2 + 2 = 4.", "thinking": "L'utilisateur demande une addition simple."},
]


def system_block(effort: str, date: str = DATE) -> str:
    return ("<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
            "Knowledge cutoff: 2024-06\n"
            f"Current date: {date}\n"
            "\n"
            f"Reasoning: {effort}\n"
            "\n"
            "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>")


# --------------------------------------------------------------------------- constants
def test_constants():
    assert harmony.SPECIAL_TOKENS == tuple(MARKERS)
    assert harmony.STOP_TOKENS == ("<|return|>", "<|call|>")
    assert harmony.REASONING_EFFORTS == ("low", "medium", "high")
    assert (harmony.START, harmony.END, harmony.MESSAGE, harmony.CHANNEL, harmony.CONSTRAIN, harmony.RETURN,
            harmony.CALL) == tuple(MARKERS)
    assert harmony.MODEL_IDENTITY == "You are ChatGPT, a large language model trained by OpenAI."
    assert harmony.KNOWLEDGE_CUTOFF == "2024-06"


# --------------------------------------------------------------------------- golden renderings
@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_training_conversation_golden(effort):
    expected = (
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\n"
        "Current date: 2025-08-05\n"
        "\n"
        f"Reasoning: {effort}\n"
        "\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
        "<|start|>developer<|message|># Instructions\n\nreasoning language: French\n\n<|end|>"
        "<|start|>user<|message|>What is 2 + 2?<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>L'utilisateur demande une addition simple.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"
    )
    assert render_conversation(CONVERSATION, reasoning_effort=effort, current_date=DATE) == expected
    assert render_chat_template(CONVERSATION, reasoning_effort=effort, current_date=DATE) == expected


def test_default_effort_is_medium_and_developer_role_same_as_system():
    as_developer = [{"role": "developer", "content": CONVERSATION[0]["content"]}, *CONVERSATION[1:]]
    medium = render_conversation(CONVERSATION, reasoning_effort="medium", current_date=DATE)
    assert render_conversation(CONVERSATION, current_date=DATE) == medium
    assert render_chat_template(CONVERSATION, current_date=DATE) == medium
    assert render_conversation(as_developer, current_date=DATE) == medium
    assert "Reasoning: medium\n" in medium


def test_generation_prompt_golden():
    expected = (system_block("high")
                + "<|start|>developer<|message|># Instructions\n\nreasoning language: German\n\n<|end|>"
                + "<|start|>user<|message|>Wie spät ist es?<|end|>"
                + "<|start|>assistant")
    messages = [{"role": "system", "content": "reasoning language: German"},
                {"role": "user", "content": "Wie spät ist es?"}]
    kwargs = dict(reasoning_effort="high", add_generation_prompt=True, current_date=DATE)
    assert render_conversation(messages, **kwargs) == expected
    assert render_chat_template(messages, **kwargs) == expected
    assert render_prompt("reasoning language: German", "Wie spät ist es?", reasoning_effort="high",
                         current_date=DATE) == expected


def test_no_developer_block_without_system_message():
    expected = system_block("low") + "<|start|>user<|message|>Hi<|end|><|start|>assistant"
    assert render_prompt(None, "Hi", reasoning_effort="low", current_date=DATE) == expected
    assert render_prompt("", "Hi", reasoning_effort="low", current_date=DATE) == expected
    # Like the gpt-oss template: an empty system message yields no developer block either.
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}]
    assert render_chat_template(messages, reasoning_effort="low", current_date=DATE,
                                add_generation_prompt=True) == expected


def test_multi_turn_drops_earlier_analysis():
    messages = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1", "thinking": "secret thought 1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2", "thinking": "thought 2"},
    ]
    expected = (system_block("medium")
                + "<|start|>user<|message|>Q1<|end|>"
                + "<|start|>assistant<|channel|>final<|message|>A1<|end|>"
                + "<|start|>user<|message|>Q2<|end|>"
                + "<|start|>assistant<|channel|>analysis<|message|>thought 2<|end|>"
                + "<|start|>assistant<|channel|>final<|message|>A2<|return|>")
    assert render_conversation(messages, current_date=DATE) == expected
    assert render_chat_template(messages, current_date=DATE) == expected
    assert "secret thought 1" not in expected


def test_generation_prompt_after_assistant_turn_renders_it_as_history():
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "thinking": "T"}]
    expected = (system_block("medium") + "<|start|>user<|message|>Q<|end|>"
                + "<|start|>assistant<|channel|>final<|message|>A<|end|><|start|>assistant")
    assert render_conversation(messages, current_date=DATE, add_generation_prompt=True) == expected
    assert render_chat_template(messages, current_date=DATE, add_generation_prompt=True) == expected


def test_developer_text_with_extra_instruction_and_reasoning_content():
    developer = "reasoning language: Spanish\n\nAnswer in one sentence."
    messages = [{"role": "developer", "content": developer},
                {"role": "user", "content": "¿Por qué el cielo es azul?"},
                {"role": "assistant", "content": "Por la dispersión de Rayleigh.",
                 "reasoning_content": "El usuario pregunta por el color del cielo."}]
    expected = (system_block("low")
                + "<|start|>developer<|message|># Instructions\n\n"
                  "reasoning language: Spanish\n\nAnswer in one sentence.\n\n<|end|>"
                + "<|start|>user<|message|>¿Por qué el cielo es azul?<|end|>"
                + "<|start|>assistant<|channel|>analysis<|message|>El usuario pregunta por el color del cielo.<|end|>"
                + "<|start|>assistant<|channel|>final<|message|>Por la dispersión de Rayleigh.<|return|>")
    assert render_conversation(messages, reasoning_effort="low", current_date=DATE) == expected
    assert render_chat_template(messages, reasoning_effort="low", current_date=DATE) == expected


def test_last_assistant_without_thinking_has_no_analysis():
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "thinking": None}]
    expected = (system_block("medium") + "<|start|>user<|message|>Q<|end|>"
                + "<|start|>assistant<|channel|>final<|message|>A<|return|>")
    assert render_conversation(messages, current_date=DATE) == expected
    assert render_chat_template(messages, current_date=DATE) == expected


def test_current_date_default_and_date_object():
    before = dt.datetime.now().strftime("%Y-%m-%d")
    text = render_conversation([{"role": "user", "content": "Q"}])
    templated = render_chat_template([{"role": "user", "content": "Q"}])
    after = dt.datetime.now().strftime("%Y-%m-%d")
    assert any(f"Current date: {d}\n" in text for d in (before, after))
    assert any(f"Current date: {d}\n" in templated for d in (before, after))
    day = dt.date(2024, 2, 29)
    assert "Current date: 2024-02-29\n" in render_conversation([{"role": "user", "content": "Q"}], current_date=day)
    assert "Current date: 2024-02-29\n" in render_chat_template([{"role": "user", "content": "Q"}], current_date=day)


def test_no_bos_and_template_is_a_string():
    assert isinstance(CHAT_TEMPLATE, str)
    assert render_chat_template(CONVERSATION, current_date=DATE).startswith("<|start|>system<|message|>")


# --------------------------------------------------------------------------- errors while rendering
@pytest.mark.parametrize("marker", MARKERS)
@pytest.mark.parametrize("where", ["system", "user", "assistant", "thinking"])
def test_markers_in_content_raise(marker, where):
    messages = [dict(m) for m in CONVERSATION]
    index, key = {"system": (0, "content"), "user": (1, "content"), "assistant": (2, "content"),
                  "thinking": (2, "thinking")}[where]
    messages[index][key] = f"text {marker} more"
    with pytest.raises(ValueError, match="Harmony marker"):
        render_conversation(messages, current_date=DATE)
    with pytest.raises(jinja2.TemplateError, match="Harmony marker"):
        render_chat_template(messages, current_date=DATE)


def test_marker_in_dropped_history_thinking_still_raises():
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "thinking": "x<|end|>"},
                {"role": "user", "content": "Q2"}]
    with pytest.raises(ValueError, match="marker"):
        render_conversation(messages, current_date=DATE)
    with pytest.raises(jinja2.TemplateError, match="marker"):
        render_chat_template(messages, current_date=DATE)


@pytest.mark.parametrize("messages, kwargs, match", [
    ([{"role": "user", "content": "Q"}], {"reasoning_effort": "max"}, "reasoning_effort"),
    ([{"role": "tool", "content": "42"}], {}, "unknown role"),
    ([{"role": "user", "content": "Q"}, {"role": "system", "content": "S"}], {}, "only allowed as the first"),
    ([{"role": "user"}], {}, "user message content"),
    ([{"role": "user", "content": 3}], {}, "must be a string"),
])
def test_bad_input_raises(messages, kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_conversation(messages, current_date=DATE, **kwargs)
    with pytest.raises(jinja2.TemplateError, match=match):
        render_chat_template(messages, current_date=DATE, **kwargs)


def test_empty_conversation_and_tools_raise():
    with pytest.raises(ValueError, match="empty conversation"):
        render_conversation([])
    with pytest.raises(ValueError, match="empty conversation"):
        render_chat_template([])
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}
    with pytest.raises(jinja2.TemplateError, match="tools are not supported"):
        render_chat_template(CONVERSATION, tools=[tool])


def test_apply_chat_template_on_a_tokenizer_matches():
    # The real use: the template set on an offline tokenizer whose seven markers are single special tokens.
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in MARKERS], special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    for effort in ("low", "high"):
        for gen in (False, True):
            got = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, reasoning_effort=effort,
                                                add_generation_prompt=gen, current_date=DATE)
            assert got == render_conversation(CONVERSATION, reasoning_effort=effort, add_generation_prompt=gen,
                                              current_date=DATE)
    ids = tokenizer.apply_chat_template(CONVERSATION, tokenize=True, current_date=DATE)["input_ids"]
    return_id = tokenizer.convert_tokens_to_ids("<|return|>")
    assert ids[-1] == return_id and ids.count(tokenizer.convert_tokens_to_ids("<|start|>")) == 5


# --------------------------------------------------------------------------- template == Python renderer
_plain = st.text(max_size=40).filter(lambda s: not any(m in s for m in MARKERS))


@st.composite
def conversations(draw):
    messages = []
    first = draw(st.sampled_from([None, "system", "developer"]))
    if first:
        messages.append({"role": first, "content": draw(_plain)})
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(_plain)})
        assistant = {"role": "assistant", "content": draw(_plain)}
        field = draw(st.sampled_from([None, "thinking", "reasoning_content"]))
        if field:
            assistant[field] = draw(_plain)
        messages.append(assistant)
    if draw(st.booleans()):
        messages.pop()  # end on a user turn
    return messages


@FAST
@given(messages=conversations(), effort=st.sampled_from(["low", "medium", "high"]), gen=st.booleans(),
       date=st.sampled_from(["2025-08-05", "1999-12-31"]))
def test_template_equals_python_renderer(messages, effort, gen, date):
    kwargs = dict(reasoning_effort=effort, add_generation_prompt=gen, current_date=date)
    assert render_chat_template(messages, **kwargs) == render_conversation(messages, **kwargs)


# --------------------------------------------------------------------------- parse_harmony
GOOD = ("<|channel|>analysis<|message|>Il faut additionner.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>4<|return|>")


def test_parse_golden_continuation():
    parsed = parse_harmony(GOOD)
    assert parsed == HarmonyParse(analysis="Il faut additionner.", final="4", commentary=None, valid=True, errors=[],
                                  stop="<|return|>")


@pytest.mark.parametrize("text", [
    "<|start|>assistant" + GOOD,
    GOOD + "<|endoftext|><pad><pad>",
    GOOD + "<|return|><|return|>",
    render_prompt("reasoning language: French", "2+2?", current_date=DATE) + GOOD,
    render_conversation([{"role": "user", "content": "Q0"}, {"role": "assistant", "content": "old answer"},
                         {"role": "user", "content": "2+2?"},
                         {"role": "assistant", "content": "4", "thinking": "Il faut additionner."}],
                        current_date=DATE),
])
def test_parse_accepts_other_framings(text):
    parsed = parse_harmony(text)
    assert (parsed.valid, parsed.analysis, parsed.final, parsed.errors) == (True, "Il faut additionner.", "4", [])


def test_parse_strips_and_keeps_commentary():
    text = ("<|channel|>analysis<|message|>\n  think \n<|end|>"
            "<|start|>assistant<|channel|>commentary<|message|> note <|end|>"
            "<|start|>assistant<|channel|>final<|message|> answer\n<|return|>")
    parsed = parse_harmony(text)
    assert (parsed.analysis, parsed.commentary, parsed.final, parsed.valid) == ("think", "note", "answer", True)


def test_final_ended_by_end_is_accepted_without_stop():
    parsed = parse_harmony(GOOD.replace("<|return|>", "<|end|>"))
    assert parsed.valid and parsed.stop is None and parsed.final == "4"


A = "<|channel|>analysis<|message|>a<|end|>"
F = "<|start|>assistant<|channel|>final<|message|>f<|return|>"


@pytest.mark.parametrize("text, error", [
    (A, "no final channel"),
    ("<|channel|>final<|message|>f<|return|>", "no analysis channel"),
    ("<|channel|>analysis<|message|>  <|end|>" + F, "analysis empty"),
    (A + "<|start|>assistant<|channel|>final<|message|> \n<|return|>", "final empty"),
    (A + "<|start|>assistant<|channel|>final<|message|>f", "final not terminated (truncated?)"),
    (A + "<|start|>assistant<|channel|>final<|message|>f", "no <|return|>"),
    ("<|channel|>analysis<|message|>a", "analysis not terminated (truncated?)"),
    ("<|channel|>foo<|message|>x<|end|>" + F, "unknown channel 'foo'"),
    ("<|channel|>final<|message|>f<|end|><|start|>assistant<|channel|>analysis<|message|>a<|end|>",
     "final before analysis"),
    ("<|channel|>analysis<|message|>a<|channel|>b<|end|>" + F, "stray <|channel|> inside a message"),
    ("<|channel|>analysis<|message|>a<|end|><|channel|>final<|message|>f<|return|>", "message without <|start|>"),
    (A + "junk" + F, "text outside any message"),
    (A + "<|end|>" + F, "stray <|end|> outside any message"),
    (A + "<|start|>assistant<|channel|>final<|message|>f<|call|>", "final ended by <|call|>"),
    ("<|channel|>analysis<|message|>a<|return|>", "analysis ended by <|return|>"),
    (A + "<|start|>user<|message|>hi<|end|>", "no assistant message after the last user message"),
    ("<|message|>x<|end|>" + F, "assistant message without a channel"),
    ("plain text answer", "no final channel"),
    ("", "empty text"),
])
def test_parse_invalid_cases(text, error):
    parsed = parse_harmony(text)
    assert parsed.valid is False
    assert any(error in e for e in parsed.errors), parsed.errors


@pytest.mark.parametrize("value, error", [(None, "None"), (42, "expected str, got int"),
                                          (["x"], "expected str, got list")])
def test_parse_non_text(value, error):
    parsed = parse_harmony(value)
    assert isinstance(parsed, HarmonyParse) and not parsed.valid
    assert parsed.analysis is None and parsed.final is None and any(error in e for e in parsed.errors)


def test_parse_bytes_are_decoded():
    assert parse_harmony(GOOD.encode()).valid


def test_parse_huge_input():
    parsed = parse_harmony("<|start|>" * 20000 + "x" * 200_000)
    assert isinstance(parsed, HarmonyParse) and not parsed.valid


MB = 1_000_000


@pytest.mark.parametrize("name, text", [
    ("markers inside one message", "x<|message|>" * (MB // 12)),
    ("stray markers in an analysis", "<|start|>assistant<|channel|>analysis<|message|>" + "x<|constrain|>" * (MB // 14)),
    ("header text with markers", "x<|constrain|>" * (MB // 14)),
    ("many starts", "<|start|>" * (MB // 9)),
    ("many messages", "<|start|>assistant<|channel|>analysis<|message|>x<|end|>" * (MB // 60)),
    ("a 1 MB analysis", "<|channel|>analysis<|message|>" + "x" * MB + "<|end|><|start|>assistant<|channel|>final"
                         "<|message|>4<|return|>"),
])
def test_parse_stays_linear_on_1mb_inputs(name, text):
    """A complexity guard, not a benchmark: these took 8-9 s at 1 MB (and 4x that at 2 MB) when the parser grew
    strings with +=; linear parsing takes well under a second. The bound leaves room for a loaded machine."""
    import time

    start = time.perf_counter()
    parsed = parse_harmony(text)
    assert time.perf_counter() - start < 5, name
    assert parsed.valid == (name == "a 1 MB analysis") and len(parsed.errors) < 20


@FAST
@given(thinking=_plain, answer=_plain, developer=_plain, user=_plain,
       effort=st.sampled_from(["low", "medium", "high"]))
def test_render_parse_round_trip(thinking, answer, developer, user, effort):
    messages = [{"role": "developer", "content": developer}, {"role": "user", "content": user},
                {"role": "assistant", "content": answer, "thinking": thinking}]
    full = render_conversation(messages, reasoning_effort=effort, current_date=DATE)
    _, completion = split_prompt_completion(full)
    for text in (full, completion):
        parsed = parse_harmony(text)
        assert parsed.analysis == thinking.strip()
        assert parsed.final == answer.strip()
        assert parsed.valid == bool(thinking.strip() and answer.strip())
        assert parsed.stop == "<|return|>"


_marker_soup = st.lists(st.one_of(st.sampled_from(MARKERS), st.text(max_size=8),
                                  st.sampled_from(["assistant", "analysis", "final", "commentary", "user", "system",
                                                   " to=functions.f", "json", "\n"])),
                        max_size=30).map("".join)


@FAST
@given(st.one_of(st.none(), st.text(), st.binary(), st.integers(), st.lists(st.text()), _marker_soup))
def test_parse_never_raises(value):
    parsed = parse_harmony(value)
    assert isinstance(parsed, HarmonyParse)
    assert parsed.valid == (not parsed.errors)
    assert parsed.stop in (None, "<|return|>", "<|call|>")
    if parsed.valid:
        assert parsed.analysis and parsed.final


# --------------------------------------------------------------------------- split_prompt_completion
def test_split_prompt_completion():
    full = render_conversation(CONVERSATION, current_date=DATE)
    prompt, completion = split_prompt_completion(full)
    assert prompt + completion == full
    assert prompt == render_conversation(CONVERSATION[:-1], add_generation_prompt=True, current_date=DATE)
    assert completion == ("<|channel|>analysis<|message|>L'utilisateur demande une addition simple.<|end|>"
                          "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>")


def test_split_multi_turn_cuts_at_last_turn():
    messages = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1", "thinking": "T1"},
                {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2", "thinking": "T2"}]
    prompt, completion = split_prompt_completion(render_conversation(messages, current_date=DATE))
    assert prompt.endswith("<|start|>user<|message|>Q2<|end|><|start|>assistant")
    assert completion.startswith("<|channel|>analysis<|message|>T2<|end|>")


@pytest.mark.parametrize("text", [
    render_conversation([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], current_date=DATE),
    render_prompt(None, "Q", current_date=DATE),
    render_conversation(CONVERSATION, current_date=DATE)[:-len("<|return|>")],
])
def test_split_rejects_texts_without_a_training_turn(text):
    with pytest.raises(ValueError):
        split_prompt_completion(text)
