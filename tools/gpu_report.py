#!/usr/bin/env python
"""docs/gpu-run.md from a GPU verification run (tools/gpu_check.sh): machine, versions, every notebook's status,
wall time and peak GPU memory, and the key figures the notebooks recorded.

    python tools/gpu_report.py env WORK                       # versions, GPU and driver -> WORK/env.json
    python tools/gpu_report.py render WORK [--out docs/gpu-run.md]

WORK holds what gpu_check.sh keeps: ``summaries/*.json`` (the runner's summary.json of each run, in order),
``gpu_memory/<notebook>.csv`` (nvidia-smi samples, MiB), ``env.json``, ``notes.md`` (what was cut and why) and
``logs/``. A figure a notebook did not record is written "not recorded": the report never makes one up.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

NOT_RECORDED = "not recorded"
PACKAGES = ("torch", "transformers", "unsloth", "unsloth_zoo", "trl", "peft", "bitsandbytes", "accelerate",
            "datasets", "triton", "papermill", "lingua-language-detector", "gguf")

# (label, notebook, candidate keys): a key is a dotted path into the notebook's figures, or into a top-level
# section of summary.json when it starts with "summary:". The first one recorded wins.
KEY_FIGURES = [
    ("Trainable LoRA parameters", "01", ["trainable_parameters", "lora.trainable", "parameters.trainable"]),
    ("Trainable share (%)", "01", ["trainable_percent", "trainable_share_percent", "lora.percent"]),
    ("Total parameters", "01", ["total_parameters", "parameters.total", "lora.total"]),
    ("LoRA parameters predicted from the shapes", "01", ["expected_lora_parameters"]),
    ("Model load (s)", "01", ["load_seconds"]),
    ("Peak GPU memory after load (GiB, torch)", "01", ["memory_after_load.peak_reserved_gb",
                                                      "memory_after_lora.peak_reserved_gb"]),
    ("Rows prepared / dropped", "02", ["rows", "rows_kept"]),
    ("Dataset", "02", ["dataset", "source"]),
    ("SFT steps", "03", ["steps", "max_steps"]),
    ("SFT s/step", "03", ["seconds_per_step", "s_per_step", "timing.seconds_per_step"]),
    ("SFT tokens/s", "03", ["tokens_per_second", "timing.tokens_per_second"]),
    ("SFT wall time (s)", "03", ["wall_seconds"]),
    ("SFT first / last loss", "03", ["first_loss"]),
    ("SFT peak GPU memory (GiB, torch)", "03", ["memory.peak_reserved_gb", "peak_reserved_gb"]),
    ("Evaluation generations/s", "04", ["generations_per_second", "prompts_per_second",
                                        "timings.generations_per_second", "summary:eval.generations_per_second",
                                        "summary:eval.timings.generations_per_second"]),
    ("Evaluation items", "04", ["items", "summary:eval.items"]),
    ("Language identifier", "04", ["language_identifier", "langid", "summary:eval.language_identifier"]),
    ("GRPO steps", "05", ["summary:grpo.steps", "steps"]),
    ("GRPO s/step", "05", ["summary:grpo.seconds_per_step", "seconds_per_step"]),
    ("GRPO generations per prompt", "05", ["summary:grpo.generations", "summary:grpo.num_generations",
                                           "generations"]),
]
def _sft_wall_per_step(entry: dict | None) -> tuple[str, str]:
    wall, _ = lookup(entry, ["wall_seconds"])
    steps, _ = lookup(entry, ["steps"])
    if not isinstance(wall, (int, float)) or not isinstance(steps, (int, float)) or steps <= 0:
        return NOT_RECORDED, ""
    return fmt(wall / steps), f"`{entry['name']}: wall_seconds / steps` (derived; includes compile and saves)"


# A figure computed from recorded ones when the notebook did not record it itself (and said so in the table).
DERIVED = {"SFT s/step": _sft_wall_per_step}
PAIRED = {"Rows prepared / dropped": "rows_dropped", "SFT first / last loss": "last_loss"}


# --------------------------------------------------------------------------- environment
def collect_env() -> dict:
    """Versions of the packages that matter, Python, and the GPU with its driver (nvidia-smi)."""
    import importlib.metadata as md

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    env = {"collected": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
           "platform": platform.platform(terse=True), "versions": versions, "gpus": []}
    try:
        import torch

        env["cuda"] = torch.version.cuda
    except ImportError:
        env["cuda"] = None
    if shutil.which("nvidia-smi"):
        query = "name,driver_version,memory.total"
        done = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
        for line in done.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 3:
                env["gpus"].append(dict(zip(("name", "driver", "memory"), parts)))
    return env


# --------------------------------------------------------------------------- reading a run
def load_summaries(work: Path) -> list[dict]:
    """The runner's summaries of the run, oldest first (gpu_check.sh names them by time)."""
    out = []
    for path in sorted((work / "summaries").glob("*.json")):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"warning: {path} unreadable ({exc}); left out", file=sys.stderr)
    return out


