# Generated from notebooks/06_save_and_export.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 06 · Save and export
#
# A fine-tune is only useful once it leaves the notebook. This notebook saves the model of notebook 03 three ways and
# **reloads every export to prove it still computes the fine-tuned model**:
#
# 1. the **LoRA adapter** (a few MB; needs the base model next to it),
# 2. a **merged 16-bit model** (the adapter folded into the weights; a plain `transformers` model, ~42 GB for gpt-oss-20b),
# 3. **GGUF** for llama.cpp and Ollama, made by llama.cpp's own `convert_hf_to_gguf.py`, at f16 and one quantized type,
#    with an Ollama `Modelfile` that speaks Harmony.
#
# Each check feeds the same Harmony conversation (the *probe*) to the fine-tuned model and to the reloaded export and
# compares the logits against a stated tolerance. Every export is written to a temporary folder and renamed into place,
# checks the free disk space first, and is safetensors / GGUF only (no pickle). The same exports run headless with
# `python scripts/export_model.py --preset P --adapter DIR --format lora|merged16|gguf [--quant q8_0] --out DIR`.
#
# > 中文摘要：把第 03 本笔记训练的模型导出为三种格式——LoRA 适配器、合并后的 16 位模型、以及供 llama.cpp / Ollama 使用的 GGUF（f16 与 q8_0，附带 Harmony 格式的 Ollama Modelfile），并逐一重新加载、用同一段 Harmony 对话比较 logits，在给定容差内验证导出结果与微调模型一致。所有导出先检查磁盘空间、原子写入、只用 safetensors。

# %% tags=["parameters"]
# PRESET: "auto", "gpt-oss-20b", "gpt-oss-120b", "smollm2-135m" or "tiny-gpt-oss" (the adapter of notebook 03 for it
# must exist). SMOKE=True: the fast configuration the tests run (one GGUF type, a short generation).
PRESET = "auto"
SMOKE = False
FORMATS = ["lora", "merged16", "gguf"]  # any subset; GGUF needs a merged model (made in a temporary folder if absent)
GGUF_QUANT = "q8_0"  # the quantized GGUF type next to f16 ("q8_0" is written by the converter in Python)
MAX_NEW_TOKENS = 64  # generation with the exported GGUF

# %%
import pandas as pd
from IPython.display import display

from gpt_oss_tutorial import export, figures, gguf_tools, harmony, paths
from gpt_oss_tutorial.presets import get_preset

preset = get_preset(PRESET)
gguf_types = [GGUF_QUANT] if SMOKE else list(dict.fromkeys(["f16", GGUF_QUANT]))
max_new_tokens = 12 if SMOKE else MAX_NEW_TOKENS
adapter_dir = paths.require_adapter(preset.name)  # clear error if notebook 03 has not run for this preset
out_root = paths.stage_dir("export", preset.name)
print(f"preset: {preset.name}   adapter: {adapter_dir}")
print(f"exports go to: {out_root}   formats: {FORMATS}   GGUF types: {gguf_types if 'gguf' in FORMATS else '-'}")

# %% [markdown]
# ## The fine-tuned model, and the probe
#
# `export.load_reference` loads the base model with the adapter (`backends.load_adapter`, the same call notebooks 04 and
# 05 use) and runs the probe: a complete Harmony conversation (developer `reasoning language: French`, a user question,
# the assistant's analysis and final answer). It keeps three sets of logits:
#
# - the fine-tuned model as trained (bf16 base weights, fp32 LoRA),
# - the same model in fp32 (exact on the CPU presets: bf16 values are exact in fp32) -- **the reference**,
# - the base model alone (adapter disabled) -- how far an export that *lost* the fine-tuning would be.
#
# The difference between the first two is the model's own **bf16 noise floor**: how much its logits move just because
# it runs in bf16. A merged 16-bit export is rounded to bf16 once, so this is its yardstick: it must stay within twice the floor (the
# rounding of the merged weights comes on top, and in a mixture-of-experts model one rounding can flip the expert chosen
# for a token).

# %%
ref = export.load_reference(preset, adapter_dir)
print(ref.tokenizer.decode(ref.input_ids[0])[:600], "...")
display(pd.Series(ref.summary(), name="reference").to_frame())

