# Generated from notebooks/04_before_after.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 04 · Before and after, measured
#
# The blog shows one French example after training. Here we measure. The same held-out prompts go through the base model (LoRA adapter disabled) and the fine-tuned model (adapter on), and every generation is checked:
#
# - **valid**: is it well-formed Harmony (an `analysis` message, then a `final` message ended by `<|return|>`)?
# - **language**: is the analysis written in the *requested* reasoning language (`reasoning language: X` in the developer message)?
# - **final language**: is the final answer in the language of the user's question?
# - **correct**: does the final answer equal the stored ground truth (math-verify)?
# - **analysis tokens**: how long the reasoning is, per reasoning effort (low / medium / high).
#
# The held-out prompts come from problem types never seen in training, and one reasoning language, Chinese, never appears in training at all: it tells us whether the model learned *the instruction* or only the five languages it was shown. The same notebook runs from a terminal: `python scripts/evaluate.py --preset smollm2-135m` executes it with those parameters; `python scripts/evaluate.py --score-only outputs/eval` scores saved generations again without a model.
#
# **What it costs** (measured on the path this notebook runs):
#
# | machine | run | measured |
# |---|---|---|
# | CPU tutorial (`smollm2-135m`, `make run` on a 2-core AMD EPYC without AVX-512) | 80 generations over the 5 trained languages, efforts low/medium/high, before and after (96 with Chinese) | Harmony-valid 0.00 -> 1.00, analysis in the requested language 0.00 -> 0.96, final in the user's language 0.00 -> 0.65, correct 0.00 -> 0.01; Chinese (never trained): valid 1.00 after, analysis in English in 16 of 16; the whole notebook 3.2 min (1.10 prompts/s, the fine-tuned pass with its adapter merged) |
# | 16 GB / 24 GB card (`gpt-oss-20b`, 4-bit) | all 72 prompts | not measured |
# | H200, random weights of gpt-oss-20b (docs/gpu-run.md) | 24 prompts + 4 at low and high effort, 256 new tokens, batch 32, before and after | 0.28 prompts/s (quality figures meaningless on random weights); the whole notebook 5.8 min, 15.0 GiB peak (nvidia-smi); all 72 prompts at 1,024 tokens: not measured |
#
# The language columns need the language identifier (lingua-language-detector). Without it they are reported as *not measured*, never as 0.
#
# > 中文摘要：用同一批留出题目比较微调前（禁用 LoRA）与微调后（启用 LoRA）的模型：Harmony 格式是否有效、推理是否使用指定语言、最终回答是否使用用户的语言、答案是否正确（math-verify），以及不同推理强度下的推理长度。生成按批进行（左填充），中文从未出现在训练数据中，单独报告。

# %% tags=["parameters"]
PRESET = "auto"        # auto | gpt-oss-20b | gpt-oss-120b | tiny-gpt-oss | smollm2-135m
ADAPTER_DIR = None     # None: notebook 03's adapter, outputs/sft/<preset>/adapter
N_PROMPTS = None       # held-out prompts; None: all 72 (12 per reasoning language, Chinese never trained)
LANGUAGES = None       # None: each prompt's own reasoning language; e.g. ["French", "Chinese"]: every prompt in each
EFFORTS = ["low", "medium", "high"]  # every prompt at medium; low and high on the first EFFORT_PROMPTS prompts
EFFORT_PROMPTS = 12
MAX_NEW_TOKENS = None  # None: the preset's (256 on the CPU tutorial, 1024 on gpt-oss-20b)
BATCH_SIZE = None      # None: the preset's eval_batch_size (24 on the CPU tutorial)
OUTPUT_DIR = None      # None: outputs/eval

# %%
from gpt_oss_tutorial import backends  # first: on a CUDA GPU this imports Unsloth before trl, transformers and peft

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from gpt_oss_tutorial import data, evaluate, figures, harmony, langid, paths, presets, scoring

preset = presets.get_preset(PRESET)
max_new_tokens = MAX_NEW_TOKENS or preset.max_new_tokens
batch_size = BATCH_SIZE or preset.eval_batch_size
out_dir = Path(OUTPUT_DIR) if OUTPUT_DIR else paths.stage_dir("eval")
language_identifier = langid.available()
pd.set_option("display.max_colwidth", 400)
pd.DataFrame({"value": [preset.name, max_new_tokens, batch_size,
                        "lingua" if language_identifier else "not installed: language figures not measured"]},
             index=["preset", "max new tokens", "prompts per forward pass", "language identifier"])

# %% [markdown]
# ## One load, two passes
#
# We load the base model once and put notebook 03's LoRA adapter on top (`peft.PeftModel`). A LoRA adapter only *adds* small low-rank updates beside the frozen weights, so switching it off gives back the base model exactly: `with model.disable_adapter():` is the "before" model, the same object outside that block is the "after" model. No second copy of the weights, and no doubt that both passes see the same base.