def latest_notebooks(summaries: list[dict]) -> dict[str, dict]:
    """Each notebook's latest executed entry (a later run of a notebook replaces an earlier one), with the
    top-level sections of the summary it came from (``_sections``) and whether that run was a smoke run."""
    found: dict[str, dict] = {}
    for summary in summaries:
        sections = {k: v for k, v in summary.items() if isinstance(v, dict) and k not in ("machine",)}
        for entry in summary.get("notebooks", []):
            if entry.get("status") == "skipped" and entry.get("name") in found:
                continue
            found[entry["name"]] = {**entry, "_sections": sections, "_smoke": summary.get("smoke"),
                                    "_preset": summary.get("resolved_preset") or summary.get("preset")}
    return dict(sorted(found.items()))


def dig(tree, dotted: str):
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def lookup(entry: dict | None, candidates: list[str]):
    """(value, key) of the first candidate the notebook recorded, else (None, None)."""
    if not entry:
        return None, None
    for key in candidates:
        if key.startswith("summary:"):
            value = dig(entry.get("_sections", {}), key[len("summary:"):])
        else:
            value = dig(entry.get("figures", {}), key)
        if value is not None:
            return value, key
    return None, None


def peak_gpu_mib(work: Path, notebook: str) -> float | None:
    """Highest nvidia-smi memory.used sample (MiB) while the notebook ran, or None without samples."""
    path = work / "gpu_memory" / f"{notebook}.csv"
    if not path.exists():
        return None
    values = []
    for line in path.read_text().splitlines():
        try:
            values.append(float(line.split(",")[-1]))
        except ValueError:
            continue
    return max(values) if values else None


# --------------------------------------------------------------------------- markdown
def fmt(value) -> str:
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, ensure_ascii=False, default=str)[:120] + "`"
    return str(value).replace("|", "\\|").replace("\n", " ")


