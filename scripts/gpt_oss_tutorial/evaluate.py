"""The evaluation stage: the same held-out prompts through the base model and the fine-tuned one, measured.

What is measured, per model (``before`` = adapter disabled, ``after`` = adapter on), requested reasoning language and
reasoning effort:

* **valid**: the generation parses as Harmony (``harmony.parse_harmony``): an analysis, then a final ended by
  ``<|return|>``;
* **language**: the analysis is written in the requested reasoning language (``langid.detect_language``);
* **final_language**: the final answer is in the language of the user's question;
* **correct**: the final answer equals the stored ground truth (``scoring.check_answer``, math-verify); a generation
  without a final message counts as wrong. ``correct_lenient`` also accepts the answer read from the whole visible
  text when there is no final message: a base model that does not speak Harmony may still solve the problem;
* **analysis_tokens**: the length of the analysis in tokens (the thing ``Reasoning: low|medium|high`` should move).

The data is the bundled held-out split (``data.load_rows("eval")``: 12 prompts in each of English, French, German,
Spanish, Italian and Chinese; Chinese never appears in training). ``build_eval_items`` turns rows into items, with the
requested reasoning language written into the developer message (``reasoning language: X``) and an effort.

Generation is batched (``generate_batch``): prompts sorted by length, left padding, several prompts per forward pass,
greedy, stopping on ``<|return|>`` / ``<|call|>``. Notebook 04 loads the base model once with the LoRA adapter on top
and runs the "before" pass inside ``with model.disable_adapter():``; ``write_results`` saves both passes atomically and
``rescore`` scores saved generations again without a model.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import atomic, harmony
from .langid import CODE_NAMES, language_code
from .langid import available as langid_available
from .scoring import aggregate, check_answer, overall, score_generation

# The blog's own example: a French reasoning language, medium effort, a quintic with no neat root.
BLOG_EXAMPLE = {
    "developer": "reasoning language: French",
    "user": "Solve x^5 + 3x^4 - 10 = 3.",
    "reasoning_language": "French",
    "user_language": "en",
    "effort": "medium",
}
DEFAULT_EFFORTS = ("low", "medium", "high")
MAIN_EFFORT = "medium"
# End-of-turn tokens of common non-Harmony chat formats (ChatML, Llama 3, GPT-2/gpt-oss <|endoftext|>, Llama 2).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>")
# Targets of the CPU tutorial (what it must learn), checked and reported, never enforced.
TARGETS = {"after_valid_min": 0.90, "after_language_min": 0.90, "before_valid_max": 0.20, "before_language_max": 0.20}
_DEVELOPER_LANGUAGE = re.compile(r"^\s*reasoning\s+language\s*:[^\n]*", re.I)
_MARKERS = re.compile("|".join(re.escape(t) for t in harmony.SPECIAL_TOKENS))


# --------------------------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class GenerationOutput:
    text: str  # the new tokens decoded with their Harmony markers, cut after the stop token (padding removed)
    new_tokens: int  # generated tokens up to and including the stop token
    seconds: float  # this prompt's share of its batch's wall time (the batch's seconds / its size)
    stopped: bool = False  # True when a stop token ended it, False when max_new_tokens did


def stop_token_ids(tokenizer, *, harmony_only: bool = False) -> list[int]:
    """Ids generation stops on: ``<|return|>`` and ``<|call|>`` (a final answer, a tool call), then -- unless
    ``harmony_only`` -- the tokenizer's own end-of-turn tokens when it has them (``END_OF_TURN_TOKENS``: a base model
    that never learned Harmony, such as SmolLM2's ChatML, ends its turn with ``<|im_end|>``; stopping there instead of
    running to ``max_new_tokens`` changes no verdict and halves the "before" pass)."""
    ids = []
    for token in harmony.STOP_TOKENS:
        token_id = _single_token_id(tokenizer, token)
        if token_id is None:
            raise ValueError(f"the tokenizer has no single token for {token}: it is not a Harmony tokenizer")
        ids.append(token_id)
    if not harmony_only:
        for token in END_OF_TURN_TOKENS:
            token_id = _single_token_id(tokenizer, token)
            if token_id is not None and token_id not in ids:
                ids.append(token_id)
    return ids


def _single_token_id(tokenizer, token: str) -> int | None:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int) or token_id == getattr(tokenizer, "unk_token_id", None):
        return None
    return token_id if tokenizer.convert_ids_to_tokens(token_id) == token else None


def _pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ValueError("the tokenizer has no pad token; batched generation needs one (gpt-oss: <|endoftext|>)")
    return int(pad)


def _device(model):
    device = getattr(model, "device", None)
    if device is None:
        try:
            device = next(model.parameters()).device
        except (AttributeError, StopIteration):
            device = "cpu"
    return device


def _cut(ids: list[int], stop_ids: Sequence[int], pad_id: int) -> tuple[list[int], bool]:
    """New tokens up to and including the first stop token; without one, trailing padding removed."""
    for k, token in enumerate(ids):
        if token in stop_ids:
            return ids[: k + 1], True
    end = len(ids)
    while end > 0 and ids[end - 1] == pad_id:
        end -= 1
    return ids[:end], False


def _generate_kwargs(tokenizer, max_new_tokens: int) -> dict:
    return dict(max_new_tokens=int(max_new_tokens), do_sample=False, eos_token_id=stop_token_ids(tokenizer),
                pad_token_id=_pad_id(tokenizer), temperature=None, top_p=None, top_k=None)


def generate_batch(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int = 8,
                   progress: bool = True, desc: str = "generating") -> list[GenerationOutput]:
    """Greedy generation for many prompts, several per forward pass. Returns one output per prompt, in order.

    Prompts are Harmony text ending with ``<|start|>assistant`` (``data.render(..., with_answer=False)``). They are
    sorted by length so each batch holds similar lengths, left-padded (the new tokens of every row then start at the
    same column), generated until ``<|return|>``/``<|call|>`` or ``max_new_tokens``, decoded WITH their special tokens
    (``parse_harmony`` needs the markers) and put back in the original order.

    No repetition penalty: it also penalizes the Harmony markers the prompt already holds (measured on the CPU
    tutorial's adapter: 1.1 took Harmony validity from 0.94 to 0.66).
    """
    import torch
    from tqdm.auto import tqdm

    prompts = list(prompts)
    if not prompts:
        return []
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    stop_ids, pad_id = stop_token_ids(tokenizer), _pad_id(tokenizer)
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
    results: list[GenerationOutput | None] = [None] * len(prompts)
    device = _device(model)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not progress)
    generated, start_all = 0, time.perf_counter()
    try:
        for b in range(0, len(order), batch_size):
            chunk = order[b: b + batch_size]
            enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(device) for k, v in enc.items()}
            start = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(**enc, **_generate_kwargs(tokenizer, max_new_tokens))
            seconds = time.perf_counter() - start
            width = enc["input_ids"].shape[1]
            for row, i in enumerate(chunk):
                ids, stopped = _cut(out[row, width:].tolist(), stop_ids, pad_id)
                text = tokenizer.decode(ids, skip_special_tokens=False)
                results[i] = GenerationOutput(text, len(ids), seconds / len(chunk), stopped)
                generated += len(ids)
            bar.update(len(chunk))
            elapsed = time.perf_counter() - start_all
            bar.set_postfix(tok_s=f"{generated / elapsed:.0f}", prompt_s=f"{bar.n / elapsed:.2f}")
    finally:
        tokenizer.padding_side = old_side
        bar.close()
    return results  # type: ignore[return-value]


def stream_generate(model, tokenizer, prompt_text: str, *, max_new_tokens: int) -> GenerationOutput:
    """Generate for one prompt and print the tokens as they come, Harmony markers included (a live demo).

    Greedy, stops on ``<|return|>``/``<|call|>`` like ``generate_batch``; returns the same ``GenerationOutput``.
    """
    import torch
    from transformers import TextStreamer

    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=False)
    enc = tokenizer(prompt_text, return_tensors="pt", add_special_tokens=False)
    enc = {k: v.to(_device(model)) for k, v in enc.items()}
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, streamer=streamer, **_generate_kwargs(tokenizer, max_new_tokens))
    seconds = time.perf_counter() - start
    ids, stopped = _cut(out[0, enc["input_ids"].shape[1]:].tolist(), stop_token_ids(tokenizer), _pad_id(tokenizer))
    print()
    return GenerationOutput(tokenizer.decode(ids, skip_special_tokens=False), len(ids), seconds, stopped)


# --------------------------------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------------------------------
def language_name(language: str) -> str:
    """``"fr"``/``"French"``/``"français"`` -> ``"French"`` (ValueError for a language the detector cannot check)."""
    return CODE_NAMES[language_code(language)]


def with_reasoning_language(developer: str | None, language: str) -> str:
    """The developer text with its ``reasoning language: X`` line set to ``language`` (added first when absent)."""
    line = f"reasoning language: {language}"
    developer = developer or ""
    if _DEVELOPER_LANGUAGE.match(developer):
        return _DEVELOPER_LANGUAGE.sub(line, developer, count=1)
    return f"{line}\n\n{developer}" if developer.strip() else line


def select_rows(rows: Sequence[Mapping], limit: int | None) -> list[Mapping]:
    """``limit`` rows spread over the reasoning languages (round robin in file order); all rows when None."""
    rows = list(rows)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be positive, got {limit}")
    limit = len(rows) if limit is None else min(limit, len(rows))
    groups: dict = {}
    for row in rows:
        groups.setdefault(row.get("reasoning_language"), []).append(row)
    queues = [list(g) for g in groups.values()]
    picked: list[Mapping] = []
    while len(picked) < limit and any(queues):
        for q in queues:
            if q and len(picked) < limit:
                picked.append(q.pop(0))
    return picked


def build_eval_items(rows: Sequence[Mapping], languages: Sequence[str] | None = None,
                     efforts: Sequence[str] = (MAIN_EFFORT,), limit: int | None = None, *,
                     effort_limit: int | None = None, trained_languages: Iterable[str] | None = None) -> list[dict]:
    """Evaluation items: prompt x requested reasoning language x reasoning effort.

    ``rows``: held-out rows (with ``answer``). ``limit`` prompts are taken, spread over the rows' languages.
    ``languages``: the reasoning languages to request for EVERY prompt (names or codes); None keeps each row's own
    language (the eval file holds 12 prompts per language). The requested language replaces the row's
    ``reasoning language: X`` line. ``efforts``: every prompt runs at the main effort (``medium`` when listed,
    else the first); the other efforts run on the first ``effort_limit`` prompts only (all when None), which keeps
    the effort comparison affordable. ``trained_languages``: names seen in training (marks items ``trained``).
    """
    efforts = list(efforts) or [MAIN_EFFORT]
    for effort in efforts:
        if effort not in harmony.REASONING_EFFORTS:
            raise ValueError(f"unknown reasoning effort {effort!r}; use {', '.join(harmony.REASONING_EFFORTS)}")
    main = MAIN_EFFORT if MAIN_EFFORT in efforts else efforts[0]
    others = [e for e in dict.fromkeys(efforts) if e != main]
    requested = [language_name(lang) for lang in languages] if languages else None
    trained = {language_name(lang) for lang in trained_languages} if trained_languages is not None else None
    picked = select_rows(rows, limit)
    n_effort = len(picked) if effort_limit is None else max(0, min(effort_limit, len(picked)))
    items = []
    for k, row in enumerate(picked):
        for language in (requested or [language_name(row["reasoning_language"])]):
            for effort in [main] + (others if k < n_effort else []):
                row_id = str(row.get("id", k))
                items.append({
                    "item_id": f"{row_id}|{language}|{effort}",
                    "row_id": row_id,
                    "reasoning_language": language,
                    "trained": None if trained is None else language in trained,
                    "effort": effort,
                    "developer": with_reasoning_language(row.get("developer"), language),
                    "user": row["user"],
                    "user_language": row.get("user_language") or "en",
                    "answer": row.get("answer"),
                    "category": row.get("category"),
                })
    return items


def item_row(item: Mapping) -> dict:
    """The item as a data row (``data.conversation``/``data.render`` take it)."""
    return {"developer": item["developer"], "user": item["user"]}


def render_item(tokenizer, item: Mapping) -> str:
    """The item's generation prompt: the tokenizer's chat template with the item's reasoning effort."""
    from . import data

    return data.render(tokenizer, item_row(item), reasoning_effort=item["effort"], with_answer=False)


# --------------------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------------------
def visible_text(text: str) -> str:
    """Generated text with the Harmony markers and channel headers removed (what a lenient reader sees)."""
    # bounded header words: a run of markers without spaces must not be rescanned from every <|channel|>
    text = re.sub(r"<\|channel\|>\s*\w{1,40}\s*(?:<\|constrain\|>\s*[^\s<]{1,40}\s*)?<\|message\|>", " ", text or "")
    text = re.sub(r"<\|start\|>\s*\w{1,40}", " ", text)
    return _MARKERS.sub(" ", text).strip()


def score_item(item: Mapping, output: GenerationOutput, tokenizer=None) -> dict:
    """One scored row: the item, the generation and ``scoring.score_generation``'s verdicts (+ lenient correctness,
    analysis length in tokens, the parsed analysis and final)."""
    parsed = harmony.parse_harmony(output.text)
    scores = score_generation(output.text, requested_language=item["reasoning_language"],
                              user_language=item["user_language"], truth=item.get("answer"))
    if scores["correct"] is not None:
        lenient = scores["correct"]
    elif parsed.final is None:
        lenient = check_answer(visible_text(output.text), item.get("answer"))
    else:
        lenient = None
    analysis_tokens = None
    if parsed.analysis is not None and tokenizer is not None:
        analysis_tokens = len(tokenizer(parsed.analysis, add_special_tokens=False)["input_ids"])
    return {
        **dict(item),
        **scores,
        "correct_lenient": lenient,
        "analysis_tokens": analysis_tokens,
        "analysis": parsed.analysis,
        "final": parsed.final,
        "text": output.text,
        "new_tokens": output.new_tokens,
        "stopped": output.stopped,
        "seconds": round(output.seconds, 4),
    }


def run_evaluation(model, tokenizer, items: Sequence[Mapping], *, label: str, max_new_tokens: int,
                   batch_size: int = 8, progress: bool = True) -> list[dict]:
    """Generate for every item (batched) and score each generation; every row carries ``model=label``."""
    prompts = [render_item(tokenizer, item) for item in items]
    outputs = generate_batch(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                             progress=progress, desc=f"{label}: generating")
    return [{"model": label, **score_item(item, out, tokenizer)} for item, out in zip(items, outputs)]


# --------------------------------------------------------------------------------------------------------------------
# Aggregates
# --------------------------------------------------------------------------------------------------------------------
def _lenient(rows: Sequence[Mapping]) -> float:
    return sum(1 for r in rows if r.get("correct_lenient") is True) / len(rows) if rows else 0.0


def _round(value):
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


def metrics(rows: Sequence[Mapping]) -> dict:
    """Fractions (0..1) over ``rows``: valid, language, final_language, correct, correct_lenient; n; mean
    analysis_tokens (None when no row has an analysis); mean new_tokens."""
    rows = [r for r in rows if isinstance(r, Mapping)]
    out = overall(rows)
    out["correct_lenient"] = _lenient(rows)
    tokens = [r["analysis_tokens"] for r in rows if isinstance(r.get("analysis_tokens"), int)]
    out["analysis_tokens"] = sum(tokens) / len(tokens) if tokens else None
    new = [r["new_tokens"] for r in rows if isinstance(r.get("new_tokens"), int)]
    out["new_tokens"] = sum(new) / len(new) if new else None
    return {k: _round(v) for k, v in out.items()}


def _by(rows: Sequence[Mapping], key: str) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault(r.get(key), []).append(r)
    return {str(k): metrics(v) for k, v in groups.items()}


def model_aggregates(rows: Sequence[Mapping]) -> dict:
    """Metrics of one model's rows: overall, trained / untrained languages, per language, per effort, per both,
    and which languages the analyses were detected in, per requested language."""
    trained = [r for r in rows if r.get("trained") is not False]
    untrained = [r for r in rows if r.get("trained") is False]
    detected: dict[str, dict] = {}
    for r in rows:
        counts = detected.setdefault(r["reasoning_language"], Counter())
        counts[r.get("analysis_language") or "none"] += 1
    return {
        "overall": metrics(rows),
        "trained": metrics(trained),
        "untrained": metrics(untrained) if untrained else None,
        "per_language": _by(rows, "reasoning_language"),
        "per_effort": _by(rows, "effort"),
        "per_language_effort": [{k: _round(v) for k, v in rec.items()}
                                for rec in aggregate(rows, by=("reasoning_language", "effort"))],
        "analysis_language_counts": {k: dict(v.most_common()) for k, v in detected.items()},
    }


def _headline(m: Mapping) -> dict:
    keys = ("valid", "language", "final_language", "correct", "correct_lenient", "analysis_tokens", "n")
    return {k: m.get(k) for k in keys}


def summarize(before: Sequence[Mapping], after: Sequence[Mapping], *, timing: Mapping | None = None,
              settings: Mapping | None = None) -> dict:
    """The ``eval`` section of ``outputs/summary.json``.

    ``before``/``after``: headline fractions over the TRAINED languages (every effort); ``untrained``: the same for
    the never-trained languages on their own, plus what language their analyses came out in; ``per_language`` and
    ``per_effort``: before/after per group; ``targets``: the CPU tutorial's targets and whether they were met.
    """
    agg_b, agg_a = model_aggregates(before), model_aggregates(after)
    languages = list(dict.fromkeys(r["reasoning_language"] for r in after))
    untrained_langs = list(dict.fromkeys(r["reasoning_language"] for r in after if r.get("trained") is False))
    summary = {
        "scope": "before/after: trained reasoning languages, all efforts; untrained languages reported apart",
        "before": _headline(agg_b["trained"]),
        "after": _headline(agg_a["trained"]),
        "per_language": {
            lang: {"trained": next((r.get("trained") for r in after if r["reasoning_language"] == lang), None),
                   "before": _headline(agg_b["per_language"].get(lang, {})),
                   "after": _headline(agg_a["per_language"].get(lang, {}))}
            for lang in languages
        },
        "per_effort": {
            effort: {"before": _headline(agg_b["per_effort"].get(effort, {})),
                     "after": _headline(agg_a["per_effort"].get(effort, {}))}
            for effort in dict.fromkeys(r["effort"] for r in after)
        },
        "untrained": None,
    }
    if untrained_langs:
        summary["untrained"] = {
            "languages": untrained_langs,
            "before": _headline(agg_b["untrained"] or {}),
            "after": _headline(agg_a["untrained"] or {}),
            "analysis_language_after": {lang: agg_a["analysis_language_counts"].get(lang, {})
                                        for lang in untrained_langs},
            "analysis_language_before": {lang: agg_b["analysis_language_counts"].get(lang, {})
                                         for lang in untrained_langs},
        }
    b, a = summary["before"], summary["after"]
    summary["targets"] = {  # None: not measured (no language identifier)
        "after_valid>=0.90": a["valid"] >= TARGETS["after_valid_min"],
        "after_language>=0.90": None if a["language"] is None else a["language"] >= TARGETS["after_language_min"],
        "before_valid<=0.20": b["valid"] <= TARGETS["before_valid_max"],
        "before_language<=0.20": None if b["language"] is None else b["language"] <= TARGETS["before_language_max"],
        "after_correct>=before_correct": a["correct"] >= b["correct"],
        "trained_items>=40": (a["n"] or 0) >= 40,
        "trained_languages>=4": sum(1 for v in summary["per_language"].values() if v["trained"]) >= 4,
    }
    if timing:
        summary["timing"] = dict(timing)
    if settings:
        summary["settings"] = dict(settings)
    return summary


# --------------------------------------------------------------------------------------------------------------------
# Before / after
# --------------------------------------------------------------------------------------------------------------------
def comparison_table(before: Sequence[Mapping], after: Sequence[Mapping], *,
                     by: Sequence[str] = ("reasoning_language",),
                     metric_names: Sequence[str] = ("valid", "language", "final_language", "correct",
                                                    "analysis_tokens")):
    """Before/after side by side per group (pandas DataFrame; fractions 0..1, analysis_tokens a mean)."""
    import pandas as pd

    by = [by] if isinstance(by, str) else list(by)
    lines = []
    groups: dict[tuple, dict[str, list]] = {}
    for label, rows in (("before", before), ("after", after)):
        for r in rows:
            groups.setdefault(tuple(r.get(k) for k in by), {"before": [], "after": []})[label].append(r)
    for key, sides in groups.items():
        line = dict(zip(by, key))
        if "trained" not in by and sides["after"]:
            line["trained"] = sides["after"][0].get("trained")
        line["n"] = len(sides["after"]) or len(sides["before"])
        mb, ma = metrics(sides["before"]), metrics(sides["after"])
        for name in metric_names:
            line[f"{name} (before)"] = mb.get(name)
            line[f"{name} (after)"] = ma.get(name)
        lines.append(line)
    return pd.DataFrame(lines)


def plot_before_after(summary: Mapping, path: str | Path | None = None, *,
                      metric_names: Sequence[str] = ("valid", "language", "final_language", "correct")):
    """Grouped bar chart: one panel per reasoning language, before vs after bars per metric. Saved to ``path``."""
    import matplotlib.pyplot as plt

    langs = list(summary["per_language"])
    fig, axes = plt.subplots(1, len(langs), figsize=(2.6 * len(langs) + 1, 3.4), sharey=True, squeeze=False)
    width = 0.38
    for ax, lang in zip(axes[0], langs):
        entry = summary["per_language"][lang]
        xs = range(len(metric_names))
        for k, (label, color) in enumerate((("before", "#bbbbbb"), ("after", "#2a7ab9"))):
            values = [entry[label].get(m) or 0.0 for m in metric_names]
            ax.bar([x + (k - 0.5) * width for x in xs], values, width, label=label, color=color)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([m.replace("final_language", "final lang") for m in metric_names], rotation=45,
                           ha="right", fontsize=8)
        ax.set_title(lang + ("" if entry.get("trained") is not False else " (never trained)"), fontsize=9)
        if entry["after"].get("language") is None:
            ax.text(0.5, 0.95, "languages: not measured", transform=ax.transAxes, ha="center", fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("fraction of prompts")
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle("Before (adapter disabled) vs after (LoRA adapter) fine-tuning", fontsize=10)
    fig.tight_layout()
    if path is not None:
        from .plots import save_figure

        save_figure(fig, path, dpi=120)
    return fig


def default_trained_languages() -> list[str]:
    """The reasoning languages of the bundled training split (what notebook 03 trains on offline)."""
    from . import data

    return sorted({r["reasoning_language"] for r in data.load_rows("train", offline=True).rows})


def timing_of(rows: Sequence[Mapping]) -> dict:
    """Generation time of one pass (the sum of its rows' ``seconds``), prompts/s and new tokens/s."""
    seconds = sum(float(r.get("seconds") or 0.0) for r in rows)
    tokens = sum(int(r.get("new_tokens") or 0) for r in rows)
    return {"seconds": round(seconds, 2), "prompts": len(rows), "new_tokens": tokens,
            "prompts_per_second": round(len(rows) / seconds, 3) if seconds else None,
            "new_tokens_per_second": round(tokens / seconds, 1) if seconds else None}


def timing(before: Sequence[Mapping], after: Sequence[Mapping], **extra) -> dict:
    """``{"before": timing_of(before), "after": timing_of(after), "prompts_per_second": both passes, **extra}``."""
    tb, ta = timing_of(before), timing_of(after)
    both = tb["seconds"] + ta["seconds"]
    return {**extra, "before": tb, "after": ta,
            "prompts_per_second": round((tb["prompts"] + ta["prompts"]) / both, 3) if both else None}


def write_results(out_dir: str | Path, before: Sequence[Mapping], after: Sequence[Mapping], *,
                  settings: Mapping | None = None, timings: Mapping | None = None,
                  example: Mapping | None = None) -> dict:
    """Write ``before.json`` and ``after.json`` atomically: settings, timing, aggregates, the example, every row."""
    out_dir = Path(out_dir)
    written = {}
    for label, rows in (("before", before), ("after", after)):
        payload = {"label": label, "settings": dict(settings or {}), "timing": (timings or {}).get(label),
                   "metrics": model_aggregates(rows), "example": (example or {}).get(label), "rows": list(rows)}
        written[label] = str(atomic.write_json(out_dir / f"{label}.json", payload))
    return written


def rescore(folder: str | Path, *, progress: bool = True) -> dict:
    """Score the generations saved in ``folder/before.json`` and ``after.json`` again, without a model (e.g. on a
    machine that has the language identifier, for generations made on one that had not); rewrites both files and
    returns the new summary."""
    from tqdm.auto import tqdm

    from .errors import OutputError

    folder = Path(folder)
    passes, settings, example = {}, {}, {}
    for label in ("before", "after"):
        path = folder / f"{label}.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            rows = saved["rows"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OutputError(f"{path}: not a saved evaluation pass ({exc}); run notebook 04 "
                              "(or scripts/evaluate.py) first") from None
        scored = []
        for row in tqdm(rows, desc=f"{label}: scoring", unit="row", disable=not progress):
            output = GenerationOutput(row.get("text") or "", int(row.get("new_tokens") or 0),
                                      float(row.get("seconds") or 0.0), bool(row.get("stopped")))
            new = {"model": label, **score_item(row, output)}
            new["analysis_tokens"] = row.get("analysis_tokens")  # counted with the tokenizer when generated
            scored.append(new)
        passes[label] = scored
        settings, example[label] = saved.get("settings") or {}, saved.get("example")
    settings = {**settings, "language_identifier": "lingua" if langid_available() else None}
    timings = timing(passes["before"], passes["after"])  # from the rows' own generation times
    summary = summarize(passes["before"], passes["after"], timing=timings, settings=settings)
    write_results(folder, passes["before"], passes["after"], settings=settings, timings=timings, example=example)
    return summary


def print_summary(summary: Mapping) -> None:
    """The headline figures in a few plain lines (the main job's log)."""
    def num(value):
        return "not measured" if value is None else f"{value:.2f}"

    def fmt(m):
        tokens = m.get("analysis_tokens")
        return (f"valid {num(m['valid'])}  language {num(m['language'])}  final-language {num(m['final_language'])}  "
                f"correct {m['correct']:.2f} (lenient {m['correct_lenient']:.2f})  "
                f"analysis {'-' if tokens is None else round(tokens)} tokens  n={m['n']}")

    print("Trained languages, before:", fmt(summary["before"]))
    print("Trained languages, after: ", fmt(summary["after"]))
    for lang, entry in summary["per_language"].items():
        tag = "" if entry["trained"] is not False else "  (never trained)"
        print(f"  {lang:<8} before: {fmt(entry['before'])}{tag}")
        print(f"  {'':<8} after:  {fmt(entry['after'])}")
    if summary.get("per_effort"):
        for effort, entry in summary["per_effort"].items():
            b, a = entry["before"]["analysis_tokens"], entry["after"]["analysis_tokens"]
            print(f"  effort {effort:<6} mean analysis tokens: before {'-' if b is None else round(b)}, "
                  f"after {'-' if a is None else round(a)} (n={entry['after']['n']})")
    if summary.get("untrained"):
        u = summary["untrained"]
        print(f"Untrained {', '.join(u['languages'])}: after {fmt(u['after'])}")
        print(f"  analyses came out in: {u['analysis_language_after']}")
    timing = summary.get("timing") or {}
    if timing:
        print(f"Generation: before {timing['before']['prompts_per_second']} prompts/s, after "
              f"{timing['after']['prompts_per_second']} prompts/s ({timing['before']['seconds']} s + "
              f"{timing['after']['seconds']} s)")
    targets = summary.get("targets") or {}
    if targets:
        verdict = {True: "met", False: "MISSED", None: "not measured"}
        print("Targets:", ", ".join(f"{k}: {verdict[v]}" for k, v in targets.items()))
