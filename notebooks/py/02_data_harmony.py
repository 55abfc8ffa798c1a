# Generated from notebooks/02_data_harmony.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 02 · The data: Multilingual-Thinking in the Harmony format
#
# **What it does.** Loads the training rows, checks them, shows one row as the dataset stores it (`messages`) and as
# the chat template renders it, then tokenizes every row and decides which tokens carry loss: the **whole assistant
# turn** (analysis and final, `<|return|>` included), never the prompt. It saves the tokens and their statistics to
# `outputs/data/<preset>/prepared`, which notebook 03 trains on.
#
# Each row of [HuggingFaceH4/Multilingual-Thinking](https://huggingface.co/datasets/HuggingFaceH4/Multilingual-Thinking)
# holds a conversation in `messages`: a system message `reasoning language: French` followed by a persona, a user
# question, and the assistant's answer (`content`) with its chain of thought (`thinking`) written in the requested
# language. That system message is the instruction this tutorial teaches.
#
# **What it costs.** No GPU work, no model: a tokenizer and the rows. CPU tutorial (`smollm2-135m`, the 200 bundled
# rows): 8 s for the whole notebook on 2 CPU cores (measured, `make run`); gpt-oss-20b (1,000 hub-shaped rows,
# random-weight stand-in on an H200, docs/gpu-run.md): 36 s.
#
# > 中文摘要：加载 Multilingual-Thinking 数据（默认：gpt-oss 预设用 Hub 上的数据集，CPU 预设用本仓库自带的数据；也可指定本地 .jsonl/.parquet 文件），逐行检查，展示 `messages` 经聊天模板渲染后的 Harmony 文本（`reasoning language: X` 位于 developer 块），只对助手回合（分析 + 最终答案）计算损失，并展示掩码、长度分布与错误数据的提示。

# %% tags=["parameters"]
PRESET = "auto"
DATASET = None               # None: the preset's (the hub dataset for gpt-oss, "bundled" on CPU); or a hub id, a .jsonl/.parquet file, "bundled"
SKIP_INVALID = False         # True: drop invalid rows (and count them) instead of stopping
REASONING_EFFORT = "medium"  # the system message's "Reasoning:" line: low, medium or high
OUT_DIR = None               # None: outputs/data/<preset>/prepared, where notebook 03 reads it

# %%
from gpt_oss_tutorial import backends  # first: on a CUDA GPU this imports Unsloth before trl, transformers and peft

import json
from pathlib import Path

import pandas as pd
from datasets import load_dataset
from IPython.display import HTML, display

from gpt_oss_tutorial import data, figures, harmony, paths, presets

preset = presets.get_preset(PRESET)
dataset_name = DATASET or preset.dataset
tokenizer = backends.load_tokenizer(preset)
pd.Series({"preset": preset.name, "dataset": dataset_name, "max_length (tokens)": preset.max_seq_length,
           "reasoning effort": REASONING_EFFORT}).to_frame("value")

# %% [markdown]
# ## Load the rows
#
# A hub id goes through `load_dataset(...)`, the call of the blog (online it downloads once; offline it reads the
# local Hugging Face cache). A Parquet file goes through `load_dataset("parquet", ...)`. JSON Lines files (the bundled
# data, or your own) are read line by line, so that a broken line is named instead of stopping the parser. Every row
# then gets the same checks: missing or empty fields, `messages` that contradict the flat columns, special tokens of
# the tokenizer inside the text, rows over 1 MB, repeated rows, unknown fields.

# %%
choice = data.resolve_dataset(dataset_name)
if choice.kind in ("hub", "parquet"):
    with data.explain_load_errors(choice.name):
        if choice.kind == "hub":
            table = load_dataset(choice.name, split="train")
        else:
            table = load_dataset("parquet", data_files=choice.name, split="train")
    rows = data.rows_from_dataset(table, source=choice.name, tokenizer=tokenizer, skip_invalid=SKIP_INVALID)
else:
    rows = data.load_rows(dataset=choice.name, tokenizer=tokenizer, skip_invalid=SKIP_INVALID)
print(f"{len(rows.rows)} rows from {rows.source}")
for warning in rows.warnings:
    print("warning:", warning)
pd.DataFrame(rows.rows)[["reasoning_language", "developer", "user", "analysis", "final"]].head(5)

# %%
pd.Series([r["reasoning_language"] for r in rows.rows]).value_counts().rename("rows").to_frame()

# %% [markdown]
# ## One row, as the dataset stores it
#
# The conversation is `messages`. The first message (role `system`) carries the instruction `reasoning language: X`
# and the persona; the flat `developer` column holds only the persona. The assistant message carries the answer in
# `content` and the chain of thought in `thinking`.

# %%
row = rows.rows[0]
pd.DataFrame(row["messages"]).reindex(columns=["role", "content", "thinking"]).fillna("")

