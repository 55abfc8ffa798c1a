# Generated from notebooks/01_load_and_lora.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 01 · Load gpt-oss-20b in 4-bit and attach LoRA
#
# The first step of the blog: load the model, attach small LoRA adapters (r=8, alpha=16, on q/k/v/o/gate/up/down) and
# see what that costs. On a CUDA GPU this is `unsloth/gpt-oss-20b` in 4-bit through Unsloth's `FastLanguageModel`;
# without one, the same steps run the CPU tutorial's model through transformers + peft. Both calls stand in the cells
# below with their arguments: change `r=` there and the run changes. Not only this run: notebooks 03 to 06, the
# command-line tools and the tests load the model by running these two cells (tagged `load-model` and
# `attach-lora`), so a value you change here and save is the one they use. We then ask one question at the three
# reasoning efforts, and record the model's answer to the blog's prompt *before* training, for notebook 04.
#
# What it costs: on the CPU tutorial 9 s for the whole notebook (`make run`, 2 cores); 28 s on the first run, which
# builds the model folder once from the GGUF in the PyPI wheel. On an H200 with a random-weight
# stand-in of gpt-oss-20b (docs/gpu-run.md): importing Unsloth ~30 s, the 4-bit load 14.5 s, 11.7 GiB of GPU
# memory reserved after the load and 12.4 GiB with LoRA.
# 16 GB and 24 GB cards: not measured.
#
# > 中文摘要：加载模型（GPU 上用 Unsloth 4-bit 加载 gpt-oss-20b，CPU 上用 transformers+peft 加载教学模型），挂上 LoRA（调用与参数都写在单元格里），实测可训练参数量与内存，并演示 low/medium/high 三档推理强度，保存训练前的回答供第 04 本对比。

# %% tags=["parameters"]
PRESET = "auto"        # auto | gpt-oss-20b | gpt-oss-120b | tiny-gpt-oss | smollm2-135m
MAX_NEW_TOKENS = None  # None: the preset's generation length
DEMO_QUESTION = "A train leaves at 9:40 and arrives at 13:15. How many minutes is the trip?"

# %%
from gpt_oss_tutorial import backends  # first: on a CUDA GPU this imports Unsloth before trl, transformers and peft

import time

import pandas as pd

from gpt_oss_tutorial import atomic, evaluate, figures, harmony, paths, presets

preset = presets.get_preset(PRESET, max_new_tokens=MAX_NEW_TOKENS)
backend = backends.backend_name(preset)  # "unsloth" on a CUDA GPU, "transformers+peft" elsewhere
source = backends.model_source(preset)   # the hub id, or the local folder of an offline preset
print(f"preset: {preset.name} - {preset.description}\nbackend: {backend}\nmodel: {source}")

# %% [markdown]
# ## Load the model
#
# On a GPU, the blog's call: Unsloth's `FastLanguageModel.from_pretrained` with 4-bit weights (`dtype=None` picks
# bf16 where the GPU supports it). Elsewhere transformers' `AutoModelForCausalLM.from_pretrained` with bf16 weights
# (float32 on a CPU without native bf16 arithmetic, AVX512-BF16 or AMX: most laptops and many servers, where PyTorch's
# bf16 matrix products fall back to a path more than ten times slower; the values are the same);
# gpt-oss needs `attn_implementation="eager"` there (its attention sinks), and the hub checkpoint's MXFP4 experts are
# de-quantized to bf16 (the OpenAI cookbook's route). Both give back a model and its tokenizer.

# %% tags=["load-model"]
start = time.perf_counter()
if backend == backends.UNSLOTH:
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=source,
        max_seq_length=preset.max_seq_length,
        load_in_4bit=preset.load_in_4bit,
        dtype=None,
    )
else:
    from transformers import AutoModelForCausalLM, AutoTokenizer, Mxfp4Config

    from_hub_gpt_oss = preset.is_gpt_oss and not preset.offline
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(
        source,
        dtype=backends.weights_dtype(),  # bf16; float32 on a CPU without native bf16 (there >10x faster)
        attn_implementation="eager" if preset.is_gpt_oss else None,
        quantization_config=Mxfp4Config(dequantize=True) if from_hub_gpt_oss else None,
        device_map="auto" if from_hub_gpt_oss else None,
        use_safetensors=True,
    )
