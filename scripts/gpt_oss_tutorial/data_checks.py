"""Checks on input data before anything is tokenized: each problem names the file, the row and the field and says
what to do, so that a bad row gets a message instead of a traceback (or, worse, silent training on it).

Errors (the row is invalid; ``skip_invalid`` drops and counts it): a row that is not a JSON object, a missing or
empty field, a wrong type, an unknown reasoning language, ``messages`` that contradict the flat fields, a special
token of the tokenizer inside any text, a row over ``MAX_ROW_BYTES``, a line that is not UTF-8 or not JSON.
Warnings (reported, the row is kept or dropped as said): unknown fields are ignored, a repeated row is dropped.
Unknown fields are only warnings because datasets of this family often carry extra columns; a misspelt field still
fails as "missing", with the unknown one suggested.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import harmony
from .errors import DataError

MAX_ROW_BYTES = 1_000_000  # one row's text; the longest Multilingual-Thinking row is about 50 kB
FLAT_FIELDS = ("reasoning_language", "developer", "user", "analysis", "final")
REQUIRED_FLAT = ("reasoning_language", "user", "analysis", "final")  # developer (the persona) may be empty
OPTIONAL_FIELDS = {"answer": str, "user_language": str, "id": str, "category": str}
KNOWN_FIELDS = (*FLAT_FIELDS, "messages", *OPTIONAL_FIELDS)
ROLES = ("system", "developer", "user", "assistant")
INSTRUCTION = "reasoning language"
# Languages the tutorial knows how to check (names as the dataset writes them).
LANGUAGES = {
    "English": "en", "French": "fr", "German": "de", "Spanish": "es", "Italian": "it", "Chinese": "zh",
    "Portuguese": "pt", "Dutch": "nl", "Russian": "ru", "Japanese": "ja", "Korean": "ko", "Arabic": "ar",
    "Hindi": "hi", "Turkish": "tr", "Polish": "pl", "Swedish": "sv",
}
SKIP_HINT = ("Fix these rows, or set SKIP_INVALID = True in notebook 02 (--skip-invalid on the command line) to drop "
             "invalid rows and count them.")


@dataclass
class Problem:
    file: str
    row: int | None  # 1-based line number of a JSONL file, or row number of a table; None: the whole file
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file + (f", row {self.row}" if self.row is not None else "")
        return where + (f", field '{self.field}'" if self.field else "") + f": {self.reason}"


@dataclass
class LoadResult:
    rows: list[dict]
    problems: list[Problem] = field(default_factory=list)
    source: str = ""  # the file read, or hub:<id>
    dataset: str = ""  # what was asked for: "bundled", a hub id, or a file path
    warnings: list[str] = field(default_factory=list)
    duplicates: int = 0  # repeated rows dropped


# --------------------------------------------------------------------------- reading files
def check_input_file(path: str | Path) -> Path:
    """The path of a readable, non-empty file, or a DataError that says what is wrong with it and what to do."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file; pass one .jsonl or .parquet file inside it")
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path (a relative path starts from the folder you run in)")
    try:
        with path.open("rb") as f:
            blank = True
            while blank and (chunk := f.read(1 << 16)):  # chunks: a long blank start is not "empty"
                blank = not chunk.strip()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions "
                        f"(e.g. chmod u+r) or copy it somewhere readable") from None
    if blank:
        raise DataError(f"{path}: the file is empty (or only whitespace); it must hold one row per line")
    return path


