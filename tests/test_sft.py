"""SFT: learning happens, the prompt carries no loss, an interrupted run resumes exactly, the adapter reloads."""
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

from gpt_oss_tutorial import backends, data, presets, sft
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
    """On CPU build_trainer swaps TRL's fused LM head for the model's own cross-entropy (faster there): same loss."""
    from trl import SFTTrainer

    preset = presets.get_preset("tiny-gpt-oss", max_seq_length=384)
    loaded = backends.load(preset)
    prepared = data.prepare(loaded.tokenizer, data.LoadResult(rows=tiny_rows.rows[:4], source="t"), max_length=384,
                            progress=False)
    trainer = sft.build_trainer(loaded, prepared.dataset, tmp_path, max_steps=1, progress=False)
    assert type(trainer).__name__ == "CPUSFTTrainer" and isinstance(trainer, SFTTrainer)
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
            "--max-steps", "8", "--save-steps", "2", "--output-dir", str(out), "--no-progress", *extra]


def _env(tmp_path):
    return {**os.environ, "GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs"), "HF_HUB_OFFLINE": "1"}


def _losses(out: Path) -> list[tuple[int, float]]:
    log = json.loads((out / "log.json").read_text())["log_history"]
    return [(h["step"], h["loss"]) for h in log if "loss" in h]


def test_killed_run_resumes_to_the_same_losses(tmp_path):
    env = _env(tmp_path)
    straight = tmp_path / "straight"
    subprocess.run(_train_cmd(straight), env=env, check=True, capture_output=True, timeout=600)

    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(_train_cmd(resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and not (resumed / "checkpoints" / "checkpoint-4" / "trainer_state.json").exists():
        assert proc.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # a real interruption: no clean shutdown
    proc.wait()
    assert not (resumed / "adapter").exists()  # nothing half-written was left as a finished adapter

    done = subprocess.run(_train_cmd(resumed, "--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((resumed / "log.json").read_text())["summary"]
    assert summary["resumed_from"] and summary["resumed_from"].rstrip("/").split("-")[-1] in {"4", "6"}
    a, b = _losses(straight), _losses(resumed)
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 9))
    assert [round(x, 4) for _, x in a] == [round(x, 4) for _, x in b]


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
