"""Helpers for the gpt-oss fine-tuning tutorial.

One module per stage, imported by the notebooks in ``notebooks/`` and by the command-line entry points in
``scripts/``: presets (what to load), backends (how: Unsloth or transformers+peft), envcheck and torch_choice (the
preflight), harmony, data, sft, evaluate, rewards, grpo, export, runner, plots.
"""

__version__ = "0.1.0"

import warnings as _warnings

# transformers 5.2x renamed gradient_checkpointing -> activation_checkpointing; TRL and peft still use the old names, so
# every training would print two FutureWarnings that the reader can do nothing about. Only these two are hidden.
_warnings.filterwarnings("ignore", message=r".*`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated",
                         category=FutureWarning)
