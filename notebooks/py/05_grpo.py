# Generated from notebooks/05_grpo.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 05 · Bonus: GRPO with a format reward and a correctness reward
#
# SFT (notebook 03) imitates reference answers. **GRPO** (Group Relative Policy Optimization, the RL method of DeepSeek-R1) needs no reference answer, only a way to *score* one: for each prompt the model samples a group of completions, reward functions score them, and the policy is pushed towards the completions that beat their group's average. Here the scores are a **format reward** (Harmony structure: an analysis, then a final answer with a value in it, not overlong) and a **correctness reward** (the final answer checked with math-verify against the row's ground truth), combined 0.3 / 0.7. A third reward -- reasoning in the requested language, the topic of this tutorial -- is computed and plotted with weight 0 (turn it on in `WEIGHTS`).
#
# The reward functions are written out below, and `GRPOConfig(...)` and `GRPOTrainer(...)` are called in this notebook with their arguments visible: change a value in its cell and re-run. On a CUDA GPU the trainer is Unsloth's patched `GRPOTrainer` (importing Unsloth first patches TRL's), with the memory-saving settings of Unsloth's gpt-oss GRPO notebook; elsewhere it is TRL's own. GRPO starts from the SFT adapter of notebook 03 when it exists. The same notebook runs headless: `python scripts/train_grpo.py --preset P [--max-steps N]` executes it with those parameters.
#
# **What it costs** (measured on the path this notebook runs):
#
# | machine | run | measured |
# |---|---|---|
# | CPU tutorial (`smollm2-135m`, `make run` on a 2-core AMD EPYC without AVX-512) | 8 GRPO steps, 4 completions per prompt, 16 held-out prompts | held-out reward -0.40 -> -0.10 (format 0.56 -> 0.97, correctness -0.81 -> -0.56); 31.7 s per step, the whole notebook 5.2 min |
# | 16 GB / 24 GB card (`gpt-oss-20b`, 4-bit) | the preset's settings | not measured |
# | H200, random weights of gpt-oss-20b (docs/gpu-run.md) | 3 steps at the preset's settings (4 completions of up to 384 tokens), 4 held-out prompts | 68.8 s per step (a random model never ends its answer: every completion runs to the cap), 15.2 GiB peak (nvidia-smi); the whole notebook 5.9 min |
#
# > 中文摘要：用 TRL 的 GRPOTrainer（GPU 上为 Unsloth 版本）在 SFT 适配器之上做强化学习：格式奖励（Harmony 结构、可解析的答案、过长惩罚）与正确性奖励（math-verify 对照标准答案）按 0.3/0.7 加权；绘制每步平均奖励及各分量，报告训练前后的留出集奖励，并说明同一套奖励函数如何用于 Qwen/DeepSeek 的 `<think>` 与 Llama 3 等其他聊天格式。

# %% tags=["parameters"]
PRESET = "auto"         # auto | gpt-oss-20b | gpt-oss-120b | tiny-gpt-oss | smollm2-135m
MAX_STEPS = None        # GRPO steps; None: the preset's grpo_steps
GENERATIONS = None      # completions sampled per prompt (the group); None: the preset's grpo_generations
MAX_COMPLETION = None   # max new tokens per completion; None: the preset's grpo_max_completion
LEARNING_RATE = None    # None: the preset's grpo_learning_rate
WEIGHTS = {"format": 0.3, "correctness": 0.7, "language": 0.0}  # language: logged, not rewarded
HELDOUT = 16            # held-out prompts scored before and after GRPO (greedy); 0: skip
START = "auto"          # "auto": the SFT adapter of notebook 03 if it exists, else a fresh LoRA; "fresh"
ADAPTER_DIR = None      # start from this adapter instead of notebook 03's (outputs/sft/<preset>/adapter)
OUTPUT_DIR = None       # None: outputs/grpo/<preset>/

# %%
from gpt_oss_tutorial import backends  # first: on a CUDA GPU this imports Unsloth before trl, transformers and peft

from pathlib import Path