# %% [markdown]
# ## What the chat template makes of it
#
# `tokenizer.apply_chat_template` turns the messages into Harmony text (on gpt-oss presets the tokenizer's own
# template; offline presets use ours, which renders the same format, see `harmony.py`). The system message becomes
# the **developer** block `# Instructions`: that is where `reasoning language: X` goes. The system block carries
# `Reasoning: medium`; the assistant turn is an `analysis` message, then a `final` message ending in `<|return|>`.

# %%
text = tokenizer.apply_chat_template(row["messages"], tokenize=False, reasoning_effort=REASONING_EFFORT)
print(text)

# %%
start = text.index("<|start|>developer")
print(text[start: text.index("<|end|>", start) + len("<|end|>")])

# %%
# Each Harmony marker is ONE special token, not a string the model must spell out.
pd.DataFrame([{"marker": m, "token ids": tokenizer(m, add_special_tokens=False)["input_ids"]}
              for m in harmony.SPECIAL_TOKENS]).set_index("marker")

# %% [markdown]
# ## What the model is trained on
#
# Grey tokens are the prompt (labels set to -100: no loss); green tokens are the assistant turn the model learns to
# write — its reasoning in the requested language, then the answer. Unsloth's gpt-oss notebook trains only the
# `final` part (so the reasoning language is never learned); the blog trains on everything, prompts included.

# %%
tokenized = data.tokenize_row(tokenizer, row, max_length=preset.max_seq_length, reasoning_effort=REASONING_EFFORT)
trained = sum(1 for label in tokenized["labels"] if label != -100)
print(f"{len(tokenized['input_ids'])} tokens: {tokenized['prompt_length']} prompt (masked), {trained} trained")
display(HTML(data.masked_tokens_html(tokenizer, tokenized["input_ids"], tokenized["labels"])))

# %% [markdown]
# ## Parsing generated text
#
# What a model generates is parsed back with `parse_harmony`, which never raises: it says what is wrong instead.

# %%
prompt_text, completion = harmony.split_prompt_completion(text)
pd.DataFrame([{"sample": name, "valid": parsed.valid, "final": (parsed.final or "")[:40],
               "errors": "; ".join(parsed.errors)}
              for name, sample in [("complete", completion), ("truncated", completion[: len(completion) // 2]),
                                   ("no markers", "The answer is 4.")]
              for parsed in [harmony.parse_harmony(sample)]]).set_index("sample")

# %% [markdown]
# ## Tokenize everything
#
# Lengths decide `max_length` (and the memory a step needs). Rows longer than `max_length` are truncated from the end;
# a row left with no assistant token is dropped and counted.

# %%
prepared = data.prepare(tokenizer, rows, max_length=preset.max_seq_length, reasoning_effort=REASONING_EFFORT)
out_dir = Path(OUT_DIR) if OUT_DIR else data.prepared_dir(preset)
data.save(prepared, out_dir)
data.plot_token_lengths(prepared.dataset["full_length"], preset.max_seq_length,
                        paths.stage_dir("data", preset.name) / "token_lengths.png",
                        title=f"Token lengths ({preset.name} tokenizer)")
print(f"saved to {out_dir}")
data.stats_table(prepared.stats)

# %%
pd.DataFrame([prepared.stats["token_length"]], index=["tokens per row"])

# %%
dropped = prepared.stats["rows_dropped"]
if dropped:
    display(pd.Series(dropped, dtype=int).rename("rows dropped").rename_axis("why").to_frame())
else:
    print("no row dropped")

# %% [markdown]
# ## Bad input gets a clear message
#
# A file with a missing field, a wrong type, an empty analysis, an unknown language, `messages` that contradict the
# `final` column, a special token inside the text and a broken line: the error names the file, the row and the field.
# With `SKIP_INVALID = True` (`--skip-invalid` on the command line) those rows are dropped and counted instead.

# %%
bad_file = paths.stage_dir("data") / "bad_example.jsonl"
good = {k: row[k] for k in ("reasoning_language", "developer", "user", "analysis", "final")}
bad_rows = [good, {**good, "analysis": ""}, {k: v for k, v in good.items() if k != "user"},
            {**good, "final": 42}, {**good, "reasoning_language": "Klingon"},
            {**good, "messages": row["messages"], "final": "another answer"}, {**good, "final": "4<|endoftext|>"}]
bad_file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in bad_rows) + "\n{not json\n", encoding="utf-8")
try:
    data.load_rows(dataset=bad_file, tokenizer=tokenizer)
except data.DataError as error:
    print(error)
skipped = data.load_rows(dataset=bad_file, tokenizer=tokenizer, skip_invalid=True)
print(f"\nwith SKIP_INVALID: kept {len(skipped.rows)} row(s), dropped {len({p.row for p in skipped.problems})}")

# %%
figures.record("02_data_harmony", preset=preset.name, dataset=prepared.stats["dataset"], saved_to=str(out_dir),
               rows=prepared.stats["rows_kept"], rows_dropped=prepared.stats["rows_dropped"],
               rows_truncated=prepared.stats["rows_truncated"], warnings=prepared.stats["warnings"],
               rows_per_language=prepared.stats["rows_per_language"], token_length=prepared.stats["token_length"])