load_seconds = time.perf_counter() - start
memory_after_load = backends.memory_report()
base_parameters = backends.parameter_report(model)
print(f"loaded in {load_seconds:.1f} s; {base_parameters['total']:,} parameters, {model.dtype}")

# %% [markdown]
# ## Attach LoRA
#
# `get_peft_model` freezes the base weights and adds two small matrices of rank `r` beside each targeted projection;
# `lora_alpha / r` scales what they add. On gpt-oss the MLP is a bank of *fused* experts (3-D parameters, not
# `nn.Linear`): Unsloth maps `gate_proj`, `up_proj` and `down_proj` onto `mlp.experts.gate_up_proj` / `down_proj`
# itself; with peft we name those parameters in `target_parameters`. The CPU tutorial's model also trains the
# embedding rows of the Harmony markers we added to its vocabulary (`trainable_token_indices`).

# %% tags=["attach-lora"]
if backend == backends.UNSLOTH:
    model = FastLanguageModel.get_peft_model(
        model,
        r=preset.lora_r,
        lora_alpha=preset.lora_alpha,
        target_modules=list(preset.lora_targets),
        lora_dropout=0,
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=preset.seed,
    )
else:
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    set_seed(preset.seed)  # LoRA's A matrices start random: same seed, same run
    attention = ["q_proj", "k_proj", "v_proj", "o_proj"]
    lora_config = LoraConfig(
        r=preset.lora_r,
        lora_alpha=preset.lora_alpha,
        target_modules=attention if preset.is_gpt_oss else list(preset.lora_targets),
        target_parameters=list(presets.GPT_OSS_EXPERT_PARAMETERS) if preset.is_gpt_oss else None,
        trainable_token_indices=(
            {"embed_tokens": backends.harmony_token_ids(tokenizer)} if preset.train_new_tokens else None),
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora_config)
    backends.patch_trainable_tokens_bias(model)  # plumbing: lets TRL's loss read the wrapped lm_head's bias
memory_after_lora = backends.memory_report()
lora_parameters = backends.parameter_report(model)

# %% [markdown]
# We also predict the count from the shapes alone — r·(in+out) per linear layer and r·E·(in+out) per expert tensor,
# using the `r` the model now has — and check that the library agrees. 4-bit weights are counted unpacked (the
# storage holds two values per byte).

# %%
lora_r = model.peft_config["default"].r
expected_trainable = backends.expected_lora_parameters(model, preset, r=lora_r)
pd.DataFrame([
    {"what": "trainable parameters (measured)", "value": f"{lora_parameters['trainable']:,}"},
    {"what": f"of which LoRA, predicted from shapes (r={lora_r})", "value": f"{expected_trainable:,}"},
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
# On the smollm2-135m CPU preset the measured count is a little above the prediction: the embedding rows of the seven
# Harmony markers are trained too, so the model can learn what `<|channel|>` or `<|return|>` mean.
#
# ## Reasoning effort: low, medium, high
#
# gpt-oss reads `Reasoning: low|medium|high` in its system message; the chat template writes it from the
# `reasoning_effort` argument. Generation is streamed and stops on `<|return|>` (answer done) or `<|call|>` (tool call).
# Before fine-tuning, the small CPU models do not know the Harmony format at all: that is what notebook 03 teaches.

# %%
if backend == backends.UNSLOTH:
    FastLanguageModel.for_inference(model)  # Unsloth's faster generation path
else:
    model.eval()
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
    "01_load_and_lora", preset=preset.name, backend=backend, load_seconds=round(load_seconds, 1),
    trainable_parameters=lora_parameters["trainable"], total_parameters=lora_parameters["total"],
    trainable_percent=round(lora_parameters["percent"], 4), expected_lora_parameters=expected_trainable,
    gpt_oss_20b_attention_only=attention_only, gpt_oss_20b_with_experts=with_experts,
    memory_after_load=memory_after_load, memory_after_lora=memory_after_lora,
)
