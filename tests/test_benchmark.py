"""scripts/benchmark.py: the CPU path runs end to end, the batch plans keep every row once in few shapes, the model
folder written by threads is what save_pretrained writes, and the goals table says by how much a goal is missed."""
from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import pytest

from gpt_oss_tutorial import benchmark as bench
from gpt_oss_tutorial.paths import REPO_ROOT


# --------------------------------------------------------------------------- the command, on CPU
@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), "--arch", "tiny",
           "--configs", "a", "b", "c", "--lengths", "fixed", "mixed", "--steps", "1", "--warmup", "0",
           # small rows and effective batch: the tiny model is slow on 2 shared cores, and the fields are the point
           "--seq-len", "64", "--min-len", "16", "--max-len", "128", "--effective-batch", "2",
           "--micro-batches", "b=2x1", "c=2x1", "--workdir", str(out / "work"),
           "--json", str(out / "bench.json"), "--markdown", str(out / "bench.md")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=out)
    return proc, out


@pytest.mark.slow
def test_cpu_run_measures_c_and_writes_json_and_markdown(cpu_run):
    proc, out = cpu_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    assert report["meta"]["arch"] == "tiny"
    assert report["build"]["status"] == "ok" and report["build"]["parameters"] > 0
    c_rows = {r["lengths"]: r for r in report["results"] if r["config"] == "c"}
    assert set(c_rows) == {"fixed", "mixed"}
    for kind, r in c_rows.items():
        assert r["status"] == "ok", r
        for key in ("s_per_step", "real_tokens_per_s", "processed_tokens_per_s", "real_fraction", "step_seconds",
                    "warmup_seconds", "shapes", "n_shapes", "trainable_params", "optimizer", "losses"):
            assert key in r, (kind, key)
        assert r["s_per_step"] > 0 and len(r["step_seconds"]) == 1
        assert r["real_tokens_per_s"] <= r["processed_tokens_per_s"]
        assert r["loss_finite"] and r["trainable_params"] > 0
        assert r["micro_batch"] == 2 and r["grad_accum"] == 1
    assert c_rows["fixed"]["real_fraction"] == 1.0 and c_rows["fixed"]["shapes"] == [[2, 64]]
    assert c_rows["mixed"]["policy"] == "per_batch" and c_rows["mixed"]["real_fraction"] < 1.0
    assert report["loaded"]["c"]["weights"].startswith("bf16")
    md = (out / "bench.md").read_text()
    assert "| (c) cookbook" in md and "## Goals" in md


@pytest.mark.slow
def test_cpu_run_reports_unsloth_configs_skipped(cpu_run):
    if bench.unsloth_available()[0]:
        pytest.skip("CUDA + Unsloth present: (a)/(b) run here")
    proc, out = cpu_run
    report = json.loads((out / "bench.json").read_text())
    skipped = [r for r in report["results"] if r["config"] in ("a", "b")]
    assert len(skipped) == 4  # (a) and (b), fixed and mixed
    assert all(r["status"] == "skipped" and r["reason"].startswith(bench.SKIP_NO_UNSLOTH) for r in skipped)
    md = (out / "bench.md").read_text()
    assert "skipped: needs CUDA + Unsloth" in md
    assert all(g["met"] is None and g["by"] == "not measured" for g in report["goals"])


# --------------------------------------------------------------------------- batch plans
def _check_plan(plan: bench.Plan, lengths: list[int], multiple: int | None = None):
    used = [i for step in plan.steps for mb in step for i in mb.rows]
    assert sorted(used) == list(range(len(lengths))), "every row exactly once"
    for step in plan.steps:
        assert sum(len(mb.lengths) for mb in step) == plan.micro_batch * plan.grad_accum
        assert len(step) == plan.grad_accum
        for mb in step:
            assert len(mb.lengths) == plan.micro_batch
            assert list(mb.lengths) == [lengths[i] for i in mb.rows]
            assert mb.width >= max(mb.lengths)
            if multiple:
                assert mb.width % multiple == 0


@pytest.mark.parametrize("micro,max_shapes,multiple,mega", [
    ("4x4", 1, 64, None), ("4x4", 3, 64, None), ("4x4", 4, 256, None), ("8x2", 4, 64, None),
    ("2x8", 6, 32, 32), ("1x16", 2, 128, 64), ("16x1", 5, 64, None),
])
def test_group_by_length_keeps_every_row_once_in_few_shapes(micro, max_shapes, multiple, mega):
    m, g = bench.parse_micro(micro)
    for seed in range(5):
        lengths = bench.mixed_lengths(64, 256, 2048, seed=seed)
        plan = bench.group_by_length(lengths, m, g, max_shapes=max_shapes, multiple=multiple, mega_batch_rows=mega,
                                     seed=seed)
        _check_plan(plan, lengths, multiple)
        assert len(plan.shapes()) <= max_shapes
        assert len({w for _, w in plan.shapes()}) == len(plan.shapes())  # one row count: shapes = widths


