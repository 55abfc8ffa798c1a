"""The data stage: Multilingual-Thinking rows -> Harmony text through the chat template -> tokens with the loss on
the assistant turn.

- The dataset is a choice (``resolve_dataset``): a hub id (``load_dataset(id, split="train")``), a local ``.jsonl``
  or ``.parquet`` file, or ``"bundled"`` (``data/multilingual_thinking/``, offline, with a held-out ``eval`` split).
  Every source goes through the same checks (``data_checks``): a problem names the file, the row and the field.
- A row is rendered from its ``messages`` with ``tokenizer.apply_chat_template``: the system message (``reasoning
  language: X`` and the persona) becomes the Harmony developer block, the assistant's ``thinking`` the analysis.
- Loss mask: the whole assistant turn (analysis and final, ``<|return|>`` included) is trained, never the prompt.
  Rows with no trainable token left after truncation are dropped (their loss would be NaN) and counted.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .data_checks import (  # noqa: F401  (re-exported: the data stage's public names)
    LANGUAGES, MAX_ROW_BYTES, SKIP_HINT, LoadResult, Problem, RowChecker, check_input_file, check_row, jsonl_lines,
    special_tokens_of, texts_of,
)
from .errors import DataError  # noqa: F401
from .paths import DATA_DIR

HUB_DATASET = "HuggingFaceH4/Multilingual-Thinking"
BUNDLED = "bundled"
FILE_KINDS = {".jsonl": "json", ".parquet": "parquet"}
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


# --------------------------------------------------------------------------- which dataset
@dataclass(frozen=True)
class DatasetChoice:
    kind: str  # "bundled", "hub", "json" or "parquet"
    name: str  # "bundled", the hub id, or the file's absolute path

    @property
    def path(self) -> Path:
        return Path(self.name)


def resolve_dataset(name: str | os.PathLike | None) -> DatasetChoice:
    """What ``name`` means: ``"bundled"``/None, a local ``.jsonl``/``.parquet`` file, or a hub id ``owner/name``.

    Raises DataError for a folder, a missing or unreadable file, or a name that is neither.
    """
    text = str(name if name is not None else BUNDLED).strip()
    if text == BUNDLED:
        return DatasetChoice(BUNDLED, BUNDLED)
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if path.exists() or suffix in FILE_KINDS or suffix == ".json":
        check_input_file(path)
        if suffix not in FILE_KINDS:
            raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; use JSON Lines (.jsonl, one "
                            "object per line) or Parquet (.parquet)")
        return DatasetChoice(FILE_KINDS[suffix], str(path.resolve()))
    if _HUB_ID.fullmatch(text):
        return DatasetChoice("hub", text)
    raise DataError(f"dataset {text!r}: not a file here and not a hub id (owner/name); pass a .jsonl or .parquet "
                    f"file, a hub id such as {HUB_DATASET}, or {BUNDLED!r}")


# --------------------------------------------------------------------------- loading and checking
def read_jsonl(path: str | os.PathLike, *, skip_invalid: bool = False, tokenizer=None,
               dataset: str | None = None) -> LoadResult:
    """Read and check a JSON Lines file line by line (bounded memory). Raises DataError unless ``skip_invalid``."""
    path = check_input_file(path)
    checker = RowChecker(str(path), special_tokens_of(tokenizer))
    for row_no, text, reason in jsonl_lines(path):
        if reason:
            checker.add_problem(row_no, reason)
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            checker.add_problem(row_no, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            checker.add_problem(row_no, "invalid JSON (nested too deeply)")
            continue
        checker.add(row, row_no)
    return checker.result(source=str(path), dataset=dataset or str(path), skip_invalid=skip_invalid)


def rows_from_dataset(table, *, source: str, skip_invalid: bool = False, tokenizer=None) -> LoadResult:
    """Check the rows of a ``datasets.Dataset`` (from the hub or a Parquet file) exactly as a local file's rows."""
    from tqdm.auto import tqdm

    checker = RowChecker(source, special_tokens_of(tokenizer))
    for index, row in enumerate(tqdm(table, desc="checking rows", total=len(table), leave=False)):
        checker.add(dict(row), index + 1)
    where = source if Path(source).is_absolute() else f"hub:{source}"
    return checker.result(source=where, dataset=source, skip_invalid=skip_invalid)


