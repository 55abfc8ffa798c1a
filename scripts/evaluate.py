#!/usr/bin/env python
"""Before/after evaluation of the SFT adapter on the held-out prompts (the code of notebook 04).

    python scripts/evaluate.py --preset smollm2-135m --out outputs/eval
    python scripts/evaluate.py --preset tiny-gpt-oss --adapter /tmp/sft/adapter --languages fr zh --efforts medium \\
        --n-prompts 4 --max-new-tokens 32 --out /tmp/eval

Writes OUT/before.json and OUT/after.json (items, generations, per-row scores, aggregates) and OUT/summary.json (the
``eval`` section of the run-all summary), and prints the headline figures. Exit code 0 even when the CPU tutorial's
targets are missed (they are reported, not enforced).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from gpt_oss_tutorial import atomic, evaluate
    from gpt_oss_tutorial.presets import preset_names
except ImportError:  # not installed (pip install -e .): use the package beside this script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpt_oss_tutorial import atomic, evaluate
    from gpt_oss_tutorial.presets import preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names(), help="model preset (default: auto)")
    parser.add_argument("--adapter", type=Path, help="LoRA adapter folder (default: outputs/sft/<preset>/adapter)")
    parser.add_argument("--languages", nargs="+", metavar="LANG",
                        help="reasoning languages to request for every prompt (names or codes, e.g. French zh); "
                             "default: each held-out prompt's own language (12 per language, Chinese never trained)")
    parser.add_argument("--efforts", nargs="+", default=list(evaluate.DEFAULT_EFFORTS),
                        choices=["low", "medium", "high"], help="reasoning efforts (default: low medium high)")
    parser.add_argument("--n-prompts", type=int, metavar="N", help="held-out prompts to use (default: all 72)")
    parser.add_argument("--effort-prompts", type=int, default=12, metavar="N",
                        help="prompts that also run at the non-medium efforts (default: 12)")
    parser.add_argument("--max-new-tokens", type=int, help="generation cap (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="prompts per forward pass (default: the preset's)")
    parser.add_argument("--backend", choices=["auto", "unsloth", "transformers+peft"], help="force a backend")
    parser.add_argument("--out", type=Path, help="output folder (default: outputs/eval)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    try:
        result = evaluate.evaluate_before_after(
            args.preset, args.adapter, languages=args.languages, efforts=args.efforts, n_prompts=args.n_prompts,
            effort_prompts=args.effort_prompts, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
            out_dir=args.out, backend=args.backend, progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as exc:  # no adapter yet, an unknown language, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    evaluate.print_summary(result.summary)
    out = Path(result.paths["after"]).parent
    atomic.write_json(out / "summary.json", {"eval": result.summary})
    print(f"Wrote {result.paths['before']}, {result.paths['after']} and {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
