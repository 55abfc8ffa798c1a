# Generated from notebooks/06_save_and_export.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 06 · Save and export
#
# A fine-tune is only useful once it leaves the notebook. This notebook saves the model of notebook 03 three ways and
# **reads every export back, in a fresh process with plain transformers, to show that it still is the fine-tuned
# model**:
#
# 1. the **LoRA adapter** (`model.save_pretrained`): a few MB, used on top of the base model (peft, vLLM, Unsloth);
# 2. a **merged 16-bit model** (the adapter folded into the weights): a plain `transformers` model;
# 3. **GGUF** for llama.cpp and Ollama, written by llama.cpp's own `convert_hf_to_gguf.py`, with an Ollama
#    `Modelfile` that speaks Harmony.
#
# What it costs. Disk, measured for gpt-oss-20b at r=8 on an H200 (random weights, docs/gpu-run.md): adapter 371 MB,
# merged 16-bit 41.8 GB, GGUF q8_0 22.3 GB (f16: about as much as the merged model, not measured); the disk check asks
# for 10% more. The CPU tutorial (`make run`, smollm2-135m): adapter 23 MB, merged 273 MB, GGUF f16 271 MB and q8_0
# 145 MB, every one read back and judged PASS; tiny-gpt-oss: adapter 1.1 MB, merged 6.0 MB, GGUF f16 5.9 MB and q8_0
# 3.2 MB. Memory: the read-back runs each export in float32 (84 GB for gpt-oss-20b, on the GPU when there is one,
# spilling into CPU memory where the card is smaller: 93 GiB peak on the H200). Time: the whole notebook with
# `QUANT = ["q8_0"]` 17.9 minutes on that H200; 2.7 minutes for smollm2-135m on 2 CPU cores (`make run`), 3-4 minutes
# for tiny-gpt-oss; a 24 GB card: not measured.
#
# The same notebook runs headless: `python scripts/export_model.py --preset P --format lora --format merged16
# --format gguf --quant q8_0 --out DIR` (exit status 1 when an export is not the model, 2 when it cannot be made).
#
# > 中文摘要：把第 03 本笔记训练的模型导出为 LoRA 适配器、合并后的 16 位模型和 GGUF（附带 Harmony 格式的 Ollama Modelfile），并在一个新进程里用纯 transformers（float32）读回每个导出，按同一个标准判断它是否就是微调后的模型：与微调模型的差异（中位数）不超过微调效果的 15%，在明确的位置上下一个词预测一致率不低于 90%。磁盘空间先检查，写入是原子的，只用 safetensors。

# %% tags=["parameters"]
# PRESET: "auto", "gpt-oss-20b", "gpt-oss-120b", "smollm2-135m" or "tiny-gpt-oss" (notebook 03 must have trained it).
PRESET = "auto"
ADAPTER = None  # None: notebook 03's adapter (outputs/sft/<preset>/adapter)
OUT_DIR = None  # None: outputs/export/<preset>/
FORMATS = ["lora", "merged16", "gguf"]  # any subset; GGUF is converted from the merged 16-bit export
QUANT = ["f16", "q8_0"]  # GGUF types (the converter writes f16, bf16, f32 and q8_0 by itself)
MAX_NEW_TOKENS = 64  # generation with the exported GGUF

# %%
from gpt_oss_tutorial import backends  # first: on a CUDA GPU this imports Unsloth before trl, transformers and peft

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from gpt_oss_tutorial import export, figures, gguf_tools, harmony, paths
from gpt_oss_tutorial.presets import get_preset

preset = get_preset(PRESET)
adapter_dir = export.check_adapter(ADAPTER or paths.sft_adapter_dir(preset.name))  # a clear message if missing
out_root = paths.stage_dir("export", preset.name) if OUT_DIR is None else Path(OUT_DIR)
formats = list(FORMATS)
if "gguf" in formats and "merged16" not in formats:
    if export.made_from(out_root / "merged16", adapter_dir, "merged16"):
        print(f"GGUF is converted from the merged 16-bit export already in {out_root / 'merged16'}")
    else:
        print("GGUF is converted from the merged 16-bit model: merged16 is exported too")
        formats.insert(0, "merged16")