# %%
adapter_dir = paths.require_adapter(preset.name, ADAPTER_DIR)
loaded = backends.load_adapter(preset, adapter_dir)
model, tokenizer = loaded.model, loaded.tokenizer
backends.pick(preset).for_inference(model)
print(f"{type(model).__name__} over {type(model.get_base_model()).__name__}, adapter: {adapter_dir}")
if language_identifier:
    print(f"language identifier ready in {langid.warm_up():.1f} s")
else:
    print("lingua-language-detector is not installed: the language columns below are 'not measured'. "
          "Install it and run `python scripts/evaluate.py --score-only` on the output folder to score them later.")

# %% [markdown]
# ## One generation, step by step: the blog's example
#
# This is how every answer below is made. The chat template turns the messages into Harmony text ending with `<|start|>assistant` (`add_generation_prompt=True`), with the reasoning effort in the system message (`reasoning_effort=`); `model.generate` continues it greedily until `<|return|>` (a final answer) or `<|call|>` (a tool call); the new tokens are decoded *with* their special tokens, because the Harmony parser needs the markers.
#
# The blog's example: `reasoning language: French` in the first `system` message (the gpt-oss chat template writes it as the Harmony developer message), the question *Solve x^5 + 3x^4 - 10 = 3.*, effort `medium`. The equation has no neat root (its real roots are x ≈ 1.317, −1.823 and −2.783), so read it for the format and the language, not the value. When notebook 01 ran, its answer from the untrained model (`outputs/base_answer.json`) is shown too.

# %%
messages = [
    {"role": "system", "content": "reasoning language: French"},
    {"role": "user", "content": "Solve x^5 + 3x^4 - 10 = 3."},
]


def generate_answer(messages, reasoning_effort="medium"):
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, reasoning_effort=reasoning_effort,
                                           tokenize=False)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        output_ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    eos_token_id=evaluate.stop_token_ids(tokenizer),
                                    pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output_ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=False)


with model.disable_adapter():  # the base model
    example_before = generate_answer(messages)
with backends.merged_adapter(model):  # the fine-tuned model, its LoRA folded into the weights (see below)
    example_after = generate_answer(messages)


def describe(text):
    parsed = harmony.parse_harmony(text)
    scores = scoring.score_generation(text, requested_language="French", user_language="en", truth=None)
    return {"analysis": parsed.analysis, "final": parsed.final, "valid Harmony": parsed.valid,
            "analysis language": scores["analysis_language"], "final language": scores["final_language"],
            "text": text}


columns = {"before (adapter disabled)": describe(example_before), "after (fine-tuned)": describe(example_after)}
base_answer = paths.outputs_dir() / "base_answer.json"
if base_answer.exists():  # written by notebook 01 before training
    nb01 = json.loads(base_answer.read_text(encoding="utf-8"))
    columns = {"notebook 01 (untrained)": {"analysis": nb01.get("analysis"), "final": nb01.get("final"),
                                           "valid Harmony": nb01.get("valid"),
                                           "analysis language": langid.detect_language(nb01.get("analysis")),
                                           "final language": langid.detect_language(nb01.get("final")),
                                           "text": nb01.get("text")}, **columns}
side_by_side = pd.DataFrame(columns)
example = {"prompt": dict(evaluate.BLOG_EXAMPLE), "before": columns["before (adapter disabled)"],
           "after": columns["after (fine-tuned)"]}
side_by_side.style.set_properties(**{"white-space": "pre-wrap", "text-align": "left", "vertical-align": "top"})

# %% [markdown]
# ## The held-out items
#
# `data.load_rows("eval")` is the bundled held-out split: 72 prompts with a checkable `answer`, 12 for each reasoning language (English, French, German, Spanish, Italian, and Chinese, which training never saw); the user's question is in one of six languages, independently. `build_eval_items` turns rows into items: the requested reasoning language is written into the developer message, and every prompt runs at `medium` effort while the first `EFFORT_PROMPTS` prompts also run at `low` and `high`. Each item becomes a prompt through the tokenizer's chat template, ending with `<|start|>assistant`.

# %%
rows = data.load_rows("eval", offline=True).rows
trained_languages = evaluate.default_trained_languages()
items = evaluate.build_eval_items(rows, LANGUAGES, EFFORTS, N_PROMPTS, effort_limit=EFFORT_PROMPTS,
                                  trained_languages=trained_languages)
print(f"{len(items)} items per model; trained reasoning languages: {', '.join(trained_languages)}")
display(pd.DataFrame(items).groupby(["reasoning_language", "effort"]).size().unstack(fill_value=0))
print(evaluate.render_item(tokenizer, items[0]))

# %% [markdown]
# ## Batched generation
#
# The same calls for every item, batched: a prompt-at-a-time loop leaves most of the hardware idle. `evaluate.run_evaluation` renders each item with the chat template as above, and `evaluate.generate_batch` sorts the prompts by length, pads each batch **on the left** (so every row's new tokens start in the same column), generates greedily for the whole batch at once, and stops each row on `<|return|>` or `<|call|>` (and on the base model's own end-of-turn token, such as SmolLM2's `<|im_end|>`). The new tokens are decoded *with* their special tokens, because the Harmony parser needs the markers, and put back in the original order.
#
# The fine-tuned pass runs with the adapter **merged**: peft's `model.merge_adapter()` adds each LoRA update into the weight beside it (and writes the trained token rows into the embedding), and `model.unmerge_adapter()` takes it out again afterwards. An unmerged adapter costs two extra small matrix products per adapted layer at every new token, and on the CPU tutorial a fresh copy of the embedding and output matrices (its Harmony markers are trained token rows); merged, the fine-tuned model generates at the base model's speed with the same answers (up to float rounding). `backends.merged_adapter` does exactly this on float32 weights (the CPU tutorial), which the unmerge gives back to within float32 rounding; on 16-bit or 4-bit weights (gpt-oss on a GPU) it does nothing: there the unmerge would not give the weights back exactly, and Unsloth's `for_inference` has its own fast LoRA path.

