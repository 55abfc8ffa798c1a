#!/usr/bin/env python
"""Export a fine-tuned adapter and check each export: notebook 06 (06_save_and_export.ipynb) run with these values.

    python scripts/export_model.py --preset P [--adapter DIR] --format lora --format merged16 --format gguf
                                   [--quant f16 --quant q8_0] [--out DIR]

lora      the adapter (safetensors) + tokenizer
merged16  the LoRA merged into 16-bit weights (Unsloth on a GPU, peft elsewhere)
gguf      llama.cpp's convert_hf_to_gguf.py on the merged model (extracted at setup; a copy elsewhere:
          GPT_OSS_TUTORIAL_GGUF_CONVERTER=/path/to/.cache/llama.cpp/<version>) + an Ollama Modelfile
Each export is read back with plain transformers in a new process and held to one criterion (notebook 06 says it).
Exit status: 0 every export was made and read back as the fine-tuned model (or, where the fine-tune is too small to
tell, reported "cannot judge"); 1 an export is not the fine-tuned model (the check failed), or an unexpected error;
2 an export could not be made (the message says why: missing or damaged adapter, folder not writable, disk full,
converter unavailable, bad arguments).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gpt_oss_tutorial import runner
from gpt_oss_tutorial.presets import preset_names

FORMATS = ("lora", "merged16", "gguf")
QUANTS = ("f16", "q8_0", "bf16", "f32")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=preset_names())
    parser.add_argument("--adapter", help="LoRA adapter folder (default: outputs/sft/<preset>/adapter, notebook 03)")
    parser.add_argument("--format", action="append", choices=FORMATS, help="repeat for several (default: all)")
    parser.add_argument("--quant", action="append", choices=QUANTS, help="GGUF type, repeatable (default: f16, q8_0)")
    parser.add_argument("--out", help="folder of the exports (default: outputs/export/<preset>); one subfolder each")
    parser.add_argument("--backend", choices=["auto", "unsloth", "transformers+peft"], default="auto")
    args = parser.parse_args(argv)

    if args.adapter is not None:
        adapter = Path(args.adapter)
        if not (adapter / "adapter_config.json").is_file():
            parser.error(f"--adapter {adapter}: no adapter_config.json there (the folder notebook 03 writes as "
                         "outputs/sft/<preset>/adapter)")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; give a folder")
    if args.backend != "auto":
        os.environ["GPT_OSS_TUTORIAL_BACKEND"] = args.backend
    return runner.run_stage("06_save_and_export", {
        "PRESET": args.preset,
        "ADAPTER": str(Path(args.adapter).resolve()) if args.adapter else None,
        "OUT_DIR": str(Path(args.out).resolve()) if args.out else None,
        "FORMATS": list(dict.fromkeys(args.format or FORMATS)),
        "QUANT": list(dict.fromkeys(args.quant or ["f16", "q8_0"])),
    })


if __name__ == "__main__":
    sys.exit(main())
