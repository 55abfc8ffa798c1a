#!/usr/bin/env python
"""GRPO headless, the same code as notebook 05:
`python scripts/train_grpo.py --preset P [--max-steps N] [--output-dir D]`.

Starts from the SFT adapter of notebook 03 (outputs/sft/<preset>/adapter) when it exists, otherwise from a fresh LoRA;
measures the held-out reward before and after, writes outputs/grpo/<preset>/{adapter,log.json,heldout.json,rewards.png}
and the figures of notebook 05 (outputs/figures/05_grpo.json, gathered into summary.json under "grpo").
"""
from __future__ import annotations

import argparse
import os
import sys

from gpt_oss_tutorial import grpo
from gpt_oss_tutorial.presets import get_preset, preset_names


def _weights(text: str | None):
    """'format=0.3,correctness=0.7,language=0' -> dict (None: the defaults)."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad weight {part!r}: use name=number, e.g. format=0.3") from None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--max-steps", type=int, help="GRPO steps (default: the preset's grpo_steps)")
    parser.add_argument("--output-dir", help="default: outputs/grpo/<preset>/")
    parser.add_argument("--adapter", help="start from this LoRA adapter (default: outputs/sft/<preset>/adapter if any)")
    parser.add_argument("--fresh", action="store_true", help="start from a fresh LoRA even if an SFT adapter exists")
    parser.add_argument("--generations", type=int, help="completions per prompt (default: the preset's)")
    parser.add_argument("--max-completion", type=int, help="max new tokens per completion (default: the preset's)")
    parser.add_argument("--learning-rate", type=float, help="default: the preset's grpo_learning_rate")
    parser.add_argument("--weights", type=_weights, help="reward weights, e.g. format=0.3,correctness=0.7,language=0")
    parser.add_argument("--heldout", type=int, default=16, help="held-out prompts scored before/after (0: skip)")
    parser.add_argument("--backend", choices=["auto", "unsloth", "transformers+peft"], default="auto")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    if args.backend != "auto":
        os.environ["GPT_OSS_TUTORIAL_BACKEND"] = args.backend
    preset = get_preset(args.preset, grpo_generations=args.generations, grpo_max_completion=args.max_completion,
                        grpo_learning_rate=args.learning_rate)
    result = grpo.run(preset, output_dir=args.output_dir, max_steps=args.max_steps, adapter_dir=args.adapter,
                      fresh=args.fresh, weights=args.weights, heldout=args.heldout, progress=not args.no_progress)
    print(grpo.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
