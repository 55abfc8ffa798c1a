#!/usr/bin/env python
"""The data stage from the command line: runs notebook 02 (render Harmony, tokenize, mask the prompt, save + stats).

    python scripts/prepare_data.py [--preset P] [--dataset HUB_ID|FILE.jsonl|FILE.parquet|bundled] [--skip-invalid]
                                   [--reasoning-effort low|medium|high] [--out DIR]

Flags are notebook 02's parameters (PRESET, DATASET, SKIP_INVALID, REASONING_EFFORT, OUT_DIR). Exit status 0: done;
2: a problem with the arguments or the data (the message names the file, row and field); 1: anything else.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_oss_tutorial import data, runner
from gpt_oss_tutorial.errors import DataError
from gpt_oss_tutorial.harmony import REASONING_EFFORTS
from gpt_oss_tutorial.presets import preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--dataset", help="a hub id, a local .jsonl or .parquet file, or 'bundled' "
                                          "(default: the preset's: the hub dataset for gpt-oss, 'bundled' on CPU)")
    parser.add_argument("--skip-invalid", action="store_true", help="drop invalid rows and report how many and why")
    parser.add_argument("--reasoning-effort", default="medium", choices=REASONING_EFFORTS)
    parser.add_argument("--out", help="folder for the tokenized dataset and stats.json "
                                      "(default: outputs/data/<preset>/prepared, where notebook 03 reads it)")
    args = parser.parse_args(argv)

    dataset = None
    if args.dataset is not None:
        try:
            dataset = data.resolve_dataset(args.dataset).name  # a file becomes an absolute path: the notebook
        except DataError as exc:                              # runs in another folder
            parser.error(f"--dataset: {exc}")
    out = None
    if args.out is not None:
        out = Path(args.out).expanduser().resolve()
        if out.exists() and not out.is_dir():
            parser.error(f"--out {out}: a file is there, not a folder; choose another --out")
    return runner.run_stage("02_data_harmony", {
        "PRESET": args.preset, "DATASET": dataset, "SKIP_INVALID": args.skip_invalid,
        "REASONING_EFFORT": args.reasoning_effort, "OUT_DIR": None if out is None else str(out),
    })


if __name__ == "__main__":
    sys.exit(main())
