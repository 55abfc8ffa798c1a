# Generated from notebooks/05_grpo.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 05 · Bonus: GRPO with a format reward and a correctness reward
#
# SFT (notebook 03) imitates reference answers. **GRPO** (Group Relative Policy Optimization, the RL method of DeepSeek-R1) needs no reference answer, only a way to *score* one: for each prompt the model samples a group of completions, reward functions score them, and the policy is pushed towards the completions that beat their group's average. Here the scores are a **format reward** (Harmony structure: an analysis, then a final answer with a value in it, not overlong) and a **correctness reward** (the final answer checked with math-verify against the row's ground truth), combined 0.3 / 0.7. A third reward -- reasoning in the requested language, the topic of this tutorial -- is computed and plotted with weight 0 (turn it on in `WEIGHTS`).
#
# TRL's `GRPOTrainer` does the work (Unsloth's patched one on a GPU, with the memory-saving settings of Unsloth's gpt-oss GRPO notebook). GRPO starts from the SFT adapter of notebook 03 when it exists. On the CPU tutorial the run is short (a few minutes): expect small changes, measured honestly below -- the mean reward per step, each component, and the held-out reward before and after. The same code runs headless: `python scripts/train_grpo.py --preset P [--max-steps N]`.
#
# > 中文摘要：用 TRL 的 GRPOTrainer（GPU 上为 Unsloth 版本）在 SFT 适配器之上做强化学习：格式奖励（Harmony 结构、可解析的答案、过长惩罚）与正确性奖励（math-verify 对照标准答案）按 0.3/0.7 加权；绘制每步平均奖励及各分量，报告训练前后的留出集奖励，并说明同一套奖励函数如何用于 Qwen/DeepSeek 的 `<think>` 与 Llama 3 等其他聊天格式。

# %% tags=["parameters"]
PRESET = "auto"
SMOKE = False
MAX_STEPS = None        # GRPO steps; None: the preset's grpo_steps
GENERATIONS = None      # completions sampled per prompt (the group); None: the preset's
MAX_COMPLETION = None   # max new tokens per completion; None: the preset's
LEARNING_RATE = None    # None: the preset's grpo_learning_rate
WEIGHTS = {"format": 0.3, "correctness": 0.7, "language": 0.0}  # language: logged, not rewarded
HELDOUT = 16            # held-out prompts scored before and after GRPO (greedy)
START = "auto"          # "auto": the SFT adapter of notebook 03 if it exists, else a fresh LoRA; "fresh"
OUTPUT_DIR = None       # None: outputs/grpo/<preset>/

# %%
import pandas as pd
from IPython.display import Markdown, display

from gpt_oss_tutorial import data, figures, grpo, paths, plots, presets, rewards

preset = presets.get_preset(
    PRESET,
    grpo_steps=MAX_STEPS or (2 if SMOKE else None),
    grpo_generations=GENERATIONS or (2 if SMOKE else None),
    grpo_max_completion=MAX_COMPLETION or (16 if SMOKE else None),
    grpo_learning_rate=LEARNING_RATE,
)
HELDOUT = 2 if SMOKE else HELDOUT
output_dir = OUTPUT_DIR or paths.stage_dir("grpo", preset.name)
pd.Series({"preset": preset.name, "steps": preset.grpo_steps, "generations per prompt": preset.grpo_generations,
           "max completion tokens": preset.grpo_max_completion, "learning rate": preset.grpo_learning_rate,
           "weights": WEIGHTS, "held-out prompts": HELDOUT}, name="GRPO run").to_frame()

# %% [markdown]
# ## 1 · Reward design
#
# The reward functions live in `gpt_oss_tutorial.rewards` and have TRL's signature: `func(completions, **kwargs) -> list[float]`, one float per completion. TRL passes the dataset's other columns as keyword arguments, so `correctness_reward` receives each row's `answer` and `language_reward` its `reasoning_language`. They never raise: a reward function that crashes would stop a training run, so any input (empty text, `None`, a chat-message list, bytes...) gets a number.
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
columns = {"answer": "59", "reasoning_language": "French"}  # a scalar applies to every completion
table = pd.DataFrame({
    "format": rewards.format_reward(completions, **columns),
    "correctness": rewards.correctness_reward(completions, **columns),
    "language": rewards.language_reward(completions, **columns),
    "combined": rewards.combined_reward(WEIGHTS)(completions, **columns),
}, index=list(examples))
table