import pandas as pd
import torch
from IPython.display import Markdown, display

from gpt_oss_tutorial import data, figures, grpo, paths, plots, presets, rewards

preset = presets.get_preset(PRESET, grpo_steps=MAX_STEPS, grpo_generations=GENERATIONS,
                            grpo_max_completion=MAX_COMPLETION, grpo_learning_rate=LEARNING_RATE)
output_dir = Path(OUTPUT_DIR) if OUTPUT_DIR else paths.stage_dir("grpo", preset.name)
pd.DataFrame({"value": [preset.name, preset.grpo_steps, preset.grpo_generations, preset.grpo_max_completion,
                        preset.grpo_learning_rate, preset.optim, ", ".join(f"{k} {v}" for k, v in WEIGHTS.items()),
                        HELDOUT]},
             index=["preset", "GRPO steps", "generations per prompt (the group)", "max completion tokens",
                    "learning rate", "optimizer on a GPU", "reward weights", "held-out prompts"])

# %% [markdown]
# ## 1 · Reward design
#
# A reward function has TRL's signature: `func(completions, **kwargs) -> list[float]`, one float per completion. TRL passes the dataset's other columns as keyword arguments, so `correctness_reward` receives each row's `answer` and `language_reward` its `reasoning_language`. The three below are the ones this notebook trains with. Each scores one completion with a small helper of `gpt_oss_tutorial.rewards` (`format_score`, `correctness_score`, `language_score`: parsing the Harmony channels, extracting the answer, math-verify, language identification). Those helpers never raise -- a reward function that crashes would stop a training run, so any input (empty text, `None`, a chat-message list, bytes...) gets a number -- and their cost is linear in the text (a 1 MB completion or a 100,000-character answer is scored in well under a second).
#
# What the numbers encode:
#
# * **Partial credit.** `format_reward` gives +0.25 for each of: reasoning present, final answer present, well-formed Harmony (`parse_harmony(...).valid`), an answer value extractable from the final. A model that gets half the structure right is better than one that gets none, and GRPO can only learn from *differences* inside a group: all-or-nothing rewards give a zero advantage to every completion of a group that fails alike (TRL logs this as `frac_reward_zero_std`).
# * **Asymmetric correctness.** +1 correct, -0.5 wrong, -1 no answer at all: committing to a checkable answer beats rambling, yet a wrong answer still loses. Answers are compared with math-verify (`59`, `59.0`, `\boxed{59}` and `59 euros` all match 59).
# * **Weights.** 0.3 format + 0.7 correctness: correctness dominates; format is the stepping stone (after SFT it is mostly earned already). TRL sums `reward_weights[i] * reward_i` and normalises within each group, so only the weights' ratio and the spread inside a group matter.
# * **Length penalty.** -0.5 when a completion is longer than `max_chars`. Completions cut at `max_completion_length` lose their final answer, so they also lose the final-related format credit and get -1 for correctness: rambling is penalised twice. (Reward hacking to watch for: very short answers with a guessed number. The correctness weight is what makes guessing unprofitable.)
#
# The same functions on hand-written completions (the row's answer is 59; requested reasoning language French):

# %%
def format_reward(completions, **kwargs):
    """Harmony structure, in -1..1: +0.25 each for an analysis, a final answer, well-formed Harmony, a value in it."""
    return [rewards.format_score(completion) for completion in completions]


def correctness_reward(completions, answer, **kwargs):
    """+1 correct, -0.5 wrong, -1 no answer: math-verify against the row's ground truth (the `answer` column)."""
    return [rewards.correctness_score(completion, truth) for completion, truth in zip(completions, answer)]


def language_reward(completions, reasoning_language, **kwargs):
    """+1 when the analysis is in the requested reasoning language, -0.5 in another one, 0 when it cannot be told."""
    return [rewards.language_score(completion, language)
            for completion, language in zip(completions, reasoning_language)]


reward_funcs = [format_reward, correctness_reward, language_reward]
reward_weights = [WEIGHTS["format"], WEIGHTS["correctness"], WEIGHTS["language"]]