# %% [markdown]
# ## 1. LoRA adapter
#
# What is saved is just the adapter (plus the tokenizer, whose Harmony markers and chat template the adapter relies on):
#
# ```python
# model.save_pretrained(out, safe_serialization=True)   # adapter_model.safetensors + adapter_config.json
# tokenizer.save_pretrained(out)
# # later, anywhere the base model is available:
# model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out)
# ```
#
# The check reloads it onto a *fresh* base model: the arithmetic is identical, so the tolerance is 1e-5 (0 expected).

# %%
results = []
if "lora" in FORMATS:
    lora = export.export_lora(ref, out_root / "lora")
    results.append(lora)
    display(pd.DataFrame([lora.row()]))
    print("files:", lora.files)

# %% [markdown]
# ## 2. Merged 16-bit model
#
# Merging folds `B @ A * alpha / r` into each adapted weight, so the result loads without peft and runs as fast as the
# base model:
#
# ```python
# merged = model.merge_and_unload()                       # transformers + peft (CPU, several GPUs)
# merged.save_pretrained(out, safe_serialization=True); tokenizer.save_pretrained(out)
# model.save_pretrained_merged(out, tokenizer, save_method="merged_16bit")   # Unsloth, on the GPU
# ```
#
# The merge runs in fp32 and the merged weights are rounded to bf16 once. Reloaded with
# `AutoModelForCausalLM.from_pretrained(out)` (eager attention for gpt-oss), its logits must stay within the bf16 noise
# floor of the fine-tuned model; the table also shows the adapter's own effect on the logits, which a merge that lost the
# adapter would miss by. On `smollm2-135m` the Harmony marker rows of the (tied) embedding were trained through peft's
# `trainable_token_indices`: the check also requires the merged embedding and output rows to equal them.

# %%
if "merged16" in FORMATS:
    merged = export.export_merged16(ref, out_root / "merged16")
    results.append(merged)
    display(pd.DataFrame([merged.row()]))
    keys = ["logit_scale", "bf16_noise_floor", "lora_effect", "argmax_agreement", "harmony_rows_equal",
            "output_rows_equal"]
    shown = {k: merged.check.details[k] for k in keys if k in merged.check.details}
    display(pd.Series(shown, name="merged16 check", dtype=object).to_frame())

# %% [markdown]
# ## 3. GGUF for llama.cpp and Ollama
#
# The converter is llama.cpp's own `convert_hf_to_gguf.py`. PyPI has no binary wheel of `llama-cpp-python` (building it
# takes ~17 min on 2 cores), but its source distribution carries llama.cpp, whose converter is pure Python and writes
# f16 and q8_0 by itself. `gguf_tools.ensure_converter()` downloads that sdist once (version and sha256 pinned in
# `requirements-gguf.txt`), extracts only the converter, its `conversion/` package and the newer `gguf-py` it vendors
# into `.cache/llama.cpp/`, and runs nothing else from it. Then, per GGUF type:
#
# ```text
# python .cache/llama.cpp/0.3.36/convert_hf_to_gguf.py outputs/export/<preset>/merged16 --outtype q8_0 --outfile model.gguf
# ```
#
# How each GGUF is checked:
#
# - **llama family (smollm2)**: read back by transformers' GGUF loader,
#   `AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.gguf")`, and compared with the merged model:
#   f16 within 1e-3 x the logit scale, q8_0 with at least 90% of the next-token arg-maxes unchanged; the GGUF's own
#   tokenizer must give the same token ids (the Harmony markers are single special tokens there too).
# - **gpt-oss**: transformers cannot read gpt-oss GGUFs back, so each tensor is de-quantized with gguf-py and compared
#   with the merged weights within the rounding of its storage type. What the converter does with the experts is read
#   from the file: float experts (a merged fine-tune) stay float -- F16 / Q8_0 -- with the warning
#   *"not in MXFP4, performance may be degraded"*; only an MXFP4 source checkpoint keeps MXFP4 experts.

# %%
from tqdm.auto import tqdm

if "gguf" in FORMATS:
    for quant in tqdm(gguf_types, desc="GGUF"):
        g = export.export_gguf(ref, out_root / f"gguf-{quant}", quant=quant, check_tokenizer=quant == gguf_types[0])
        results.append(g)
        if g.skipped:
            print(f"gguf-{quant} SKIPPED: {g.skipped}")
            continue
        print(f"gguf-{quant}: converted in {g.extra['convert_seconds']} s with:")
        print("   ", " ".join(g.extra["command"]))
        print(f"    file type {g.extra['file_type']}, tensor types {g.extra['tensor_types']}")
        for note in g.notes:
            print("    note:", note)
    display(pd.DataFrame([r.row() for r in results if r.format.startswith("gguf")]))

