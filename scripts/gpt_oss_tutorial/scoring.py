"""Scoring generations: the answer value of a final message, whether it equals the ground truth, one generation's
verdicts, and the fractions over a run.

``extract_answer`` reads the last ``\\boxed{}``, else the value after an "answer is"-like phrase (en, fr, de, es, it,
zh), else after the last ``=``, else the last number; ``check_answer`` compares it with math-verify (a comma-separated
truth is a set). Every step is linear in the text: finals are read in their last ``_TAIL_CHARS`` characters, answers
or truths over ``MAX_ANSWER_CHARS`` are compared as text only (math-verify's parser is not linear), and math-verify
runs under a timeout (``signal.alarm`` in the main thread, an abandoned worker thread elsewhere).
"""
from __future__ import annotations

import logging
import math
import re
import signal
import threading
from collections.abc import Iterable, Mapping, Sequence

from .langid import available, detect_language, language_code

log = logging.getLogger(__name__)

VERIFY_TIMEOUT_S = 3  # math-verify's signal timeouts take whole seconds
MAX_ANSWER_CHARS = 200  # longer answers or truths are compared as text only (math-verify's parser is superlinear)
MAX_TRUTH_CHARS = 2_000  # longer ground truths are not normalised, only compared as text
_TAIL_CHARS = 20_000  # the answer is at the end: longer finals are searched in their last 20k characters
_MAX_CANDIDATES = 32  # "answer is" phrases and "=" signs tried, from the last one back

