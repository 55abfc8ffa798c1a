"""The Harmony chat format of gpt-oss: render it, parse it, split it for training.

Why this module exists: gpt-oss was trained on Harmony, and three stages depend on getting it exactly right.

* The data stage renders training conversations. On a GPU the hub tokenizer's own template does it; the offline
  presets' tokenizers have no such template, so ``CHAT_TEMPLATE`` reproduces it (text conversations, no tools), and
  ``render_conversation`` is a plain-Python twin that the tests hold both against.
* Loss masking needs the boundary between prompt and assistant turn: ``split_prompt_completion``. The whole assistant
  turn (analysis + final) is trained, not only the final -- the reasoning language is what the tutorial teaches.
* Evaluation and GRPO rewards read generated text, which may be truncated or malformed: ``parse_harmony`` never
  raises and says in words what is wrong.

Facts followed (docs in ``shared/harmony-format.md``): the developer block ends ``\\n\\n<|end|>`` as the gpt-oss
tokenizer's template writes it; training targets end with ``<|return|>``; earlier assistant turns keep only their
final message, ending ``<|end|>``; ``reasoning_effort`` is a top-level template argument.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- tokens and fixed texts
START = "<|start|>"
END = "<|end|>"
MESSAGE = "<|message|>"
CHANNEL = "<|channel|>"
CONSTRAIN = "<|constrain|>"
RETURN = "<|return|>"
CALL = "<|call|>"
SPECIAL_TOKENS: tuple[str, ...] = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)
# Generation must stop on both: <|return|> ends a final answer, <|call|> a tool call.
STOP_TOKENS = (RETURN, CALL)
REASONING_EFFORTS = ("low", "medium", "high")
MODEL_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"
VALID_CHANNELS = ("analysis", "commentary", "final")
_CHANNELS_LINE = "# Valid channels: analysis, commentary, final. Channel must be included for every message."
_DEVELOPER_ROLES = ("system", "developer")  # as the FIRST message, either becomes the Harmony developer block
# HF's own names for a message's reasoning, in the order the gpt-oss template (and HF's aliasing) prefers them.
_THINKING_FIELDS = ("thinking", "reasoning_content", "reasoning")


def _system_text(current_date: str, reasoning_effort: str) -> str:
    return (f"{MODEL_IDENTITY}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}\nCurrent date: {current_date}\n\n"
            f"Reasoning: {reasoning_effort}\n\n{_CHANNELS_LINE}")


# --------------------------------------------------------------------------- the Jinja chat template
# Written with whitespace control on every tag ({%- -%}) so that HF's trim_blocks/lstrip_blocks settings cannot change
# the output: every character rendered comes from an explicit {{ ... }} expression. The fixed texts are spliced in from
# the Python constants above so that the template and render_conversation cannot drift apart.
_TEMPLATE_SOURCE = r"""
{#- Harmony (gpt-oss) chat template for text conversations without tools; mirrors the gpt-oss tokenizer's own. -#}
{%- macro check_text(text, what) -%}
    {%- if text is not string -%}
        {{- raise_exception(what ~ " must be a string") -}}
    {%- endif -%}
    {%- for marker in @MARKERS@ -%}
        {%- if marker in text -%}
            {{- raise_exception(what ~ " contains the Harmony marker " ~ marker ~ "; message text must not contain any of " ~ @MARKERS@|join(" ")) -}}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro -%}
{%- if tools is defined and tools -%}
    {{- raise_exception("this Harmony template renders text conversations only: tools are not supported") -}}
{%- endif -%}
{%- if messages is not defined or messages|length == 0 -%}
    {{- raise_exception("cannot render an empty conversation") -}}
{%- endif -%}
{%- if reasoning_effort is not defined or reasoning_effort is none -%}
    {%- set reasoning_effort = "medium" -%}
{%- endif -%}
{%- if reasoning_effort not in @EFFORTS@ -%}
    {{- raise_exception("reasoning_effort must be one of " ~ @EFFORTS@|join(", ") ~ ", got " ~ reasoning_effort) -}}
{%- endif -%}
{%- if current_date is defined and current_date is not none -%}
    {%- set date_text = current_date -%}
{%- else -%}
    {%- set date_text = strftime_now("%Y-%m-%d") -%}
{%- endif -%}
{{- check_text(date_text, "current_date") -}}
{{- "<|start|>system<|message|>" ~ @SYSTEM_HEAD@ ~ date_text ~ "\n\nReasoning: " ~ reasoning_effort ~ "\n\n" ~ @CHANNELS_LINE@ ~ "<|end|>" -}}
{%- if messages[0] is mapping and messages[0].role in @DEVELOPER_ROLES@ -%}
    {{- check_text(messages[0].content, messages[0].role ~ " message content") -}}
    {%- if messages[0].content -%}
        {{- "<|start|>developer<|message|># Instructions\n\n" ~ messages[0].content ~ "\n\n<|end|>" -}}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if message is not mapping or message.role is not defined -%}
        {{- raise_exception("every message must be a mapping with a 'role'") -}}
    {%- elif message.role == "user" -%}
        {{- check_text(message.content, "user message content") -}}
        {{- "<|start|>user<|message|>" ~ message.content ~ "<|end|>" -}}
    {%- elif message.role == "assistant" -%}
        {{- check_text(message.content, "assistant message content") -}}
        {%- if message.thinking is defined and message.thinking is not none -%}
            {%- set thinking = message.thinking -%}
        {%- elif message.reasoning_content is defined and message.reasoning_content is not none -%}
            {%- set thinking = message.reasoning_content -%}
        {%- elif message.reasoning is defined and message.reasoning is not none -%}
            {%- set thinking = message.reasoning -%}
        {%- else -%}
            {%- set thinking = none -%}
        {%- endif -%}
        {%- if thinking is not none -%}
            {{- check_text(thinking, "assistant thinking") -}}
        {%- endif -%}
        {%- if loop.last and not add_generation_prompt -%}
            {#- The training target: keep the chain of thought, end with <|return|>. -#}
            {%- if thinking is not none -%}
                {{- "<|start|>assistant<|channel|>analysis<|message|>" ~ thinking ~ "<|end|>" -}}
            {%- endif -%}
            {{- "<|start|>assistant<|channel|>final<|message|>" ~ message.content ~ "<|return|>" -}}
        {%- else -%}
            {#- History: the chain of thought of earlier turns is dropped. -#}
            {{- "<|start|>assistant<|channel|>final<|message|>" ~ message.content ~ "<|end|>" -}}
        {%- endif -%}
    {%- elif message.role in @DEVELOPER_ROLES@ -%}
        {{- raise_exception("a " ~ message.role ~ " message is only allowed as the first message") -}}
    {%- else -%}
        {{- raise_exception("unknown role " ~ message.role ~ " (expected system, developer, user or assistant; tool messages are not supported)") -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- "<|start|>assistant" -}}
{%- endif -%}
"""


def _jinja_literal(value: Any) -> str:
    """A Python str / tuple of str as a Jinja literal (JSON string syntax is valid Jinja)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)


CHAT_TEMPLATE: str = (
    _TEMPLATE_SOURCE.strip()
    .replace("@MARKERS@", _jinja_literal(SPECIAL_TOKENS))
    .replace("@EFFORTS@", _jinja_literal(REASONING_EFFORTS))
    .replace("@DEVELOPER_ROLES@", _jinja_literal(_DEVELOPER_ROLES))
    .replace("@SYSTEM_HEAD@", _jinja_literal(f"{MODEL_IDENTITY}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}\nCurrent date: "))
    .replace("@CHANNELS_LINE@", _jinja_literal(_CHANNELS_LINE))
)


# --------------------------------------------------------------------------- plain-Python renderer
def _check_text(text: Any, what: str) -> str:
    if text is None:
        raise ValueError(f"{what} is missing")
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, got {type(text).__name__}")
    for marker in SPECIAL_TOKENS:
        if marker in text:
            raise ValueError(f"{what} contains the Harmony marker {marker}; message text must not contain any of "
                             f"{' '.join(SPECIAL_TOKENS)}")
    return text


def _thinking_of(message: dict) -> str | None:
    for key in _THINKING_FIELDS:
        if message.get(key) is not None:
            return message[key]
    return None


def _date_text(current_date: Any) -> str:
    if current_date is None:
        return _dt.datetime.now().strftime("%Y-%m-%d")  # what HF's strftime_now does
    if isinstance(current_date, _dt.date):
        return current_date.strftime("%Y-%m-%d")
    return _check_text(current_date, "current_date")


def render_conversation(messages, *, reasoning_effort: str = "medium", add_generation_prompt: bool = False,
                        current_date: str | _dt.date | None = None) -> str:
    """Render HF-style messages as Harmony text, exactly as ``CHAT_TEMPLATE`` does.

    ``messages``: dicts with ``role`` (a first ``system``/``developer`` message becomes the developer block, then
    ``user``/``assistant``) and ``content``; an assistant message may carry ``thinking`` (or ``reasoning_content``),
    rendered only for the last message of a training conversation. Keys whose value is None count as absent, as in
    ``tokenizer.apply_chat_template``. ``current_date`` defaults to today (local time, like HF's ``strftime_now``).
    Raises ValueError for markers in text, unknown roles, a bad effort or an empty conversation.
    """
    if reasoning_effort is None:
        reasoning_effort = "medium"
    if reasoning_effort not in REASONING_EFFORTS:
        raise ValueError(f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, got {reasoning_effort!r}")
    if not isinstance(messages, (list, tuple)) or len(messages) == 0:
        raise ValueError("cannot render an empty conversation (messages must be a non-empty list of dicts)")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") is None:
            raise ValueError(f"every message must be a dict with a 'role', got {message!r}")
    # Same normalisation as apply_chat_template: a key holding None is a missing key.
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]

    date_text = _date_text(current_date)
    parts = [f"{START}system{MESSAGE}{_system_text(date_text, reasoning_effort)}{END}"]
    loop_messages = messages
    if messages[0]["role"] in _DEVELOPER_ROLES:
        instructions = _check_text(messages[0].get("content"), f"{messages[0]['role']} message content")
        if instructions:  # like the gpt-oss template: an empty system message gives no developer block
            parts.append(f"{START}developer{MESSAGE}# Instructions\n\n{instructions}\n\n{END}")
        loop_messages = messages[1:]
    for i, message in enumerate(loop_messages):
        role = message["role"]
        if role == "user":
            parts.append(f"{START}user{MESSAGE}{_check_text(message.get('content'), 'user message content')}{END}")
        elif role == "assistant":
            content = _check_text(message.get("content"), "assistant message content")
            thinking = _thinking_of(message)
            if thinking is not None:
                _check_text(thinking, "assistant thinking")
            if i == len(loop_messages) - 1 and not add_generation_prompt:
                if thinking is not None:
                    parts.append(f"{START}assistant{CHANNEL}analysis{MESSAGE}{thinking}{END}")
                parts.append(f"{START}assistant{CHANNEL}final{MESSAGE}{content}{RETURN}")
            else:
                parts.append(f"{START}assistant{CHANNEL}final{MESSAGE}{content}{END}")
        elif role in _DEVELOPER_ROLES:
            raise ValueError(f"a {role} message is only allowed as the first message")
        else:
            raise ValueError(f"unknown role {role!r} (expected system, developer, user or assistant; "
                             "tool messages are not supported)")
    if add_generation_prompt:
        parts.append(f"{START}assistant")
    return "".join(parts)


def render_prompt(developer: str | None, user: str, *, reasoning_effort: str = "medium",
                  current_date: str | _dt.date | None = None) -> str:
    """A generation prompt: system, developer (if ``developer`` is non-empty), user, then ``<|start|>assistant``."""
    messages = [{"role": "developer", "content": developer}] if developer else []
    messages.append({"role": "user", "content": user})
    return render_conversation(messages, reasoning_effort=reasoning_effort, add_generation_prompt=True,
                               current_date=current_date)


def render_chat_template(messages, **kwargs) -> str:
    """Render ``CHAT_TEMPLATE`` through transformers' own Jinja machinery, without a tokenizer.

    Same steps as ``tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)``: None-valued keys dropped,
    reasoning fields aliased, HF's sandboxed environment with ``raise_exception``/``strftime_now`` (which raise
    ``jinja2.TemplateError``). Only the tokenizer's special-token variables are missing; the template uses none.
    """
    from transformers.utils.chat_template_utils import render_jinja_template

    if isinstance(messages, (list, tuple)) and len(messages) == 0:
        raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
    if isinstance(kwargs.get("current_date"), _dt.date):  # a date object would reach the sandbox as a placeholder
        kwargs["current_date"] = kwargs["current_date"].strftime("%Y-%m-%d")
    messages = [{k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m for m in messages]
    tools = kwargs.pop("tools", None)
    documents = kwargs.pop("documents", None)
    add_generation_prompt = kwargs.pop("add_generation_prompt", False)
    rendered, _ = render_jinja_template(conversations=[messages], tools=tools, documents=documents,
                                        chat_template=CHAT_TEMPLATE, add_generation_prompt=add_generation_prompt,
                                        **kwargs)
    return rendered[0]


# --------------------------------------------------------------------------- splitting for loss masking
_ANALYSIS_HEADER = f"{START}assistant{CHANNEL}analysis{MESSAGE}"
_FINAL_HEADER = f"{START}assistant{CHANNEL}final{MESSAGE}"


def split_prompt_completion(rendered_training_text: str) -> tuple[str, str]:
    """Split a rendered training conversation into (prompt, completion) at the last assistant turn's analysis.

    The prompt ends with ``<|start|>assistant`` (exactly a generation prompt), the completion is what the model must
    write: ``<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…<|return|>``.
    Raises ValueError when the text has no such turn (e.g. a conversation without thinking).
    """
    text = rendered_training_text
    if not isinstance(text, str):
        raise ValueError(f"expected the rendered text as str, got {type(text).__name__}")
    last_user = text.rfind(f"{START}user{MESSAGE}")
    at = text.find(_ANALYSIS_HEADER, max(last_user, 0))
    if at < 0:
        raise ValueError("no assistant analysis message after the last user message: render the training "
                         "conversation with the assistant's 'thinking' and add_generation_prompt=False")
    cut = at + len(f"{START}assistant")
    prompt, completion = text[:cut], text[cut:]
    if not completion.endswith(RETURN) or _FINAL_HEADER not in completion:
        raise ValueError("the last assistant turn must be analysis then final ending with <|return|> "
                         "(render with add_generation_prompt=False)")
    return prompt, completion


# --------------------------------------------------------------------------- parsing generated text
@dataclass
class HarmonyParse:
    """What ``parse_harmony`` found. ``valid`` is True iff ``errors`` is empty."""

    analysis: str | None  # the chain of thought (analysis messages joined), stripped; None if there was none
    final: str | None  # the answer, stripped; None if there was no final message
    commentary: str | None  # preambles / tool-call text on the commentary channel, if any
    valid: bool
    errors: list[str] = field(default_factory=list)
    stop: str | None = None  # the stop token (<|return|> or <|call|>) that ended the parsed turn, if any


_MARKER_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
_BOUNDARY_ROLES = ("system", "developer", "user")  # messages the assistant turn comes after
_HEADER_MARKERS = (START, CHANNEL, CONSTRAIN, MESSAGE)
_TERMINATORS = (END, RETURN, CALL)


@dataclass
class _Msg:
    role: str | None  # None: no header text (a continuation after a prompt ending with <|start|>assistant)
    explicit_start: bool
    channel: str | None
    content: str
    terminator: str | None  # <|end|>, <|return|>, <|call|>, or None (text ran out / cut by a stray <|start|>)
    errors: list[str]
    first_token: int


def _short(s: str, n: int = 40) -> str:
    s = s.strip()
    return repr(s if len(s) <= n else s[:n] + "…")


def _scan(tokens: list[str]) -> tuple[list[_Msg], list[tuple[int, str]], str | None]:
    """Cut a marker/text token list into messages; stop at the first <|return|>/<|call|> (the rest is padding)."""
    msgs: list[_Msg] = []
    stray: list[tuple[int, str]] = []  # (token index, error) for things outside any message
    n, i = len(tokens), 0
    while i < n:
        tok = tokens[i]
        is_marker = tok in SPECIAL_TOKENS
        if not is_marker and not (i + 1 < n and tokens[i + 1] in (CHANNEL, CONSTRAIN, MESSAGE)):
            if tok.strip():
                stray.append((i, f"text outside any message: {_short(tok)}"))
            i += 1
            continue
        if is_marker and tok in _TERMINATORS:
            stray.append((i, f"stray {tok} outside any message"))
            i += 1
            continue
        # A message starts here: <|start|>header..., or (no <|start|>) header text / <|channel|> / <|message|>.
        first, errors = i, []
        explicit = tok == START
        if explicit:
            i += 1
        elif msgs:
            errors.append("message without <|start|>")
        header_parts, channel, n_channels = [], None, 0  # lists, joined once: += on str can go quadratic
        while i < n and tokens[i] != MESSAGE:
            t = tokens[i]
            if t == CHANNEL or t == CONSTRAIN:
                value = tokens[i + 1] if i + 1 < n and tokens[i + 1] not in SPECIAL_TOKENS else ""
                if t == CHANNEL:
                    n_channels += 1
                    words = value.split()
                    channel = words[0] if words else ""
                i += 2 if value else 1
            elif t in SPECIAL_TOKENS:  # <|start|> or a terminator before <|message|>
                break
            else:
                header_parts.append(t)
                i += 1
        if n_channels > 1:
            errors.append("more than one <|channel|> in a message header")
        words = "".join(header_parts).split()
        role = words[0] if words else None
        if explicit and role is None:
            errors.append("<|start|> without a role")
        content_parts, terminator = [], None
        if i < n and tokens[i] == MESSAGE:
            i += 1
            while i < n:
                t = tokens[i]
                if t in _TERMINATORS:
                    terminator = t
                    i += 1
                    break
                if t == START:
                    break  # the next message begins: this one was never terminated
                if t in SPECIAL_TOKENS:
                    stray_error = f"stray {t} inside a message"
                    if stray_error not in errors:
                        errors.append(stray_error)
                content_parts.append(t)
                i += 1
        else:
            errors.append("message header without <|message|>" if i < n else "message header cut off (truncated?)")
            if i < n and tokens[i] in _TERMINATORS:
                terminator = tokens[i]
                i += 1
        msgs.append(_Msg(role, explicit, channel, "".join(content_parts), terminator, errors, first))
        if terminator in STOP_TOKENS:
            return msgs, stray, terminator
    return msgs, stray, None


def _parse(text: str) -> HarmonyParse:
    tokens = [t for t in _MARKER_RE.split(text) if t]
    msgs, stray, stop = _scan(tokens)

    # The assistant turn is what follows the last system/developer/user message (a full conversation), or all of it
    # (a continuation, or text starting with <|start|>assistant).
    boundary = max((k for k, m in enumerate(msgs) if m.role in _BOUNDARY_ROLES), default=-1)
    turn = msgs[boundary + 1:]
    after_token = msgs[boundary].first_token if boundary >= 0 else -1
    errors: list[str] = []
    if boundary >= 0 and not turn:
        errors.append(f"no assistant message after the last {msgs[boundary].role} message")
    analysis: list[str] = []
    final: list[str] = []
    commentary: list[str] = []
    first_analysis = first_final = None
    for k, m in enumerate(turn):
        errors.extend(m.errors)
        if m.role not in (None, "assistant"):
            errors.append(f"unexpected message from {m.role!r} in the assistant turn")
            continue
        if m.channel is None:
            errors.append("assistant message without a channel")
            continue
        if not m.channel:
            errors.append("empty channel name after <|channel|>")
            continue
        if m.channel not in VALID_CHANNELS:
            errors.append(f"unknown channel {m.channel!r}")
            continue
        if first_final is not None:
            errors.append(f"{m.channel} message after the final message")
        if m.terminator is None:
            suffix = ": no <|return|>" if m.channel == "final" else ""
            errors.append(f"{m.channel} not terminated (truncated?){suffix}")
        if m.channel == "analysis":
            analysis.append(m.content.strip())
            first_analysis = k if first_analysis is None else first_analysis
            if m.terminator in STOP_TOKENS:
                errors.append(f"analysis ended by {m.terminator} instead of <|end|>")
        elif m.channel == "final":
            if first_final is not None:
                errors.append("more than one final message")
            final.append(m.content.strip())
            first_final = k if first_final is None else first_final
            if m.terminator == CALL:
                errors.append("final ended by <|call|> (a tool-call stop) instead of <|return|>")
        else:
            commentary.append(m.content.strip())
    # Text/markers outside messages matter only inside the assistant turn (a BOS before the prompt does not).
    errors.extend(e for idx, e in stray if idx > after_token)

    analysis_text = "\n\n".join(a for a in analysis if a) if analysis else None
    final_text = "\n\n".join(f for f in final if f) if final else None
    if analysis_text is None:
        errors.append("no analysis channel")
    elif not analysis_text:
        errors.append("analysis empty")
    if final_text is None:
        errors.append("no final channel")
    elif not final_text:
        errors.append("final empty")
    if first_analysis is not None and first_final is not None and first_final < first_analysis:
        errors.append("final before analysis")
    errors = list(dict.fromkeys(errors))  # de-duplicate, keep order
    return HarmonyParse(analysis=analysis_text, final=final_text,
                        commentary="\n\n".join(c for c in commentary if c) if commentary else None,
                        valid=not errors, errors=errors, stop=stop)


def parse_harmony(text: Any) -> HarmonyParse:
    """Parse generated Harmony text into analysis / final / commentary; never raises.

    Accepts the model's continuation after ``<|start|>assistant`` (``<|channel|>analysis<|message|>…``), text starting
    with ``<|start|>assistant``, or a whole rendered conversation (then the messages after the last
    system/developer/user message are parsed). Anything after the stop token (padding, eos text) is ignored.
    ``valid`` needs a non-empty analysis then a non-empty final ended by ``<|return|>`` (or ``<|end|>``), known
    channels only, and no stray marker or text; ``errors`` lists every problem in plain words.
    """
    try:
        if text is None:
            return HarmonyParse(None, None, None, False, ["no text (got None)"], None)
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        if not isinstance(text, str):
            return HarmonyParse(None, None, None, False, [f"expected str, got {type(text).__name__}"], None)
        text = str.__str__(text)  # a plain str, whatever subclass came in
        if not text.strip():
            errors = ["empty text", "no analysis channel", "no final channel"]
            return HarmonyParse(None, None, None, False, errors, None)
        return _parse(text)
    except Exception as exc:  # a parser used in reward functions must not take a training run down
        try:
            message = f"internal parser error: {type(exc).__name__}: {exc}"
        except Exception:
            message = "internal parser error"
        return HarmonyParse(None, None, None, False, [message], None)