# %% [markdown]
# The same functions on hand-written completions (the row's answer is 59; requested reasoning language French):

# %%
FR = "Marie a 12 euros et en gagne 47. J'additionne : 12 + 47 = 59. Elle a donc 59 euros."
DE = "Marie hat 12 Euro und bekommt 47 dazu. Ich addiere: 12 + 47 = 59. Sie hat also 59 Euro."

def harmony(analysis, final):
    text = f"<|channel|>analysis<|message|>{analysis}<|end|>"
    return text + f"<|start|>assistant<|channel|>final<|message|>{final}<|return|>"

examples = {
    "well formed, correct": harmony(FR, "Marie has 59 euros."),
    "well formed, wrong": harmony(FR, "Marie has 58 euros."),
    "final without a number": harmony(FR, "She has more money now."),
    "cut before the final (token cap)": f"<|channel|>analysis<|message|>{FR}",
    "final only, no reasoning": "<|channel|>final<|message|>Marie has 59 euros.<|return|>",
    "no structure at all": "Marie has 59 euros.",
    "overlong reasoning": harmony(FR * 80, "Marie has 59 euros."),
    "reasoning in German": harmony(DE, "Marie has 59 euros."),
    "as TRL decodes it (markers stripped)": "analysis" + FR + "assistantfinalMarie has 59 euros.",
    "chat-message list (TRL conversational)": [{"role": "assistant", "thinking": FR, "content": "59 euros."}],
}
completions = list(examples.values())
columns = {"answer": ["59"] * len(completions), "reasoning_language": ["French"] * len(completions)}
table = pd.DataFrame({f.__name__: f(completions, **columns) for f in reward_funcs}, index=list(examples))
table["weighted sum"] = sum(w * table[f.__name__] for f, w in zip(reward_funcs, reward_weights))
table

# %% [markdown]
# Read the table as a model would: the cheapest high reward is *"final only, no reasoning"* (0.85, only the two reasoning-related format quarters lost). A model that learns to skip its analysis loses little under these weights -- which is why the tutorial also logs `language_reward` (it is 0 without reasoning) and why a run that rewards reasoning should give it a weight. Reasoning in the wrong language costs nothing at weight 0.

# %% [markdown]
# ## 2 · The same rewards with other chat templates
#
# The rewards only read text, but *which* text a model writes depends on its chat template -- and on how TRL decodes it (`skip_special_tokens=True` for plain-text prompts):
#
# | model family | what a completion looks like | what decoding keeps | `style` |
# |---|---|---|---|
# | gpt-oss (Harmony) | `<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…<|return|>` | the markers are special tokens and vanish: `analysis…assistantfinal…` (recognised) | `"harmony"` |
# | Qwen3 | `<think>\n…\n</think>\n\nanswer` (with thinking off the template puts an empty think block in the prompt) | `<think>`/`</think>` are *not* special tokens: they stay | `"think"` |
# | DeepSeek-R1 (and its distills) | the template ends the prompt with `<think>\n`, so the completion starts *inside* the reasoning: `…</think>answer` | only `</think>` is in the completion (accepted) | `"think"` |
# | Llama 3.x Instruct | the answer, then `<|eot_id|>`: no reasoning channel at all | the answer | `"plain"` |
#
# So the same scoring helpers serve every family with one keyword, `style="think"` or `style="plain"`. With `"plain"` the format reward can only check that an answer with a value exists (+0.5 each) and the language reward judges the whole answer, since there is no separate reasoning. If you give TRL *conversational* prompts instead, it applies the model's template itself and hands the rewards chat-message lists (with a `thinking` field when the tokenizer can parse reasoning out); the rewards read those too. Hand-written examples:

