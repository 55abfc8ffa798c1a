#!/usr/bin/env python
"""Run every notebook in order, headless, on one preset: executed notebooks, summary.json and report.md.

    python scripts/run_all.py --preset auto            # the whole tutorial on what this machine can run
    python scripts/run_all.py --preset tiny-gpt-oss --smoke --only 00 03

Exit code 0 when every notebook ran, 1 otherwise (notebook 00 fails on purpose when the preset cannot run here;
its message is the first thing in the report).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gpt_oss_tutorial import runner
from gpt_oss_tutorial.errors import TutorialError
from gpt_oss_tutorial.presets import preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names(), help="model preset (default: auto)")
    parser.add_argument("--smoke", action="store_true",
                        help="each notebook's quick test configuration (the smoke parameters in its metadata)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks (number or stem)")
    parser.add_argument("--outputs", type=Path, help="outputs folder (default: outputs/ or $GPT_OSS_TUTORIAL_OUTPUTS)")
    parser.add_argument("--timeout", type=int, metavar="SEC", help="per-cell timeout in seconds (default: none)")
    parser.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")
    parser.add_argument(
        "--notebooks-dir", type=Path, default=runner.NOTEBOOKS_DIR, help="folder of NN_*.ipynb (default: notebooks/)"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        summary = runner.run_all(
            args.preset,
            smoke=args.smoke,
            notebooks=args.only,
            outputs=args.outputs,
            stop_on_failure=not args.keep_going,
            timeout=args.timeout,
            notebooks_dir=args.notebooks_dir,
        )
    except ValueError as exc:  # nothing to run, or an --only that matches nothing
        parser.error(str(exc))
    except TutorialError as exc:  # e.g. another run is writing the same outputs folder
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    outputs = Path(summary["outputs"])
    print(f"\nStatus: {summary['status']} in {time.perf_counter() - start:.1f} s")
    failed = [nb for nb in summary["notebooks"] if nb["status"] == "failed"]
    if failed:
        print(f"First failure ({failed[0]['name']}): {failed[0]['error']}")
    print(f"Report:  {outputs / 'report.md'}")
    print(f"Summary: {outputs / 'summary.json'}")
    print(f"Executed notebooks: {outputs / 'notebooks'}")
    return 0 if summary["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