def test_grouping_wastes_less_than_padding_and_more_shapes_waste_less():
    lengths = bench.mixed_lengths(48, 256, 2048)
    pad = bench.plan_pad_to_max(lengths, 1, 16, 2048).stats()["real_fraction"]
    per_batch = bench.plan_per_batch(lengths, 4, 4).stats()["real_fraction"]
    grouped = [bench.group_by_length(lengths, 4, 4, max_shapes=k).stats()["real_fraction"] for k in (1, 2, 4, 8)]
    assert pad < per_batch < grouped[2]
    assert grouped == sorted(grouped) and grouped[0] < grouped[-1]
    assert grouped[0] == pytest.approx(sum(lengths) / (48 * 2048))  # one width: the longest row, rounded


def test_choose_widths_is_optimal_against_brute_force():
    rng = random.Random(0)
    for _ in range(30):
        maxima = [rng.randint(1, 40) * 8 for _ in range(rng.randint(1, 9))]
        k = rng.randint(1, 4)
        widths = bench.choose_widths(maxima, k, 8)
        assert len(widths) <= k and max(widths) == max(maxima)

        def cost(ws):
            return sum(next(w for w in sorted(ws) if w >= m) for m in maxima)

        cands = sorted(set(maxima))
        best = min(cost(c) for r in range(1, k + 1) for c in itertools.combinations(cands, r)
                   if max(c) == max(cands))
        assert cost(widths) == best


def test_pad_to_max_and_per_batch_plans():
    lengths = [100, 300, 200, 50]
    pad = bench.plan_pad_to_max(lengths, 1, 4, 512)
    _check_plan(pad, lengths)
    assert pad.shapes() == [(1, 512)] and pad.stats()["real_fraction"] == pytest.approx(650 / 2048)
    per = bench.plan_per_batch(lengths, 2, 2, seed=1)
    _check_plan(per, lengths)
    assert all(mb.width == max(mb.lengths) for s in per.steps for mb in s)
    with pytest.raises(ValueError, match="longer than"):
        bench.plan_pad_to_max(lengths, 1, 4, 256)
    with pytest.raises(ValueError, match="whole steps"):
        bench.group_by_length(lengths[:3], 1, 4)


def test_parse_micro_and_defaults():
    assert bench.parse_micro("4x4") == (4, 4) and bench.parse_micro("1x16") == (1, 16)
    for bad in ("4x3", "4", "ax4", "0x16"):
        with pytest.raises(ValueError):
            bench.parse_micro(bad)
    assert bench.default_micro(16) == {"a": ["1x16"], "b": ["4x4"], "c": ["4x4"]}
    assert bench.default_micro(2)["a"] == ["1x2"]


def test_fixed_plan_has_no_padding():
    plan = bench.build_plan("b", "fixed", "4x4", bench.Options(steps=3))
    st = plan.stats()
    assert st["real_fraction"] == 1.0 and plan.shapes() == [(4, 1024)] and st["real_tokens"] == 3 * 16 * 1024


# --------------------------------------------------------------------------- the model folder
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
    shards = bench.save_parallel(model, tmp_path / "p", shard_bytes=2**20, workers=3)
    assert shards > 1  # several threads really wrote several shards
    model.save_pretrained(tmp_path / "t")
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "p", dtype=torch.bfloat16)
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "t", dtype=torch.bfloat16)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() == model.state_dict().keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.config.num_local_experts == config.num_local_experts


def test_20b_config_is_the_20b():
    from gpt_oss_tutorial.offline_models import build_harmony_bpe_tokenizer

    config = bench.model_config("gpt-oss-20b", build_harmony_bpe_tokenizer())
    assert (config.num_hidden_layers, config.num_local_experts, config.num_experts_per_tok, config.hidden_size,
            config.vocab_size) == (24, 32, 4, 2880, 201088)


# --------------------------------------------------------------------------- goals
def _row(config, micro, lengths, s, real, processed, reserved=None, allocated=None, shapes=None, **extra):
    m, g = bench.parse_micro(micro)
    row = {"config": config, "label": bench.CONFIG_LABELS[config], "micro": micro, "lengths": lengths,
           "micro_batch": m, "grad_accum": g, "policy": "fixed" if lengths == "fixed" else bench.MIXED_POLICY[config],
           "status": "ok", "s_per_step": s, "real_tokens_per_step": real * s,
           "processed_tokens_per_step": processed * s,
           "real_tokens_per_s": real, "processed_tokens_per_s": processed, "real_fraction": real / processed,
           "shapes": shapes or [[m, 1024]], "n_shapes": len(shapes or [1]), "warmup_seconds": 50.0,
           "warmup_shapes": [{"shape": [m, 1024], "seconds": 50.0}], **extra}
    if reserved is not None:
        row.update(peak_reserved_gb=reserved, peak_allocated_gb=allocated)
    return row


