"""Notebook 06's exports on the CPU presets, held to the criterion of ``export`` (CRITERION): it passes the right
exports and fails wrong ones (the base model, a wrong LoRA scale, a mis-packed adapter), and every way an export
cannot be made ends in a message (exit 2), never in a traceback or a half-written folder.

The tests named ``criterion`` are fast (no training, no conversion). The GGUF tests really convert, with llama.cpp's
converter extracted at setup (``.cache/llama.cpp/``, or ``$GPT_OSS_TUTORIAL_GGUF_CONVERTER``).
"""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest

from gpt_oss_tutorial import atomic, errors, export, gguf_tools

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers
def _random_lora(preset_name: str, *, b_scale: float, seed: int = 0):
    """The preset's model with LoRA attached and lora_B drawn at random (a fresh LoRA is the base model exactly),
    in float32: (peft model, tokenizer)."""
    import torch

    from gpt_oss_tutorial import backends
    from gpt_oss_tutorial.presets import get_preset

    loaded = backends.load(get_preset(preset_name), backend=backends.PEFT)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in loaded.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, b_scale)
    loaded.model.eval().float()
    return loaded.model, loaded.tokenizer


def _scaled(model, factor: float):
    """Multiply every LoRA scaling of ``model`` by ``factor`` (a merge with a wrong alpha / r does this)."""
    for module in model.modules():
        scaling = getattr(module, "scaling", None)
        if isinstance(scaling, dict) and "default" in scaling:
            scaling["default"] *= factor


@pytest.fixture(scope="module")
def tiny_lora():
    """tiny-gpt-oss + a random LoRA whose effect stands clear of the model's noise; fp32 logits of fine-tuned/base."""
    model, tokenizer = _random_lora("tiny-gpt-oss", b_scale=0.02)
    ids = export.probe_ids(tokenizer)
    finetuned = export.logits_of(model, ids)
    with model.disable_adapter():
        base = export.logits_of(model, ids)
    return model, tokenizer, ids, finetuned, base


# --------------------------------------------------------------------------- the criterion (fast)
def test_criterion_passes_a_bf16_merge_and_fails_wrong_exports(tiny_lora):
    import copy

    import torch

    model, _, ids, finetuned, base = tiny_lora
    merged = copy.deepcopy(model).merge_and_unload().to(torch.bfloat16).float()
    right = export.judge("merged16", export.logits_of(merged, ids), finetuned, base, compared_with="test", noise=0.0)
    assert right.passed is True, right.to_dict()
    assert right.share < export.MAX_SHARE / 3 and right.top1 >= export.MIN_TOP1
    wrong = {"base": base}
    for factor in (2.0, 0.5):
        twisted = copy.deepcopy(model)
        _scaled(twisted, factor)
        wrong[f"LoRA scale x{factor}"] = export.logits_of(twisted.merge_and_unload(), ids)
    for what, logits in wrong.items():
        verdict = export.judge("merged16", logits, finetuned, base, compared_with="test", noise=0.0)
        assert verdict.passed is False, (what, verdict.to_dict())
        assert verdict.share > 3 * export.MAX_SHARE, (what, verdict.share)


def test_criterion_cannot_judge_without_a_clear_effect(tiny_lora):
    _, _, _, finetuned, base = tiny_lora
    none = export.judge("lora", finetuned, finetuned, finetuned, compared_with="test", noise=0.0)
    assert none.passed is None and none.status == "cannot judge" and "changes nothing" in none.reason
    effect = float((finetuned - base).abs().mean(-1).median())
    noisy = export.judge("lora", finetuned, finetuned, base, compared_with="test",
                         noise=2 * export.MAX_NOISE_SHARE * effect)
    assert noisy.passed is None and "train longer" in noisy.reason
    clear = export.judge("lora", finetuned, finetuned, base, compared_with="test",
                         noise=0.5 * export.MAX_NOISE_SHARE * effect)
    assert clear.passed is True and clear.share == 0.0


def test_criterion_exact_reload_requires_identical_logits(tiny_lora):
    _, _, _, finetuned, base = tiny_lora
    assert export.judge("lora", finetuned.clone(), finetuned, base, compared_with="t", exact=True).passed is True
    off = finetuned.clone()
    off[3, 7] += 1e-6
    verdict = export.judge("lora", off, finetuned, base, compared_with="t", exact=True)
    assert verdict.passed is False and verdict.max_abs_diff > 0


