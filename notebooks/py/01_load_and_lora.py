# Generated from notebooks/01_load_and_lora.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 01 · Load gpt-oss-20b in 4-bit and attach LoRA
#
# The first step of the blog: load the model, attach small LoRA adapters (r=8, alpha=16, on q/k/v/o/gate/up/down) and
# see what that costs. On a CUDA GPU this is `unsloth/gpt-oss-20b` in 4-bit through Unsloth; without one, the same
# calls run the CPU tutorial's model through transformers + peft. We then ask one question at the three reasoning
# efforts (streamed, stopping on `<|return|>`), and record the model's answer to the blog's prompt *before* training,
# for notebook 04.
#
# > 中文摘要：加载模型（GPU 上用 Unsloth 4-bit 加载 gpt-oss-20b，CPU 上用 transformers+peft 加载教学模型），挂上 LoRA，实测可训练参数量与内存，并演示 low/medium/high 三档推理强度，保存训练前的回答供第 04 本对比。

# %% tags=["parameters"]
PRESET = "auto"        # auto | gpt-oss-20b | gpt-oss-120b | tiny-gpt-oss | smollm2-135m
SMOKE = False          # True: the tiny configuration the tests run
MAX_NEW_TOKENS = None  # None: the preset's generation length
DEMO_QUESTION = "A train leaves at 9:40 and arrives at 13:15. How many minutes is the trip?"

# %%
import time

import pandas as pd

from gpt_oss_tutorial import atomic, backends, evaluate, figures, harmony, paths, presets

preset = presets.get_preset(PRESET, max_new_tokens=MAX_NEW_TOKENS or (24 if SMOKE else None))
print(f"preset: {preset.name} - {preset.description}")

# %% [markdown]
# ## Load the model
#
# `backends.pick` chooses **Unsloth** when a CUDA GPU is present (its `FastLanguageModel.from_pretrained(...,
# load_in_4bit=True)`, the blog's call) and **transformers + peft** otherwise (`AutoModelForCausalLM.from_pretrained`
# with bf16 weights; gpt-oss needs `attn_implementation="eager"` there). Both give back a model and its tokenizer.

# %%
backend = backends.pick(preset)
print("backend:", backend.name)

start = time.perf_counter()
model, tokenizer = backend.from_pretrained(preset)
load_seconds = time.perf_counter() - start
memory_after_load = backends.memory_report()
base_parameters = backends.parameter_report(model)
print(f"loaded in {load_seconds:.1f} s; {base_parameters['total']:,} parameters")

# %% [markdown]
# ## Attach LoRA
#
# `get_peft_model` freezes the base weights and adds two small matrices (rank r) beside each targeted projection.
# On gpt-oss the MLP is a bank of *fused* experts (3-D parameters, not `nn.Linear`): Unsloth maps `gate_proj`,
# `up_proj` and `down_proj` onto `mlp.experts.gate_up_proj` / `down_proj` itself; with peft we name those parameters
# in `target_parameters`. We also predict the count from the module shapes alone — r·(in+out) per linear layer and
# r·E·(in+out) per expert tensor — and check that the library agrees.

# %%
expected_trainable = backends.expected_lora_parameters(model, preset)
model = backend.get_peft_model(model, tokenizer, preset)
memory_after_lora = backends.memory_report()
lora_parameters = backends.parameter_report(model)

pd.DataFrame([
    {"what": "trainable parameters (measured)", "value": f"{lora_parameters['trainable']:,}"},
    {"what": "of which LoRA, predicted from shapes", "value": f"{expected_trainable:,}"},
    {"what": "total parameters", "value": f"{lora_parameters['total']:,}"},
    {"what": "share trained", "value": f"{lora_parameters['percent']:.3f} %"},
    {"what": "memory after load", "value": backends.format_memory(memory_after_load)},
    {"what": "memory after LoRA", "value": backends.format_memory(memory_after_lora)},
]).set_index("what")