for name in export.remove_leftovers(out_root):
    print(f"removed {out_root / name}: a temporary merge an interrupted export left behind")
print(f"preset {preset.name}   adapter {adapter_dir}\nexports go to {out_root}: {formats}, GGUF types {QUANT}")

# %% [markdown]
# ## The fine-tuned model, and the probe
#
# The model as notebook 03 trained it: on a CUDA GPU Unsloth reloads the adapter folder (it finds the base model named
# in `adapter_config.json`); elsewhere transformers loads the base and peft puts the adapter on top.
#
# `export.reference` then runs the **probe** -- four short Harmony conversations (developer message with a reasoning
# language, a question, the assistant's analysis and final answer) -- through the model twice: as fine-tuned, and with
# the adapter switched off (the base model). Every export is held to one criterion, in float32:
#
# - the typical difference between the export's logits and the fine-tuned model's is at most **15% of the fine-tune's
#   effect** (the typical difference between fine-tuned and base). An export that lost the adapter is at 100%; one
#   with the LoRA scale doubled at about 70%;
# - it predicts the fine-tuned model's next token at **90%** or more of the decisive positions (where the best token
#   leads the second by more than a 15% difference could overturn);
# - *typical* is the median over positions: in a mixture-of-experts model a rounding can flip the expert chosen for a
#   token, and that flip spreads through the rest of its conversation; the median does not let a few flips decide;
# - if the model's own bf16 noise is more than half of that 15% (7.5% of the fine-tune's effect), the verdict is
#   **cannot judge** (train longer): noise alone could then fail a right export.
#
# On the CPU the reference runs in float32 (the bf16 weights are exact in float32), so an adapter reloaded the same way
# must give *identical* logits. On the GPU the reference is the model as trained, in Unsloth's own arithmetic.

# %% tags=["load-adapter"]
backend = backends.backend_name(preset)
if backend == backends.UNSLOTH:
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(adapter_dir), max_seq_length=preset.max_seq_length, load_in_4bit=preset.load_in_4bit,
        dtype=None)
    FastLanguageModel.for_inference(model)
else:
    from peft import PeftModel

    # notebook 01's load cell (AutoModelForCausalLM, bf16 weights), then the adapter on top
    base_model, tokenizer = backends.from_pretrained(preset, backend=backend)
    model = PeftModel.from_pretrained(base_model, str(adapter_dir)).eval()

# %%
ref = export.reference(model, tokenizer, preset, adapter_dir, backend)
print(tokenizer.decode(ref.ids[0][0]))
display(pd.Series(ref.summary(), name="reference", dtype=object).to_frame())
verdicts = []

# %% [markdown]
# ## 1. LoRA adapter
#
# Just the adapter (`adapter_model.safetensors` + `adapter_config.json`) and the tokenizer, whose Harmony markers and
# chat template the adapter relies on. `export.writing` checks the free disk space, hands out a temporary folder and
# renames it into place once everything is written (an interrupted save never looks finished).
#
# Two read-backs: (1) on the CPU, `PeftModel.from_pretrained` onto a fresh base in float32 -- the same arithmetic, so
# identical logits; (2) everywhere, in a new process with plain transformers + peft and no Unsloth, onto the preset's
# 16-bit base -- what vLLM or your own script does. Adapters saved by Unsloth carry `lora_B_layout` and
# `unsloth_fused_expert_lora` in `adapter_config.json`; peft ignores them (with a warning), so (2) shows whether peft
# computes what Unsloth trained.

# %%
if "lora" in formats:
    with export.writing(out_root / "lora", ref, "lora", needed_bytes=export.needed_bytes(ref, "lora")) as folder:
        model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
    lora_verdicts = export.check_lora(ref, out_root / "lora")
    export.save_check(out_root / "lora", lora_verdicts)
    verdicts += lora_verdicts
    display(export.verdict_table(lora_verdicts))