# %% [markdown]
# Read the table as a model would: the cheapest high reward is *"final only, no reasoning"* (0.85, only the two reasoning-related format quarters lost). A model that learns to skip its analysis loses little under these weights -- which is why the tutorial also logs `language_reward` (it is 0 without reasoning) and why a run that rewards reasoning should give it a weight. Reasoning in the wrong language costs nothing at weight 0.

# %% [markdown]
# For TRL the components are passed as separate functions with `reward_weights`, so that each one is logged (`rewards/format_reward/mean`, ...); `make_reward_funcs` returns both lists:

# %%
reward_funcs, reward_weights = rewards.make_reward_funcs(WEIGHTS)
pd.DataFrame({"function": [f.__name__ for f in reward_funcs], "weight": reward_weights})

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
# So the same reward code serves every family with one keyword: `make_reward_funcs(WEIGHTS, style="think")`. With `"plain"` the format reward can only check that an answer with a value exists (+0.5 each) and the language reward judges the whole answer, since there is no separate reasoning. If you give TRL *conversational* prompts instead, it applies the model's template itself and hands the rewards chat-message lists (with a `thinking` field when the tokenizer can parse reasoning out); the rewards read those too. Hand-written examples:

# %%
other = {
    ("think", "Qwen3: full think block"): f"<think>\n{FR}\n</think>\n\nMarie has 59 euros.",
    ("think", "DeepSeek-R1: <think> was in the prompt"): f"{FR}\n</think>\n\nMarie has 59 euros.",
    ("think", "truncated inside <think>"): f"<think>\n{FR}",
    ("think", "two think blocks (malformed)"): f"<think>{FR}</think><think>…</think>59",
    ("plain", "Llama 3: plain answer"): "Marie has 12 + 47 = 59 euros.",
    ("plain", "Llama 3: no number"): "Marie has more money than before.",
}
rows = []
for (style, label), text in other.items():
    funcs, weights = rewards.make_reward_funcs(WEIGHTS, style=style)
    scores = {f.__name__: f([text], **columns)[0] for f in funcs}
    rows.append({"style": style, "example": label, **scores,
                 "combined": rewards.combined_reward(WEIGHTS, style=style)([text], **columns)[0]})
pd.DataFrame(rows)

# %% [markdown]
# ## 3 · Starting point and prompts
#
# GRPO starts from the SFT adapter (trainable) when notebook 03 saved one, otherwise from a fresh LoRA: a model that has never produced Harmony output would get nearly the same (bad) reward for every completion of a group, hence almost no signal. The prompts are the bundled training problems (they carry a checkable `answer`), rendered as **plain text** with our Harmony chat template up to `<|start|>assistant`: TRL then tokenizes them as they are instead of applying a chat template a second time.

# %%
loaded, start = grpo.load_start(preset, fresh=(START == "fresh"))
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
    chatml_demo = grpo.score([g["text"] for g in gens], demo_rows, weights=WEIGHTS, style="plain")
    display(pd.DataFrame([{"question": r["user"], "truth": r["answer"], "generation": g["text"][:160], **s}
                          for r, g, s in zip(demo_rows, gens, chatml_demo["per_completion"])]))
    print(f"plain-style mean reward of the base model: {chatml_demo['reward']:+.3f}", chatml_demo["components"])
else:
    print(f"preset {preset.name!r}: run this notebook with PRESET='smollm2-135m' for the ChatML example")

# %% [markdown]
# ## 5 · Held-out reward before GRPO
#
# Greedy generations on held-out problems (the bundled eval split, never trained on), at the completion length GRPO trains with, decoded like TRL decodes, scored by the same functions:

# %%
before = grpo.heldout_reward(loaded, eval_rows, n=HELDOUT, weights=WEIGHTS)
print(f"held-out reward before: {before['reward']:+.3f}  (correct: {before['correct']:.0%}, {before['seconds']} s)")
pd.DataFrame(before["samples"])[["reasoning_language", "answer", "tokens", "format_reward",
                                 "correctness_reward", "language_reward", "reward"]].head(8)

