"""SFT: learning happens, the prompt carries no loss, an interrupted run resumes exactly (from the newest complete
checkpoint), a finished run is not trained again, a failing run keeps the previous results, bad arguments and foreign
folders are refused, length grouping keeps padding low, and the adapter reloads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt_oss_tutorial import atomic, backends, data, errors, presets, sft
from gpt_oss_tutorial.paths import REPO_ROOT


def _batch(loaded, rows, max_length):
    tokenized = [data.tokenize_row(loaded.tokenizer, r, max_length=max_length) for r in rows]
    return data.collate(loaded.tokenizer.pad_token_id)(tokenized)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(tiny_rows, tmp_path):
    preset = presets.get_preset("tiny-gpt-oss", max_steps=8, learning_rate=3e-3, warmup_steps=0,
                                lr_scheduler="constant", save_steps=100, max_seq_length=384)
    loaded = backends.load(preset)
    rows = tiny_rows.rows[:4]
    batch = _batch(loaded, rows, preset.max_seq_length)
    with torch.no_grad():
        before = loaded.model(**batch).loss.item()
    prepared = data.prepare(loaded.tokenizer, data.LoadResult(rows=rows, source="t"), max_length=384, progress=False)
    result = sft.train(loaded, prepared.dataset, tmp_path, progress=False)
    loaded.model.eval()
    with torch.no_grad():
        after = loaded.model(**batch).loss.item()
    assert after < before - 0.05, (before, after)
    assert result.steps == 8 and len(result.losses) == 8
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert (tmp_path / "log.json").exists() and not list(tmp_path.glob(".adapter.*"))


def test_cpu_trainer_loss_equals_trls_fused_loss(tiny_rows, tmp_path):
    """On CPU notebook 03's trainer swaps TRL's fused LM head for the model's own cross-entropy (faster): same loss."""
    from trl import SFTTrainer

    preset = presets.get_preset("tiny-gpt-oss", max_seq_length=384)
    loaded = backends.load(preset)
    prepared = data.prepare(loaded.tokenizer, data.LoadResult(rows=tiny_rows.rows[:4], source="t"), max_length=384,
                            progress=False)
    trainer = sft.notebook_trainer(loaded, prepared.dataset, tmp_path, progress=False)
    assert type(trainer).__name__ == "CPULossSFTTrainer" and isinstance(trainer, SFTTrainer)
    batch = _batch(loaded, tiny_rows.rows[:4], 384)
    tokens = int((batch["labels"][:, 1:] != -100).sum())
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train; TRL scales the MoE aux loss by it
    with torch.no_grad():
        ours = trainer.compute_loss(loaded.model, dict(batch), num_items_in_batch=tokens).item()
        fused = SFTTrainer.compute_loss(trainer, loaded.model, dict(batch), num_items_in_batch=tokens).item()
    assert ours == pytest.approx(fused, rel=1e-3)


def test_masked_tokens_carry_no_loss(tiny_trained, tiny_rows):
    loaded, _ = tiny_trained
    batch = _batch(loaded, tiny_rows.rows[:3], 384)
    with torch.no_grad():
        logits = loaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        model_loss = loaded.model(**batch).loss.item()
    shift_logits, shift_labels = logits[:, :-1], batch["labels"][:, 1:]
    keep = shift_labels != -100
    manual = torch.nn.functional.cross_entropy(shift_logits[keep], shift_labels[keep]).item()
    assert model_loss == pytest.approx(manual, rel=2e-3)
    # Training on the prompt too (the blog's way) gives a different loss: the mask matters.
    everything = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        unmasked = loaded.model(**{**batch, "labels": everything}).loss.item()
    assert abs(unmasked - model_loss) > 1e-3


def test_adapter_reload_reproduces_the_trained_logits(tiny_trained, tiny_rows):
    loaded, result = tiny_trained
    batch = _batch(loaded, tiny_rows.rows[:2], 384)
    loaded.model.eval()
    with torch.no_grad():
        trained = loaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    reloaded = backends.load_adapter(loaded.preset, result.adapter_dir)
    reloaded.model.eval()
    with torch.no_grad():
        again = reloaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        base = reloaded.model.get_base_model()(input_ids=batch["input_ids"],
                                               attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(trained, again, atol=1e-4), (trained - again).abs().max()
    with reloaded.model.disable_adapter(), torch.no_grad():
        without = reloaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert (without - again).abs().max() > 1e-3  # the adapter really changes the model
    del base


def _train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "scripts" / "train_sft.py"), "--preset", "tiny-gpt-oss", "--offline",
            "--max-steps", "8", "--save-steps", "2", "--output-dir", str(out), *extra]