# ----------------------------------------------------------------------------------------------------------------------
# Answer extraction
# ----------------------------------------------------------------------------------------------------------------------
_MARKER = re.compile(r"<\|[^<>|\s]{0,40}\|>")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE = re.compile(
    r"(?:"
    r"\b(?:final\s+)?(?:answer|result)s?(?:[\s*_]|\\\*)*(?:is|are|would\s+be|will\s+be|equals|:|=|：)"
    r"|\b(?:r[ée]ponse|r[ée]sultat)(?:\s+finale?)?(?:[\s*_])*(?:est|vaut|:|=|：)"
    r"|\b(?:antwort|ergebnis|l[öo]sung)(?:[\s*_])*(?:ist|lautet|betr[äa]gt|:|=|：)"
    r"|\b(?:respuesta|resultado)(?:\s+final)?(?:[\s*_])*(?:es|son|:|=|：)"
    r"|\b(?:risposta|risultato)(?:\s+finale)?(?:[\s*_])*(?:è|e'|é|sono|:|=|：)"
    r"|(?:最终)?(?:答案|结果|答)\s*(?:是|为|為|：|:|=)"
    r"|\b(?:solutions?|roots?)\s+(?:are|is)"
    r"|\b(?:les\s+)?(?:solutions?|racines?)\s+(?:sont|est)"
    r"|\b(?:l[öo]sungen|nullstellen)\s+(?:sind|lauten)"
    r"|\b(?:soluciones|ra[íi]ces)\s+son"
    r"|\b(?:soluzioni|radici)\s+sono"
    r"|(?:方程的)?(?:解|根)\s*(?:是|为)"
    r")(?:(?<=[:=：是为為])|(?![\w'’]))[\s*_:]*",  # "answer is" but not "answer isn't"
    re.IGNORECASE,
)
# the value after a phrase runs to the end of the sentence (a period that is not a decimal point) or line
_SENTENCE_END = re.compile(r"(?<!\d)\.(?!\d)|\.(?=\s|$)|[。！？!?;\n]")
_EQUALS = re.compile(r"=(?![=>])")
_NUMBER = r"[-−]?(?:\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d.,])|\d+(?:[.,]\d+)*)"
_VALUE = re.compile(
    rf"(?:(?:[-−]\s*)?\\[dt]?frac\s*\{{[^{{}}]*\}}\s*\{{[^{{}}]*\}}"  # \frac{3}{4}
    rf"|[-−]?\d*\\sqrt\s*\{{[^{{}}]*\}}"  # 2\sqrt{3}
    rf"|{_NUMBER}(?:\s*/\s*{_NUMBER})?%?)"  # 42, -3, 2.5, 2,5, 12 000, 3/4, 25%
)
# what may stand between two solutions of one list: "2, -3", "x = 2 or x = -3", "2 et 3", "2 和 3"
_CONNECTOR = re.compile(
    r"^\s*(?:,|;|、|，|和|或|\\text\{\s*(?:or|and|et|ou|und|oder|y|o|e)\s*\}|\\quad|\\qquad)\s*$"
    r"|^\s+(?:and|or|et|ou|und|oder|y|o|e)\s+$",
    re.IGNORECASE,
)
_OPERAND = r"\{?\(?[-−]?\d+(?:[.,]\d+)*\)?\}?"
_ARITHMETIC = re.compile(rf"{_OPERAND}(?:\s*(?:[+\-−*/^×÷·]|\*\*)\s*{_OPERAND})+")
_ASSIGNMENT = re.compile(r"^\s*\\?[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_INLINE_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)


def _closing_braces(text: str) -> dict[int, int]:
    """Index of each ``{`` -> index of its matching ``}`` (one pass with a stack: linear in the text)."""
    pairs, stack = {}, []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def _boxed_contents(text: str, last_only: bool = False) -> list[str]:
    """Contents of ``\\boxed{...}`` (balanced braces), in order; with ``last_only`` just the last non-empty one."""
    matches = list(_BOXED.finditer(text))
    if not matches:
        return []
    pairs = _closing_braces(text)
    out = []
    for m in reversed(matches) if last_only else matches:
        close = pairs.get(m.end() - 1)
        if close is None:
            continue
        out.append(text[m.end():close])
        if last_only and out[-1].strip():
            return out[-1:]
    return [] if last_only else out


def _strip_assignment(piece: str) -> str:
    stripped = _ASSIGNMENT.sub("", piece, count=1)
    return stripped if stripped.strip() else piece


def _latex_cleanup(s: str) -> str:
    s = re.sub(r"\\(?:text|mathrm|textbf|mathbf|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:left|right|displaystyle)\b", "", s)
    s = re.sub(r"\\[,;:! ]", " ", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("−", "-")
    return s.strip().strip("$").strip()


def _split_top_level(s: str) -> list[str]:
    """Split at commas/semicolons outside brackets (a comma between digits is a decimal or thousands comma)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in ",;" and depth == 0:
            if ch == "," and 0 < i < len(s) - 1 and s[i - 1].isdigit() and s[i + 1].isdigit():
                continue
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts if p.strip()]


def _normalize_numbers(s: str, decimal_comma: bool) -> str:
    s = re.sub(r"\b\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d.,])",
               lambda m: re.sub(r"\s", "", m.group(0)), s)  # 12 000 -> 12000
    # (?<![\d,]): one attempt per run of digits and commas, so a long run is read in linear time
    s = re.sub(r"\b(?<![\d,])(\d{1,3})((?:,\d{3})+)(?![\d,])", lambda m: m.group(1) + m.group(2).replace(",", ""), s)
    if decimal_comma:
        s = re.sub(r"(?<=\d),(?=\d)", ".", s)  # 2,5 -> 2.5
    return s


def _normalize_value(value: str, decimal_comma: bool = True) -> str | None:
    """A value as text for math-verify: LaTeX cleaned, solutions split and joined with ", ", ``x =`` dropped."""
    value = _latex_cleanup(value)
    value = _normalize_numbers(value, decimal_comma)
    pieces = [_strip_assignment(p) for p in _split_top_level(value)]
    # "x = 2 \text{ or } x = -3", "2 et 3": split on connector words when every piece is then a simple value
    if len(pieces) == 1:
        words = re.split(r"(?<!\s)\s+(?:or|and|et|ou|und|oder|y|o|e|和|或)\s+|\\quad|\\qquad", pieces[0])
        words = [_strip_assignment(w).strip() for w in words if w.strip()]
        if len(words) > 1 and all(_VALUE.fullmatch(w) for w in words):
            pieces = words
    pieces = [p.strip().rstrip(".").strip() for p in pieces]
    pieces = [p for p in pieces if p]
    return ", ".join(pieces) if pieces else None


def _value_from_span(span: str) -> str | None:
    """The value at the start of the text that follows "the answer is" (or "=")."""
    span = span.strip()
    if not span:
        return None
    m = _SENTENCE_END.search(span)
    head = span[: m.start()] if m else span
    head = head.strip().strip("*_").strip()
    if not head:
        return None
    # LaTeX math: the contents of the delimiters
    maths = [next(g for g in mm.groups() if g is not None) for mm in _INLINE_MATH.finditer(head)]
    if maths and head.lstrip().startswith(("$", "\\(", "\\[")):
        return _normalize_value(", ".join(maths))
    if "\\" in head:  # bare LaTeX: cut at the first ordinary word ("\frac{3}{4} of the cake")
        tokens = head.split()
        kept = []
        for tok in tokens:
            if re.fullmatch(r"[^\W\d_]{2,}[.,]?", tok) and not tok.startswith("\\"):
                break
            kept.append(tok)
        return _normalize_value(" ".join(kept)) if kept else None
    # arithmetic: "2^10", "12 + 47 = 59" (the value after its last "="), "3 * 4"
    arith = _ARITHMETIC.match(head)
    if arith:
        end = arith.end()
        while end < len(head) and head[end] in "})" and head.count("{", 0, end) + head.count("(", 0, end) > \
                head.count("}", 0, end) + head.count(")", 0, end):
            end += 1
        after = re.match(r"\s*=\s*(" + _VALUE.pattern + r")", head[end:])
        return _normalize_value(after.group(1) if after else head[:end])
    # numbers: the first one, plus those joined to it by list connectors ("2, -3", "x = 2 or x = -3")
    values = list(_VALUE.finditer(head))
    if values:
        chosen = [values[0].group(0)]
        for prev, cur in zip(values, values[1:]):
            gap = head[prev.end():cur.start()]
            gap = re.sub(r"\\?[A-Za-z](?:_\{?\w+\}?)?\s*=", " ", gap)
            if not _CONNECTOR.match(gap):
                break
            chosen.append(cur.group(0))
        return _normalize_value(", ".join(chosen))
    # no number: a short word or expression ("yes", "B", "x + 1")
    if len(head) <= 40:
        return _normalize_value(head)
    return None


def _value_after_equals(text: str) -> str | None:
    """The value after the last ``=`` -- or a list of solutions that runs up to it ("x = -3 or x = 2")."""
    for m in reversed(list(_EQUALS.finditer(text))[-_MAX_CANDIDATES:]):
        last = _value_from_span(text[m.end(): m.end() + 400])
        if not last or not any(ch.isdigit() for ch in last):
            continue
        # an earlier "=" of the same sentence whose list of values ends with this one
        window_start = max(0, m.start() - 200)
        window = text[window_start:m.start()]
        ends = list(_SENTENCE_END.finditer(window))
        sentence_start = window_start + (ends[-1].end() if ends else 0)
        for earlier in list(_EQUALS.finditer(text, sentence_start, m.start()))[:_MAX_CANDIDATES]:
            chain = _value_from_span(text[earlier.end(): m.end() + 400])
            if chain and ", " in chain and chain.endswith(last):
                return chain
        return last
    return None


def extract_answer(final_text) -> str | None:
    """The answer value of a final message, as text (``"59"``, ``"3/4"``, ``"\\\\frac{3}{4}"``, ``"2, -3"``), or None.

    Order: the last ``\\boxed{}``; else the value after the last "answer is"-like phrase (en, fr, de, es, it, zh);
    else the value after the last ``=``; else the last number or fraction. Never raises.
    """
    if not isinstance(final_text, str):
        return None
    try:
        text = _MARKER.sub(" ", final_text[-_TAIL_CHARS:])
        boxed = _boxed_contents(text, last_only=True)
        if boxed:
            return _normalize_value(boxed[-1])
        for m in reversed(list(_PHRASE.finditer(text))[-_MAX_CANDIDATES:]):
            value = _value_from_span(text[m.end(): m.end() + 400])
            if value:
                return value
        value = _value_after_equals(text)
        if value:
            return value
        numbers = list(_VALUE.finditer(text))
        if numbers:
            return _normalize_value(numbers[-1].group(0))
    except Exception:  # pragma: no cover - defensive: extraction must never break an evaluation loop
        log.debug("extract_answer failed", exc_info=True)
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Answer checking
# ----------------------------------------------------------------------------------------------------------------------
_EXPENSIVE = re.compile(
    r"\^\s*\{[^{}]*\^|\^\s*\(?[^\s{}()]*\^|\*\*[^*]*\*\*"  # nested powers: 9^{9^{9}}, 9^9^9, 9**9**9
    r"|(?:\^|\*\*)\s*\{?\s*\(?-?\d{5,}"  # exponents of 5+ digits
    r"|(?<!\d)\d{4,}\s*!|\\(?:int|sum|prod|lim)"  # big factorials, calculus (a digit run tried once)
)


def normalize_truth(truth) -> str | None:
    """The ground truth as check_answer compares it (``"#### 42"`` -> ``"42"``, ``\\boxed{}`` unwrapped), or None
    when there is none: None, empty, NaN/inf, a bool, or anything that is neither text nor a number."""
    if truth is None or isinstance(truth, bool):
        return None
    if isinstance(truth, (int, float)):
        if isinstance(truth, float) and not math.isfinite(truth):
            return None
        truth = repr(truth) if isinstance(truth, float) else str(truth)
    if not isinstance(truth, str):
        return None
    if "####" in truth:  # GSM8K-style solutions: the value follows ####
        truth = truth.rsplit("####", 1)[1]
    boxed = _boxed_contents(truth, last_only=True)
    if boxed:
        truth = boxed[-1]
    if not truth.strip():
        return None
    if len(truth) > MAX_TRUTH_CHARS:  # no real answer is this long: compared as text, not parsed
        return truth.strip()
    return _normalize_value(truth, decimal_comma=False)


def _loose_equal(a: str, b: str) -> bool:
    def key(s):
        return re.sub(r"[\s${}\\]", "", s).lower()

    return bool(key(a)) and key(a) == key(b)


def _verify(gold: str, answer: str, use_signals: bool) -> bool:
    from math_verify import parse, verify

    t = VERIFY_TIMEOUT_S if use_signals else None
    gold_parsed = parse(f"${gold}$", parsing_timeout=t)
    answer_parsed = parse(f"${answer}$", parsing_timeout=t)
    if not gold_parsed or not answer_parsed:
        return _loose_equal(gold, answer)
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=t))


def _verify_bounded(gold: str, answer: str) -> bool:
    in_main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    if in_main:
        try:
            return _verify(gold, answer, use_signals=True)
        except ValueError as e:  # main thread of a sub-interpreter, or signals otherwise unavailable
            if "thread" not in str(e):
                raise
    box: list[bool] = []
    worker = threading.Thread(target=lambda: box.append(_verify(gold, answer, use_signals=False)), daemon=True)
    worker.start()
    worker.join(VERIFY_TIMEOUT_S)
    if worker.is_alive():
        log.warning("math-verify took more than %ss on %r vs %r; counted as wrong", VERIFY_TIMEOUT_S, answer, gold)
        return False
    return bool(box and box[0])


def check_answer(final_text, truth) -> bool | None:
    """Does the final message's answer equal ``truth`` (math-verify)? None when no answer can be extracted.

    ``truth`` is a string such as ``"42"``, ``"3/4"``, ``"\\\\frac{3}{4}"`` or ``"2, -3"`` (a comma-separated truth is a
    set of solutions: order does not matter, all must be there); numbers are accepted too. An empty/None truth gives
    None (nothing to check against). Never raises; comparisons that fail or take too long count as wrong.
    """
    try:
        answer = extract_answer(final_text)
        gold = normalize_truth(truth)
        if answer is None or gold is None:
            return None
        if _loose_equal(gold, answer):
            return True
        if max(len(answer), len(gold)) > MAX_ANSWER_CHARS or _EXPENSIVE.search(answer) or _EXPENSIVE.search(gold):
            return False
        return _verify_bounded(gold, answer)
    except Exception:
        log.debug("check_answer failed", exc_info=True)
        return False


# ----------------------------------------------------------------------------------------------------------------------
# One generation
# ----------------------------------------------------------------------------------------------------------------------
def score_generation(text, *, requested_language: str, user_language: str, truth) -> dict:
    """Score one generated assistant turn (Harmony text).

    ``requested_language``: the reasoning language asked for (name or code: ``"French"``, ``"fr"``);
    ``user_language``: the language of the user's question, which the final answer should use. Both go through
    ``langid.language_code`` (ValueError for an unknown language: a configuration error, better loud).

    Returns ``{"valid", "analysis_language", "final_language", "language_ok", "final_language_ok", "correct",
    "answer", "analysis_chars", "errors"}``: ``valid`` is ``parse_harmony(text).valid``; the two languages are ISO codes
    or None (no such message, or too little text to tell); ``language_ok`` is True iff the analysis was detected in the
    requested language, ``final_language_ok`` iff the final was detected in the user's language (an undetectable final
    such as ``"42"`` is not ok); ``correct`` is ``check_answer(final, truth)`` (None without a final or an extractable
    answer); ``answer`` the extracted answer value; ``errors`` the parser's list.
    """
    from .harmony import parse_harmony

    requested = language_code(requested_language)
    user = language_code(user_language)
    parsed = parse_harmony(text if isinstance(text, str) else "")
    analysis = parsed.analysis if isinstance(parsed.analysis, str) else None
    final = parsed.final if isinstance(parsed.final, str) else None
    analysis_language = detect_language(analysis)
    final_language = detect_language(final)
    measured = available()  # without the identifier the language verdicts are unknown (None), not "wrong"
    return {
        "valid": bool(parsed.valid),
        "analysis_language": analysis_language,
        "final_language": final_language,
        "language_ok": (analysis_language is not None and analysis_language == requested) if measured else None,
        "final_language_ok": (final_language is not None and final_language == user) if measured else None,
        "correct": check_answer(final, truth) if final is not None else None,
        "answer": extract_answer(final),
        "analysis_chars": len(analysis or ""),
        "errors": list(parsed.errors or []),
    }


# ----------------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------------
METRICS = ("valid", "language", "final_language", "correct")
_ROW_KEY = {"valid": "valid", "language": "language_ok", "final_language": "final_language_ok", "correct": "correct"}


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _is_true(v) -> bool:
    """True, numpy/pandas True and the number 1 count; False, None (no answer), NaN, strings and the rest do not."""
    if v is True:
        return True
    if v is None or v is False or isinstance(v, (str, bytes)):
        return False
    try:
        return float(v) == 1.0
    except (TypeError, ValueError):
        return False


_UNMEASURED_IF_NONE = ("language", "final_language")  # None on every row: no language identifier, not "0 %"


def _fractions(rows: Sequence[Mapping]) -> dict:
    n = len(rows)
    out = {metric: (sum(_is_true(r.get(key)) for r in rows) / n if n else 0.0) for metric, key in _ROW_KEY.items()}
    for metric in _UNMEASURED_IF_NONE:
        if n and all(r.get(_ROW_KEY[metric]) is None for r in rows):
            out[metric] = None
    out["n"] = n
    return out


def _mean_tokens(rows: Sequence[Mapping]) -> float | None:
    values = []
    for r in rows:
        v = r.get("analysis_tokens")
        if isinstance(v, bool) or v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            values.append(f)
    return sum(values) / len(values) if values else None


def aggregate(scored_rows: Iterable[Mapping], by=("model", "reasoning_language", "effort")) -> list[dict]:
    """Group scored rows and compute the fractions of each group.

    Returns a list of records (one per group, in order of first appearance; ``pandas.DataFrame(records)`` makes the
    table), each ``{**group_keys, "n", "valid", "language", "final_language", "correct", "analysis_tokens"}``:
    ``valid`` = fraction of rows with ``valid`` True, ``language`` = of ``language_ok``, ``final_language`` = of
    ``final_language_ok``, ``correct`` = of ``correct`` True (None -- no answer -- counts as not correct); all in
    0..1. ``analysis_tokens`` is the mean of the rows' ``analysis_tokens`` values, None when no row has one. A row
    without a grouping key is grouped under None. ``by`` may be one key (a string) or a sequence of keys.
    """
    keys = (by,) if isinstance(by, str) else tuple(by)
    groups: dict[tuple, list[Mapping]] = {}
    for row in scored_rows:
        if not isinstance(row, Mapping):
            continue
        groups.setdefault(tuple(_hashable(row.get(k)) for k in keys), []).append(row)
    records = []
    for group_key, rows in groups.items():
        record = dict(zip(keys, group_key))
        fr = _fractions(rows)
        record["n"] = fr.pop("n")
        record.update(fr)
        record["analysis_tokens"] = _mean_tokens(rows)
        records.append(record)
    return records


def overall(scored_rows: Iterable[Mapping]) -> dict:
    """``{"valid", "language", "final_language", "correct", "n"}`` over all rows (fractions 0..1; 0.0 when n == 0)."""
    rows = [r for r in scored_rows if isinstance(r, Mapping)]
    return _fractions(rows)
