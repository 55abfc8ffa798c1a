#!/usr/bin/env python
"""SFT headless, the same code as notebook 03: `python scripts/train_sft.py --preset P [--max-steps N] [--resume]`.

Several GPUs (transformers+peft backend, one process per GPU):
    accelerate launch --num_processes 2 scripts/train_sft.py --preset gpt-oss-20b --backend transformers+peft
A run that was interrupted continues from its last checkpoint with --resume (same step, data order and losses).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from gpt_oss_tutorial import sft
from gpt_oss_tutorial.presets import get_preset, preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--max-steps", type=int, help="optimizer steps (default: the preset's)")
    parser.add_argument("--save-steps", type=int, help="checkpoint every N steps (default: the preset's)")
    parser.add_argument("--output-dir", help="default: outputs/sft/<preset>/")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    parser.add_argument("--input", dest="input_file", help="train on this JSONL file (Multilingual-Thinking schema)")
    parser.add_argument("--offline", action="store_true", help="use the bundled data even if the hub is reachable")
    parser.add_argument("--skip-invalid", action="store_true", help="drop invalid rows of --input and count them")
    parser.add_argument("--backend", choices=["auto", "unsloth", "transformers+peft"], default="auto")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    if args.backend != "auto":
        os.environ["GPT_OSS_TUTORIAL_BACKEND"] = args.backend
    preset = get_preset(args.preset, save_steps=args.save_steps)
    result = sft.run(preset, output_dir=args.output_dir, max_steps=args.max_steps, resume=args.resume,
                     input_file=args.input_file, offline=True if args.offline else None,
                     skip_invalid=args.skip_invalid, progress=not args.no_progress)
    print(json.dumps(result.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