def jsonl_lines(path: Path):
    """Yield ``(row_number, text, problem)`` for each non-blank line, in bounded memory: a line over
    ``MAX_ROW_BYTES`` is skipped in chunks (never held whole), a line that is not UTF-8 is a problem."""
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) == 4 and head[1::2] == b"\x00\x00"):
            raise DataError(f"{path}: the file is UTF-16 encoded; save it as UTF-8 (one JSON object per line, e.g. "
                            f"in your editor: Save with Encoding -> UTF-8) and run again")
        row_no = 0
        while True:
            raw = f.readline(MAX_ROW_BYTES + 1)
            if not raw:
                return
            row_no += 1
            if len(raw) > MAX_ROW_BYTES:
                size = len(raw)
                while not raw.endswith(b"\n"):
                    raw = f.readline(1 << 20)
                    if not raw:
                        break
                    size += len(raw)
                yield row_no, None, (f"the row is {size / 1e6:.1f} MB, over the limit of {MAX_ROW_BYTES / 1e6:g} MB "
                                     "per row; shorten it or remove it")
                continue
            if row_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark some editors write
            if not raw.strip():
                continue
            if b"\x00" in raw:
                yield row_no, None, "contains NUL bytes (UTF-16 or binary data?); save the file as UTF-8 text"
                continue
            try:
                yield row_no, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield row_no, None, (f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the "
                                     "line); save the file as UTF-8")


# --------------------------------------------------------------------------- one row
def instruction_language(system_text: str) -> str | None:
    """The X of a ``reasoning language: X`` line in a system message (its first such line), else None."""
    for line in system_text.splitlines():
        head, colon, value = line.strip().partition(":")
        if colon and head.strip().lower() == INSTRUCTION:
            return value.strip()
    return None


def persona_of(system_text: str) -> str:
    """The system message without its ``reasoning language: X`` line: what the hub's ``developer`` column holds."""
    lines = system_text.splitlines()
    kept = [ln for ln in lines if ln.strip().partition(":")[0].strip().lower() != INSTRUCTION]
    return "\n".join(kept).strip()


def system_message(persona: str | None, language: str) -> str:
    """The hub's system message: the instruction line, a blank line, the persona."""
    line = f"{INSTRUCTION}: {language}"
    return f"{line}\n\n{persona.strip()}" if persona and persona.strip() else line


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _preview(text: str, n: int = 50) -> str:
    text = " ".join(text[: n * 4].split())
    return repr(text if len(text) <= n else text[:n] + "…")


def texts_of(row: dict):
    """(field name, text) of every string the row would render."""
    for name in FLAT_FIELDS:
        if isinstance(row.get(name), str):
            yield name, row[name]
    messages = row.get("messages")
    if isinstance(messages, list):
        for i, m in enumerate(messages):
            if isinstance(m, dict):
                for key in ("content", "thinking"):
                    if isinstance(m.get(key), str):
                        yield f"messages[{i}].{key}", m[key]


def text_size(row: dict) -> int:
    return sum(len(text) for _, text in texts_of(row))


