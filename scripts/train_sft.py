#!/usr/bin/env python
"""SFT from the command line: runs notebook 03 with these values as its parameters (the notebook holds the code).

    python scripts/train_sft.py --preset P [--max-steps N] [--batch-size B --grad-accum G] [--resume]

The executed notebook is written to outputs/notebooks/03_sft.ipynb. An interrupted run continues from its last
complete checkpoint with --resume. Exit status: 0 trained, 2 a problem you can fix (the message says what), 1 a bug.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gpt_oss_tutorial import runner
from gpt_oss_tutorial.presets import preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--max-steps", type=runner.at_least(1), help="optimizer steps (default: the preset's)")
    parser.add_argument("--batch-size", type=runner.at_least(1),
                        help="rows per micro-batch (default: from the GPU's memory for gpt-oss, else the preset's)")
    parser.add_argument("--grad-accum", type=runner.at_least(1), help="micro-batches per optimizer step")
    parser.add_argument("--learning-rate", type=runner.learning_rate, help="peak learning rate (default: the preset's)")
    parser.add_argument("--save-steps", type=runner.at_least(1), help="checkpoint every N steps (default: the preset's)")
    parser.add_argument("--output-dir", help="default: outputs/sft/<preset>/ (must be empty, new, or one of ours)")
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    parser.add_argument("--dataset", help="a hub dataset id or a .jsonl file (default: what notebook 02 prepared)")
    parser.add_argument("--offline", action="store_true", help="train on the bundled data (same as --dataset bundled)")
    parser.add_argument("--backend", choices=["auto", "unsloth", "transformers+peft"], default="auto")
    args = parser.parse_args(argv)
    if args.offline and args.dataset:
        parser.error("--offline and --dataset both choose the data: give one")
    if args.output_dir and Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        parser.error(f"--output-dir {args.output_dir} is a file: give a folder")

    if args.backend != "auto":
        os.environ["GPT_OSS_TUTORIAL_BACKEND"] = args.backend  # the notebook's kernel inherits it
    return runner.run_stage("03_sft", {
        "PRESET": args.preset,
        "MAX_STEPS": args.max_steps,
        "BATCH_SIZE": args.batch_size,
        "GRAD_ACCUM": args.grad_accum,
        "LEARNING_RATE": args.learning_rate,
        "SAVE_STEPS": args.save_steps,
        "RESUME": args.resume,
        "DATASET": "bundled" if args.offline else args.dataset,
        "OUTPUT_DIR": str(Path(args.output_dir).resolve()) if args.output_dir else None,
    })


if __name__ == "__main__":
    sys.exit(main())
