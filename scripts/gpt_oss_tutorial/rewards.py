"""GRPO reward helpers: score one completion (``format_score``, ``correctness_score``, ``language_score``) and wrap
them in TRL's reward signature ``func(completions, **columns) -> list[float]``.

Notebook 05 defines the reward functions it trains with over the three scorers. The scorers never raise and cost time
linear in the text; they read Harmony text (also with its special tokens stripped by the decoder,
``analysis…assistantfinal…``), ``<think>…</think>`` text (``style="think"``), plain answers (``style="plain"``) and
TRL's chat-message lists. ``format_reward``/``correctness_reward``/``language_reward`` are the same scorers over a
batch with dataset columns read row by row (a scalar applies to every row); ``make_reward_funcs`` binds a style and
weights for ``GRPOConfig(reward_weights=...)``.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping

from .langid import detect_language, language_code
from .scoring import check_answer, extract_answer, normalize_truth

log = logging.getLogger(__name__)

STYLES = ("harmony", "think", "plain")
DEFAULT_MAX_CHARS = 6000  # ~1500 tokens. Completions cut at the token cap lose their final anyway; pass max_chars
# (roughly 4 characters per token) to penalise rambling below the cap.
COMPONENTS = ("format", "correctness", "language")
DEFAULT_WEIGHTS = {"format": 0.3, "correctness": 0.7, "language": 0.0}

_THINKING_FIELDS = ("thinking", "reasoning_content", "reasoning")
_MAX_DEPTH = 6
_SPECIAL = re.compile(r"<[|｜][^<>\n]{0,40}[|｜]>")
_STRIPPED_HARMONY = re.compile(r"^\s*(?:assistant\s*)?analysis(?P<analysis>.*?)assistant\s*final(?P<final>.*)$", re.S)
_STRIPPED_TRUNCATED = re.compile(r"^\s*(?:assistant\s*)?analysis(?P<analysis>.+)$", re.S)


# ----------------------------------------------------------------------------------------------------------------------
# Completions -> (reasoning, answer)
# ----------------------------------------------------------------------------------------------------------------------
def _text_of(value, depth: int = 0) -> str | None:
    """Text of a string / bytes / message content (str or list of parts); None for anything else."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):  # a content part {"type": "text", "text": ...} or a message
        for key in ("text", "content"):
            if key in value:
                return _text_of(value.get(key), depth + 1)
        return None
    if isinstance(value, (list, tuple)):
        parts = [_text_of(v, depth + 1) for v in value]
        parts = [p for p in parts if p]
        return "".join(parts) if parts else None
    return None


