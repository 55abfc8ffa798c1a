#!/usr/bin/env python
"""Preflight before the downloads: `python scripts/check_env.py [--preset gpt-oss-20b] [--json]`.

Prints a table of checks (OS/WSL2, NVIDIA driver, GPU and VRAM, torch vs driver, pinned versions, disk, cache
location, RAM, Python, hub) with the fix for each problem, and which presets fit this machine. Exit code 1 when a
check fails for the chosen preset.
"""
from __future__ import annotations

import argparse
import sys

from gpt_oss_tutorial import envcheck
from gpt_oss_tutorial.presets import preset_names


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