# %% [markdown]
# ### Why not the blog's "3,981,312 trainable parameters (0.02%)"?
#
# The blog ran Unsloth 2025.8.5, which put LoRA on the attention projections only: the experts were not adapted.
# Today's Unsloth (and our peft route) also adapts the fused experts through `gate_proj/up_proj/down_proj`. Computed
# from the real gpt-oss-20b shapes (built on PyTorch's `meta` device: no download, no memory):

# %%
config_20b = backends.gpt_oss_20b_config()
blog_preset = presets.get_preset("gpt-oss-20b")
attention_only = backends.lora_parameters_for_config(config_20b, blog_preset, attention_only=True)
with_experts = backends.lora_parameters_for_config(config_20b, blog_preset)
pd.DataFrame([
    {"LoRA r=8 on": "q/k/v/o only (the blog, Aug 2025)", "trainable": f"{attention_only:,}"},
    {"LoRA r=8 on": "q/k/v/o + experts' gate/up/down (today)", "trainable": f"{with_experts:,}"},
]).set_index("LoRA r=8 on")

# %% [markdown]
# On the smollm2-135m CPU preset the measured count is a little above the prediction: it also trains the embedding rows
# of the seven Harmony markers we added to its vocabulary (peft `trainable_token_indices`), so the model can learn
# what `<|channel|>` or `<|return|>` mean.
#
# ## Reasoning effort: low, medium, high
#
# gpt-oss reads `Reasoning: low|medium|high` in its system message; the chat template writes it from the
# `reasoning_effort` argument. Generation is streamed and stops on `<|return|>` (answer done) or `<|call|>` (tool call).
# Before fine-tuning, the small CPU models do not know the Harmony format at all: that is what notebook 03 teaches.

# %%
backend.for_inference(model)
effort_runs = []
for effort in harmony.REASONING_EFFORTS:
    messages = [{"role": "system", "content": "reasoning language: English"}, {"role": "user", "content": DEMO_QUESTION}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, reasoning_effort=effort)
    print(f"\n=== reasoning_effort={effort} ===")
    out = evaluate.stream_generate(model, tokenizer, prompt, max_new_tokens=preset.max_new_tokens)
    parsed = harmony.parse_harmony(out.text)
    effort_runs.append({"effort": effort, "new tokens": out.new_tokens, "valid Harmony": parsed.valid,
                        "analysis chars": len(parsed.analysis or "")})
pd.DataFrame(effort_runs).set_index("effort")

# %% [markdown]
# ## The blog's prompt, before training
#
# The blog asks, with the developer message `reasoning language: French`, to solve x⁵ + 3x⁴ − 10 = 3 (effort medium).
# We keep the answer in `outputs/base_answer.json`; notebook 04 shows it beside the fine-tuned answer.

# %%
blog_messages = [{"role": "system", "content": "reasoning language: French"},
                 {"role": "user", "content": "Solve x^5 + 3x^4 - 10 = 3."}]
blog_prompt = tokenizer.apply_chat_template(blog_messages, tokenize=False, add_generation_prompt=True,
                                            reasoning_effort="medium")
blog_out = evaluate.stream_generate(model, tokenizer, blog_prompt, max_new_tokens=preset.max_new_tokens)
blog_parsed = harmony.parse_harmony(blog_out.text)
atomic.write_json(paths.outputs_dir() / "base_answer.json", {
    "preset": preset.name, "messages": blog_messages, "reasoning_effort": "medium", "text": blog_out.text,
    "analysis": blog_parsed.analysis, "final": blog_parsed.final, "valid": blog_parsed.valid,
})
print("\nvalid Harmony:", blog_parsed.valid, blog_parsed.errors)

# %%
figures.record(
    "01_load_and_lora", preset=preset.name, backend=backend.name, load_seconds=round(load_seconds, 1),
    trainable_parameters=lora_parameters["trainable"], total_parameters=lora_parameters["total"],
    trainable_percent=round(lora_parameters["percent"], 4), expected_lora_parameters=expected_trainable,
    gpt_oss_20b_attention_only=attention_only, gpt_oss_20b_with_experts=with_experts,
    memory_after_load=memory_after_load, memory_after_lora=memory_after_lora,
)
