#!/usr/bin/env python
"""GRPO headless: runs notebook 05 with these parameters.

    python scripts/train_grpo.py --preset P [--max-steps N] [--output-dir D]

Starts from the SFT adapter of notebook 03 (outputs/sft/<preset>/adapter) when it exists, otherwise from a fresh LoRA;
measures the held-out reward before and after, writes outputs/grpo/<preset>/{adapter,log.json,rewards.png,heldout.png}
and the figures of notebook 05. Exit code 2 for a problem you can fix (bad arguments, a missing adapter).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from gpt_oss_tutorial import rewards, runner
from gpt_oss_tutorial.presets import preset_names


def _weights(text: str) -> dict:
    """'format=0.3,correctness=0.7,language=0' -> the full weights dict (missing components keep their default)."""
    out = dict(rewards.DEFAULT_WEIGHTS)
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in rewards.COMPONENTS:
            known = ", ".join(rewards.COMPONENTS)
            raise argparse.ArgumentTypeError(f"unknown reward {key!r} in {part!r}; known: {known}")
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad weight {part!r}: use name=number, e.g. format=0.3") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"bad weight {part!r}: not a finite number")
        out[key] = number
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--max-steps", type=runner.at_least(1), help="GRPO steps (default: the preset's grpo_steps)")
    parser.add_argument("--output-dir", type=Path, help="default: outputs/grpo/<preset>/")
    parser.add_argument("--adapter", type=Path,
                        help="start from this LoRA adapter (default: outputs/sft/<preset>/adapter if any)")
    parser.add_argument("--fresh", action="store_true", help="start from a fresh LoRA even if an SFT adapter exists")
    parser.add_argument("--generations", type=runner.at_least(2), help="completions per prompt (default: the preset's)")
    parser.add_argument("--max-completion", type=runner.at_least(1),
                        help="max new tokens per completion (default: the preset's)")
    parser.add_argument("--learning-rate", type=runner.learning_rate, help="default: the preset's grpo_learning_rate")
    parser.add_argument("--weights", type=_weights, help="reward weights, e.g. format=0.3,correctness=0.7,language=0")
    parser.add_argument("--heldout", type=runner.at_least(0), default=16,
                        help="held-out prompts scored before/after (0: skip)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.adapter is not None and args.fresh:
        parser.error("--adapter and --fresh exclude each other")
    if args.adapter is not None and not (args.adapter / "adapter_config.json").is_file():
        parser.error(f"--adapter {args.adapter}: no LoRA adapter there (no adapter_config.json)")
    if args.output_dir is not None and args.output_dir.exists() and not args.output_dir.is_dir():
        parser.error(f"--output-dir {args.output_dir} is a file; give a folder")
    return runner.run_stage("05_grpo", {
        "PRESET": args.preset,
        "MAX_STEPS": args.max_steps,
        "GENERATIONS": args.generations,
        "MAX_COMPLETION": args.max_completion,
        "LEARNING_RATE": args.learning_rate,
        "WEIGHTS": args.weights or dict(rewards.DEFAULT_WEIGHTS),
        "HELDOUT": args.heldout,
        "START": "fresh" if args.fresh else "auto",
        "ADAPTER_DIR": str(args.adapter.resolve()) if args.adapter else None,
        "OUTPUT_DIR": str(args.output_dir.resolve()) if args.output_dir else None,
    })


if __name__ == "__main__":
    sys.exit(main())
