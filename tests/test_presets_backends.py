"""Presets resolve and build; LoRA attaches on both model families with the count predicted from shapes; the
backend follows the hardware."""
from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from gpt_oss_tutorial import backends, harmony, offline_models, presets


def test_registry_has_the_blog_settings():
    blog = presets.get_preset("gpt-oss-20b")
    assert blog.model_id == "unsloth/gpt-oss-20b" and blog.load_in_4bit and blog.needs_cuda
    assert (blog.lora_r, blog.lora_alpha) == (8, 16)
    assert set(blog.lora_targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (blog.batch_size, blog.grad_accum, blog.max_steps, blog.learning_rate) == (1, 16, 60, 2e-4)
    assert (blog.warmup_steps, blog.optim, blog.weight_decay, blog.lr_scheduler, blog.seed) == (
        5, "adamw_8bit", 0.01, "linear", 3407)
    assert "gpt-oss-120b" in presets.PRESETS


@pytest.mark.parametrize("vram, expected", [(None, "smollm2-135m"), (0, "smollm2-135m"), (8.0, "smollm2-135m"),
                                            (15.7, "gpt-oss-20b"), (23.6, "gpt-oss-20b"), (79.2, "gpt-oss-20b")])
def test_auto_follows_vram(vram, expected):
    assert presets.get_preset("auto", cuda_vram_gb=vram if vram is not None else 0).name == expected


def test_overrides_and_errors():
    assert presets.get_preset("tiny-gpt-oss", max_steps=2).max_steps == 2
    assert presets.get_preset("tiny-gpt-oss", max_steps=None).max_steps == presets.PRESETS["tiny-gpt-oss"].max_steps
    with pytest.raises(ValueError, match="unknown preset"):
        presets.get_preset("gpt-5")
    with pytest.raises(ValueError, match="unknown preset field"):
        presets.get_preset("tiny-gpt-oss", not_a_field=1)


def test_backend_selection_simulated():
    tiny, blog = presets.get_preset("tiny-gpt-oss"), presets.get_preset("gpt-oss-20b")
    assert backends.backend_name(tiny, cuda=True) == backends.UNSLOTH
    assert backends.backend_name(tiny, cuda=False) == backends.PEFT
    assert backends.backend_name(tiny, cuda=True, requested="transformers+peft") == backends.PEFT
    assert backends.backend_name(blog, cuda=True) == backends.UNSLOTH
    assert isinstance(backends.pick(tiny, cuda=True), backends.UnslothBackend)
    assert isinstance(backends.pick(tiny, cuda=False), backends.PeftBackend)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        backends.backend_name(blog, cuda=False)
    with pytest.raises(RuntimeError, match="Unsloth backend needs a CUDA GPU"):
        backends.backend_name(tiny, cuda=False, requested="unsloth")


def test_unsloth_is_not_imported_on_cpu(tiny_trained):
    import sys

    assert "unsloth" not in sys.modules


@pytest.mark.parametrize("name", offline_models.OFFLINE_MODELS)
def test_offline_models_are_standard_folders(name, smollm2_dir):
    folder = offline_models.ensure_model(name)
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.bin"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
    for marker in harmony.SPECIAL_TOKENS:
        assert len(tokenizer(marker, add_special_tokens=False)["input_ids"]) == 1, marker
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)
    messages = [{"role": "system", "content": "reasoning language: German"}, {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4", "thinking": "Zwei plus zwei ist vier."}]
    for effort in harmony.REASONING_EFFORTS:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, reasoning_effort=effort,
                                                 current_date="2025-08-05")
        assert rendered == harmony.render_conversation(messages, reasoning_effort=effort, current_date="2025-08-05")
        assert f"Reasoning: {effort}" in rendered
    info = json.loads((folder / offline_models.BUILD_INFO).read_text())
    assert info["build_version"] == offline_models.BUILD_VERSION


def test_tiny_gpt_oss_has_the_true_architecture():
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(offline_models.ensure_model("tiny-gpt-oss"))
    assert config.model_type == "gpt_oss"
    assert config.num_local_experts > config.num_experts_per_tok > 1  # MoE with top-k routing
    assert set(config.layer_types) == {"sliding_attention", "full_attention"}
    model = AutoModelForCausalLM.from_pretrained(offline_models.ensure_model("tiny-gpt-oss"))
    assert any(n.endswith("self_attn.sinks") for n, _ in model.named_parameters())  # attention sinks


def test_lora_count_matches_shapes_on_gpt_oss(tiny_trained):
    loaded, _ = tiny_trained
    report = loaded.report
    # peft's count equals r*(in+out) per attention projection + r*E*(in+out) per fused expert tensor
    assert report["after_lora"]["parameters"]["trainable"] == report["expected_lora_parameters"] > 0
    names = [n for n, p in loaded.model.named_parameters() if p.requires_grad]
    assert any("experts" in n for n in names), "the fused experts must be adapted"
    assert any("q_proj" in n for n in names)


def test_lora_count_matches_shapes_on_llama(smollm2_dir):
    preset = presets.get_preset("smollm2-135m")
    loaded = backends.load(preset)
    hidden = loaded.model.get_input_embeddings().weight.shape[1]
    extra_token_rows = len(harmony.SPECIAL_TOKENS) * hidden  # the Harmony markers' embedding rows
    measured = loaded.report["after_lora"]["parameters"]["trainable"]
    assert measured == loaded.report["expected_lora_parameters"] + extra_token_rows
    # predicted by hand for SmolLM2-135M (30 layers, hidden 576, 9 heads x 64, 3 kv heads, MLP 1536), r=16:
    per_layer = 16 * ((576 + 576) * 2 + (576 + 192) * 2 + (576 + 1536) * 2 + (1536 + 576))
    assert loaded.report["expected_lora_parameters"] == 30 * per_layer


def test_blog_figures_from_the_20b_shapes():
    config = backends.gpt_oss_20b_config()
    preset = presets.get_preset("gpt-oss-20b")
    assert backends.lora_parameters_for_config(config, preset, attention_only=True) == 3_981_312  # the blog
    assert backends.lora_parameters_for_config(config, preset) == 92_454_912  # measured with Unsloth on an H100