# %%
other = {
    ("think", "Qwen3: full think block"): f"<think>\n{FR}\n</think>\n\nMarie has 59 euros.",
    ("think", "DeepSeek-R1: <think> was in the prompt"): f"{FR}\n</think>\n\nMarie has 59 euros.",
    ("think", "truncated inside <think>"): f"<think>\n{FR}",
    ("think", "two think blocks (malformed)"): f"<think>{FR}</think><think>…</think>59",
    ("plain", "Llama 3: plain answer"): "Marie has 12 + 47 = 59 euros.",
    ("plain", "Llama 3: no number"): "Marie has more money than before.",
}
pd.DataFrame([{"style": style, "example": label,
               "format": rewards.format_score(text, style=style),
               "correctness": rewards.correctness_score(text, "59", style=style),
               "language": rewards.language_score(text, "French", style=style)}
              for (style, label), text in other.items()])

# %% [markdown]
# ## 3 · Starting point and prompts
#
# GRPO starts from the SFT adapter (trainable) when notebook 03 saved one, otherwise from a fresh LoRA: a model that has never produced Harmony output would get nearly the same (bad) reward for every completion of a group, hence almost no signal. The prompts are the bundled training problems (they carry a checkable `answer`), rendered as **plain text** with our Harmony chat template up to `<|start|>assistant`: TRL then tokenizes them as they are instead of applying a chat template a second time.

# %%
loaded, start = grpo.load_start(preset, ADAPTER_DIR, fresh=(START == "fresh"))
print(start.message)
dataset = grpo.build_dataset(loaded.tokenizer, data.load_rows("train", offline=True))
lengths = grpo.prompt_lengths(loaded.tokenizer, dataset)
print(f"{len(dataset)} prompts, columns {dataset.column_names}, prompt tokens {min(lengths)}-{max(lengths)}")
eval_rows = data.load_rows("eval", offline=True).rows
print(dataset[0]["prompt"])

# %% [markdown]
# ## 4 · A working example on a model that is not gpt-oss
#
# SmolLM2-135M-Instruct (the CPU tutorial's model, a Llama-architecture model) was pretrained with its own ChatML template (`<|im_start|>user…<|im_end|>`), which has no reasoning channel, i.e. the Llama-3 situation. Below, the *base* model (adapters switched off) answers four held-out questions in that template, and the plain-style rewards score its real generations. (Runs when the preset is `smollm2-135m`, the CPU default; the GRPO run further down scores the same model's *Harmony* generations, after SFT.)

# %%
def chatml_prompt(row):
    return ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            f"<|im_start|>user\n{row['user']}<|im_end|>\n<|im_start|>assistant\n")

demo_rows = eval_rows[:4]
chatml_demo = None
if preset.name == "smollm2-135m":
    im_end = loaded.tokenizer.convert_tokens_to_ids("<|im_end|>")
    with loaded.model.disable_adapter():  # the pretrained SmolLM2, as published
        gens = grpo.generate(loaded, [chatml_prompt(r) for r in demo_rows], max_new_tokens=96, batch_size=4,
                             eos_token_ids=[im_end])
    plain_funcs, plain_weights = rewards.make_reward_funcs(WEIGHTS, style="plain")
    chatml_demo = grpo.score([g["text"] for g in gens], demo_rows, plain_funcs, plain_weights)
    display(pd.DataFrame([{"question": r["user"], "truth": r["answer"], "generation": g["text"][:160], **s}
                          for r, g, s in zip(demo_rows, gens, chatml_demo["per_completion"])]))
    print(f"plain-style mean reward of the base model: {chatml_demo['reward']:+.3f}")
    display(pd.Series(chatml_demo["components"], name="mean").to_frame())
else:
    print(f"preset {preset.name!r}: run this notebook with PRESET='smollm2-135m' for the ChatML example")

# %% [markdown]
# ## 5 · Held-out reward before GRPO
#
# Greedy generations on held-out problems (the bundled eval split, never trained on), at the completion length GRPO trains with, decoded like TRL decodes, scored by the same functions:

# %%
before = grpo.heldout_reward(loaded, eval_rows, reward_funcs, reward_weights, n=HELDOUT) if HELDOUT else None
if before:
    print(f"held-out reward before: {before['reward']:+.3f}  (correct: {before['correct']:.0%}, {before['seconds']} s)")
    display(pd.DataFrame(before["samples"])[["reasoning_language", "answer", "tokens", "format_reward",
                                             "correctness_reward", "language_reward", "reward"]].head(8))

