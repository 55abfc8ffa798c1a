"""tools/benchmark.py: the CPU run trains through notebook 03's trainer and writes both reports, the model folder
written by threads is what save_pretrained writes, the stand-in keeps the hub config, and the goals say met or not."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from gpt_oss_tutorial.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("benchmark", REPO_ROOT / "tools" / "benchmark.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["benchmark"] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, str(REPO_ROOT / "tools" / "benchmark.py"), "--arch", "tiny", "--configs", "a", "b", "c",
           "--lengths", "fixed", "mixed", "--steps", "1", "--warmup", "0",
           # small rows and steps: the tiny model is slow on 2 shared cores, and the fields are the point
           "--seq-len", "64", "--min-len", "16", "--max-len", "128", "--effective-batch", "4",
           "--micro-batches", "b=2x2", "c=2x2", "--workdir", str(out / "work"),
           "--json", str(out / "bench.json"), "--markdown", str(out / "bench.md")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=out)
    return proc, out


@pytest.mark.slow
def test_cpu_run_trains_through_notebook_03s_trainer(cpu_run):
    proc, out = cpu_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    assert report["meta"]["arch"] == "tiny" and report["build"]["status"] == "ok"
    c_rows = {r["lengths"]: r for r in report["results"] if r["config"] == "c"}
    assert set(c_rows) == {"fixed", "mixed"}
    for r in c_rows.values():
        assert r["status"] == "ok", r
        assert r["trainer"] == "CPULossSFTTrainer"  # the class notebook 03's trainer cell makes on a CPU
        assert r["s_per_step"] > 0 and len(r["step_seconds"]) == 1 and r["loss_finite"]
        assert r["real_tokens_per_s"] <= r["processed_tokens_per_s"]
        assert (r["micro_batch"], r["grad_accum"]) == (2, 2)
        assert all(width % 64 == 0 for _, width in r["shapes"])  # notebook 03's padding to multiples of 64
    assert c_rows["fixed"]["real_fraction"] == 1.0 and c_rows["fixed"]["shapes"] == [[2, 64]]
    assert c_rows["mixed"]["real_fraction"] < 1.0
    assert report["loaded"]["c"]["trainable_params"] > 0 and report["loaded"]["c"]["weights"].startswith("bf16")
    skipped = [r for r in report["results"] if r["config"] in ("a", "b")]
    if not bench.unsloth_available()[0]:
        assert len(skipped) == 4 and all(r["status"] == "skipped" for r in skipped)
        assert all(g["met"] is None for g in report["goals"])
    md = (out / "bench.md").read_text()
    assert "| (c) the cookbook" in md and "## Goals" in md and "skipped: needs CUDA + Unsloth" in md


def test_micro_batches_and_rows():
    assert bench.parse_micro("4x4") == (4, 4) and bench.parse_micro("1x16") == (1, 16)
    for bad in ("4x3", "4", "ax4", "0x16"):
        with pytest.raises(ValueError):
            bench.parse_micro(bad)
    assert bench._micro(None, 16) == {"a": ["1x16"], "b": ["4x4", "8x2", "16x1"], "c": ["16x1"]}
    assert bench._micro(["b=8x2"], 16)["b"] == ["8x2"]
    opts = bench.Options(steps=3, warmup=1)
    assert bench.row_lengths("fixed", opts) == [1024] * 64
    mixed = bench.row_lengths("mixed", opts)
    assert len(mixed) == 64 and 256 <= min(mixed) < max(mixed) <= 2048 and mixed == bench.row_lengths("mixed", opts)
    args = bench.RunArgs(mixed_micro=("8x2",))
    assert bench.phases(args, "b") == [("4x4", "fixed"), ("8x2", "fixed"), ("8x2", "mixed"), ("16x1", "fixed")]


def test_parallel_save_matches_save_pretrained(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, GptOssForCausalLM

    from gpt_oss_tutorial.offline_models import build_harmony_bpe_tokenizer

    tok = build_harmony_bpe_tokenizer()
    config = bench.model_config("tiny", tok)
    assert config.vocab_size >= len(tok) and config.pad_token_id == tok.pad_token_id
    torch.manual_seed(0)
    model = GptOssForCausalLM._from_config(config, dtype=torch.bfloat16)
    (tmp_path / "p").mkdir()
    assert bench.save_parallel(model, tmp_path / "p", shard_bytes=2**20, workers=3) > 1
    model.save_pretrained(tmp_path / "t")
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "p", dtype=torch.bfloat16)
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "t", dtype=torch.bfloat16)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() == model.state_dict().keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_20b_stand_in_has_the_hub_config():
    from transformers import GptOssConfig

    from gpt_oss_tutorial.offline_models import build_harmony_bpe_tokenizer

    config = bench.model_config("gpt-oss-20b", build_harmony_bpe_tokenizer())
    assert (config.num_hidden_layers, config.num_local_experts, config.num_experts_per_tok, config.hidden_size,
            config.vocab_size) == (24, 32, 4, 2880, 201088)
    assert config.use_cache is True and GptOssConfig().use_cache is True  # generation keeps its KV cache


def _row(config, micro, lengths, s, real, reserved=None, fraction=1.0, new_shapes=0):
    m, g = bench.parse_micro(micro)
    row = {"config": config, "label": bench.CONFIG_LABELS[config], "micro": micro, "lengths": lengths,
           "micro_batch": m, "grad_accum": g, "status": "ok", "s_per_step": s, "real_tokens_per_s": real,
           "processed_tokens_per_s": real / fraction, "real_fraction": fraction, "n_shapes": 1,
           "new_shapes_in_timed_steps": new_shapes}
    if reserved is not None:
        row["peak_reserved_gb"] = reserved
    return row


def test_goals_say_met_missed_or_not_measured():
    results = [_row("b", "4x4", "fixed", 2.2, 7400.0, reserved=14.4),
               _row("b", "8x2", "fixed", 1.2, 13600.0, reserved=15.5),
               _row("b", "8x2", "mixed", 1.5, 10600.0, reserved=21.0, fraction=0.8, new_shapes=2),
               _row("c", "16x1", "fixed", 3.25, 5048.0, reserved=93.5)]
    goals = {g["goal"]: g for g in bench.evaluate_goals(results)}
    assert goals["24 GB setting (8 x 2): 60 steps of 1024-token rows"]["result"] == "met"  # 72 s
    assert goals["16 GB setting (4 x 4): peak reserved at 1024 tokens"]["result"] == "met"
    assert goals["24 GB setting (8 x 2): peak reserved with rows up to 2048 tokens"]["result"] == "met"
    speed = goals["(b) 8x2 real tokens/s vs (c) at its best batch (16x1)"]
    assert speed["result"] == "missed" and speed["measured"] == "2.69x"
    mixed = goals["(b) 8x2 mixed lengths: real tokens/s vs fixed"]
    assert mixed["result"] == "missed" and "2 new shape(s)" in mixed["why"]
    assert goals["(b) 16x1 real tokens/s vs (c) at its best batch"]["result"] == "not measured"
    report = {"meta": {"arch": "gpt-oss-20b", "options": bench.Options().__dict__, "started": "now", "method": "m"},
              "loaded": {}, "results": results, "goals": list(goals.values())}
    md = bench.render_markdown(report)
    assert "| missed |" in md and "2.69x" in md and "| (b) the tutorial" in md
