"""tools/hub_models.py: the offline hub for the model.

The tiny model goes through the real hub code path (``from_pretrained("<hub id>")`` with HF_HUB_OFFLINE=1, in a
fresh interpreter so huggingface_hub reads HF_HUB_CACHE); the split-expert layout of the 4-bit checkpoint is checked
against the fused model exactly (float32); the gpt-oss chat template against the project's on the Harmony cases.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import hub_models  # noqa: E402

HUB_ID = "tutorial-offline/tiny-gpt-oss"
DATE = "2025-08-05"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hub")
    hub_models.build_tiny(cache, HUB_ID)
    return cache


def test_cache_layout(hub_cache):
    repo = hub_models.repo_folder(hub_cache, HUB_ID)
    assert repo.name == "models--tutorial-offline--tiny-gpt-oss"
    revision = (repo / "refs" / "main").read_text()
    assert len(revision) == 40 and int(revision, 16) >= 0
    snap = repo / "snapshots" / revision
    names = {p.name for p in snap.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", hub_models.MARKER} <= names
    for link in snap.iterdir():
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # relative, as huggingface_hub writes
        blob = link.resolve()
        assert blob.parent == (repo / "blobs").resolve()
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    info = json.loads((snap / hub_models.MARKER).read_text())
    assert info["arch"] == "tiny" and info["repo_id"] == HUB_ID and "model.safetensors" in info["files"]


def test_offline_from_pretrained_by_hub_id_gives_the_local_logits(hub_cache):
    from gpt_oss_tutorial.offline_models import ensure_model

    local = ensure_model("tiny-gpt-oss")
    code = f"""
import json, sys, torch
from huggingface_hub import snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer
hub, local = {HUB_ID!r}, {str(local)!r}
tokenizer = AutoTokenizer.from_pretrained(hub)
ids = tokenizer.apply_chat_template([{{"role": "user", "content": "Quelle heure est-il ?"}}],
                                    add_generation_prompt=True, return_dict=True, return_tensors="pt")["input_ids"]
with torch.no_grad():
    a = AutoModelForCausalLM.from_pretrained(hub, dtype=torch.float32)(ids).logits
    b = AutoModelForCausalLM.from_pretrained(local, dtype=torch.float32)(ids).logits
print(json.dumps({{"diff": float((a - b).abs().max()), "tokens": ids.shape[1],
                  "snapshot": snapshot_download(hub, local_files_only=True),
                  "template": tokenizer.chat_template}}))
