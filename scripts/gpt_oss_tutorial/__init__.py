"""Helpers for the gpt-oss fine-tuning tutorial: the plumbing behind the notebooks in ``notebooks/``.

One module per stage (presets, backends, envcheck and torch_choice, harmony, data, sft, evaluate, rewards, grpo,
export), the runner that executes the notebooks for the tests and the command-line tools, and small utilities:
paths, atomic (safe output), figures, errors, plots.
"""

__version__ = "0.1.0"

import warnings as _warnings

# transformers 5.2x renamed gradient_checkpointing -> activation_checkpointing; TRL and peft still use the old names, so
# every training would print two FutureWarnings that the reader can do nothing about. Only these two are hidden.
_warnings.filterwarnings("ignore", message=r".*`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated",
                         category=FutureWarning)