def test_criterion_is_the_median_a_few_flipped_positions_do_not_decide(tiny_lora):
    """Positions hit hard (as a routing flip does): a few pass (top-1 allows 10%), a majority fail."""
    _, _, _, finetuned, base = tiny_lora
    n = finetuned.shape[0]
    for hit, expected in ((0.08, True), (0.6, False)):
        got = finetuned.clone()
        rows = slice(0, int(hit * n))
        got[rows] = base[rows] + (base[rows] - finetuned[rows])  # twice the effect away
        verdict = export.judge("x", got, finetuned, base, compared_with="t", noise=0.0)
        assert verdict.passed is expected, (hit, verdict.to_dict())


def test_criterion_read_back_in_a_new_process_is_the_same_model(tiny_lora, tmp_path):
    """A merged folder read back by plain transformers in a child process; the base folder read the same way fails."""
    import copy

    import torch

    from gpt_oss_tutorial.offline_models import ensure_model

    model, tokenizer, ids, finetuned, base = tiny_lora
    merged = copy.deepcopy(model).merge_and_unload().to(torch.bfloat16)
    merged.save_pretrained(tmp_path / "merged", safe_serialization=True)
    back = export.read_back("merged", ids, model=tmp_path / "merged")
    assert back["info"]["device"] == "cpu" and back["fp32"].shape == finetuned.shape
    noise = export.noise_of(back["bf16"], back["fp32"])
    assert export.judge("merged16", back["fp32"], finetuned, base, compared_with="t", noise=noise).passed is True
    wrong = export.read_back("merged", ids, model=ensure_model("tiny-gpt-oss"))
    assert export.judge("merged16", wrong["fp32"], finetuned, base, compared_with="t", noise=noise).passed is False


# --------------------------------------------------------------------------- the exports, as notebook 06 makes them
def _export_like_notebook06(ref, root: Path, quants=("f16", "q8_0")) -> dict:
    """The save calls of notebook 06 (transformers + peft branch) and its checks: {name: [verdicts]}."""
    import torch

    verdicts = {}
    with export.writing(root / "lora", ref, "lora", needed_bytes=export.needed_bytes(ref, "lora")) as folder:
        ref.model.save_pretrained(folder, safe_serialization=True)
        ref.tokenizer.save_pretrained(folder)
    verdicts["lora"] = export.check_lora(ref, root / "lora")
    with export.writing(root / "merged16", ref, "merged16", needed_bytes=export.needed_bytes(ref, "merged16")) as f:
        ref.model.merge_and_unload().to(torch.bfloat16).save_pretrained(f, safe_serialization=True)
        ref.tokenizer.save_pretrained(f)
        ref.merged, ref.model = True, None
    verdicts["merged16"] = export.check_merged16(ref, root / "merged16")
    converter = export.gguf_converter()
    for quant in quants:
        info = export.convert_gguf(ref, root / "merged16", root / f"gguf-{quant}", quant, converter)
        verdicts[f"gguf-{quant}"] = export.check_gguf(ref, root / f"gguf-{quant}", quant, root / "merged16")
        verdicts[f"gguf-{quant}"][0].details["convert"] = info
    return verdicts