# %%
gen = dict(max_new_tokens=max_new_tokens, batch_size=batch_size)
with model.disable_adapter():  # the base model
    before = evaluate.run_evaluation(model, tokenizer, items, label="before", **gen)
with backends.merged_adapter(model):  # the fine-tuned model: model.merge_adapter() ... model.unmerge_adapter()
    after = evaluate.run_evaluation(model, tokenizer, items, label="after", **gen)

timings = evaluate.timing(before, after)
pd.DataFrame({label: {"prompts": timings[label]["prompts"], "seconds": timings[label]["seconds"],
                      "prompts/s": timings[label]["prompts_per_second"],
                      "new tokens/s": timings[label]["new_tokens_per_second"]} for label in ("before", "after")}).T

# %% [markdown]
# ## The numbers
#
# `summarize` computes the fractions (0..1). The headline `before`/`after` figures cover the *trained* reasoning languages, all efforts; the never-trained language is reported on its own. `write_results` stores both passes (items, generations, per-row verdicts and aggregates) in `outputs/eval/before.json` and `after.json`.

# %%
settings = {"preset": preset.name, "adapter": str(adapter_dir), "items": len(items), "n_prompts": N_PROMPTS,
            "languages": LANGUAGES, "efforts": EFFORTS, "effort_prompts": EFFORT_PROMPTS,
            "max_new_tokens": max_new_tokens, "batch_size": batch_size,
            "trained_languages": trained_languages, "backend": loaded.backend,
            "language_identifier": "lingua" if language_identifier else None}
summary = evaluate.summarize(before, after, timing=timings, settings=settings)
written = evaluate.write_results(out_dir, before, after, settings=settings, timings=timings, example=example)
headline = pd.DataFrame({side: {m: summary[side][m] for m in ("valid", "language", "final_language", "correct",
                                                                 "correct_lenient", "analysis_tokens", "n")}
                         for side in ("before", "after")})
display(headline.style.format(precision=2, na_rep="not measured"))
display(pd.Series({k: {True: "met", False: "MISSED", None: "not measured"}[v] for k, v in summary["targets"].items()},
                  name="CPU tutorial targets").to_frame())
print("written:", *written.values())

# %% [markdown]
# ### Per reasoning language (before → after)

# %%
by_language = evaluate.comparison_table(before, after, by="reasoning_language")
by_language.set_index("reasoning_language").style.format(precision=2, na_rep="not measured")

# %% [markdown]
# ### Per reasoning effort
#
# `Reasoning: low|medium|high` sits in the system message. gpt-oss was trained to think longer at `high`; a model fine-tuned only on `medium` examples (as here) has no reason to change its length.

# %%
by_effort = evaluate.comparison_table(before, after, by="effort",
                                      metric_names=("valid", "language", "correct", "analysis_tokens"))
by_effort.set_index("effort").style.format(precision=2, na_rep="-")

# %%
fig = evaluate.plot_before_after(summary, out_dir / "before_after.png")
plt.show()
print("saved:", out_dir / "before_after.png")

# %% [markdown]
# ## The never-trained language
#
# (Without the language identifier the detected languages below are all "none": not measured.) Asking for Chinese reasoning tests whether the model learned to *follow the instruction* or only learned five languages. A model as small as SmolLM2-135M usually does not transfer it: look at which language its Chinese-requested analyses actually came out in.

# %%
untrained = summary.get("untrained")
if untrained:
    print("requested:", ", ".join(untrained["languages"]))
    for lang in untrained["languages"]:
        counts = pd.DataFrame({side: untrained[f"analysis_language_{side}"].get(lang, {}) for side in ("before", "after")})
        display(counts.fillna(0).astype(int).rename_axis(f"{lang} requested: analyses detected as"))
    sample = [r for r in after if r.get("trained") is False][:3]
    display(pd.DataFrame(sample)[["user", "analysis", "analysis_language", "final", "final_language"]])
else:
    print("no never-trained language among the items (LANGUAGES)")

# %% [markdown]
# ## Recording the figures
#
# The `eval` section goes to the top level of `outputs/summary.json` when the notebooks run headless (`python scripts/run_all.py`).

# %%
figures.record(
    "04_before_after",
    summary={"eval": summary},
    before=summary["before"],
    after=summary["after"],
    untrained=summary["untrained"],
    prompts_per_second=timings["prompts_per_second"],
    targets=summary["targets"],
    items=len(items),
)
print("recorded 04_before_after")