# %% [markdown]
# ### Generate with the GGUF
#
# For the llama-family preset the GGUF model that the check read back (`AutoModelForCausalLM.from_pretrained(folder,
# gguf_file="model.gguf")` with the GGUF's own tokenizer) continues a Harmony prompt. A gpt-oss GGUF needs llama.cpp
# itself: with `llama-cpp-python` built from source (see `requirements-gguf.txt`) `gguf_tools.llama_cpp_generate` runs
# it; otherwise this cell says so.

# %%
prompt = export.generation_prompt()
ggufs = [r for r in results if r.format.startswith("gguf") and not r.skipped]
generated = {}
for g in ggufs:
    if g.reloaded is not None:
        model, tok = g.reloaded
        generated[g.format] = export.generate(model, tok, prompt, max_new_tokens=max_new_tokens)
    elif gguf_tools.llama_cpp_available():
        generated[g.format] = gguf_tools.llama_cpp_generate(g.path / export.GGUF_NAME, prompt,
                                                            max_tokens=max_new_tokens)
    else:
        print(f"{g.format}: not generated -- transformers cannot run a {g.extra.get('architecture')} GGUF and "
              "llama-cpp-python is not installed. To run it: "
              + gguf_tools.LLAMA_CPP_INSTALL.format(version=gguf_tools.converter_pin().version))
for name, text in generated.items():
    parsed = harmony.parse_harmony(text)
    print(f"--- {name} (greedy, {max_new_tokens} new tokens at most)\n{text}\n")
    print(f"    Harmony valid: {parsed.valid}; analysis: {parsed.analysis!r:.80}; final: {parsed.final!r:.80}")

# %% [markdown]
# ### The Ollama Modelfile
#
# Written next to each GGUF: `FROM ./model.gguf`, a Go `TEMPLATE` that renders Harmony (system block with the date and
# reasoning level, the `SYSTEM` prompt as the developer message, user turns, earlier assistant turns as their final
# message), and the two Harmony stop tokens `<|return|>` and `<|call|>` -- never `<|end|>`, which only closes the
# analysis. With Ollama installed: `cd outputs/export/<preset>/gguf-q8_0 && ollama create my-model -f Modelfile`.

# %%
if ggufs:
    print((ggufs[-1].path / "Modelfile").read_text())

# %% [markdown]
# ## Summary
#
# One row per export: size on disk, what was compared, the measured difference, the tolerance, and the verdict.

# %%
import matplotlib.pyplot as plt

table = export.results_table(results)
display(table)

made = [r for r in results if r.path is not None]
if made:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = ["tab:green" if r.passed else ("tab:gray" if r.passed is None else "tab:red") for r in made]
    ax.barh([r.format for r in made], [r.size_bytes / 1e6 for r in made], color=colors)
    for i, r in enumerate(made):
        ax.text(r.size_bytes / 1e6, i, f" {r.size_bytes / 1e6:,.1f} MB", va="center")
    ax.set_xlabel("size on disk (MB)")
    ax.set_title(f"Exports of {preset.name} (green: reload check passed)")
    ax.margins(x=0.25)
    fig.tight_layout()
    plot_path = out_root / "export_sizes.png"
    tmp = plot_path.with_name(".export_sizes.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(plot_path)
    plt.show()

# %%
found = export.figures(results, ref)
figures.record(
    "06_save_and_export",
    preset=preset.name,
    smoke=SMOKE,
    **found,
    summary={"export": {r.format: {"size_mb": found[r.format.replace("-", "_")]["size_mb"], "passed": r.passed,
                                   "skipped": r.skipped} for r in results}},
)
failed = [r.format for r in results if r.check is not None and not r.check.passed]
if failed:
    raise RuntimeError(f"export check failed for {failed}: see the table above (and export_check.json in each folder)")
print("every export reloaded and matched the fine-tuned model within its tolerance"
      + ("" if all(not r.skipped for r in results) else " (some skipped: see above)"))