def _strengthened(adapter_dir: Path, folder: Path, factor: float) -> Path:
    """A copy of an adapter with lora_B x ``factor``: the same directions, a fine-tune further from its base."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter_dir, folder)
    state = load_file(str(folder / "adapter_model.safetensors"))
    save_file({k: v * factor if "lora_B" in k else v for k, v in state.items()},
              str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def tiny_exports(tiny_trained, tiny_preset, tmp_path_factory):
    """tiny-gpt-oss: the 3-step SFT adapter, strengthened x4 so that its effect stands clear of 16-bit rounding
    (a 3-step adapter of a random model barely moves it), exported in every format as notebook 06 does."""
    _, trained = tiny_trained
    root = tmp_path_factory.mktemp("export-tiny")
    adapter = _strengthened(Path(trained.adapter_dir), root / "adapter-x4", 4.0)
    ref = export.load_reference(tiny_preset, adapter)
    return ref, _export_like_notebook06(ref, root), root


def _no_partials(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_tiny_gpt_oss_every_export_is_the_model(tiny_exports):
    ref, verdicts, root = tiny_exports
    assert ref.exact and ref.noise < export.MAX_NOISE_SHARE * ref.effect
    exact, plain = verdicts["lora"]
    assert exact.exact and exact.passed and exact.max_abs_diff == 0.0
    assert plain.passed is True and plain.share == 0.0, plain.to_dict()  # same arithmetic in a new process
    assert plain.details["adapter_effect_share"] == 0.0
    merged = verdicts["merged16"][0]
    assert merged.passed is True and merged.share < export.MAX_SHARE, merged.to_dict()
    for quant in ("f16", "q8_0"):
        assert verdicts[f"gguf-{quant}"][0].passed is True, verdicts[f"gguf-{quant}"][0].reason
    for name in ("lora", "merged16", "gguf-f16", "gguf-q8_0"):
        files = {p.name for p in (root / name).iterdir()}
        assert {export.INFO_FILE}.issubset(files) and not any(Path(f).suffix in export.PICKLE_SUFFIXES for f in files)
    assert "adapter_model.safetensors" in {p.name for p in (root / "lora").iterdir()}
    assert _no_partials(root)


@pytest.mark.slow
def test_tiny_gguf_contents_from_the_file_and_the_converter_log(tiny_exports):
    """What llama.cpp will run for the experts is read from the converter's own log and the written file."""
    _, verdicts, _ = tiny_exports
    f16 = verdicts["gguf-f16"][0].details["convert"]
    q8 = verdicts["gguf-q8_0"][0].details["convert"]
    assert f16["architecture"] == "gpt-oss" and f16["file_type"] == "MOSTLY_F16" and q8["file_type"] == "MOSTLY_Q8_0"
    assert f16["expert_types_in_file"] == f16["expert_types_printed"] == {"F16": 12}  # 4 layers x gate/up/down
    assert q8["expert_types_in_file"] == q8["expert_types_printed"] == {"Q8_0": 12}
    assert any("not in MXFP4" in w for w in f16["warnings"])
    note = export.expert_storage_note(q8)
    assert "12 x Q8_0" in note and "not MXFP4" in note and "the converter's log says the same" in note
    assert f16["pre_tokenizer_fallback"] == "gpt-2"  # our tiny BPE is unknown to the converter
    assert verdicts["gguf-q8_0"][0].details["max_rel_diff"] <= 1 / 127


@pytest.mark.slow
def test_tiny_gguf_weight_check_can_fail(tiny_exports):
    """The same GGUF compared with the *base* model (no LoRA merged) is out of bounds on the adapted tensors."""
    from gpt_oss_tutorial.offline_models import ensure_model

    _, _, root = tiny_exports
    cmp = gguf_tools.compare_gpt_oss_weights(root / "gguf-f16" / export.GGUF_NAME, ensure_model("tiny-gpt-oss"))
    assert not cmp["all_within_bounds"]
    failing = {r["name"] for r in cmp["rows"] if not r["within_bound"]}
    assert any(".attn_q.weight" in n for n in failing) and any("_exps.weight" in n for n in failing)
    assert not any("norm" in n for n in failing)


@pytest.mark.slow
def test_the_base_model_as_merged_export_fails(tiny_exports, tmp_path):
    """The check can fail: the untouched base model offered as the merged export."""
    from gpt_oss_tutorial.offline_models import ensure_model

    ref, _, _ = tiny_exports
    verdict = export.check_merged16(ref, ensure_model("tiny-gpt-oss"))[0]
    assert verdict.passed is False and verdict.share > 0.9