@contextlib.contextmanager
def explain_load_errors(name: str):
    """Turn a failing ``load_dataset`` into a DataError that says what to do (no network and no cached copy, an
    unknown or gated id, a damaged Parquet file)."""
    try:
        yield
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        if Path(name).is_absolute():
            raise DataError(f"{name}: not a readable Parquet file ({type(exc).__name__}: {first}); write it with "
                            "pandas (df.to_parquet) or datasets (ds.to_parquet), or use JSON Lines") from None
        raise DataError(f"{name}: could not load the dataset from the Hugging Face Hub or its local cache "
                        f"({type(exc).__name__}: {first}). Connect once to download it, or choose DATASET = "
                        "'bundled' (--dataset bundled) or a local .jsonl/.parquet file") from None


def load_hub_rows(hub_id: str, *, skip_invalid: bool = False, tokenizer=None) -> LoadResult:
    """``load_dataset(hub_id, split="train")`` (the hub, or its local cache offline), checked row by row."""
    from datasets import load_dataset

    with explain_load_errors(hub_id):
        table = load_dataset(hub_id, split="train")
    return rows_from_dataset(table, source=hub_id, skip_invalid=skip_invalid, tokenizer=tokenizer)


def load_parquet_rows(path: str | os.PathLike, *, skip_invalid: bool = False, tokenizer=None) -> LoadResult:
    """``load_dataset("parquet", data_files=path, split="train")``, checked row by row."""
    from datasets import load_dataset

    path = check_input_file(path).resolve()
    with explain_load_errors(str(path)):
        table = load_dataset("parquet", data_files=str(path), split="train")
    return rows_from_dataset(table, source=str(path), skip_invalid=skip_invalid, tokenizer=tokenizer)


def load_rows(split: str = "train", *, dataset: str | os.PathLike | None = None, skip_invalid: bool = False,
              tokenizer=None, input_file: str | os.PathLike | None = None, offline: bool | None = None) -> LoadResult:
    """Checked rows of ``dataset`` (default: the bundled data). ``split="eval"`` is the bundled held-out split.

    ``tokenizer``: its special tokens are refused inside the text too. ``input_file`` is the older name of
    ``dataset``; ``offline`` is accepted for older callers and changes nothing (the network never picks the data).
    """
    del offline
    choice = resolve_dataset(dataset if dataset is not None else input_file)
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    if split == "eval" and choice.kind != BUNDLED:
        raise ValueError("only the bundled data has a held-out 'eval' split (with checkable answers)")
    if choice.kind == "hub":
        return load_hub_rows(choice.name, skip_invalid=skip_invalid, tokenizer=tokenizer)
    if choice.kind == "parquet":
        return load_parquet_rows(choice.path, skip_invalid=skip_invalid, tokenizer=tokenizer)
    path = DATA_DIR / f"{split}.jsonl" if choice.kind == BUNDLED else choice.path
    return read_jsonl(path, skip_invalid=skip_invalid, tokenizer=tokenizer, dataset=choice.name)


# --------------------------------------------------------------------------- Harmony rendering
def conversation(row: dict, *, with_answer: bool = True) -> list[dict]:
    """The row's chat messages: its ``messages`` (without the last assistant turn for a prompt), or for a row without
    them (an evaluation item, a flat row) system + user (+ assistant with ``thinking``) from the flat fields."""
    from .data_checks import instruction_language, system_message

    if row.get("messages") is not None:
        messages = [{k: v for k, v in m.items() if v is not None} for m in row["messages"]]
        if not with_answer and messages and messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        return messages
    developer = row.get("developer") or ""
    language = row.get("reasoning_language")
    system = system_message(developer, language) if language and instruction_language(developer) is None else developer
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": row["user"]})
    if with_answer:
        messages.append({"role": "assistant", "content": row["final"], "thinking": row["analysis"]})
    return messages


def render(tokenizer, row: dict, *, reasoning_effort: str = "medium", with_answer: bool = True) -> str:
    """The row as Harmony text: ``tokenizer.apply_chat_template`` on its messages (gpt-oss's template, or ours)."""
    return tokenizer.apply_chat_template(
        conversation(row, with_answer=with_answer), tokenize=False, add_generation_prompt=not with_answer,
        reasoning_effort=reasoning_effort,
    )


def tokenize_row(tokenizer, row: dict, *, max_length: int, reasoning_effort: str = "medium") -> dict:
    """input_ids and labels (-100 on the prompt) for one row, truncated to ``max_length`` tokens."""
    prompt = render(tokenizer, row, reasoning_effort=reasoning_effort, with_answer=False)
    full = render(tokenizer, row, reasoning_effort=reasoning_effort, with_answer=True)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently inside the full conversation")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError("prompt tokens differ inside the full conversation (a Harmony marker is not one token?)")
    labels = [-100] * len(prompt_ids) + full_ids[len(prompt_ids):]
    return {
        "input_ids": full_ids[:max_length],
        "labels": labels[:max_length],
        "full_length": len(full_ids),
        "prompt_length": len(prompt_ids),
    }