# %% [markdown]
# ## 2. Merged 16-bit model
#
# Merging folds `B @ A * alpha / r` into each adapted weight, so the result loads without peft and runs as fast as the
# base model. Unsloth does it with `save_pretrained_merged(..., save_method="merged_16bit")`: from a 4-bit base it
# takes the 16-bit base weights (from the hub cache) and folds the adapter into those, so the merged model differs
# from the 4-bit model as trained by the 4-bit rounding of the base. peft does it with `merge_and_unload()`, here in
# float32 with one rounding to bf16 at the end. `merge_and_unload` works in place: the adapter is gone from `model` afterwards, which is why the LoRA export
# comes first.

# %%
if "merged16" in formats:
    with export.writing(out_root / "merged16", ref, "merged16",
                        needed_bytes=export.needed_bytes(ref, "merged16")) as folder:
        if backend == "unsloth":
            export.use_cached_merge_base(model, preset)  # offline only: the 16-bit base from the local cache
            model.save_pretrained_merged(str(folder), tokenizer, save_method="merged_16bit", safe_serialization=True)
        else:
            merged = model.merge_and_unload()
            merged.to(torch.bfloat16).save_pretrained(str(folder), safe_serialization=True)
            tokenizer.save_pretrained(str(folder))
            ref.merged, ref.model = True, None
            del merged
    merged_verdicts = export.check_merged16(ref, out_root / "merged16")
    export.save_check(out_root / "merged16", merged_verdicts)
    verdicts += merged_verdicts
    display(export.verdict_table(merged_verdicts))

# %% [markdown]
# ## 3. GGUF for llama.cpp and Ollama
#
# llama.cpp's converter is pure Python: `make setup` extracted it once from the pinned `llama-cpp-python` source
# distribution (version and sha256 in `requirements-gguf.txt`) into `.cache/llama.cpp/`, so no network is needed
# here. On a machine without it, copy that folder over and set `GPT_OSS_TUTORIAL_GGUF_CONVERTER=/path/to/it`. For each
# type the cell prints the command it runs, then reads the written file back:
#
# - **gpt-oss**: transformers cannot run gpt-oss GGUFs, so every tensor is de-quantized with gguf-py and compared with
#   the merged weights within its storage type's rounding (f32/bf16 exact, f16 and q8_0 within their rounding step).
#   What llama.cpp and Ollama will do with the expert tensors is read from the converter's own log and from the file.
# - **llama family (smollm2)**: read back by transformers' GGUF loader in a new process and held to the criterion;
#   the GGUF's own tokenizer must split the probe into the same ids.

# %%
if "gguf" in formats:
    converter = export.gguf_converter()
    for quant in QUANT:
        info = export.convert_gguf(ref, out_root / "merged16", out_root / f"gguf-{quant}", quant, converter)
        print(f"$ {' '.join(info['command'])}\n  {info['seconds']} s, {info['size_bytes'] / 1e6:,.1f} MB, "
              f"{info['architecture']}, tensor types {info['tensor_types']}")
        if preset.is_gpt_oss:
            print("  " + export.expert_storage_note(info))
        gguf_verdicts = export.check_gguf(ref, out_root / f"gguf-{quant}", quant, out_root / "merged16")
        export.save_check(out_root / f"gguf-{quant}", gguf_verdicts)
        verdicts += gguf_verdicts
    display(export.verdict_table([v for v in verdicts if v.export.startswith("gguf")]))

# %% [markdown]
# ### Generate with the GGUF
#
# A llama-family GGUF runs in transformers (`AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.gguf")`). A
# gpt-oss GGUF needs llama.cpp itself: with `llama-cpp-python` built from source (see `requirements-gguf.txt`)
# `gguf_tools.llama_cpp_generate` runs it; otherwise this cell says how to get it.