def _messages_of(completion, depth: int = 0) -> tuple[list[str], list[str]] | None:
    """(thinking parts, content parts) of a message / list of messages; None when it holds no message dict."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(completion, Mapping):
        if completion.get("role") not in (None, "assistant"):
            return [], []
        # the first reasoning field present (TRL/transformers use "thinking"; others "reasoning_content")
        thinking = next(([t] for t in (_text_of(completion.get(f)) for f in _THINKING_FIELDS) if t), [])
        content = _text_of(completion.get("content"))
        return thinking, [content] if content else []
    if isinstance(completion, (list, tuple)) and any(isinstance(c, (Mapping, list, tuple)) for c in completion):
        thinking, content, found = [], [], False
        for item in completion:
            if isinstance(item, (str, bytes, bytearray)):
                text = _text_of(item)
                if text:
                    content.append(text)
                continue
            sub = _messages_of(item, depth + 1)
            if sub is not None:
                found = True
                thinking += sub[0]
                content += sub[1]
        return (thinking, content) if found else None
    return None


def _render(completion, style: str) -> str | None:
    """The completion as one text in the given style (message fields rebuilt into that style's markup)."""
    msgs = _messages_of(completion)
    if msgs is None:
        return _text_of(completion)
    thinking, content = msgs
    think_text = "\n\n".join(thinking) if thinking else None
    content_text = "".join(content) if content else None
    if think_text is None:
        return content_text
    answer = content_text or ""
    if style == "harmony":
        final = f"<|start|>assistant<|channel|>final<|message|>{answer}<|return|>" if answer.strip() else ""
        return f"<|channel|>analysis<|message|>{think_text}<|end|>{final}"
    if style == "think":
        return f"<think>{think_text}</think>{answer}"
    return f"{think_text}\n\n{answer}"


def _clean(part: str | None) -> str | None:
    if part is None:
        return None
    part = _SPECIAL.sub(" ", part).strip()
    return part or None


class _Parsed:
    __slots__ = ("reasoning", "answer", "well_formed", "chars")

    def __init__(self, reasoning, answer, well_formed, chars):
        self.reasoning, self.answer, self.well_formed, self.chars = reasoning, answer, well_formed, chars


def _parse_harmony_text(text: str) -> _Parsed:
    from .harmony import parse_harmony

    if "<|" not in text:  # special tokens stripped by the decoder: "analysis…assistantfinal…"
        m = _STRIPPED_HARMONY.match(text)
        if m and m.group("analysis").strip() and m.group("final").strip():
            return _Parsed(_clean(m.group("analysis")), _clean(m.group("final")), True, len(text))
        if m:
            return _Parsed(_clean(m.group("analysis")), _clean(m.group("final")), False, len(text))
        m = _STRIPPED_TRUNCATED.match(text)
        if m:
            return _Parsed(_clean(m.group("analysis")), None, False, len(text))
    parsed = parse_harmony(text)
    analysis = parsed.analysis if isinstance(parsed.analysis, str) else None
    final = parsed.final if isinstance(parsed.final, str) else None
    return _Parsed(_clean(analysis), _clean(final), bool(parsed.valid), len(text))


def _parse_think_text(text: str) -> _Parsed:
    closes = text.count("</think>")
    opens = text.count("<think>")
    if closes:
        head, _, tail = text.partition("</think>")
        stripped_head = head.lstrip()
        reasoning = stripped_head[len("<think>"):] if stripped_head.startswith("<think>") else head
        reasoning, answer = _clean(reasoning), _clean(tail)
        ok_open = opens == 0 or (opens == 1 and stripped_head.startswith("<think>"))
        well_formed = closes == 1 and ok_open and reasoning is not None and answer is not None
        return _Parsed(reasoning, answer, well_formed, len(text))
    if opens:  # truncated inside the reasoning
        return _Parsed(_clean(text.split("<think>", 1)[1]), None, False, len(text))
    return _Parsed(None, _clean(text), False, len(text))


def _parse(completion, style: str = "harmony") -> _Parsed:
    style = style if style in STYLES else "harmony"
    text = _render(completion, style)
    if text is None or not text.strip():
        return _Parsed(None, None, False, 0)
    if style == "harmony":
        return _parse_harmony_text(text)
    if style == "think":
        return _parse_think_text(text)
    answer = _clean(text)
    return _Parsed(None, answer, answer is not None, len(text))


def extract_reasoning_and_answer(text, style: str = "harmony") -> tuple[str | None, str | None]:
    """(reasoning, answer) of one completion -- a string or a chat-message list -- in the given chat style.

    ``"harmony"``: the analysis and final channels (``parse_harmony``; also text decoded without its special tokens,
    ``analysis…assistantfinal…``). ``"think"``: the ``<think>`` block and what follows ``</think>`` (a missing opening
    tag is fine: templates put it in the prompt). ``"plain"``: no reasoning; the whole text is the answer. Message
    dicts with a ``thinking``/``reasoning_content`` field give that as the reasoning and ``content`` as the answer.
    Either part is None when absent or empty. Raises ValueError for an unknown style; never for odd input.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known styles: {', '.join(STYLES)}")
    try:
        parsed = _parse(text, style)
        return parsed.reasoning, parsed.answer
    except Exception:
        log.debug("extract_reasoning_and_answer failed", exc_info=True)
        return None, None


# ----------------------------------------------------------------------------------------------------------------------
# Plumbing: lists, rows, safety
# ----------------------------------------------------------------------------------------------------------------------
def _as_list(completions) -> list:
    if completions is None:
        return []
    if isinstance(completions, list):
        return completions
    if isinstance(completions, (str, bytes, bytearray)):
        return [completions] if completions else []
    if isinstance(completions, Mapping):
        return [completions]
    if isinstance(completions, Iterable):
        try:
            return list(completions)
        except Exception:
            return [completions]
    return [completions]


def _row(values, i: int):
    """Row ``i`` of a dataset column: lists row by row (None past the end), scalars broadcast."""
    if values is None or isinstance(values, (str, bytes, bytearray, int, float)):
        return values
    try:
        return values[i] if i < len(values) else None
    except Exception:
        return None


def _finite(x, fallback: float = 0.0) -> float:
    try:
        x = float(x)
    except Exception:
        return fallback
    return x if math.isfinite(x) else fallback


def _safe_map(name: str, completions, per_row: Callable[[int, object], float]) -> list[float]:
    out = []
    for i, completion in enumerate(_as_list(completions)):
        try:
            out.append(_finite(per_row(i, completion)))
        except Exception:  # a reward must never take a training run down
            log.warning("%s failed on completion %d; reward 0.0", name, i, exc_info=True)
            out.append(0.0)
    return out


def _option(kwargs: Mapping, key: str, i: int, default):
    value = _row(kwargs.get(key), i)
    return default if value is None else value


def _style_of(kwargs, i) -> str:
    style = _option(kwargs, "style", i, "harmony")
    return style if style in STYLES else "harmony"


def _positive(value, default: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float(default)
    return value if value > 0 else float(default)


def _max_chars_of(kwargs, i) -> float:
    return _positive(_option(kwargs, "max_chars", i, DEFAULT_MAX_CHARS), DEFAULT_MAX_CHARS)


# ----------------------------------------------------------------------------------------------------------------------
# Rewards
# ----------------------------------------------------------------------------------------------------------------------
def _format_score(parsed: _Parsed, style: str, max_chars: float) -> float:
    if parsed.chars == 0:
        return -1.0
    has_answer_value = parsed.answer is not None and extract_answer(parsed.answer) is not None
    if style == "plain":
        score = 0.5 * (parsed.answer is not None) + 0.5 * has_answer_value
    else:
        score = 0.25 * ((parsed.reasoning is not None) + (parsed.answer is not None) + parsed.well_formed
                        + has_answer_value)
    if score == 0.0:
        score = -0.5
    if parsed.chars > max_chars:
        score -= 0.5
    return max(-1.0, min(1.0, score))


def _never_raises(name: str, fallback: float = 0.0):
    """Decorator: a finite float out of any input; an exception is logged and scores ``fallback``."""
    def wrap(func):
        def safe(*args, **kwargs) -> float:
            try:
                return _finite(func(*args, **kwargs), fallback)
            except Exception:  # a reward must never take a training run down
                log.warning("%s failed; score %s", name, fallback, exc_info=True)
                return fallback
        safe.__name__ = safe.__qualname__ = name
        safe.__doc__ = func.__doc__
        return safe
    return wrap


@_never_raises("format_score")
def format_score(completion, *, style: str = "harmony", max_chars: float = DEFAULT_MAX_CHARS) -> float:
    """Structure of one completion in -1..1: +0.25 each for reasoning, a final answer, well-formed markup and an
    answer value in the final; -0.5 for none of these, -1 for an empty one, -0.5 more past ``max_chars``."""
    style = style if style in STYLES else "harmony"
    return _format_score(_parse(completion, style), style, _positive(max_chars, DEFAULT_MAX_CHARS))


@_never_raises("correctness_score")
def correctness_score(completion, truth, *, style: str = "harmony") -> float:
    """One completion against its ground truth: +1 correct, -0.5 wrong, -1 no answer, 0.0 without a truth."""
    if normalize_truth(truth) is None:
        return 0.0
    parsed = _parse(completion, style if style in STYLES else "harmony")
    if parsed.answer is None:
        return -1.0
    verdict = check_answer(parsed.answer, truth)
    if verdict is None:
        return -1.0
    return 1.0 if verdict else -0.5


@_never_raises("language_score")
def language_score(completion, requested_language, *, style: str = "harmony") -> float:
    """+1 when the reasoning is in ``requested_language``, -0.5 in another language, 0.0 when it cannot be told."""
    try:
        requested = language_code(requested_language)
    except ValueError:
        return 0.0
    style = style if style in STYLES else "harmony"
    parsed = _parse(completion, style)
    detected = detect_language(parsed.answer if style == "plain" else parsed.reasoning)
    if detected is None:
        return 0.0
    return 1.0 if detected == requested else -0.5


def format_reward(completions=None, **kwargs) -> list[float]:
    """``format_score`` for each completion, in TRL's signature; options ``style`` and ``max_chars`` as keywords."""
    return _safe_map("format_reward", completions, lambda i, c: format_score(
        c, style=_style_of(kwargs, i), max_chars=_max_chars_of(kwargs, i)))


def correctness_reward(completions=None, answer=None, **kwargs) -> list[float]:
    """``correctness_score`` for each completion against its row's ``answer`` column, in TRL's signature."""
    return _safe_map("correctness_reward", completions, lambda i, c: correctness_score(
        c, _row(answer, i), style=_style_of(kwargs, i)))


def language_reward(completions=None, reasoning_language=None, **kwargs) -> list[float]:
    """``language_score`` for each completion against its row's ``reasoning_language``, in TRL's signature."""
    return _safe_map("language_reward", completions, lambda i, c: language_score(
        c, _row(reasoning_language, i), style=_style_of(kwargs, i)))


_COMPONENT_FUNCS = {"format": format_reward, "correctness": correctness_reward, "language": language_reward}


class RewardFunction:
    """A reward function with options bound (``style``, ``max_chars``), named for TRL's logs and picklable.

    Bound options win over same-named dataset columns.
    """

    def __init__(self, name: str, func: Callable[..., list[float]], **options):
        self.__name__ = name
        self.__qualname__ = name
        self.func = func
        self.options = options

    def __call__(self, completions=None, **kwargs) -> list[float]:
        completions = _as_list(completions)  # an iterator must be read once, not once per component
        try:
            return self.func(completions=completions, **{**kwargs, **self.options})
        except Exception:
            log.warning("%s failed; rewards 0.0", self.__name__, exc_info=True)
            return [0.0] * len(_as_list(completions))

    def __repr__(self) -> str:
        return f"RewardFunction({self.__name__!r}, options={self.options!r})"


def _check_weights(weights) -> dict[str, float]:
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if not isinstance(weights, Mapping):
        raise ValueError(f"weights must be a mapping of {COMPONENTS} to numbers, got {type(weights).__name__}")
    unknown = set(weights) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown reward component(s) {sorted(map(str, unknown))}; known: {', '.join(COMPONENTS)}")
    out = {}
    for key in COMPONENTS:
        if key not in weights:
            continue
        value = weights[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"weight of {key!r} must be a finite number, got {value!r}")
        out[key] = float(value)
    return out


def _check_options(options: Mapping) -> dict:
    unknown = set(options) - {"style", "max_chars"}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; options: style, max_chars")
    if "style" in options and options["style"] not in STYLES:
        raise ValueError(f"unknown style {options['style']!r}; known styles: {', '.join(STYLES)}")
    return dict(options)


def _combined(completions=None, _weights=None, **kwargs) -> list[float]:
    completions = _as_list(completions)
    total = [0.0] * len(completions)
    for key, weight in (_weights or {}).items():
        if weight == 0.0:
            continue
        values = _COMPONENT_FUNCS[key](completions=completions, **kwargs)
        total = [t + weight * v for t, v in zip(total, values)]
    return [_finite(t) for t in total]


def combined_reward(weights: Mapping[str, float] | None = None, **options) -> RewardFunction:
    """One reward function (named ``combined_reward``) returning ``sum(weight * component)`` per completion.

    ``weights`` maps ``"format"``, ``"correctness"``, ``"language"`` to numbers (missing = 0; default
    ``DEFAULT_WEIGHTS``); ``options``: ``style``, ``max_chars``. Raises ValueError for unknown keys or non-finite
    weights (a configuration error). TRL then logs only the sum; ``make_reward_funcs`` logs each part.
    """
    checked = _check_weights(weights)
    return RewardFunction("combined_reward", _combined, _weights=checked, **_check_options(options))


def make_reward_funcs(weights: Mapping[str, float] | None = None,
                      **options) -> tuple[list[RewardFunction], list[float]]:
    """(functions, weights) for ``GRPOTrainer(reward_funcs=funcs)`` and ``GRPOConfig(reward_weights=weights)``.

    One function per component named in ``weights`` (order: format, correctness, language), zero weights included
    (computed and logged, no effect on the advantage). Function names are ``format_reward``, ``correctness_reward``
    and ``language_reward``, so TRL logs ``rewards/format_reward/mean`` etc.
    """
    checked = _check_weights(weights)
    opts = _check_options(options)
    funcs = [RewardFunction(f"{key}_reward", _COMPONENT_FUNCS[key], **opts) for key in checked]
    return funcs, list(checked.values())