# %% [markdown]
# ## 6 · Train
#
# `grpo.build_trainer` creates TRL's `GRPOTrainer` with the reward functions, their weights and a `GRPOConfig` from the preset: `num_generations` completions per prompt sampled at temperature 1.0, `beta=0` (no KL term, so no reference model in memory -- TRL's and Unsloth's default), a loss logged every step. On the CPU each micro-batch holds whole groups; on a GPU with Unsloth the micro-batch is 1 with gradient accumulation over the group, `adamw_8bit`, lr 5e-5 with 10% warm-up (Unsloth's gpt-oss GRPO settings), and Unsloth's gradient checkpointing set when the LoRA was attached.

# %%
trainer = grpo.build_trainer(loaded, dataset, output_dir, weights=WEIGHTS)
args = trainer.args
pd.Series({k: getattr(args, k) for k in ["max_steps", "num_generations", "per_device_train_batch_size",
           "gradient_accumulation_steps", "max_completion_length", "learning_rate", "temperature", "beta",
           "loss_type", "optim", "reward_weights", "use_cpu", "bf16"]}, name=preset.name).to_frame()

# %%
result = grpo.train(loaded, dataset, output_dir, trainer=trainer, start=start)

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
                      f"last {k} step(s)": {"reward": trend["last"], **trend["components_last"]}}))
verdict = "rose" if trend["rose"] else "did not rise"
display(Markdown(f"**Measured:** over {result.steps} steps the mean reward {verdict}: {trend['first']:+.3f} "
                 f"(first {k}) → {trend['last']:+.3f} (last {k}), {result.wall_seconds / max(result.steps, 1):.1f} s "
                 f"per step. Each step's mean is over only {args.per_device_train_batch_size * args.gradient_accumulation_steps} "
                 "sampled completions: expect noise."))

# %% [markdown]
# ## 8 · Held-out reward after GRPO

# %%
after = grpo.heldout_reward(loaded, eval_rows, n=HELDOUT, weights=WEIGHTS)
result.heldout_before, result.heldout_after = before, after
grpo.write_log(result, output_dir)
comparison = pd.DataFrame({"before": {"reward": before["reward"], **before["components"], "correct": before["correct"]},
                           "after": {"reward": after["reward"], **after["components"], "correct": after["correct"]}})
display(comparison)
fig = plots.bar_chart({"before": {"reward": before["reward"], **before["components"]},
                       "after": {"reward": after["reward"], **after["components"]}},
                      output_dir / "heldout.png", title=f"Held-out reward ({before['n']} prompts)",
                      ylabel="mean reward")

# %%
i = 0  # the same held-out prompt, before and after
for name, held in (("before", before), ("after", after)):
    s = held["samples"][i]
    print(f"--- {name}: reward {s['reward']:+.2f} (truth {s['answer']}, reasoning language {s['reasoning_language']})")
    print(s["completion"][:700])

# %% [markdown]
# On the CPU tutorial this is a short run on a 135M model that SFT taught the format but not arithmetic: read the figures above as what they are. Longer runs (`MAX_STEPS`), more generations per prompt and a larger model move them more; on gpt-oss-20b the same cells run with Unsloth. What a few steps can teach a small model is mostly *to finish*: completions cut at the token cap lose the final answer, so the group-relative advantage favours the shorter ones that reach `<|return|>` -- format and "no answer" penalties improve long before arithmetic does. Watch `language_reward` too: at weight 0 nothing protects the reasoning language that SFT taught, and GRPO may trade it away (on the CPU tutorial we measured it falling from 0.81 to 0.63 on 8 held-out prompts in a 10-step run); give it a weight in `WEIGHTS` (e.g. 0.2 / 0.6 / 0.2) to keep it. The GRPO adapter is saved atomically (written to a temporary folder, renamed into place) and loads like the SFT one: `backends.load_adapter(preset, output_dir / "adapter")`.

# %%
summary = result.summary()
figures.record("05_grpo", preset=preset.name, backend=loaded.backend, start=start.kind,
               chatml_demo_reward=chatml_demo["reward"] if chatml_demo else None,
               summary={"grpo": {k: v for k, v in summary.items() if k != "memory"}})
pd.Series({k: summary[k] for k in ["steps", "mean_reward_first", "mean_reward_last", "heldout_reward_before",
           "heldout_reward_after", "seconds_per_step", "wall_seconds", "start", "adapter_dir"]},
          name=preset.name).to_frame()