def _env(tmp_path):
    return {**os.environ, "GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs"), "HF_HUB_OFFLINE": "1"}


def _losses(out: Path) -> list[tuple[int, float]]:
    log = json.loads((out / "log.json").read_text())["log_history"]
    return [(h["step"], h["loss"]) for h in log if "loss" in h]


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its children (the notebook's kernel runs in a session of its own)."""
    import psutil

    parent = psutil.Process(pid)
    for child in parent.children(recursive=True):
        child.kill()
    parent.kill()


def test_killed_run_resumes_from_the_newest_complete_checkpoint_to_the_same_losses(tmp_path):
    env = _env(tmp_path)
    straight = tmp_path / "straight"
    subprocess.run(_train_cmd(straight), env=env, check=True, capture_output=True, timeout=900)
    summary = json.loads((straight / "log.json").read_text())
    # the command line's values reached the notebook's SFTConfig; the rest are the preset's
    preset = presets.get_preset("tiny-gpt-oss")
    config = summary["config"]
    assert (config["max_steps"], config["save_steps"]) == (8, 2)
    assert (config["per_device_train_batch_size"], config["gradient_accumulation_steps"]) == (preset.batch_size,
                                                                                            preset.grad_accum)
    assert config["learning_rate"] == preset.learning_rate and config["seed"] == preset.seed
    assert config["optim"] == "adamw_torch" and config["use_cpu"] is True  # bitsandbytes' 8-bit Adam needs CUDA
    assert config["gradient_checkpointing"] is False  # TRL's default recomputes the forward pass; a CPU has the memory

    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(_train_cmd(resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = resumed / sft.RUNNING_DIR
    deadline = time.time() + 900
    while time.time() < deadline and not (running / "checkpoint-4" / "trainer_state.json").exists():
        assert proc.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.2)
    _kill_tree(proc.pid)  # a real interruption: no clean shutdown
    proc.wait()
    assert not (resumed / "adapter").exists()  # nothing half-written was left as a finished adapter
    newest = max(running.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    (newest / "trainer_state.json").write_text("")  # cut by a full disk: must not count as complete

    done = subprocess.run(_train_cmd(resumed, "--resume"), env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((resumed / "log.json").read_text())["summary"]
    fallback = int(summary["resumed_from"].rstrip("/").split("-")[-1])
    assert fallback < int(newest.name.split("-")[1]) and fallback >= 2
    a, b = _losses(straight), _losses(resumed)
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 9))
    assert [round(x, 4) for _, x in a] == [round(x, 4) for _, x in b]
    assert (resumed / "checkpoints" / "checkpoint-8").is_dir() and not running.exists()


def test_bad_arguments_are_refused_up_front(tmp_path):
    for flag, value in (("--max-steps", "0"), ("--max-steps", "-5"), ("--batch-size", "0"), ("--grad-accum", "-1"),
                        ("--learning-rate", "0"), ("--learning-rate", "nan"), ("--learning-rate", "3"),
                        ("--save-steps", "0")):
        cmd = _train_cmd(tmp_path / "bad")
        if flag in cmd:
            cmd[cmd.index(flag) + 1] = value
        else:
            cmd += [flag, value]
        done = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and flag in done.stderr, (flag, value, done.stderr[-500:])
    assert not (tmp_path / "bad").exists()
    for bad in ({"max_steps": 0}, {"batch_size": -1}, {"learning_rate": 0.0}, {"learning_rate": float("inf")},
                {"grad_accum": 1.5}, {"save_steps": True}):
        with pytest.raises(errors.TutorialError, match=next(iter(bad)).upper()):
            sft.check_training_parameters(**bad)
    sft.check_training_parameters(max_steps=3, batch_size=2, grad_accum=8, learning_rate=2e-4, save_steps=None)


def test_a_folder_we_did_not_write_is_refused_and_kept(tmp_path):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    done = subprocess.run(_train_cmd(foreign), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    assert str(foreign) in done.stderr and "--output-dir" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    with pytest.raises(errors.OutputError, match="is a file"):
        sft.claim_output_dir(foreign / "notes.txt")
    assert sft.claim_output_dir(tmp_path / "new") == tmp_path / "new"
    assert atomic.is_ours(tmp_path / "new")
    (tmp_path / "new" / "log.json").write_text("{}")
    sft.claim_output_dir(tmp_path / "new")  # ours: accepted again


def _fake_checkpoint(folder: Path, step: int, *, state: str | None = None, weights: bool = True) -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}) if state is None else state)
    if weights:
        (path / "adapter_model.safetensors").write_bytes(b"x" * 16)
    return path