# %% [markdown]
# ## 6 · Train
#
# `GRPOConfig` holds the run's settings, `GRPOTrainer` the model, the reward functions and the prompts. What the arguments mean: `num_generations` completions are sampled per prompt at `temperature=1.0` (the group), `max_completion_length` caps each one, `reward_weights` weighs the reward functions in order, `beta=0.0` drops the KL term (no reference model in memory: TRL's and Unsloth's default), and the loss is logged every step. The reasoning effort is already written into each prompt's system message (the prompts are plain text), so no `chat_template_kwargs` are needed.
#
# The two branches differ only in memory and speed settings. **On a CUDA GPU with Unsloth** (Unsloth's gpt-oss GRPO notebook): micro-batch 1 with the group accumulated over gradient steps, `adamw_8bit`, a linear schedule with 10% warm-up, weight decay 0.001, bf16 where the card has it, Unsloth's gradient checkpointing (its `"unsloth"` mode was set when the LoRA was attached), no vLLM; `max_prompt_length` where Unsloth's GRPOConfig has it. **Elsewhere** (transformers + peft): two whole groups per micro-batch, a constant learning rate, fp32, no gradient checkpointing (a small model: speed matters more than memory).

# %%
if loaded.backend == "unsloth":
    import unsloth  # noqa: F401  (already imported by the load, before trl: TRL's GRPOTrainer is Unsloth's patched one)
from trl import GRPOConfig, GRPOTrainer

max_prompt_length = max(lengths) + 1
max_completion_length = max(8, min(preset.grpo_max_completion, preset.max_seq_length - max_prompt_length))
if loaded.backend == "unsloth":  # a CUDA GPU: Unsloth's gpt-oss GRPO settings
    speed_and_memory = dict(
        per_device_train_batch_size=1,
        gradient_accumulation_steps=preset.grpo_generations,  # the group, accumulated
        optim=preset.optim,
        lr_scheduler_type="linear",
        warmup_ratio=0.1,
        weight_decay=0.001,
        bf16=torch.cuda.is_bf16_supported(),
        fp16=not torch.cuda.is_bf16_supported(),
        gradient_checkpointing=True,
        use_vllm=False,
        **grpo.supported_fields(GRPOConfig, max_prompt_length=max_prompt_length),
    )
else:  # transformers + peft
    speed_and_memory = dict(
        per_device_train_batch_size=2 * preset.grpo_generations,  # whole groups per micro-batch (TRL's rule)
        gradient_accumulation_steps=1,
        optim="adamw_torch",
        lr_scheduler_type="constant",
        bf16=False,
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=False,
    )
training_args = GRPOConfig(
    output_dir=str(output_dir / "checkpoints"),
    max_steps=preset.grpo_steps,
    learning_rate=preset.grpo_learning_rate,
    num_generations=preset.grpo_generations,
    max_completion_length=max_completion_length,
    temperature=1.0,
    beta=0.0,
    reward_weights=reward_weights,
    logging_steps=1,
    save_strategy="no",
    report_to="none",
    seed=preset.seed,
    remove_unused_columns=False,  # the reward functions read the answer and reasoning_language columns
    **speed_and_memory,
)
trainer = GRPOTrainer(
    model=loaded.model,
    reward_funcs=reward_funcs,
    args=training_args,
    train_dataset=dataset,
    processing_class=loaded.tokenizer,
)
args = trainer.args
pd.Series({k: getattr(args, k) for k in ["max_steps", "num_generations", "per_device_train_batch_size",
           "gradient_accumulation_steps", "max_completion_length", "learning_rate", "temperature", "beta",
           "loss_type", "optim", "reward_weights", "use_cpu", "bf16"]}, name=preset.name).to_frame()

# %% [markdown]
# `grpo.train` runs `trainer.train()` with a clock around it, then saves the LoRA adapter atomically (written to a temporary folder, renamed into place) and the reward log.

