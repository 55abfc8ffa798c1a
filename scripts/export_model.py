#!/usr/bin/env python
"""Export a fine-tuned adapter, the same code as notebook 06, and check the export by reloading it:

    python scripts/export_model.py --preset P --adapter DIR --format lora|merged16|gguf [--quant f16|q8_0] --out DIR

lora      the adapter (safetensors) + tokenizer; reloaded onto the base model, logits must match (tolerance 1e-5)
merged16  LoRA merged into 16-bit weights (Unsloth on GPU, peft elsewhere); reloaded as a plain transformers model
gguf      llama.cpp's convert_hf_to_gguf.py (fetched from the llama-cpp-python sdist on first use, see
          requirements-gguf.txt) + an Ollama Modelfile; --merged DIR reuses a merged16 export, otherwise the model
          is merged into a temporary folder first
Exit status: 0 exported (and the check passed), 1 the check failed, 2 could not export (message says why).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from gpt_oss_tutorial import export, gguf_tools
from gpt_oss_tutorial.presets import get_preset, preset_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--adapter", help="LoRA adapter folder (default: outputs/sft/<preset>/adapter, notebook 03)")
    parser.add_argument("--format", required=True, choices=export.FORMATS)
    parser.add_argument("--quant", default="f16", choices=export.GGUF_QUANTS, help="GGUF type (default f16)")
    parser.add_argument("--out", required=True, help="the export folder (replaced atomically if it exists)")
    parser.add_argument("--merged", help="--format gguf: an existing merged16 export to convert")
    parser.add_argument("--no-check", action="store_true", help="skip the reload-and-compare check")
    parser.add_argument("--backend", choices=["auto", "unsloth", "transformers+peft"], default="auto")
    args = parser.parse_args(argv)

    if args.backend != "auto":
        os.environ["GPT_OSS_TUTORIAL_BACKEND"] = args.backend
    preset = get_preset(args.preset)
    verify = not args.no_check
    try:
        ref = export.load_reference(preset, args.adapter)
        if args.format == "lora":
            result = export.export_lora(ref, args.out, verify=verify)
        elif args.format == "merged16":
            result = export.export_merged16(ref, args.out, verify=verify)
        else:
            result = export.export_gguf(ref, args.out, quant=args.quant, merged_dir=args.merged, verify=verify,
                                        check_tokenizer=verify)
    except (FileNotFoundError, export.InsufficientDiskSpace, gguf_tools.ConversionError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 2
    summary = result.to_dict()
    if summary.get("check"):
        summary["check"]["details"].pop("tensor_rows", None)
    print(json.dumps(summary, indent=2, default=str))
    for note in result.notes:
        print("note:", note)
    if result.skipped:
        print(f"GGUF export skipped: {result.skipped}", file=sys.stderr)
        return 2
    if result.check is not None:
        c = result.check
        value = f"{c.value:.6g}" if isinstance(c.value, (int, float)) else c.value
        print(f"{result.format}: {c.metric} = {value} (tolerance {c.tolerance}) -> "
              f"{'PASS' if c.passed else 'FAIL'}; {result.size_bytes / 1e6:.1f} MB in {result.path}")
        return 0 if c.passed else 1
    print(f"{result.format}: {result.size_bytes / 1e6:.1f} MB in {result.path} (not checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