def short_error(error, limit: int = 300) -> str:
    """The runner's one-paragraph error, cut for the table (the executed notebook and the log have it all)."""
    if not error:
        return ""
    text = fmt(str(error))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_seconds(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return NOT_RECORDED
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def export_rows(entry: dict | None) -> list[str]:
    """One line per export format: its check (passed / failed / skipped) and size, from notebook 06."""
    section, _ = lookup(entry, ["summary:export", "export", "exports"])
    if not isinstance(section, dict) or not section:
        return [f"| exports | {NOT_RECORDED} | |"]
    rows = []
    for fmt_name, result in section.items():
        if not isinstance(result, dict):
            rows.append(f"| export {fmt_name} | {fmt(result)} | |")
            continue
        if result.get("skipped"):
            verdict = f"skipped ({result['skipped']})" if isinstance(result["skipped"], str) else "skipped"
        elif result.get("passed") is None:
            verdict = "not checked"
        else:
            verdict = "check passed" if result["passed"] else "check FAILED"
        size = result.get("size_mb")
        rows.append(f"| export {fmt_name} | {verdict}" + (f", {size:,.0f} MB" if isinstance(size, (int, float))
                                                        else "") + " | `summary:export` |")
    return rows


def render(work: Path) -> str:
    env = _read_json(work / "env.json") or {}
    summaries = load_summaries(work)
    notebooks = latest_notebooks(summaries)
    by_number = {name[:2]: entry for name, entry in notebooks.items()}
    started = [s.get("started") for s in summaries if s.get("started")]
    lines = ["# The tutorial on a GPU: verification run", "",
             "Written by `tools/gpu_report.py` from a run of `tools/gpu_check.sh`: every notebook executed unmodified "
             "by the project's runner (`scripts/run_all.py --preset gpt-oss-20b`; parameters changed only where "
             "\"What was cut and why\" says so), on a machine without hub access. The model is the real "
             "gpt-oss-20b architecture and configuration with **random weights**, placed under the hub ids "
             "(`unsloth/gpt-oss-20b`, `unsloth/gpt-oss-20b-unsloth-bnb-4bit` as a bitsandbytes NF4 checkpoint of "
             "the same weights) by `tools/hub_models.py`" + _experts_note(work) + "; the dataset is a 1,000-row stand-in in the hub's exact schema. "
             "Speed and memory are those of the real model; losses, rewards and languages are not meaningful.", ""]
    gpus = env.get("gpus") or []
    lines += ["## Machine", "", "| | |", "|---|---|",
              f"| Run | {started[0] if started else NOT_RECORDED}"
              + (f" to {summaries[-1].get('started')}" if len(started) > 1 else "") + " |",
              f"| GPU | {', '.join(g['name'] + ' (' + g['memory'] + ')' for g in gpus) or NOT_RECORDED} |",
              f"| Driver | {', '.join(sorted({g['driver'] for g in gpus})) or NOT_RECORDED} |",
              f"| CUDA (torch) | {env.get('cuda') or NOT_RECORDED} |",
              f"| Python | {env.get('python') or NOT_RECORDED} |"]
    for name, version in (env.get("versions") or {}).items():
        lines.append(f"| {name} | {version or 'not installed'} |")
    smoke = {e["_smoke"] for e in notebooks.values()}
    presets = sorted({str(e["_preset"]) for e in notebooks.values()})
    lines += ["", f"Preset: {', '.join(presets) or NOT_RECORDED}; configuration: "
              + ("smoke (the notebooks' quick test parameters)" if smoke == {True} else
                 "full (the preset's values)" if smoke == {False} else "mixed: see each notebook") + ".", ""]
    notes = work / "notes.md"
    if notes.exists() and notes.read_text().strip():
        lines += ["## What was cut and why", "", notes.read_text().strip(), ""]
    lines += ["## Notebooks", "", "| Notebook | Status | Wall time | Peak GPU memory (nvidia-smi) | Error |",
              "|---|---|---:|---:|---|"]
    for name, entry in notebooks.items():
        peak = peak_gpu_mib(work, name)
        lines.append(f"| {name} | {entry.get('status', NOT_RECORDED)} | {fmt_seconds(entry.get('seconds'))} | "
                     f"{f'{peak / 1024:.1f} GiB' if peak is not None else NOT_RECORDED} | "
                     f"{short_error(entry.get('error'))} |")
    if not notebooks:
        lines.append(f"| (no notebook ran) | {NOT_RECORDED} | | | |")
    lines += ["", "## Key figures", "", "| Figure | Value | Recorded as |", "|---|---|---|"]
    for label, number, candidates in KEY_FIGURES:
        entry = by_number.get(number)
        value, key = lookup(entry, candidates)
        text = fmt(value)
        if label in PAIRED and value is not None:
            other, _ = lookup(entry, [PAIRED[label]])
            if isinstance(other, dict):  # e.g. rows dropped per reason
                other = sum(v for v in other.values() if isinstance(v, (int, float)))
            text += f" / {fmt(other)}"
        where = f"`{entry['name']}: {key}`" if key else ""
        if value is None and label in DERIVED:
            text, where = DERIVED[label](entry)
        lines.append(f"| {label} | {text} | {where} |")
    lines += export_rows(by_number.get("06"))
    lines += ["", "Logs of every step: `logs/` of the work folder (`tools/gpu_check.sh` copies them to the device "
              "run's output folder).", ""]
    return "\n".join(lines)


def _experts_note(work: Path) -> str:
    """How the stand-in stored the experts of unsloth/gpt-oss-20b, from the build's marker in the hub cache."""
    for marker in (work / "hf" / "hub" / "models--unsloth--gpt-oss-20b" / "snapshots").glob("*/offline_stand_in.json"):
        experts = (_read_json(marker) or {}).get("experts")
        if experts:
            return f" (its experts stored in {experts})"
    return ""


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("env", "render"))
    parser.add_argument("work", type=Path, help="the gpu_check work folder")
    parser.add_argument("--out", type=Path, help="markdown file to write (render; default: print it)")
    args = parser.parse_args(argv)
    if args.command == "env":
        args.work.mkdir(parents=True, exist_ok=True)
        (args.work / "env.json").write_text(json.dumps(collect_env(), indent=2) + "\n")
        print(f"wrote {args.work / 'env.json'}")
        return 0
    if not args.work.is_dir():
        parser.error(f"no work folder {args.work}: run tools/gpu_check.sh first")
    text = render(args.work)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