@pytest.mark.slow
def test_plain_peft_sees_a_lora_b_packed_by_expert_and_repacking_fixes_it(tiny_exports, tmp_path):
    """An adapter whose fused-expert lora_B is packed grouped by expert (declared in adapter_config.json, as Unsloth
    marks it) is not the model when peft reads it; ``export.repack_lora_b`` makes it the model again."""
    from safetensors.torch import load_file, save_file

    ref, _, root = tiny_exports
    grouped = tmp_path / "grouped"
    shutil.copytree(root / "lora", grouped)
    state = load_file(str(grouped / "adapter_model.safetensors"))
    r = 8
    for key, b in state.items():
        a = state.get(key.replace("lora_B", "lora_A"))
        if "lora_B" in key and a is not None and a.shape[0] != r:
            experts = a.shape[0] // r
            state[key] = b.reshape(b.shape[0], r, experts).transpose(1, 2).reshape(b.shape).contiguous()
    save_file(state, str(grouped / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = json.loads((grouped / "adapter_config.json").read_text())
    config["lora_B_layout"] = export.GROUPED_BY_EXPERT
    (grouped / "adapter_config.json").write_text(json.dumps(config))
    ref.plain_base_logits = None
    wrong = export.check_lora(SimpleNamespace(**{**ref.__dict__, "exact": False}), grouped)[-1]
    assert wrong.passed is False and wrong.details["lora_B_layout"] == export.GROUPED_BY_EXPERT
    assert wrong.details["adapter_effect_share"] > export.MAX_SHARE  # the adapter is read differently, not the base
    fixed = export.repack_lora_b(grouped, tmp_path / "repacked")
    assert json.loads((fixed / "adapter_config.json").read_text())["lora_B_layout"] == export.RANK_MAJOR
    right = export.check_lora(SimpleNamespace(**{**ref.__dict__, "exact": False}), fixed)[-1]
    assert right.passed is True and right.share == 0.0


# --------------------------------------------------------------------------- smollm2-135m (llama family)
@pytest.fixture(scope="module")
def smollm2_exports(smollm2_dir, tmp_path_factory):
    """smollm2-135m with a quickly made adapter (random lora_B and Harmony token rows, so the merge matters), strong
    enough to stand clear of a pretrained model's bf16 noise (B ~ N(0, 0.02) was within 9% of it)."""
    import torch

    from gpt_oss_tutorial import backends, sft
    from gpt_oss_tutorial.presets import get_preset

    preset = get_preset("smollm2-135m")
    root = tmp_path_factory.mktemp("export-smollm2")
    torch.manual_seed(0)
    loaded = backends.load(preset)
    with torch.no_grad():
        for name, p in loaded.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
            elif "trainable_tokens_delta" in name:
                p.add_(torch.randn_like(p) * 0.05)
    adapter = sft.save_adapter(loaded.model, loaded.tokenizer, root / "adapter")
    del loaded
    ref = export.load_reference(preset, adapter)
    return ref, _export_like_notebook06(ref, root), root


@pytest.mark.slow
def test_smollm2_every_export_is_the_model(smollm2_exports):
    ref, verdicts, root = smollm2_exports
    assert verdicts["lora"][0].passed and verdicts["lora"][0].max_abs_diff == 0.0
    assert verdicts["lora"][1].passed is True, verdicts["lora"][1].to_dict()
    merged = verdicts["merged16"][0]
    assert merged.passed is True, merged.to_dict()
    assert merged.details["harmony_rows_equal"] and len(merged.details["harmony_rows"]) >= 1
    for quant in ("f16", "q8_0"):
        g = verdicts[f"gguf-{quant}"][0]
        assert g.passed is True, (quant, g.to_dict())
        assert g.details["gguf_tokenizer_same_ids"] is True
    assert verdicts["gguf-q8_0"][0].details["convert"]["file_type"] == "MOSTLY_Q8_0"
    config = json.loads((root / "merged16" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config


# --------------------------------------------------------------------------- what cannot be exported: a message
def _fake_disk(free_bytes):
    usage = namedtuple("usage", "total used free")
    return lambda path: usage(10**12, 10**12 - free_bytes, free_bytes)


def _fake_ref():
    from gpt_oss_tutorial.presets import get_preset

    return SimpleNamespace(merged=False, n_params=20_914_757_184, preset=get_preset("tiny-gpt-oss"),
                           source="base", adapter_dir=Path("adapter"), backend="transformers+peft")


def test_disk_check_names_folder_and_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(export.shutil, "disk_usage", _fake_disk(3 * 10**9))
    need = export.estimate_bytes("merged16", 20_914_757_184)  # gpt-oss-20b: 41.8 GB of bf16 weights
    assert 41.8e9 < need < 47e9
    with pytest.raises(errors.ExportError) as exc:
        export.check_free_space(tmp_path / "not" / "yet" / "there", need, "the merged 16-bit model")
    message = str(exc.value)
    assert str(tmp_path / "not" / "yet" / "there") in message
    assert f"{need / 1e9:.2f} GB" in message and "3.00 GB are free" in message
    with pytest.raises(errors.ExportError, match="merged16"):
        with export.writing(tmp_path / "merged16", _fake_ref(), "merged16", needed_bytes=need):
            raise AssertionError("must not start writing")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_a_message_and_keeps_the_previous_export(tmp_path):
    atomic.mark_ours(tmp_path / "merged16")  # an earlier export of ours
    (tmp_path / "merged16" / "previous.txt").write_text("an earlier complete export")
    with pytest.raises(errors.OutputError, match="(?i)space|full") as exc:
        with export.writing(tmp_path / "merged16", _fake_ref(), "merged16", needed_bytes=1) as folder:
            (folder / "model.safetensors").write_bytes(b"half a model")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(exc.value, errors.TutorialError) and "merged16" in str(exc.value)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["merged16"]
    assert sorted(p.name for p in (tmp_path / "merged16").iterdir()) == sorted([atomic.MARKER, "previous.txt"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_a_message(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(errors.OutputError, match="Cannot write") as exc:
            with export.writing(parent / "lora", _fake_ref(), "lora", needed_bytes=1):
                pass
        assert str(parent) in str(exc.value)
    finally:
        parent.chmod(0o755)


def test_a_read_only_file_system_is_a_message(tmp_path, monkeypatch):
    """What a read-only mount (or a folder of another user, as root cannot test by chmod) gives: a message."""
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path))

    monkeypatch.setattr(atomic, "_new_partial", refuse)
    with pytest.raises(errors.OutputError, match="lora") as exc:
        with export.writing(tmp_path / "lora", _fake_ref(), "lora", needed_bytes=1):
            pass
    assert "Read-only file system" in str(exc.value) and "--out" in str(exc.value)


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "lora").write_text("notes")
    with pytest.raises(errors.OutputError, match="is a file"):
        with export.writing(tmp_path / "lora", _fake_ref(), "lora", needed_bytes=1):
            pass
    assert (tmp_path / "lora").read_text() == "notes"


def test_pickle_files_are_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    export.assert_no_pickle(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(RuntimeError, match="pytorch_model.bin"):
        export.assert_no_pickle(tmp_path)


def _adapter(tmp_path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    save_file({"a.lora_A.weight": torch.ones(8, 256), "a.lora_B.weight": torch.zeros(64, 8)},
              str(folder / "adapter_model.safetensors"))
    return folder


@pytest.mark.parametrize("damage", ["missing weights", "truncated weights", "not safetensors", "missing config",
                                    "no folder"])
def test_a_missing_or_damaged_adapter_is_a_message(tmp_path, damage):
    folder = _adapter(tmp_path)
    assert export.check_adapter(folder) == folder
    weights = folder / "adapter_model.safetensors"
    if damage == "missing weights":
        weights.unlink()
    elif damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "not safetensors":
        weights.write_bytes(b"\x80\x04K\x01.")  # a pickle
    elif damage == "missing config":
        (folder / "adapter_config.json").unlink()
    else:
        shutil.rmtree(folder)
    with pytest.raises(errors.ExportError) as exc:
        export.check_adapter(folder)
    message = str(exc.value)
    assert str(folder) in message and "train_sft.py" in message


def test_leftover_temporary_merges_are_removed_and_named(tmp_path):
    (tmp_path / ".gguf-f16.merged16").mkdir()
    (tmp_path / ".gguf-f16.merged16" / "model.safetensors").write_bytes(b"x")
    (tmp_path / "lora").mkdir()
    (tmp_path / ".notes").mkdir()
    assert export.remove_leftovers(tmp_path) == [".gguf-f16.merged16"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes", "lora"]
    assert export.remove_leftovers(tmp_path / "absent") == []


def test_a_complete_merged_export_of_the_same_adapter_is_recognised(tmp_path):
    folder = tmp_path / "merged16"
    with export.writing(folder, _fake_ref(), "merged16", needed_bytes=1) as tmp:
        (tmp / "model.safetensors").write_bytes(b"x")
    assert export.made_from(folder, "adapter", "merged16")
    assert not export.made_from(folder, "another-adapter", "merged16")
    assert not export.made_from(folder, "adapter", "lora") and not export.made_from(tmp_path / "none", "a", "lora")


def test_check_failures_are_not_reader_errors():
    """The CLI's exit 1 ("check failed") and 2 ("could not export") come from these classes."""
    assert issubclass(export.ExportCheckFailed, AssertionError)
    assert not issubclass(export.ExportCheckFailed, errors.TutorialError)
    assert "ExportCheckFailed" not in errors.user_error_names() and "OutputError" in errors.user_error_names()


# --------------------------------------------------------------------------- child processes die with us
def test_a_child_and_its_children_are_killed_with_the_call(tmp_path):
    pids = tmp_path / "pids"
    code = ("import os, subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}'); time.sleep(60)")
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        gguf_tools.run_child([sys.executable, "-c", code], timeout=3)
    assert time.monotonic() - start < 30
    for pid in map(int, pids.read_text().split()):
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"process {pid} still runs")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_when_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "child"
    child_code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    parent = ("import sys; from gpt_oss_tutorial import gguf_tools; "
              f"gguf_tools.run_child([sys.executable, '-c', {child_code!r}])")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "scripts"))
    proc = subprocess.Popen([sys.executable, "-c", parent], env=env)
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the converter's process outlived its killed parent")


# --------------------------------------------------------------------------- the command line
def _cli(*args, env=None, timeout=900):
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "scripts"), full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "export_model.py"), *args],
                          capture_output=True, text=True, env=full, timeout=timeout)


