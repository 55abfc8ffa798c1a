#!/usr/bin/env python
"""Seconds/step, tokens/s and peak GPU memory of three ways to fine-tune gpt-oss, in one run on one GPU.

    (a) the blog's:     Unsloth 4-bit, LoRA r=8 on the seven names, batch 1 x grad-accum 16, rows padded to one length
    (b) our default:    the same, effective batch 16, larger micro-batch, length-grouped micro-batches on mixed lengths
    (c) the cookbook's: transformers + peft on bf16 weights, eager attention, LoRA on the same targets

    python scripts/benchmark.py --arch gpt-oss-20b --json bench.json --markdown bench.md --time-budget 510
    python scripts/benchmark.py --arch tiny --configs c --steps 1 --warmup 0 --workdir /tmp/bench   # CPU smoke

Random bf16 weights of the real architecture are built once (GPU) and saved under --workdir (default /dev/shm/bench),
then every configuration loads them in its own subprocess. (a) and (b) need CUDA + Unsloth: elsewhere they are reported
"skipped". The JSON and markdown reports are rewritten after every measured phase, so a run stopped by
--time-budget (or killed) keeps what it measured. Exit code 0 when every planned phase that could run here ran.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from gpt_oss_tutorial import benchmark
except ImportError:  # not installed (pip install -e .), e.g. on the GPU machine: use the package beside this script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpt_oss_tutorial import benchmark


def _micro(values: list[str] | None, effective_batch: int) -> dict:
    micro = benchmark.default_micro(effective_batch)
    for item in values or []:
        config, _, specs = item.partition("=")
        if config not in ("b", "c") or not specs:
            raise argparse.ArgumentTypeError(f"--micro-batches {item!r}: write b=4x4,8x2 or c=4x4 ((a) is 1x16)")
        micro[config] = [s for s in specs.split(",") if s]
    return micro


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=["gpt-oss-20b", "tiny"], default="gpt-oss-20b")
    parser.add_argument("--configs", nargs="+", choices=benchmark.CONFIGS, default=["c", "b", "a"],
                        help="configurations, run in this order (default: c b a: (c) never compiles, so the speed "
                             "and memory goals are measured first; (a) was measured before and goes last)")
    parser.add_argument("--lengths", nargs="+", choices=benchmark.LENGTH_SETS, default=list(benchmark.LENGTH_SETS))
    parser.add_argument("--seq-len", type=int, default=1024, help="tokens per row for the fixed-length set")
    parser.add_argument("--min-len", type=int, default=256, help="shortest row of the mixed set")
    parser.add_argument("--max-len", type=int, default=2048, help="longest row of the mixed set")
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per phase")
    parser.add_argument("--warmup", type=int, default=1,
                        help="warm-up passes (one micro-batch per new shape + one optimizer step), not timed")
    parser.add_argument("--micro-batches", nargs="+", metavar="CONFIG=MxG[,MxG]",
                        help="micro-batch x grad-accum variants for b and c (default b=4x4 c=4x4; (a) is 1x16)")
    parser.add_argument("--effective-batch", type=int, default=16, help="rows per optimizer step")
    parser.add_argument("--max-shapes", type=int, default=4, help="(b) mixed: at most this many padded widths")
    parser.add_argument("--pad-multiple", type=int, default=64, help="padded widths are multiples of this")
    parser.add_argument("--mega-batch", type=int, help="(b) mixed: sort rows within chunks of this many rows "
                        "(default: all rows of the timed steps)")
    parser.add_argument("--seed", type=int, default=3407)
    parser.add_argument("--workdir", type=Path, help="model folder and caches (default /dev/shm/bench)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the model folder even if it is there")
    parser.add_argument("--save", choices=["parallel", "transformers"], default="parallel",
                        help="how the random model is written: threads (default) or save_pretrained")
    parser.add_argument("--json", type=Path, help="write the JSON report here")
    parser.add_argument("--markdown", type=Path, help="write the markdown report here")
    parser.add_argument("--time-budget", type=float, default=0,
                        help="stop everything after this many seconds, keeping what was measured (0: no limit)")
    parser.add_argument("--dry-run", action="store_true", help="print the plans and the time budget only")
    args = parser.parse_args(argv)

    try:
        micro = _micro(args.micro_batches, args.effective_batch)
        options = benchmark.Options(
            arch=args.arch, seq_len=args.seq_len, min_len=args.min_len, max_len=args.max_len, steps=args.steps,
            warmup=args.warmup, effective_batch=args.effective_batch, max_shapes=args.max_shapes,
            multiple=args.pad_multiple, mega_batch_rows=args.mega_batch, seed=args.seed)
        run_args = benchmark.RunArgs(
            arch=args.arch, configs=tuple(dict.fromkeys(args.configs)), lengths=tuple(dict.fromkeys(args.lengths)),
            micro=micro, options=options, workdir=args.workdir or benchmark.default_workdir(), json_path=args.json,
            markdown_path=args.markdown, time_budget=args.time_budget, rebuild=args.rebuild, save=args.save,
            dry_run=args.dry_run)
        report = benchmark.run(run_args)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    print()
    print(benchmark.render_markdown(report))
    if args.dry_run:
        return 0
    bad = [r for r in report["results"] if r["status"] not in ("ok", "skipped")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