def _check_messages(messages, problem) -> dict | None:
    """The conversation's parts (system, user, analysis, final) or None after reporting what is wrong."""
    if not isinstance(messages, list) or not messages:
        problem("messages", "must be a non-empty list of {role, content} messages")
        return None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            problem(f"messages[{i}]", f"each message needs a role among {', '.join(ROLES)}")
            return None
        if not isinstance(m.get("content"), str):
            problem(f"messages[{i}].content", "must be a string")
            return None
        if m.get("thinking") is not None and not isinstance(m["thinking"], str):
            problem(f"messages[{i}].thinking", "must be a string or null")
            return None
        if i > 0 and m["role"] in ("system", "developer"):
            problem(f"messages[{i}]", "a system message is allowed only first")
            return None
    system = messages[0]["content"] if messages[0]["role"] in ("system", "developer") else None
    turns = messages[1:] if system is not None else messages
    expected = ["user", "assistant"] * (len(turns) // 2 + 1)
    if [m["role"] for m in turns] != expected[: len(turns)] or not turns or turns[-1]["role"] != "assistant":
        problem("messages", "after the system message, user and assistant must alternate, ending with the assistant")
        return None
    last = turns[-1]
    if not last["content"].strip():
        problem(f"messages[{len(messages) - 1}].content", "the assistant's final answer is empty")
        return None
    if not (last.get("thinking") or "").strip():
        problem(f"messages[{len(messages) - 1}].thinking", "the assistant's reasoning (thinking) is missing or "
                "empty: it is the analysis channel this tutorial trains")
        return None
    return {"system": system, "user": turns[-2]["content"], "analysis": last["thinking"], "final": last["content"]}


def check_row(row, *, file: str, row_no: int, special_tokens=harmony.SPECIAL_TOKENS):
    """``(normalized_row or None, problems, unknown_fields)`` for one parsed row.

    A normalized row has every flat field and ``messages`` (built from the flat fields when the row has none, with
    the ``reasoning language: X`` line first in the system message, as on the hub).
    """
    problems: list[Problem] = []

    def problem(name, reason):
        problems.append(Problem(file, row_no, name, reason))

    if not isinstance(row, dict):
        problem(None, f"expected a JSON object, got {type(row).__name__}")
        return None, problems, []
    unknown = sorted(str(k) for k in row if k not in KNOWN_FIELDS)
    size = text_size(row)
    if size > MAX_ROW_BYTES:
        problem(None, f"the row holds {size / 1e6:.1f} M characters of text, over the limit of "
                      f"{MAX_ROW_BYTES / 1e6:g} M per row; shorten it or remove it")
        return None, problems, unknown
    for name in FLAT_FIELDS:
        if row.get(name) is not None and not isinstance(row[name], str):
            problem(name, f"expected a string, got {type(row[name]).__name__}")
    for name, kind in OPTIONAL_FIELDS.items():
        if row.get(name) is not None and not isinstance(row[name], kind):
            problem(name, f"expected {kind.__name__}, got {type(row[name]).__name__}")
    if problems:
        return None, problems, unknown
    for name, text in texts_of(row):
        if "<" in text:
            found = next((t for t in special_tokens if t in text), None)
            if found:
                problem(name, f"contains the special token {found} of the tokenizer (it would be read as a control "
                              "token, not text); remove or rewrite it")
    if problems:
        return None, problems, unknown

    flat = {name: row.get(name) for name in FLAT_FIELDS}
    if row.get("messages") is not None:
        parts = _check_messages(row["messages"], problem)
        if parts is None:
            return None, problems, unknown
        said = instruction_language(parts["system"] or "")
        language = flat["reasoning_language"]
        if said is None:
            problem("messages", "the system message (messages[0]) has no 'reasoning language: X' line, so the "
                                "model would never see the instruction it is trained to follow; add it as its first line")
        elif language is not None and not _same(said, language):
            problem("reasoning_language", f"{language!r} but the system message says 'reasoning language: {said}'; "
                                          "make them agree")
        for name in ("user", "analysis", "final"):
            if flat[name] is not None and not _same(flat[name], parts[name]):
                place = {"user": "the last user message", "analysis": "the assistant's thinking",
                         "final": "the assistant's content"}[name]
                problem(name, f"{_preview(flat[name])} differs from {place} in messages "
                              f"({_preview(parts[name])}); keep one version: fix the field or the message")
        language = language or said
        messages = [{"role": m["role"], "content": m["content"],
                     **({"thinking": m["thinking"]} if m.get("thinking") is not None else {})}
                    for m in row["messages"]]
        flat.update(user=parts["user"], analysis=parts["analysis"], final=parts["final"],
                    developer=flat["developer"] if flat["developer"] is not None else persona_of(parts["system"] or ""))
    else:
        for name in REQUIRED_FLAT:
            if flat[name] is None:
                close = difflib.get_close_matches(name, unknown, n=1)
                problem(name, "missing field" + (f" (is {close[0]!r} a misspelling of it?)" if close else "")
                        + "; a row needs either 'messages' or the fields " + ", ".join(REQUIRED_FLAT))
            elif not flat[name].strip():
                problem(name, "empty string")
        language = flat["reasoning_language"]
        messages = None
    if language is not None and language.strip() not in LANGUAGES:
        problem("reasoning_language", f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")
    if problems:
        return None, problems, unknown
    language = language.strip()
    developer = flat["developer"] or ""
    if messages is None:
        said = instruction_language(developer)
        if said is not None and not _same(said, language):
            problem("developer", f"says 'reasoning language: {said}' but reasoning_language is {language!r}; "
                                 "make them agree")
            return None, problems, unknown
        system = developer if said is not None else system_message(developer, language)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": flat["user"]},
                    {"role": "assistant", "content": flat["final"], "thinking": flat["analysis"]}]
    clean = {**flat, "reasoning_language": language, "developer": developer, "messages": messages}
    clean.update({k: row[k] for k in OPTIONAL_FIELDS if row.get(k) is not None})
    return clean, problems, unknown


def row_key(row: dict) -> str:
    """A digest of what a row renders (whitespace-insensitive): equal keys are duplicate rows."""
    parts = [(m["role"], " ".join(m["content"].split()), " ".join((m.get("thinking") or "").split()))
             for m in row["messages"]]
    return hashlib.sha1(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


class RowChecker:
    """Checks rows one by one and gathers the rows kept, the problems, unknown fields and duplicates."""

    def __init__(self, file: str, special_tokens=harmony.SPECIAL_TOKENS):
        self.file, self.special_tokens = file, tuple(dict.fromkeys(special_tokens))
        self.rows: list[dict] = []
        self.problems: list[Problem] = []
        self.unknown: dict[str, list[int]] = {}
        self.duplicates: list[tuple[int, int]] = []
        self._seen: dict[str, int] = {}

    def add_problem(self, row_no: int | None, reason: str, name: str | None = None) -> None:
        self.problems.append(Problem(self.file, row_no, name, reason))

    def add(self, row, row_no: int) -> None:
        clean, problems, unknown = check_row(row, file=self.file, row_no=row_no, special_tokens=self.special_tokens)
        for name in unknown:
            self.unknown.setdefault(name, []).append(row_no)
        if problems:
            self.problems.extend(problems)
            return
        key = row_key(clean)
        if key in self._seen:
            self.duplicates.append((row_no, self._seen[key]))
            return
        self._seen[key] = row_no
        self.rows.append(clean)

    def warnings(self) -> list[str]:
        notes = []
        for name, rows in sorted(self.unknown.items()):
            close = difflib.get_close_matches(name, KNOWN_FIELDS, n=1)
            notes.append(f"{self.file}: unknown field {name!r} in {len(rows)} row(s) (first: row {rows[0]}) is ignored"
                         + (f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(KNOWN_FIELDS)}"))
        if self.duplicates:
            shown = ", ".join(f"row {a} = row {b}" for a, b in self.duplicates[:5])
            more = f" and {len(self.duplicates) - 5} more" if len(self.duplicates) > 5 else ""
            notes.append(f"{self.file}: {len(self.duplicates)} repeated row(s) dropped, the first copy kept "
                         f"({shown}{more})")
        return notes

    def result(self, *, source: str, dataset: str, skip_invalid: bool) -> LoadResult:
        if self.problems and not skip_invalid:
            shown = "\n  ".join(str(p) for p in self.problems[:10])
            more = f"\n  ... and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
            raise DataError(f"{len(self.problems)} problem(s) in {self.file}:\n  {shown}{more}\n{SKIP_HINT}")
        if not self.rows:
            why = f" ({len({p.row for p in self.problems})} invalid row(s) dropped)" if self.problems else ""
            raise DataError(f"{self.file}: no usable row{why}; training needs at least one valid row")
        return LoadResult(rows=self.rows, problems=self.problems, source=source, dataset=dataset,
                          warnings=self.warnings(), duplicates=len(self.duplicates))


def special_tokens_of(tokenizer) -> tuple[str, ...]:
    """The Harmony markers plus every special or added token of ``tokenizer`` (text that must not appear in data)."""
    found = list(harmony.SPECIAL_TOKENS)
    if tokenizer is not None:
        found += list(getattr(tokenizer, "all_special_tokens", []) or [])
        found += [str(getattr(t, "content", t)) for t in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values()]
    return tuple(t for t in dict.fromkeys(found) if len(t) >= 3)
