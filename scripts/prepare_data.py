#!/usr/bin/env python
"""Data stage headless, the same code as notebook 02: render Harmony, tokenize, mask the prompt, write + stats.

    python scripts/prepare_data.py --preset P [--input FILE.jsonl] [--offline] [--skip-invalid] --out DIR
"""
from __future__ import annotations

import argparse
import json
import sys

from gpt_oss_tutorial import backends, data
from gpt_oss_tutorial.presets import get_preset, preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--input", dest="input_file", help="a JSONL file in the Multilingual-Thinking schema")
    parser.add_argument("--offline", action="store_true", help="the bundled data, even if the hub is reachable")
    parser.add_argument("--skip-invalid", action="store_true", help="drop invalid rows and report how many and why")
    parser.add_argument("--reasoning-effort", default="medium", choices=["low", "medium", "high"])
    parser.add_argument("--out", required=True, help="folder for the tokenized dataset and stats.json")
    args = parser.parse_args(argv)

    preset = get_preset(args.preset)
    try:
        rows = data.load_rows("train", offline=True if args.offline else None, input_file=args.input_file,
                              skip_invalid=args.skip_invalid)
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tokenizer = backends.load_tokenizer(preset)
    prepared = data.prepare(tokenizer, rows, max_length=preset.max_seq_length)
    data.save(prepared, args.out)
    for problem in rows.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(json.dumps(prepared.stats, indent=2, ensure_ascii=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