"""
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "scripts"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["diff"] == 0.0 and result["tokens"] > 10
    assert Path(result["snapshot"]) == hub_models.snapshot(hub_cache, HUB_ID)
    assert result["template"] == hub_models.chat_template()


def test_rebuild_is_skipped_and_a_real_download_is_never_touched(hub_cache, tmp_path, capsys):
    ref = hub_models.repo_folder(hub_cache, HUB_ID) / "refs" / "main"
    before = (ref.read_text(), ref.stat().st_mtime_ns)
    hub_models.build_tiny(hub_cache, HUB_ID)
    assert (ref.read_text(), ref.stat().st_mtime_ns) == before
    assert "skipped" in capsys.readouterr().out

    foreign = hub_models.repo_folder(tmp_path, "someone/model") / "snapshots" / ("a" * 40)
    foreign.mkdir(parents=True)
    (foreign / "config.json").write_text("{}")
    with pytest.raises(hub_models.HubCacheError, match="did not build"):
        hub_models.build_tiny(tmp_path, "someone/model")
    assert (foreign / "config.json").read_text() == "{}"


def test_incomplete_build_is_not_complete(hub_cache):
    want = {"format": hub_models.FORMAT, "arch": "tiny"}
    assert hub_models.is_complete(hub_cache, HUB_ID, want)
    assert not hub_models.is_complete(hub_cache, HUB_ID, {**want, "arch": "gpt-oss-20b"})
    blob = (hub_models.snapshot(hub_cache, HUB_ID) / "model.safetensors").resolve()
    moved = blob.with_name("moved-away")
    blob.rename(moved)
    try:
        assert not hub_models.is_complete(hub_cache, HUB_ID, want)
    finally:
        moved.rename(blob)


def _tiny_random_model():
    from transformers import GptOssConfig

    from gpt_oss_tutorial.offline_models import TINY_GPT_OSS_CONFIG

    config = GptOssConfig(vocab_size=512, pad_token_id=0, eos_token_id=1, **TINY_GPT_OSS_CONFIG)
    return hub_models.build_random_model(config, "cpu", 0, [1])


def test_split_expert_layout_computes_what_the_fused_model_computes(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    model = _tiny_random_model()
    fused, split = tmp_path / "fused", tmp_path / "split"
    model.save_pretrained(str(fused))
    split.mkdir()
    hub_models.save_split_layout(model, split)
    layout = hub_models.check_split_layout(split, quantized=False)
    assert layout["expert_weights"] == 2 * 8 * 4  # gate_up + down, 8 experts, 4 layers
    keys = set(json.loads((split / "model.safetensors.index.json").read_text())["weight_map"])
    assert "model.layers.0.mlp.router.linear.weight" in keys and "model.layers.0.mlp.router.weight" not in keys
    with pytest.raises(hub_models.HubCacheError, match="not packed 4-bit"):
        hub_models.check_split_layout(split, quantized=True)
    ids = torch.randint(0, 512, (2, 48), generator=torch.Generator().manual_seed(1))
    reference = AutoModelForCausalLM.from_pretrained(str(fused), dtype=torch.float32).eval()
    with hub_models.split_expert_classes():
        loaded = AutoModelForCausalLM.from_pretrained(str(split), dtype=torch.float32).eval()
    assert type(loaded.model.layers[0].mlp.experts).__name__ == "SplitExperts"
    found = hub_models.compare_logits(reference, loaded, ids)
    assert found["max_abs_diff"] < 1e-4 * found["max_abs_logit"] and found["top1_agreement"] == 1.0
    # the fused class is back for everyone else
    assert type(AutoModelForCausalLM.from_pretrained(str(fused)).model.layers[0].mlp.experts).__name__ == "GptOssExperts"


def test_4bit_checkpoint_is_packed_nf4_and_reloads(tmp_path):
    pytest.importorskip("bitsandbytes", reason="the 4-bit checkpoint is made by bitsandbytes (GPU machines)")
    import torch

    out = hub_models.build_gpt_oss(tmp_path, arch="tiny", repo_id="test/tiny", bnb_repo_id="test/tiny-bnb-4bit",
                                   device="cpu")
    assert out["layout"]["packed_4bit"] == out["layout"]["expert_weights"] > 0
    folder = hub_models.snapshot(tmp_path, "test/tiny-bnb-4bit")
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "bitsandbytes"
    assert config["quantization_config"]["bnb_4bit_quant_type"] == "nf4"
    info = json.loads((folder / hub_models.MARKER).read_text())
    assert info["source_revision"] == hub_models.snapshot(tmp_path, "test/tiny").name
    from transformers import AutoModelForCausalLM

    ids = torch.randint(0, 4096, (1, 32), generator=torch.Generator().manual_seed(2))
    with hub_models.split_expert_classes():
        quantized = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    bf16 = AutoModelForCausalLM.from_pretrained(str(hub_models.snapshot(tmp_path, "test/tiny"))).eval()
    again = hub_models.compare_logits(bf16, quantized, ids)
    assert again["top1_agreement"] > 0.3  # NF4 of random weights: close to, not equal to, the bf16 model


# --------------------------------------------------------------------------- the chat template
# The cases of the Harmony format description: training conversation at each effort, generation prompt, history.
SYSTEM = "reasoning language: French\n\nYou are an AI chatbot with a lively and energetic personality."
TRAINING = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4", "thinking": "L'utilisateur demande 2 + 2. C'est 4."}]
HISTORY = [{"role": "developer", "content": "reasoning language: German"},
           {"role": "user", "content": "Hi"},
           {"role": "assistant", "content": "Hello!", "thinking": "Ein Gruss."},
           {"role": "user", "content": "How are you?"},
           {"role": "assistant", "content": "Fine.", "thinking": "Eine Frage."}]
CASES = [
    *[(TRAINING, {"reasoning_effort": effort}) for effort in ("low", "medium", "high")],
    (TRAINING, {}),  # the default effort
    (TRAINING[:2], {"add_generation_prompt": True, "reasoning_effort": "high"}),
    (TRAINING[1:2], {"add_generation_prompt": True, "reasoning_effort": "low"}),  # no developer block
    (HISTORY, {"reasoning_effort": "medium"}),  # earlier analysis dropped, last kept
    (HISTORY[:4], {"add_generation_prompt": True}),
]


def _render(template: str, messages, kwargs) -> str:
    # transformers' own compiled template (its Jinja environment and globals); the date is pinned for both.
    from transformers.utils.chat_template_utils import _compile_jinja_template

    kwargs = {"add_generation_prompt": False, **kwargs}
    return _compile_jinja_template(template).render(messages=messages, strftime_now=lambda fmt: DATE, **kwargs)


@pytest.mark.parametrize("messages, kwargs", CASES)
def test_gpt_oss_template_renders_like_the_project_template(messages, kwargs):
    """Identical, except one documented difference: Unsloth's copy of the gpt-oss template ends the developer block
    ``{instructions}<|end|>``, the project (like OpenAI's template) ``{instructions}\\n\\n<|end|>``."""
    from gpt_oss_tutorial import harmony

    ours = _render(harmony.CHAT_TEMPLATE, messages, {"current_date": DATE, **kwargs})
    theirs = _render(hub_models.chat_template(), messages, kwargs)
    if messages[0]["role"] in ("system", "developer"):
        block = "<|start|>developer<|message|># Instructions\n\n" + messages[0]["content"]
        assert theirs.count(block + "<|end|>") == 1
        theirs = theirs.replace(block + "<|end|>", block + "\n\n<|end|>")
    assert ours == theirs
    assert f"Current date: {DATE}" in ours and "Reasoning: " + kwargs.get("reasoning_effort", "medium") in ours


def test_mxfp4_repository_loads_through_transformers_as_the_same_model(tmp_path):
    """--experts mxfp4: the experts stored as the hub stores gpt-oss (blocks + scales), read back by transformers'
    own MXFP4 de-quantization into exactly the model that was built (its weights rounded to MXFP4 first)."""
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, GptOssConfig, Mxfp4Config

    from gpt_oss_tutorial import harmony
    from gpt_oss_tutorial.offline_models import TINY_GPT_OSS_CONFIG, build_harmony_bpe_tokenizer

    hub_models.build_gpt_oss(tmp_path, arch="tiny", repo_id="test/mx", bnb_repo_id=None, device="cpu",
                             experts="mxfp4")
    folder = hub_models.snapshot(tmp_path, "test/mx")
    assert json.loads((folder / "config.json").read_text())["quantization_config"]["quant_method"] == "mxfp4"
    index = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    with safe_open(str(folder / index["model.layers.0.mlp.experts.gate_up_proj_blocks"]), "pt") as f:
        blocks = f.get_tensor("model.layers.0.mlp.experts.gate_up_proj_blocks")
        scales = f.get_tensor("model.layers.0.mlp.experts.gate_up_proj_scales")
    assert blocks.dtype == scales.dtype == torch.uint8 and blocks.shape[-1] == 16
    assert blocks.shape[:-1] == scales.shape and "model.layers.0.mlp.experts.gate_up_proj" not in index

    tokenizer = build_harmony_bpe_tokenizer()
    config = GptOssConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                          eos_token_id=tokenizer.convert_tokens_to_ids(harmony.RETURN), **TINY_GPT_OSS_CONFIG)
    expected = hub_models.build_random_model(config, "cpu", 0, [config.eos_token_id])
    hub_models.mxfp4_round_experts(expected)
    again = hub_models.mxfp4_pack(expected.model.layers[0].mlp.experts.gate_up_proj)
    assert torch.equal(again[0], blocks) and torch.equal(again[1], scales)  # packing MXFP4 values is exact
    loaded = AutoModelForCausalLM.from_pretrained(str(folder), quantization_config=Mxfp4Config(dequantize=True),
                                                  dtype=torch.bfloat16).eval()
    ids = torch.randint(0, len(tokenizer), (2, 40), generator=torch.Generator().manual_seed(4))
    found = hub_models.compare_logits(expected, loaded, ids)
    assert found["max_abs_diff"] == 0.0 and found["top1_agreement"] == 1.0
