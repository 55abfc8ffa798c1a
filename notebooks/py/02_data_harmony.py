# Generated from notebooks/02_data_harmony.ipynb by tools/sync_notebooks.py: do not edit, edit the notebook and re-run it.
# Cells start at `# %%` (VS Code, PyCharm, Spyder: run cell by cell). The notebook is the tutorial's source.

# %% [markdown]
# # 02 · The data: Multilingual-Thinking in the Harmony format
#
# Each row has a developer instruction (`reasoning language: French`), a user question, the chain of thought
# (`analysis`) written in the requested language, and the final answer in the user's language. We render rows in
# gpt-oss's Harmony chat format, tokenize them, and decide which tokens carry loss: the **whole assistant turn**
# (analysis and final, `<|return|>` included) and never the prompt. Rows whose assistant turn is cut away by truncation
# would give a NaN loss: they are dropped and counted.
#
# > 中文摘要：加载 Multilingual-Thinking 数据（离线时使用本仓库自带的数据），渲染成 Harmony 格式，只对助手回合（分析 + 最终答案）计算损失，并展示掩码、长度分布与错误数据的提示。

# %% tags=["parameters"]
PRESET = "auto"
SMOKE = False
INPUT_FILE = None        # a JSONL file of your own, same schema; None: the hub or the bundled data
OFFLINE = None           # True: always the bundled data; None: the hub when reachable
SKIP_INVALID = False     # True: drop invalid rows (and count them) instead of stopping
REASONING_EFFORT = "medium"

# %%
import json

import pandas as pd
from IPython.display import HTML, display

from gpt_oss_tutorial import backends, data, figures, harmony, paths, presets

preset = presets.get_preset(PRESET)
tokenizer = backends.load_tokenizer(preset)
rows = data.load_rows("train", offline=OFFLINE, input_file=INPUT_FILE, skip_invalid=SKIP_INVALID)
print(f"{len(rows.rows)} rows from {rows.source}")
pd.DataFrame(rows.rows)[["reasoning_language", "user", "analysis", "final"]].head(5)

# %%
pd.Series([r["reasoning_language"] for r in rows.rows]).value_counts().rename("rows").to_frame()

# %% [markdown]
# ## One row in Harmony
#
# The developer message becomes `# Instructions`, the system block carries `Reasoning: medium`, and the assistant turn
# is an `analysis` message followed by a `final` message that ends in `<|return|>`. On gpt-oss presets this is the
# tokenizer's own chat template; offline presets use ours, which renders the same format (see `harmony.py`).

# %%
row = rows.rows[0]
text = data.render(tokenizer, row, reasoning_effort=REASONING_EFFORT)
print(text)

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
for name, sample in [("complete", completion), ("truncated", completion[: len(completion) // 2]),
                     ("no markers", "The answer is 4.")]:
    parsed = harmony.parse_harmony(sample)
    print(f"{name:>10}: valid={parsed.valid} final={parsed.final!r:.40} errors={parsed.errors}")

# %% [markdown]
# ## Tokenize everything
#
# Lengths decide `max_length` (and the memory a step needs). Rows longer than `max_length` are truncated from the end;
# a row left with no assistant token is dropped.

# %%
prepared = data.prepare(tokenizer, rows, max_length=preset.max_seq_length, reasoning_effort=REASONING_EFFORT)
out_dir = paths.stage_dir("data", preset.name)
data.save(prepared, out_dir / "prepared")
data.plot_token_lengths(prepared.dataset["full_length"], preset.max_seq_length, out_dir / "token_lengths.png",
                        title=f"Token lengths ({preset.name} tokenizer)")
pd.Series({k: v for k, v in prepared.stats.items() if not isinstance(v, dict)}).to_frame("value")

# %%
pd.DataFrame([prepared.stats["token_length"]], index=["tokens"])

# %% [markdown]
# ## Bad input gets a clear message
#
# A file with a missing field, a wrong type, an empty analysis, an unknown language and a broken line: the error names
# the file, the row and the field. With `skip_invalid=True` (`--skip-invalid` on the command line) those rows are
# dropped and counted instead.

# %%
bad_file = paths.stage_dir("data") / "bad_example.jsonl"
good = {k: row[k] for k in ("reasoning_language", "developer", "user", "analysis", "final")}
bad_rows = [good, {**good, "analysis": ""}, {k: v for k, v in good.items() if k != "user"},
            {**good, "final": 42}, {**good, "reasoning_language": "Klingon"}]
bad_file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in bad_rows) + "\n{not json\n", encoding="utf-8")
try:
    data.load_rows(input_file=bad_file)
except data.DataError as error:
    print(error)
skipped = data.load_rows(input_file=bad_file, skip_invalid=True)
print(f"\nwith skip_invalid: kept {len(skipped.rows)} row(s), dropped {len({p.row for p in skipped.problems})}")

# %%
figures.record("02_data_harmony", preset=preset.name, source=prepared.stats["source"],
               rows=prepared.stats["rows_kept"], rows_dropped=prepared.stats["rows_dropped"],
               rows_per_language=prepared.stats["rows_per_language"], token_length=prepared.stats["token_length"])