# %%
ggufs = [out_root / f"gguf-{q}" for q in QUANT if "gguf" in formats]
prompt = export.generation_prompt()
for folder in ggufs[:1]:
    if not preset.is_gpt_oss:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        g_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=export.GGUF_NAME, dtype=torch.float32)
        g_tok = AutoTokenizer.from_pretrained(folder, gguf_file=export.GGUF_NAME)
        text = export.generate(g_model, g_tok, prompt, max_new_tokens=MAX_NEW_TOKENS)
    elif gguf_tools.llama_cpp_available():
        text = gguf_tools.llama_cpp_generate(folder / export.GGUF_NAME, prompt, max_tokens=MAX_NEW_TOKENS)
    else:
        text = None
        print("not generated: transformers cannot run a gpt-oss GGUF and llama-cpp-python is not installed. To run "
              "it: " + gguf_tools.LLAMA_CPP_INSTALL.format(version=gguf_tools.converter_pin().version))
    if text is not None:
        parsed = harmony.parse_harmony(text)
        print(f"--- {folder.name} (greedy, at most {MAX_NEW_TOKENS} new tokens)\n{text}\n")
        print(f"Harmony valid: {parsed.valid}; analysis: {parsed.analysis!r:.80}; final: {parsed.final!r:.80}")

# %% [markdown]
# ### The Ollama Modelfile
#
# Written next to each GGUF: `FROM ./model.gguf`, a Go `TEMPLATE` that renders Harmony (system block with the date and
# reasoning level, the `SYSTEM` prompt as the developer message, user turns, earlier assistant turns as their final
# message), and the two Harmony stop tokens `<|return|>` and `<|call|>` -- never `<|end|>`, which only closes the
# analysis. With Ollama installed: `cd outputs/export/<preset>/gguf-q8_0 && ollama create my-model -f Modelfile`.

# %%
if ggufs:
    print((ggufs[-1] / "Modelfile").read_text(encoding="utf-8"))

# %% [markdown]
# ## Verdicts
#
# One row per read-back. If the plain transformers + peft reload of the adapter does **not** pass while the merged
# model does, use the merged export wherever Unsloth is not available (vLLM, transformers, llama.cpp): it carries the
# base exactly as the adapter was trained on it. The column `adapter effect vs trained` says why they differ: small
# (a few %) means only the base differs (an adapter trained on the 4-bit base, applied to the 16-bit one); large means
# peft reads the adapter differently from how Unsloth trained it (see `lora_B_layout` in `adapter_config.json`).

# %%
table = export.verdict_table(verdicts)
table["adapter effect vs trained (%)"] = [
    None if v.details.get("adapter_effect_share") is None else round(100 * v.details["adapter_effect_share"], 2)
    for v in verdicts]
display(table)
sizes = {name: export.folder_size(out_root / name) for name in
         (["lora"] if "lora" in formats else []) + (["merged16"] if "merged16" in formats else [])
         + [f.name for f in ggufs]}
if sizes:
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(list(sizes), [b / 1e6 for b in sizes.values()], color="tab:blue")
    for i, b in enumerate(sizes.values()):
        ax.text(b / 1e6, i, f" {b / 1e6:,.1f} MB", va="center")
    ax.set_xlabel("size on disk (MB)")
    ax.set_title(f"Exports of {preset.name}")
    ax.margins(x=0.3)
    fig.tight_layout()
    plt.show()

# %%
figures.record("06_save_and_export", preset=preset.name, backend=backend, criterion=export.criterion_text(),
               verdicts=[v.row() for v in verdicts], sizes_mb={k: round(b / 1e6, 2) for k, b in sizes.items()},
               summary={"export": {v.export + " / " + v.compared_with.split(",")[0]: v.status for v in verdicts}})
failed = [f"{v.export} ({v.compared_with}): {v.reason}" for v in verdicts if v.passed is False]
if failed:
    raise export.ExportCheckFailed("not the fine-tuned model: " + " | ".join(failed))
unjudged = [v.export for v in verdicts if v.passed is None]
print("every export read back as the fine-tuned model" if not unjudged else
      f"no export failed; {unjudged} could not be judged (see 'why' above)")