# %%
result = grpo.train(loaded, trainer, output_dir, start=start)

# %% [markdown]
# ## 7 · Rewards per step
#
# TRL logs, for every step, the mean of the weighted sum (`reward`) and of each component (`rewards/<name>/mean`, unweighted). The thick line is what GRPO maximises.

# %%
fig = plots.reward_curves(result.log_history, output_dir / "rewards.png", title=f"GRPO rewards: {preset.name}")

# %%
trend = grpo.reward_trend(result.log_history)
k = trend["window"]
display(pd.DataFrame({f"first {k} step(s)": {"reward": trend["first"], **trend["components_first"]},
                      f"last {k} step(s)": {"reward": trend["last"], **trend["components_last"]}}).round(3))
verdict = "rose" if trend["rose"] else "did not rise"
display(Markdown(f"**Measured:** over {result.steps} steps the mean reward {verdict}: {trend['first']:+.3f} "
                 f"(first {k}) → {trend['last']:+.3f} (last {k}), {result.wall_seconds / max(result.steps, 1):.1f} s "
                 f"per step. Each step's mean is over only {args.per_device_train_batch_size * args.gradient_accumulation_steps} "
                 "sampled completions: expect noise."))

# %% [markdown]
# ## 8 · Held-out reward after GRPO

# %%
after = grpo.heldout_reward(loaded, eval_rows, reward_funcs, reward_weights, n=HELDOUT) if HELDOUT else None
result.heldout_before, result.heldout_after = before, after
grpo.write_log(result, output_dir)
if before and after:
    comparison = pd.DataFrame({
        "before": {"reward": before["reward"], **before["components"], "correct": before["correct"]},
        "after": {"reward": after["reward"], **after["components"], "correct": after["correct"]}})
    display(comparison.round(3))
    fig = plots.bar_chart({"before": {"reward": before["reward"], **before["components"]},
                           "after": {"reward": after["reward"], **after["components"]}},
                          output_dir / "heldout.png", title=f"Held-out reward ({before['n']} prompts)",
                          ylabel="mean reward")
    i = 0  # the same held-out prompt, before and after
    for name, held in (("before", before), ("after", after)):
        s = held["samples"][i]
        print(f"--- {name}: reward {s['reward']:+.2f} (truth {s['answer']}, reasoning language {s['reasoning_language']})")
        print(s["completion"][:700])
else:
    print("HELDOUT = 0: no held-out scoring")

# %% [markdown]
# On the CPU tutorial this is a short run on a 135M model that SFT taught the format but not arithmetic: read the figures above as what they are. Longer runs (`MAX_STEPS`), more generations per prompt and a larger model move them more; on gpt-oss-20b the same cells run with Unsloth. What a few steps can teach a small model is mostly *to finish*: completions cut at the token cap lose the final answer, so the group-relative advantage favours the shorter ones that reach `<|return|>` -- format and "no answer" penalties improve long before arithmetic does. Watch `language_reward` too: at weight 0 nothing protects the reasoning language that SFT taught, and GRPO may trade it away (on the CPU tutorial we measured it falling from 0.81 to 0.63 on 8 held-out prompts in a 10-step run); give it a weight in `WEIGHTS` (e.g. 0.2 / 0.6 / 0.2) to keep it. The GRPO adapter is saved atomically (written to a temporary folder, renamed into place) and loads like the SFT one: `backends.load_adapter(preset, output_dir / "adapter")`.

# %%
summary = result.summary()
figures.record("05_grpo", preset=preset.name, backend=loaded.backend, start=start.kind,
               chatml_demo_reward=chatml_demo["reward"] if chatml_demo else None,
               summary={"grpo": {k: v for k, v in summary.items() if k != "memory"}})
pd.Series({k: summary.get(k) for k in ["steps", "mean_reward_first", "mean_reward_last", "heldout_reward_before",
           "heldout_reward_after", "seconds_per_step", "wall_seconds", "start", "adapter_dir"]},
          name=preset.name).to_frame()
