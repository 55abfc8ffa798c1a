#!/usr/bin/env python3
"""Preflight before the downloads: `python3 scripts/check_env.py [--preset gpt-oss-20b] [--json]`.

Prints a table of checks (OS/WSL2, NVIDIA driver and the torch build it runs, GPU and VRAM, installed torch and pinned
versions, Python, disk, cache location, RAM, hub) with the fix for each problem, and which presets fit this machine.
Runs on a bare Python 3.8+ before anything is installed (plain text; a rich table once rich is installed). Exit code 1
when a check fails for the chosen preset.
"""
from __future__ import annotations

import argparse
import os
import sys

# `python -I` / `python -S` leave the script's folder off sys.path: the helpers live next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gpt_oss_tutorial import envcheck  # noqa: E402 - after the path fix above
from gpt_oss_tutorial.presets import preset_names  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=preset_names(), default="auto",
                        help="judge the machine for this preset (default: auto, the one this machine fits)")
    parser.add_argument("--json", action="store_true",
                        help='print {"checks": [{name, status, value, fix}], "recommended_preset": ...} instead')
    args = parser.parse_args(argv)
    return envcheck.cli(args.preset, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