def _report(results):
    opts = bench.Options()
    return {"meta": {"arch": "gpt-oss-20b", "started": "now", "options": opts.__dict__, "method": "m",
                     "elapsed_s": 1.0},
            "build": None, "loaded": {}, "results": results,
            "goals": bench.evaluate_goals(results, "gpt-oss-20b", opts.__dict__)}


def test_goals_table_says_by_how_much_and_why():
    results = [
        _row("b", "4x4", "fixed", 2.4, 6800.0, 6800.0, reserved=16.0, allocated=15.3),
        _row("b", "4x4", "mixed", 2.8, 5440.0, 6800.0, shapes=[[4, 512], [4, 960], [4, 1600], [4, 2048]]),
        _row("c", "4x4", "fixed", 4.83, 3400.0, 3400.0, reserved=49.1, allocated=47.9),
        _row("c", "8x2", "fixed", 9.0, 1700.0, 1700.0, reserved=60.0, allocated=59.0),
    ]
    report = _report(results)
    goals = {g["goal"].split(" ", 3)[2]: g for g in report["goals"]}  # "tokens/s", "peak", "real"
    speed, memory, mixed = goals["tokens/s"], goals["peak"], goals["real"]
    assert speed["met"] is False and speed["value"] == pytest.approx(2.0)  # vs (c)'s best batch, 4x4
    assert speed["by"] == "missed by 20% (2.00x of 2.5x)" and "(c) at 4x4" in speed["measured"]
    assert memory["met"] is False and memory["by"] == "missed by 0.50 GiB" and "allocator" in memory["why"]
    assert mixed["met"] is False and mixed["by"] == "missed by 10.0 points"
    assert "real-token fraction 80%" in mixed["why"]
    assert "widths would" in mixed["why"]
    md = bench.render_markdown(report)
    for text in ("missed by 20%", "missed by 0.50 GiB", "missed by 10.0 points", "| (b) ours"):
        assert text in md


def test_goals_met_and_not_measured():
    results = [
        _row("b", "8x2", "fixed", 1.0, 16384.0, 16384.0, reserved=15.2, allocated=15.0),
        _row("b", "8x2", "mixed", 1.0, 15500.0, 16500.0),
        _row("c", "4x4", "fixed", 4.83, 3400.0, 3400.0, reserved=49.1, allocated=47.9),
    ]
    goals = bench.evaluate_goals(results, "gpt-oss-20b", bench.Options().__dict__)
    assert [g["met"] for g in goals] == [True, True, True] and all(g["by"] == "met" for g in goals)
    results[2]["status"] = "timeout"
    results[2]["reason"] = "time budget reached before this phase finished"
    goals = bench.evaluate_goals(results)
    assert goals[0]["met"] is None and "timeout" in goals[0]["why"]


# --------------------------------------------------------------------------- (b)'s phases, without Unsloth
@pytest.mark.slow
def test_child_runs_grouped_phases_and_warms_every_shape(cpu_run, monkeypatch, capsys):
    """The code (a)/(b) run on the GPU, on CPU: Unsloth's loader replaced by the peft one. Each distinct micro-batch
    shape gets its own warm-up pass (Unsloth compiles per shape); one JSON line per phase."""
    folder = cpu_run[1] / "work" / "model-tiny"  # built by the command above
    assert bench.model_dir_ready("tiny", folder)
    monkeypatch.setattr(bench, "_load_unsloth", lambda d, n: bench._load_peft(d, "cpu"))
    opts = bench.Options(arch="tiny", seq_len=32, min_len=8, max_len=96, steps=1, warmup=1, effective_batch=4,
                         max_shapes=2, multiple=16)
    rc = bench.child_main({"config": "b", "options": opts.__dict__, "micro": ["1x4"], "lengths": ["mixed"],
                           "model_dir": str(folder), "max_seq_length": 96})
    lines = [json.loads(x[len(bench.TAG):]) for x in capsys.readouterr().out.splitlines()
             if x.startswith(bench.TAG)]
    assert rc == 0
    assert [x["event"] for x in lines] == ["loaded", "result"]
    mixed = lines[1]
    assert mixed["status"] == "ok" and mixed["loss_finite"]
    assert mixed["policy"] == "grouped" and 1 <= mixed["n_shapes"] <= 2
    assert len(mixed["warmup_shapes"]) == mixed["n_shapes"]  # compiled path: every shape warmed
    assert [w["shape"] for w in mixed["warmup_shapes"]] == mixed["shapes"]
    plan = bench.build_plan("b", "mixed", "1x4", opts)
    assert mixed["real_fraction"] == pytest.approx(plan.stats()["real_fraction"], abs=1e-4)
    assert lines[0]["vocab_size"] == lines[0]["lm_head_rows"] == 4096