def tokenizer_fingerprint(tokenizer) -> str:
    """A short digest of what decides the tokens (vocabulary, chat template, special tokens): equal digests mean a
    prepared dataset fits this tokenizer."""
    probe = "reasoning language: Français, Deutsch, 中文 — 12 × 7 = 84"
    ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
    blob = json.dumps([len(tokenizer), getattr(tokenizer, "chat_template", None), sorted(special_tokens_of(tokenizer)),
                       list(ids)], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class PreparedData:
    dataset: object  # datasets.Dataset with input_ids, labels, length, reasoning_language
    stats: dict


def _refuse_special_tokens(tokenizer, result: LoadResult) -> None:
    """Rows loaded without this tokenizer may hold one of its special tokens: refuse them before tokenizing."""
    specials = special_tokens_of(tokenizer)
    for index, row in enumerate(result.rows):
        for name, text in texts_of(row):
            found = next((t for t in specials if t in text), None) if "<" in text else None
            if found:
                raise DataError(f"{result.source or 'rows'}, row {index + 1} of the rows kept, field '{name}': "
                                f"contains the special token {found} of the tokenizer; remove or rewrite it")


def prepare(tokenizer, result: LoadResult, *, max_length: int, reasoning_effort: str = "medium",
            progress: bool = True) -> PreparedData:
    """Tokenize every row, drop rows with no trainable token left, and gather the statistics."""
    from datasets import Dataset
    from tqdm.auto import tqdm

    _refuse_special_tokens(tokenizer, result)
    records, dropped = [], Counter()
    for row in tqdm(result.rows, desc="tokenizing", disable=not progress):
        tok = tokenize_row(tokenizer, row, max_length=max_length, reasoning_effort=reasoning_effort)
        trainable = sum(1 for x in tok["labels"] if x != -100)
        if trainable == 0:
            dropped["assistant turn truncated away (no trainable token)"] += 1
            continue
        records.append({
            "input_ids": tok["input_ids"], "labels": tok["labels"], "length": len(tok["input_ids"]),
            "full_length": tok["full_length"], "trainable_tokens": trainable,
            "truncated": tok["full_length"] > max_length, "reasoning_language": row["reasoning_language"],
        })
    for problem in result.problems:
        dropped[f"invalid: {problem.reason}"] += 1
    if result.duplicates:
        dropped["repeated row (first copy kept)"] += result.duplicates
    stats = compute_stats(records, dropped, result, max_length)
    stats.update(reasoning_effort=reasoning_effort, tokenizer=tokenizer_fingerprint(tokenizer))
    if not records:
        raise DataError(f"{stats['dataset']}: no row has a trainable token left at max_length={max_length}; "
                        "raise max_length (the preset's max_seq_length) or use shorter rows")
    return PreparedData(dataset=Dataset.from_list(records), stats=stats)


def _percentile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def compute_stats(records: list[dict], dropped: Counter, result: LoadResult, max_length: int) -> dict:
    lengths = [r["full_length"] for r in records]
    return {
        "dataset": result.dataset or result.source,
        "source": result.source,
        "rows_in": len(result.rows) + len({(p.file, p.row) for p in result.problems}) + result.duplicates,
        "rows_kept": len(records),
        "rows_dropped": dict(dropped),
        "rows_per_language": dict(sorted(Counter(r["reasoning_language"] for r in records).items())),
        "max_length": max_length,
        "rows_truncated": sum(r["truncated"] for r in records),
        "token_length": {f"p{q}": _percentile(lengths, q) for q in (50, 90, 99)} | {"max": max(lengths, default=0)},
        "trainable_tokens": sum(r["trainable_tokens"] for r in records),
        "total_tokens": sum(r["length"] for r in records),
        "warnings": list(result.warnings),
    }


def stats_table(stats: dict):
    """The preparation's figures as a two-column table for people."""
    import pandas as pd

    names = {"dataset": "dataset", "rows_in": "rows read", "rows_kept": "rows kept", "max_length": "max_length (tokens)",
             "rows_truncated": "rows truncated (kept, cut at max_length)", "trainable_tokens": "trained tokens",
             "total_tokens": "tokens in all", "reasoning_effort": "reasoning effort"}
    table = {label: stats[key] for key, label in names.items() if key in stats}
    table["rows dropped"] = sum(stats.get("rows_dropped", {}).values())
    return pd.Series(table, dtype=object).to_frame("value")


def save(prepared: PreparedData, out: str | os.PathLike) -> Path:
    """Write the tokenized dataset and its stats atomically (``datasets`` arrow files + stats.json)."""
    from . import atomic

    out = Path(out)
    with atomic.atomic_dir(out) as tmp:
        prepared.dataset.save_to_disk(str(tmp / "dataset"))
        (tmp / "stats.json").write_text(json.dumps(prepared.stats, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return out


def prepared_dir(preset) -> Path:
    """Where notebook 02 saves the prepared data of ``preset`` and notebook 03 reads it."""
    from . import paths

    return paths.stage_dir("data", preset.name) / "prepared"


def prepared_for(preset, tokenizer, *, dataset: str | None = None, progress: bool = True) -> PreparedData:
    """What notebook 02 prepared for ``preset`` (``outputs/data/<preset>/prepared``), so that notebook 03 trains on
    exactly that; prepared here with the same code (and said so) when nothing was prepared, when ``dataset`` names
    another dataset, or when the saved tokens were made by another tokenizer or ``max_length``."""
    from datasets import load_from_disk

    folder = prepared_dir(preset)
    wanted = resolve_dataset(dataset).name if dataset is not None else None
    effort = "medium"
    if (folder / "stats.json").is_file() and (folder / "dataset").is_dir():
        stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
        saved = stats.get("dataset", stats.get("source"))
        effort = stats.get("reasoning_effort", effort)
        why = None
        if wanted is not None and wanted != saved:
            why = f"it holds {saved}, not {wanted}"
        elif stats.get("max_length") != preset.max_seq_length:
            why = f"it was cut at max_length={stats.get('max_length')}, the preset says {preset.max_seq_length}"
        elif stats.get("tokenizer") != tokenizer_fingerprint(tokenizer):
            why = "it was tokenized by another tokenizer"
        if why is None:
            print(f"data: what notebook 02 prepared ({saved}, {stats['rows_kept']} rows) from {folder}")
            return PreparedData(dataset=load_from_disk(str(folder / "dataset")), stats=stats)
        wanted = wanted or saved
        print(f"data: not using {folder} ({why}); preparing {wanted} here with the same code as notebook 02")
    else:
        wanted = wanted or resolve_dataset(preset.dataset).name
        print(f"data: notebook 02 has prepared nothing for {preset.name} ({folder}); preparing {wanted} here "
              "with the same code")
    rows = load_rows("train", dataset=wanted, tokenizer=tokenizer)
    return prepare(tokenizer, rows, max_length=preset.max_seq_length, reasoning_effort=effort, progress=progress)


def collate(pad_token_id: int):
    """Right-pad a batch: input_ids with the pad token, labels with -100, and an attention mask."""
    import torch

    def fn(features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return fn


def masked_tokens_html(tokenizer, input_ids: list[int], labels: list[int]) -> str:
    """HTML of one tokenized row: prompt tokens (no loss) grey, trained tokens green, Harmony markers bold."""
    import html

    from . import harmony

    spans = []
    for token_id, label in zip(input_ids, labels):
        piece = tokenizer.decode([token_id], skip_special_tokens=False)
        colour = "#d9d9d9" if label == -100 else "#b7e4c7"
        weight = "bold" if piece in harmony.SPECIAL_TOKENS else "normal"
        text = html.escape(piece).replace("\n", "↵<br>")
        spans.append(f'<span style="background:{colour};font-weight:{weight};border-radius:2px;'
                     f'margin:0 1px;color:#111">{text}</span>')
    legend = ('<p><span style="background:#d9d9d9;color:#111">&nbsp;prompt: masked, no loss&nbsp;</span> '
              '<span style="background:#b7e4c7;color:#111">&nbsp;assistant turn: trained&nbsp;</span></p>')
    return legend + '<div style="font-family:monospace;line-height:1.9">' + "".join(spans) + "</div>"


def plot_token_lengths(stats_lengths: list[int], max_length: int, path: str | os.PathLike, *, title: str = ""):
    """Histogram of rendered row lengths (tokens) with the truncation limit, saved to ``path``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(stats_lengths, bins=30, color="#4c78a8")
    ax.axvline(max_length, color="#e45756", linestyle="--", label=f"max_length = {max_length}")
    ax.set_xlabel("tokens per row (prompt + assistant turn)")
    ax.set_ylabel("rows")
    ax.set_title(title or "Token lengths")
    ax.legend()
    fig.tight_layout()
    from .plots import save_figure

    save_figure(fig, path, dpi=110)
    return fig