def test_a_checkpoint_is_complete_only_with_a_parsable_state_and_weights(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    good = _fake_checkpoint(folder, 2)
    _fake_checkpoint(folder, 4, weights=False)
    _fake_checkpoint(folder, 6, state="")
    _fake_checkpoint(folder, 8, state='{"global_step": 8')
    assert sft.checkpoint_problem(good) is None
    assert "weights" in sft.checkpoint_problem(folder / "checkpoint-4")
    assert "does not parse" in sft.checkpoint_problem(folder / "checkpoint-6")
    assert sft.newest_complete_checkpoint(folder, remove_incomplete=False) == good
    said = capsys.readouterr().out
    assert all(f"checkpoint-{n} is incomplete" in said for n in (4, 6, 8))
    assert sft.newest_complete_checkpoint(folder) == good
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-2"]  # the incomplete ones are removed


def test_finished_run_is_not_trained_again_and_a_failing_run_keeps_the_previous_results(tiny_rows, tmp_path, capsys):
    from transformers import TrainerCallback

    preset = presets.get_preset("tiny-gpt-oss", max_steps=2, save_steps=1, max_seq_length=256)
    loaded = backends.load(preset)
    prepared = data.prepare(loaded.tokenizer, data.LoadResult(rows=tiny_rows.rows[:8], source="t"), max_length=256,
                            progress=False)
    first = sft.train(loaded, prepared.dataset, tmp_path, progress=False)
    assert first.steps == 2 and [s for s, _ in first.losses] == [1, 2]
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    capsys.readouterr()
    again = sft.train(loaded, prepared.dataset, tmp_path, resume=True, progress=False)
    assert "already finished" in capsys.readouterr().out
    assert again.finished_before and again.steps == 2 and again.losses == first.losses  # no extra logged step
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files

    class Boom(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        sft.train(loaded, prepared.dataset, tmp_path, max_steps=3, progress=False, callbacks=[Boom()])
    still = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and sft.RUNNING_DIR not in p.parts}
    assert still == files  # adapter, log.json and checkpoints of the good run: untouched and current


def test_length_grouping_keeps_steps_whole_and_padding_low(tiny_trained):
    """The batches the trainer itself forms from rows of 256-2048 tokens: 16 rows a step, < 10% padding, widths a
    multiple of 64 (few shapes)."""
    import random

    from datasets import Dataset

    loaded, _ = tiny_trained
    rng = random.Random(0)
    lengths = [rng.randint(256, 2048) for _ in range(16 * 12)]
    rows = [{"input_ids": [5] * n, "labels": [-100] * 10 + [5] * (n - 10), "length": n, "junk": "x"}
            for n in lengths]
    preset = presets.get_preset("tiny-gpt-oss", batch_size=8, grad_accum=2, max_steps=12)
    trainer = sft.notebook_trainer(dataclasses_replace(loaded, preset=preset), Dataset.from_list(rows),
                                   "/nonexistent-never-written", progress=False)
    batches = list(trainer.get_train_dataloader())
    assert len(batches) == 24 and all(b["input_ids"].shape[0] == 8 for b in batches)
    widths = [b["input_ids"].shape[1] for b in batches]
    assert all(w % 64 == 0 for w in widths)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["input_ids"].numel() for b in batches)
    assert 1 - real / padded < 0.10, 1 - real / padded
    steps = [sorted(int(n) for b in batches[i:i + 2] for n in b["attention_mask"].sum(1)) for i in range(0, 24, 2)]
    assert sorted(n for s in steps for n in s) == sorted(lengths)  # every row once
    spans = [s[-1] - s[0] for s in steps]
    assert max(spans) < 300  # a step's rows have similar lengths...
    assert steps != sorted(steps)  # ...and the steps do not run from short to long
    plain = [lengths[i:i + 8] for i in range(0, len(lengths), 8)]
    assert 1 - real / padded < 1 - sum(lengths) / sum(64 * -(-max(p) // 64) * 8 for p in plain)


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_accelerate_launch_one_process(tmp_path):
    out = tmp_path / "accel"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu",
           *_train_cmd(out)[1:]]
    cmd[cmd.index("8")] = "2"  # --max-steps 2
    done = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "adapter" / "adapter_config.json").exists()
    assert json.loads((out / "log.json").read_text())["summary"]["steps"] == 2