def test_cli_refuses_bad_arguments_up_front(tmp_path):
    proc = _cli("--preset", "tiny-gpt-oss", "--adapter", str(tmp_path / "none"))
    assert proc.returncode == 2 and "no adapter_config.json" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "file").write_text("x")
    proc = _cli("--preset", "tiny-gpt-oss", "--out", str(tmp_path / "file"))
    assert proc.returncode == 2 and "is a file" in proc.stderr
    proc = _cli("--preset", "tiny-gpt-oss", "--quant", "q4_k")
    assert proc.returncode == 2


@pytest.mark.slow
def test_cli_truncated_adapter_is_exit_2_with_the_file_named(tmp_path):
    folder = _adapter(tmp_path)
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    proc = _cli("--preset", "tiny-gpt-oss", "--adapter", str(folder), "--out", str(tmp_path / "out"),
                env={"GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs")})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert str(weights) in proc.stderr and "damaged" in proc.stderr and "Traceback" not in proc.stderr


def _atomic_refuses_foreign_folders(tmp_path) -> bool:
    foreign = tmp_path / "foreign-probe"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    try:
        with atomic.atomic_dir(foreign):
            pass
    except Exception:
        return True
    return False


@pytest.mark.slow
def test_cli_full_run_and_a_folder_not_ours_is_refused(tiny_trained, tmp_path):
    """Exit 0 with every verdict recorded; then the same --out holding a reader's file is refused (exit 2)."""
    _, trained = tiny_trained
    adapter = _strengthened(Path(trained.adapter_dir), tmp_path / "adapter", 4.0)
    env = {"GPT_OSS_TUTORIAL_OUTPUTS": str(tmp_path / "outputs")}
    out = tmp_path / "exports"
    proc = _cli("--preset", "tiny-gpt-oss", "--adapter", str(adapter), "--quant", "q8_0", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gguf-q8_0", "lora", "merged16"]
    for name in ("lora", "merged16", "gguf-q8_0"):
        check = json.loads((out / name / export.CHECK_FILE).read_text())
        assert all(v["passed"] is True for v in check["verdicts"]), check
    if not _atomic_refuses_foreign_folders(tmp_path):
        pytest.skip("needs atomic_dir's refusal of folders this project did not write")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "lora").mkdir()
    (mine / "lora" / "thesis.tex").write_text("a reader's file")
    proc = _cli("--preset", "tiny-gpt-oss", "--adapter", str(adapter), "--format", "lora", "--out", str(mine),
                env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert (mine / "lora" / "thesis.tex").read_text() == "a reader's file"


# --------------------------------------------------------------------------- the converter
def test_converter_folder_can_be_named_by_the_environment(tmp_path, monkeypatch):
    pin = gguf_tools.converter_pin()
    folder = tmp_path / "carried"
    for rel in gguf_tools._REQUIRED:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("# stand-in\n")
    (folder / gguf_tools.READY_FILE).write_text(json.dumps({"sha256": pin.sha256}))
    monkeypatch.setenv(gguf_tools.CONVERTER_ENV, str(folder))
    assert gguf_tools.ensure_converter().folder == folder
    (folder / gguf_tools.READY_FILE).write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(gguf_tools.ConverterUnavailable, match=gguf_tools.CONVERTER_ENV):
        gguf_tools.ensure_converter()
    monkeypatch.setattr(gguf_tools, "ensure_converter",
                        lambda: (_ for _ in ()).throw(gguf_tools.ConverterUnavailable("offline")))
    with pytest.raises(errors.ExportError, match="GGUF export needs llama.cpp's converter: offline"):
        export.gguf_converter()


def test_a_failed_conversion_leaves_nothing(tmp_path):
    """The converter exits with an error: the message carries its log's end, and no GGUF folder (or part) remains."""
    merged = tmp_path / "merged16"
    merged.mkdir()
    (merged / "config.json").write_text(json.dumps({"architectures": ["NotARealModelForCausalLM"]}))
    ref = SimpleNamespace(**{**_fake_ref().__dict__, "n_params": 1000})
    with pytest.raises(gguf_tools.ConversionError, match="convert_hf_to_gguf.py failed"):
        export.convert_gguf(ref, merged, tmp_path / "gguf-f16", "f16", export.gguf_converter())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged16"]


def test_converter_log_is_parsed_for_tensor_types():
    log = ("INFO:hf-to-gguf:blk.0.ffn_up_exps.weight,     torch.bfloat16 --> Q8_0, shape = {64, 128, 8}\n"
           "INFO:hf-to-gguf:blk.0.attn_norm.weight,       torch.bfloat16 --> F32, shape = {128}\n"
           "WARNING:hf-to-gguf:something else\n")
    assert gguf_tools.printed_tensor_types(log) == {"blk.0.ffn_up_exps.weight": "Q8_0",
                                                    "blk.0.attn_norm.weight": "F32"}


@pytest.fixture(scope="module")
def converter():
    return gguf_tools.ensure_converter()


def test_converter_is_extracted_alone(converter):
    files = {str(p.relative_to(converter.folder)) for p in converter.folder.rglob("*") if p.is_file()}
    assert "convert_hf_to_gguf.py" in files and "conversion/gpt_oss.py" in files
    assert "gguf-py/gguf/quants.py" in files
    # nothing else from the 76 MB sdist: no C/C++ sources, no build files, no vocab GGUFs
    assert all(f.startswith(("conversion/", "gguf-py/")) or f in (
        "convert_hf_to_gguf.py", "LICENSE", gguf_tools.READY_FILE, atomic.MARKER) for f in files), sorted(files)[:20]
    assert not any(f.endswith((".c", ".cpp", ".h", ".gguf", "CMakeLists.txt")) for f in files)
    info = json.loads((converter.folder / gguf_tools.READY_FILE).read_text())
    assert info["sha256"] == gguf_tools.converter_pin().sha256


def test_converter_offline_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    monkeypatch.delenv(gguf_tools.SDIST_ENV, raising=False)
    with pytest.raises(gguf_tools.ConverterUnavailable) as exc:
        gguf_tools.ensure_converter(cache_dir=tmp_path / "cache")
    assert "offline" in str(exc.value) and gguf_tools.SDIST_ENV in str(exc.value)
    assert not (tmp_path / "cache" / gguf_tools.converter_pin().version).exists()


def test_local_sdist_with_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    with tarfile.open(fake, "w:gz") as tar:
        data = b"print('not the converter')\n"
        info = tarfile.TarInfo("llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(gguf_tools.ConverterUnavailable, match="sha256"):
        gguf_tools.ensure_converter(cache_dir=tmp_path / "cache", sdist=fake)
    assert not (tmp_path / "cache" / "0.3.36").exists()


def test_pre_tokenizer_fallback_reads_tokenizer_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": {"type": "ByteLevel", "use_regex": True}}))
    assert gguf_tools.bpe_pre_tokenizer_fallback(tmp_path) == "gpt-2"
    (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": {"type": "Metaspace"}}))
    assert gguf_tools.bpe_pre_tokenizer_fallback(tmp_path) is None


# --------------------------------------------------------------------------- Ollama Modelfile
def test_modelfile_has_harmony_template_and_stops():
    text = gguf_tools.modelfile_text("model.gguf", system="reasoning language: German")
    lines = text.splitlines()
    assert "FROM ./model.gguf" in lines
    assert [ln for ln in lines if ln.startswith("PARAMETER stop")] == [
        'PARAMETER stop "<|return|>"', 'PARAMETER stop "<|call|>"']
    assert '"<|end|>"' not in text  # <|end|> closes the analysis message: never a stop
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    for marker in ("<|start|>system<|message|>", "<|start|>developer<|message|># Instructions",
                   "<|start|>user<|message|>", "<|start|>assistant<|channel|>final<|message|>"):
        assert marker in template
    assert template.endswith("<|start|>assistant")
    assert 'SYSTEM """reasoning language: German"""' in lines


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain (Ollama's template engine): `make system-deps` installs it (CI does)")
def test_ollama_template_renders_like_our_harmony_renderer(tmp_path):
    """Render the TEMPLATE with Go's text/template as Ollama does; it must equal harmony.render_conversation."""
    from gpt_oss_tutorial import harmony

    cases = [
        {"system": "reasoning language: French", "think": "", "msgs": [{"role": "user", "content": "What is 2 + 2?"}]},
        {"system": "", "think": "high", "msgs": [{"role": "user", "content": "Hi"},
                                                 {"role": "assistant", "content": "Hello!"},
                                                 {"role": "user", "content": "2+2?"}]},
    ]
    expected = []
    for c in cases:
        messages = ([{"role": "developer", "content": c["system"]}] if c["system"] else []) + c["msgs"]
        expected.append(harmony.render_conversation(messages, reasoning_effort=c["think"] or "medium",
                                                    add_generation_prompt=True, current_date="2099-01-02"))
    (tmp_path / "tmpl.txt").write_text(gguf_tools.OLLAMA_TEMPLATE)
    (tmp_path / "cases.json").write_text(json.dumps({"cases": cases}))
    (tmp_path / "go.mod").write_text("module render\n\ngo 1.19\n")
    (tmp_path / "main.go").write_text(GO_RENDERER)
    env = dict(os.environ, GOFLAGS="-mod=mod", GOCACHE=str(tmp_path / "gocache"), GOPATH=str(tmp_path / "gopath"))
    proc = subprocess.run(["go", "run", "."], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected


GO_RENDERER = r"""
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type Msg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}
type Case struct {
	System string `json:"system"`
	Think  string `json:"think"`
	Msgs   []Msg  `json:"msgs"`
}

func main() {
	src, _ := os.ReadFile("tmpl.txt")
	raw, _ := os.ReadFile("cases.json")
	var data struct{ Cases []Case `json:"cases"` }
	if err := json.Unmarshal(raw, &data); err != nil {
		panic(err)
	}
	// Ollama's template functions used by the template (currentDate is fixed here for the comparison).
	funcs := template.FuncMap{"currentDate": func(args ...string) string { return "2099-01-02" }}
	t := template.Must(template.New("").Option("missingkey=zero").Funcs(funcs).Parse(string(src)))
	out := []string{}
	for _, c := range data.Cases {
		msgs := []Msg{}
		if c.System != "" { // Ollama passes system messages both as .System and inside .Messages
			msgs = append(msgs, Msg{"system", c.System})
		}
		msgs = append(msgs, c.Msgs...)
		var sb strings.Builder
		if err := t.Execute(&sb, map[string]any{"System": c.System, "Messages": msgs, "ThinkLevel": c.Think}); err != nil {
			panic(err)
		}
		out = append(out, sb.String())
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
"""


def test_offline_unsloth_merge_uses_the_cached_base(tmp_path, monkeypatch):
    """Offline, Unsloth's merged_16bit would ask the hub where the 16-bit base is: point it at the cached snapshot."""
    from types import SimpleNamespace

    from gpt_oss_tutorial import errors, export
    from gpt_oss_tutorial.presets import get_preset

    preset = get_preset("gpt-oss-20b")
    repo = tmp_path / "hub" / ("models--" + preset.model_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # read once at import
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = SimpleNamespace(config=SimpleNamespace(_name_or_path="unsloth/gpt-oss-20b-unsloth-bnb-4bit"))
    assert export.use_cached_merge_base(model, preset) == str(snapshot)
    assert model.config._name_or_path == str(snapshot)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(errors.ExportError, match="HF_HUB_OFFLINE"):
        export.use_cached_merge_base(model, preset)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert export.use_cached_merge_base(model, preset) is None  # online: Unsloth finds the base itself
