"""The data stage: Multilingual-Thinking rows -> Harmony text -> tokens with a loss mask on the assistant turn.

- Loading: ``HuggingFaceH4/Multilingual-Thinking`` from the hub when it is reachable, otherwise (or ``offline=True``)
  the project's own bundled JSONL files in ``data/multilingual_thinking/`` (same schema, plus a checkable ``answer``).
- Validation: every problem names the file, the row (line number) and the field, and says what to do.
- Loss mask: the whole assistant turn (analysis and final, ``<|return|>`` included) is trained, never the prompt.
  Unsloth's gpt-oss notebook trains only the final channel (so the reasoning language is never learned); the blog
  trains on everything, prompts included. Rows with no trainable token left after truncation are dropped (their loss
  would be NaN) and counted.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .hub import hub_reachable
from .paths import DATA_DIR

HUB_DATASET = "HuggingFaceH4/Multilingual-Thinking"
TEXT_FIELDS = ("reasoning_language", "developer", "user", "analysis", "final")
OPTIONAL_FIELDS = {"messages": list, "answer": str, "user_language": str, "id": str, "category": str}
# Languages the tutorial knows how to check (names as the dataset writes them).
LANGUAGES = {
    "English": "en", "French": "fr", "German": "de", "Spanish": "es", "Italian": "it", "Chinese": "zh",
    "Portuguese": "pt", "Dutch": "nl", "Russian": "ru", "Japanese": "ja", "Korean": "ko", "Arabic": "ar",
    "Hindi": "hi", "Turkish": "tr", "Polish": "pl", "Swedish": "sv",
}
SKIP_HINT = "Fix the row, or pass --skip-invalid (skip_invalid=True) to drop invalid rows and count them."


class DataError(ValueError):
    """A row of an input file is invalid; the message names file, row and field."""


@dataclass
class Problem:
    file: str
    row: int  # 1-based line number in the file
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.reason}"


@dataclass
class LoadResult:
    rows: list[dict]
    problems: list[Problem] = field(default_factory=list)
    source: str = ""


def validate_row(row, *, file: str, row_no: int) -> list[Problem]:
    """All problems of one parsed row (empty list when it is valid)."""
    if not isinstance(row, dict):
        return [Problem(file, row_no, None, f"expected a JSON object, got {type(row).__name__}")]
    problems = []
    for name in TEXT_FIELDS:
        if name not in row:
            problems.append(Problem(file, row_no, name, "missing field"))
        elif not isinstance(row[name], str):
            problems.append(Problem(file, row_no, name, f"expected a string, got {type(row[name]).__name__}"))
        elif not row[name].strip():
            problems.append(Problem(file, row_no, name, "empty string"))
    for name, kind in OPTIONAL_FIELDS.items():
        if row.get(name) is not None and not isinstance(row[name], kind):
            problems.append(Problem(file, row_no, name, f"expected {kind.__name__}, got {type(row[name]).__name__}"))
    lang = row.get("reasoning_language")
    if isinstance(lang, str) and lang.strip() and lang.strip() not in LANGUAGES:
        problems.append(Problem(file, row_no, "reasoning_language",
                                f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}"))
    from . import harmony

    for name in ("developer", "user", "analysis", "final"):
        value = row.get(name)
        if isinstance(value, str) and any(m in value for m in harmony.SPECIAL_TOKENS):
            problems.append(Problem(file, row_no, name, "contains a Harmony marker such as <|end|>; remove it"))
    return problems


def read_jsonl(path: str | os.PathLike, *, skip_invalid: bool = False) -> LoadResult:
    """Parse and validate a JSONL file. Raises DataError on the first problems unless ``skip_invalid``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    rows, problems = [], []
    with path.open(encoding="utf-8") as f:
        for row_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(str(path), row_no, None, f"invalid JSON ({exc.msg} at column {exc.colno})"))
                continue
            row_problems = validate_row(row, file=str(path), row_no=row_no)
            if row_problems:
                problems.extend(row_problems)
            else:
                row["reasoning_language"] = row["reasoning_language"].strip()
                rows.append(row)
    if problems and not skip_invalid:
        shown = "\n  ".join(str(p) for p in problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise DataError(f"{len(problems)} invalid row field(s) in {path}:\n  {shown}{more}\n{SKIP_HINT}")
    return LoadResult(rows=rows, problems=problems, source=str(path))


def _from_hub() -> LoadResult:
    from datasets import load_dataset

    rows = []
    for row in load_dataset(HUB_DATASET, split="train"):
        row = dict(row)
        row.setdefault("answer", None)  # the hub data has no checkable answer field
        rows.append(row)
    return LoadResult(rows=rows, source=f"hub:{HUB_DATASET}")


def load_rows(split: str = "train", *, offline: bool | None = None, input_file: str | os.PathLike | None = None,
              skip_invalid: bool = False) -> LoadResult:
    """Rows of a split. ``input_file`` wins; then the hub (train only, when reachable and not ``offline``);
    then the bundled files. Evaluation always uses the bundled held-out split: it has the checkable answers."""
    if input_file is not None:
        return read_jsonl(input_file, skip_invalid=skip_invalid)
    if split == "train" and not offline and (offline is False or hub_reachable()):
        return _from_hub()
    return read_jsonl(DATA_DIR / f"{split}.jsonl", skip_invalid=skip_invalid)


def to_dataset(result: LoadResult):
    """A ``datasets.Dataset`` of the rows (loaded straight from the JSONL file when every row was valid)."""
    from datasets import Dataset, load_dataset

    if result.source.endswith(".jsonl") and not result.problems:
        return load_dataset("json", data_files=result.source, split="train")
    return Dataset.from_list([{k: v for k, v in r.items() if k != "messages"} for r in result.rows])


# --------------------------------------------------------------------------- Harmony rendering
def conversation(row: dict, *, with_answer: bool = True) -> list[dict]:
    """HF-style messages for a row: developer instruction, user question, assistant answer with its analysis."""
    messages = [{"role": "system", "content": row["developer"]}, {"role": "user", "content": row["user"]}]
    if with_answer:
        messages.append({"role": "assistant", "content": row["final"], "thinking": row["analysis"]})
    return messages


def render(tokenizer, row: dict, *, reasoning_effort: str = "medium", with_answer: bool = True) -> str:
    """The row as Harmony text through the tokenizer's chat template (gpt-oss's own, or ours offline)."""
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


@dataclass
class PreparedData:
    dataset: object  # datasets.Dataset with input_ids, labels, length, reasoning_language
    stats: dict


def prepare(tokenizer, result: LoadResult, *, max_length: int, reasoning_effort: str = "medium",
            progress: bool = True) -> PreparedData:
    """Tokenize every row, drop rows with no trainable token left, and gather the statistics."""
    from datasets import Dataset
    from tqdm.auto import tqdm

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
    stats = compute_stats(records, dropped, result, max_length)
    return PreparedData(dataset=Dataset.from_list(records), stats=stats)


def _percentile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def compute_stats(records: list[dict], dropped: Counter, result: LoadResult, max_length: int) -> dict:
    lengths = [r["full_length"] for r in records]
    return {
        "source": result.source,
        "rows_in": len(result.rows) + len({(p.file, p.row) for p in result.problems}),
        "rows_kept": len(records),
        "rows_dropped": dict(dropped),
        "rows_per_language": dict(sorted(Counter(r["reasoning_language"] for r in records).items())),
        "max_length": max_length,
        "rows_truncated": sum(r["truncated"] for r in records),
        "token_length": {f"p{q}": _percentile(lengths, q) for q in (50, 90, 99)} | {"max": max(lengths, default=0)},
        "trainable_tokens": sum(r["trainable_tokens"] for r in records),
        "total_tokens": sum(r["length"] for r in records),
    }


def save(prepared: PreparedData, out: str | os.PathLike) -> Path:
    """Write the tokenized dataset and its stats atomically (``datasets`` arrow files + stats.json)."""
    from . import atomic

    out = Path(out)
    with atomic.atomic_dir(out) as tmp:
        prepared.dataset.save_to_disk(str(tmp / "dataset"))
        (tmp / "stats.json").write_text(json.dumps(prepared.stats, indent=2, ensure_ascii=False) + "\n")
    return out


def prepared_for(preset, tokenizer, *, dataset: str | None = None, progress: bool = True) -> PreparedData:
    """What notebook 02 prepared for ``preset`` (``outputs/data/<preset>/prepared``), so that notebook 03 trains on
    exactly that; when nothing was prepared, or ``dataset`` names another one, the same preparation is done here."""
    from datasets import load_from_disk

    from . import paths

    folder = paths.stage_dir("data", preset.name) / "prepared"
    wanted = dataset or preset.dataset
    if (folder / "stats.json").is_file():
        stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
        if dataset is None or stats.get("dataset", stats.get("source")) == wanted:
            return PreparedData(dataset=load_from_disk(str(folder / "dataset")), stats=stats)
    rows = load_rows("train", input_file=None if wanted in (None, "bundled") else wanted)
    return prepare(tokenizer, rows, max_length=preset.max_seq_length, progress=progress)


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig
