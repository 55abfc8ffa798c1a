"""GRPO stage: prompts dataset, config, reward log parsing and plot, a real 2-step GRPO run on tiny-gpt-oss (CLI)."""
from __future__ import annotations

import importlib.util
import json
import math

import pytest

from gpt_oss_tutorial import grpo, plots
from gpt_oss_tutorial.harmony import START
from gpt_oss_tutorial.paths import REPO_ROOT


def cli():
    """scripts/train_grpo.py as a module (run in-process: no second torch/TRL import)."""
    spec = importlib.util.spec_from_file_location("train_grpo", REPO_ROOT / "scripts" / "train_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

LOG = [  # what TRL logs with logging_steps=1 (values as floats), plus the final train summary without rewards
    {"step": 1, "loss": 0.0, "reward": -0.8, "reward_std": 0.1, "rewards/format_reward/mean": 0.25,
     "rewards/correctness_reward/mean": -1.0, "rewards/language_reward/mean": 0.5},
    {"step": 2, "loss": 0.0, "reward": -0.6, "rewards/format_reward/mean": 0.5,
     "rewards/correctness_reward/mean": -0.75, "rewards/language_reward/mean": 0.5},
    {"step": 3, "loss": 0.0, "reward": -0.2, "rewards/format_reward/mean": 0.75,
     "rewards/correctness_reward/mean": -0.5, "rewards/language_reward/mean": 1.0},
    {"step": 4, "loss": 0.0, "reward": 0.4, "rewards/format_reward/mean": 1.0,
     "rewards/correctness_reward/mean": 0.25, "rewards/language_reward/mean": 1.0},
    {"step": 4, "train_runtime": 10.0, "train_loss": 0.0},
]


def test_reward_series_and_trend():
    series = grpo.reward_series(LOG)
    assert set(series) == {"reward", "format_reward", "correctness_reward", "language_reward"}
    assert series["reward"] == [(1, -0.8), (2, -0.6), (3, -0.2), (4, 0.4)]
    assert series["format_reward"][-1] == (4, 1.0)
    trend = grpo.reward_trend(LOG)  # window: a quarter of 4 steps = 1
    assert (trend["first"], trend["last"], trend["window"], trend["rose"]) == (-0.8, 0.4, 1, True)
    assert trend["components_last"]["correctness_reward"] == 0.25
    trend2 = grpo.reward_trend(LOG, window=2)
    assert trend2["first"] == pytest.approx(-0.7) and trend2["last"] == pytest.approx(0.1)
    falling = [dict(h, reward=-h["reward"]) if "reward" in h else h for h in LOG]
    assert grpo.reward_trend(falling)["rose"] is False
    assert grpo.reward_trend([{"step": 1, "loss": 1.0}])["first"] is None


def test_reward_curves_and_generic_plots_write_files(tmp_path):
    path = tmp_path / "sub" / "rewards.png"
    fig = plots.reward_curves(LOG, path, title="test")
    assert path.exists() and path.stat().st_size > 1000
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "mean reward (weighted sum)" in labels and "correctness_reward" in labels
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
    assert not any("rolling" in label for label in labels)  # 4 steps: too few for a rolling mean of 3
    fig2 = plots.reward_curves(LOG, tmp_path / "r2.png", smooth=2)
    rolling = [line for line in fig2.axes[0].get_lines() if "rolling mean of 2" in line.get_label()]
    assert len(rolling) == 1 and list(rolling[0].get_ydata()) == pytest.approx([-0.8, -0.7, -0.4, 0.1])
    assert plots.rolling_mean([1, 2, 3, 4], 3) == [1, 1.5, 2, 3]
    with pytest.raises(ValueError, match="no reward"):
        plots.reward_curves([{"step": 1, "loss": 0.3}], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    plots.bar_chart({"before": {"format": 0.2, "correctness": -0.9}, "after": {"format": 0.8}}, tmp_path / "b.png")
    plots.line_plot({"a": ([1, 2], [3, 4])}, tmp_path / "l.png", hline=0)
    assert (tmp_path / "b.png").exists() and (tmp_path / "l.png").exists()


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_preset):
    from transformers import AutoTokenizer

    from gpt_oss_tutorial.backends import model_source

    return AutoTokenizer.from_pretrained(model_source(tiny_preset))


def test_build_dataset(tiny_tokenizer, tiny_rows):
    ds = grpo.build_dataset(tiny_tokenizer, tiny_rows, limit=5)
    assert ds.column_names == ["prompt", "answer", "reasoning_language"]
    assert len(ds) == 5
    for ex, row in zip(ds, tiny_rows.rows):
        assert ex["prompt"].endswith(f"{START}assistant")
        assert row["user"] in ex["prompt"] and row["final"] not in ex["prompt"].split(row["user"])[-1]
        assert ex["answer"] == row["answer"] and ex["reasoning_language"] == row["reasoning_language"]
    # the prompt is tokenized as it is by TRL: the Harmony markers are single tokens, no BOS is added
    ids = tiny_tokenizer(ds[0]["prompt"])["input_ids"]
    assert ids[0] == tiny_tokenizer.convert_tokens_to_ids(START)
    assert ids[-2] == tiny_tokenizer.convert_tokens_to_ids(START)
    with pytest.raises(ValueError):
        grpo.build_dataset(tiny_tokenizer, [])


def test_supported_fields():
    from trl import GRPOConfig

    assert grpo.supported_fields(GRPOConfig, num_generations=4, no_such_field=1) == {"num_generations": 4}


def _notebook_reward_funcs():
    """The reward functions as notebook 05 defines them (its cell executed here), so the tests check those."""
    from gpt_oss_tutorial import rewards

    nb = json.loads((REPO_ROOT / "notebooks" / "05_grpo.ipynb").read_text(encoding="utf-8"))
    source = next("".join(c["source"]) for c in nb["cells"]
                  if c["cell_type"] == "code" and "def format_reward(completions" in "".join(c["source"]))
    namespace = {"rewards": rewards, "WEIGHTS": {"format": 0.3, "correctness": 0.7, "language": 0.0}}
    exec(compile(source, "05_grpo.ipynb", "exec"), namespace)
    return namespace["reward_funcs"], namespace["reward_weights"]


def test_notebook_reward_functions_match_the_package():
    from gpt_oss_tutorial import rewards

    funcs, weights = _notebook_reward_funcs()
    assert [f.__name__ for f in funcs] == ["format_reward", "correctness_reward", "language_reward"]
    assert weights == [0.3, 0.7, 0.0]
    good = ("<|channel|>analysis<|message|>Je calcule douze plus sept, cela fait dix-neuf.<|end|>"
            "<|start|>assistant<|channel|>final<|message|>The answer is 19.<|return|>")
    completions = [good, good.replace("19.<|return|>", "20.<|return|>"), "", None, "analysis only",
                   [{"role": "assistant", "thinking": "Douze plus sept font dix-neuf.", "content": "19"}]]
    columns = {"answer": ["19"] * len(completions), "reasoning_language": ["French"] * len(completions)}
    package = {"format_reward": rewards.format_reward, "correctness_reward": rewards.correctness_reward,
               "language_reward": rewards.language_reward}
    for func in funcs:
        assert func(completions, **columns) == package[func.__name__](completions, **columns), func.__name__
    assert funcs[1]([good], answer=["19"]) == [1.0] and funcs[0]([good]) == [1.0]


def test_score_combines_components():
    good = "analysisTwelve plus seven is nineteen, checked twice.assistantfinalThe answer is 19."
    rows = [{"answer": "19", "reasoning_language": "English"}, {"answer": "20", "reasoning_language": "English"}]
    funcs, weights = _notebook_reward_funcs()
    out = grpo.score([good, good], rows, funcs, weights)
    assert out["n"] == 2 and out["correct"] == 0.5
    first, second = out["per_completion"]
    assert first["correctness_reward"] == 1.0 and second["correctness_reward"] == -0.5
    for pc in out["per_completion"]:
        assert pc["reward"] == pytest.approx(0.3 * pc["format_reward"] + 0.7 * pc["correctness_reward"], abs=1e-4)
    assert out["reward"] == pytest.approx((first["reward"] + second["reward"]) / 2, abs=1e-4)


def test_load_start_missing_explicit_adapter(tiny_preset, tmp_path):
    from gpt_oss_tutorial.errors import CheckpointError

    with pytest.raises(CheckpointError, match="No LoRA adapter"):
        grpo.load_start(tiny_preset, tmp_path / "nothing")


@pytest.mark.parametrize("argv", [["--max-steps", "0"], ["--max-steps", "-5"], ["--generations", "1"],
                                  ["--max-completion", "0"], ["--learning-rate", "0"], ["--learning-rate", "nan"],
                                  ["--weights", "format=x"], ["--weights", "style=1"], ["--heldout", "-1"],
                                  ["--adapter", "/nonexistent/adapter"], ["--preset", "gpt-5"]])
def test_cli_rejects_bad_arguments_up_front(argv, capsys, monkeypatch):
    from gpt_oss_tutorial import runner

    monkeypatch.setattr(runner, "run_stage", lambda *a, **k: pytest.fail("ran the notebook with a bad argument"))
    with pytest.raises(SystemExit) as exit_info:
        cli().main(argv)
    assert exit_info.value.code == 2 and "error:" in capsys.readouterr().err


def test_two_step_grpo_cli(tiny_trained, tmp_path, session_outputs, capsys):
    """scripts/train_grpo.py runs notebook 05: 2 GRPO steps from the tiny SFT adapter; log, adapter, plot, figures."""
    _, sft_result = tiny_trained
    out = tmp_path / "grpo"
    argv = ["--preset", "tiny-gpt-oss", "--max-steps", "2", "--generations", "2", "--max-completion", "8",
            "--heldout", "2", "--adapter", str(sft_result.adapter_dir), "--output-dir", str(out)]
    assert cli().main(argv) == 0
    assert "executed notebook" in capsys.readouterr().out

    log = json.loads((out / "log.json").read_text())
    steps = [h for h in log["log_history"] if "reward" in h]
    assert [h["step"] for h in steps] == [1, 2]
    for h in steps:
        for name in ("format_reward", "correctness_reward", "language_reward"):
            assert math.isfinite(h[f"rewards/{name}/mean"])
        assert h["reward"] == pytest.approx(0.3 * h["rewards/format_reward/mean"]
                                            + 0.7 * h["rewards/correctness_reward/mean"], abs=1e-4)
    summary = log["summary"]
    assert summary["steps"] == 2 and summary["start"] == "sft-adapter"
    assert summary["num_generations"] == 2 and summary["max_completion_length"] == 8
    assert summary["heldout_n"] == 2
    assert -1.0 <= summary["heldout_reward_before"] <= 1.0 and -1.0 <= summary["heldout_reward_after"] <= 1.0

    assert (out / "rewards.png").stat().st_size > 1000 and (out / "heldout.png").stat().st_size > 1000
    assert len(summary["heldout_components_before"]) == 3

    recorded = json.loads((session_outputs / "figures" / "05_grpo.json").read_text())
    assert recorded["summary"]["grpo"]["steps"] == 2
    assert {"heldout_reward_before", "heldout_reward_after", "mean_reward_first", "mean_reward_last"} <= set(
        recorded["summary"]["grpo"])

    # the GRPO adapter reloads on the base model, and holds the LoRA weights that were saved
    from safetensors.torch import load_file

    from gpt_oss_tutorial import backends

    from gpt_oss_tutorial.presets import get_preset

    reloaded = backends.load_adapter(get_preset("tiny-gpt-oss"), out / "adapter")
    saved = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert saved and all(".lora_" in k for k in saved)
    state = {k: v for k, v in reloaded.model.state_dict().items() if ".lora_" in k}
    some_key = next(iter(saved))
    match = [k for k in state if k.replace(".default", "") == some_key]
    assert match and (state[match[0]].float() - saved[some_key].float()).abs().max().item() == 0.0
