#!/usr/bin/env python
"""Before/after evaluation of the SFT adapter on the held-out prompts: runs notebook 04 with these parameters.

    python scripts/evaluate.py --preset smollm2-135m
    python scripts/evaluate.py --preset tiny-gpt-oss --languages fr zh --efforts medium --n-prompts 4 \\
        --max-new-tokens 32 --out /tmp/eval
    python scripts/evaluate.py --score-only outputs/eval     # score saved generations again, no model

Writes OUT/before.json and OUT/after.json (items, generations, per-row scores, aggregates) and the figures of notebook
04. Exit code 0 even when the CPU tutorial's targets are missed (they are reported, not enforced); 2 for a problem
you can fix (bad arguments, no adapter yet).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt_oss_tutorial import evaluate, harmony, langid, runner
from gpt_oss_tutorial.errors import TutorialError
from gpt_oss_tutorial.presets import preset_names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names(), help="model preset (default: auto)")
    parser.add_argument("--adapter", type=Path, help="LoRA adapter folder (default: outputs/sft/<preset>/adapter)")
    parser.add_argument("--languages", nargs="+", metavar="LANG",
                        help="reasoning languages to request for every prompt (names or codes, e.g. French zh); "
                             "default: each held-out prompt's own language (12 per language, Chinese never trained)")
    parser.add_argument("--efforts", nargs="+", default=list(evaluate.DEFAULT_EFFORTS),
                        choices=list(harmony.REASONING_EFFORTS), help="reasoning efforts (default: low medium high)")
    parser.add_argument("--n-prompts", type=runner.at_least(1), metavar="N", help="held-out prompts to use (default: all 72)")
    parser.add_argument("--effort-prompts", type=runner.at_least(0), default=12, metavar="N",
                        help="prompts that also run at the non-medium efforts (default: 12)")
    parser.add_argument("--max-new-tokens", type=runner.at_least(1), help="generation cap (default: the preset's)")
    parser.add_argument("--batch-size", type=runner.at_least(1), help="prompts per forward pass (default: the preset's)")
    parser.add_argument("--out", type=Path, help="output folder (default: outputs/eval)")
    parser.add_argument("--score-only", type=Path, metavar="DIR",
                        help="score the generations saved in DIR/before.json and DIR/after.json again, without a "
                             "model (e.g. where the language identifier is installed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.score_only is not None:
        missing = [str(args.score_only / f) for f in ("before.json", "after.json")
                   if not (args.score_only / f).is_file()]
        if missing:
            parser.error(f"--score-only {args.score_only}: no saved evaluation there (missing {', '.join(missing)})")
        try:
            summary = evaluate.rescore(args.score_only)
        except TutorialError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        evaluate.print_summary(summary)
        if not langid.available():
            print("note: lingua-language-detector is not installed here: the language figures are not measured")
        print(f"Rescored {args.score_only / 'before.json'} and {args.score_only / 'after.json'}")
        return 0
    for language in args.languages or []:
        try:
            langid.language_code(language)
        except ValueError as exc:
            parser.error(f"--languages: {exc}")
    if args.adapter is not None and not (args.adapter / "adapter_config.json").is_file():
        parser.error(f"--adapter {args.adapter}: no LoRA adapter there (no adapter_config.json); train one with "
                     "scripts/train_sft.py or leave --adapter out")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; give a folder")
    return runner.run_stage("04_before_after", {
        "PRESET": args.preset,
        "ADAPTER_DIR": str(args.adapter) if args.adapter else None,
        "N_PROMPTS": args.n_prompts,
        "LANGUAGES": args.languages,
        "EFFORTS": args.efforts,
        "EFFORT_PROMPTS": args.effort_prompts,
        "MAX_NEW_TOKENS": args.max_new_tokens,
        "BATCH_SIZE": args.batch_size,
        "OUTPUT_DIR": str(args.out.resolve()) if args.out else None,
    })


if __name__ == "__main__":
    sys.exit(main())
