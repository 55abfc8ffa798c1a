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


@pytest.mark.parametrize("vram, expected", [(8.0, (4, 4)), (15.7, (4, 4)), (19.9, (4, 4)), (20.0, (8, 2)),
                                            (23.6, (8, 2)), (39.9, (8, 2)), (40.0, (16, 1)), (139.8, (16, 1))])
def test_gpt_oss_micro_batch_follows_gpu_memory_keeping_16_rows(vram, expected):
    assert presets.batch_for_vram(vram) == expected
    chosen = presets.get_preset("gpt-oss-20b", cuda_vram_gb=vram)
    assert (chosen.batch_size, chosen.grad_accum) == expected
    assert chosen.batch_size * chosen.grad_accum == 16  # the blog's rows per optimizer step
    assert (chosen.learning_rate, chosen.max_steps, chosen.lr_scheduler) == (2e-4, 60, "linear")


def test_batch_overrides_win_and_cpu_presets_keep_theirs():
    assert (presets.get_preset("gpt-oss-20b", cuda_vram_gb=80, batch_size=2).grad_accum) == 8  # still 16 rows
    pinned = presets.get_preset("gpt-oss-20b", cuda_vram_gb=80, batch_size=1, grad_accum=16)
    assert (pinned.batch_size, pinned.grad_accum) == (1, 16)
    assert presets.get_preset("gpt-oss-20b", cuda_vram_gb=0).batch_size == 1  # no GPU: the registry's (blog) value
    for name in ("tiny-gpt-oss", "smollm2-135m"):
        assert presets.get_preset(name, cuda_vram_gb=80) == presets.PRESETS[name]


def test_a_4bit_weight_is_counted_by_its_real_elements():
    """bitsandbytes' Params4bit stores two 4-bit values per uint8: numel is half; quant_state.shape is the real one."""
    import torch

    class FakeParams4bit(torch.nn.Parameter):
        pass

    class QuantState:
        shape = torch.Size([64, 32])

    model = torch.nn.Module()
    packed = FakeParams4bit(torch.zeros(64 * 32 // 2, 1, dtype=torch.uint8), requires_grad=False)
    packed.quant_state = QuantState()
    model.register_parameter("packed", packed)
    model.lora = torch.nn.Linear(32, 4, bias=False)  # 128 trainable
    report = backends.parameter_report(model)
    assert report["total"] == 64 * 32 + 128 and report["trainable"] == 128
    assert report["percent"] == pytest.approx(100 * 128 / (2048 + 128))


def test_predicted_lora_count_ignores_the_loaded_layout(tiny_trained):
    """The prediction comes from the architecture's shapes, so Unsloth's 4-bit expert layout cannot hide them."""
    import types

    loaded, _ = tiny_trained
    measured = loaded.report["after_lora"]["parameters"]["trainable"]
    bare = types.SimpleNamespace(config=loaded.model.config)  # no modules at all: only the config
    assert backends.expected_lora_parameters(bare, loaded.preset) == measured
    assert backends.expected_lora_parameters(bare, loaded.preset, r=16) == 2 * measured


def test_backends_imports_unsloth_before_trl_transformers_peft(tmp_path):
    """With CUDA and Unsloth present, importing gpt_oss_tutorial.backends imports Unsloth, and nothing the package
    imports before it has loaded trl, transformers or peft (a fake Unsloth records what was loaded)."""
    import subprocess
    import sys

    (tmp_path / "unsloth").mkdir()
    (tmp_path / "unsloth" / "__init__.py").write_text(
        "import sys\nLOADED_BEFORE = sorted(n for n in ('trl', 'transformers', 'peft') if n in sys.modules)\n")
    code = ("import sys, torch; torch.cuda.is_available = lambda: True\n"
            "from gpt_oss_tutorial import backends, presets, sft, data\n"
            "import unsloth; print('result', backends.UNSLOTH_NOT_IMPORTED, unsloth.LOADED_BEFORE)\n")
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{backends.__file__.rsplit('/', 2)[0]}"}
    env.pop("GPT_OSS_TUTORIAL_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "result None []" in done.stdout
    env["GPT_OSS_TUTORIAL_BACKEND"] = "transformers+peft"  # the benchmark's (c): Unsloth must stay out
    done = subprocess.run([sys.executable, "-c", code.replace("import unsloth; ", "")
                           .replace("unsloth.LOADED_BEFORE", "'unsloth' in sys.modules")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert "asks for the transformers+peft backend False" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("stem", ["01_load_and_lora", "03_sft"])
def test_notebook_imports_backends_before_anything_else(stem):
    """The first import of the first code cell after the parameters is gpt_oss_tutorial.backends (Unsloth first)."""
    import ast

    from gpt_oss_tutorial.paths import REPO_ROOT

    nb = json.loads((REPO_ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = ast.parse("".join(code[1]["source"])).body[0]
    assert isinstance(first, ast.ImportFrom) and first.module == "gpt_oss_tutorial"
    assert [a.name for a in first.names] == ["backends"]


def test_predicted_lora_count_survives_patched_expert_classes(monkeypatch):
    """On a GPU, Unsloth swaps gpt-oss's fused experts for one nn.Linear per expert, process-wide, after a 4-bit load;
    a prediction that built the architecture then counted attention only (3,981,312 instead of 92,454,912)."""
    import torch
    from transformers.models.gpt_oss import modeling_gpt_oss

    class SplitExperts(torch.nn.Module):  # the shape of Unsloth's patched class: a list of Linear per expert
        def __init__(self, config):
            super().__init__()
            self.gate_up_projs = torch.nn.ModuleList(
                torch.nn.Linear(config.hidden_size, 2 * config.intermediate_size) for _ in range(2))

    monkeypatch.setattr(modeling_gpt_oss, "GptOssExperts", SplitExperts)
    preset = presets.get_preset("gpt-oss-20b")
    assert backends.lora_parameters_for_config(backends.gpt_oss_20b_config(), preset) == 92_454_912


def test_a_value_changed_in_notebook_01s_lora_cell_is_what_every_later_stage_loads(tmp_path, monkeypatch):
    """backends.load runs notebook 01's tagged cells: edit `r=` there (and save) and the later notebooks, the tools
    and the tests attach adapters of that rank."""
    import shutil

    from gpt_oss_tutorial import runner

    for notebook in runner.NOTEBOOKS_DIR.glob("*.ipynb"):
        shutil.copy(notebook, tmp_path / notebook.name)
    lesson = tmp_path / f"{backends.LESSON}.ipynb"
    nb = json.loads(lesson.read_text(encoding="utf-8"))
    edited = 0
    for cell in nb["cells"]:
        if backends.LORA_CELL in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            edited = source.count("r=preset.lora_r,")
            cell["source"] = source.replace("r=preset.lora_r,", "r=2,")
    assert edited == 2  # the Unsloth call and peft's LoraConfig
    lesson.write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(runner, "NOTEBOOKS_DIR", tmp_path)

    preset = presets.get_preset("tiny-gpt-oss")
    loaded = backends.load(preset)
    assert preset.lora_r != 2 and loaded.model.peft_config["default"].r == 2
    assert loaded.report["after_lora"]["parameters"]["trainable"] == backends.expected_lora_parameters(
        loaded.model, preset, r=2)


@pytest.mark.parametrize("avx512_bf16, amx, cuda, expected", [
    (False, False, False, "float32"),   # AVX2-only CPUs: bf16 matrix products take PyTorch's slow fallback
    (True, False, False, "bfloat16"),
    (False, True, False, "bfloat16"),
    (False, False, True, "bfloat16"),   # a GPU computes in bf16 whatever the CPU
])
def test_weights_dtype_is_bf16_only_where_it_is_computed_natively(monkeypatch, avx512_bf16, amx, cuda, expected):
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(backends, "has_cuda", lambda: cuda)
    assert backends.weights_dtype() == getattr(torch, expected)


def test_the_cpu_tutorial_loads_in_the_dtype_this_cpu_computes_fast(smollm2_dir):
    loaded = backends.load(presets.get_preset("smollm2-135m"), lora=False)
    assert loaded.model.dtype == backends.weights_dtype()


def _adapted_with_random_update(name: str):
    """A preset's model with LoRA whose update is not zero (peft starts B at zero, which would merge nothing)."""
    import torch

    loaded = backends.load(presets.get_preset(name))
    model = loaded.model.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.add_(torch.randn(param.shape, generator=generator) * 0.02)
    return model


@pytest.mark.parametrize("name", ["tiny-gpt-oss", "smollm2-135m"])  # fused-expert parameters; trainable tokens
def test_merged_adapter_generates_like_the_adapter_and_gives_the_model_back(name):
    import torch

    model = _adapted_with_random_update(name)
    ids = torch.arange(3, 43).reshape(2, 20)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    with torch.no_grad():
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        adapted = model(input_ids=ids).logits
        effect = (adapted - base).abs().max().item()
        assert effect > 1e-3
        with backends.merged_adapter(model) as same:
            assert same is model and all(m.merged for m in backends.adapter_layers(model))
            merged = model(input_ids=ids).logits
        assert not any(m.merged for m in backends.adapter_layers(model))
        after = model(input_ids=ids).logits
    assert (merged - adapted).abs().max().item() < 1e-3 * effect
    assert (after - adapted).abs().max().item() < 1e-3 * effect
    for n, p in model.named_parameters():  # the base weights are back, up to float rounding
        if n in frozen:
            assert torch.allclose(p, frozen[n], rtol=0, atol=1e-6), n


def test_merged_adapter_is_a_noop_where_a_merge_would_be_wrong(smollm2_dir):
    import torch

    model = _adapted_with_random_update("tiny-gpt-oss")
    layers = backends.adapter_layers(model)
    with model.disable_adapter(), backends.merged_adapter(model):  # the "before" model must stay the base
        assert not any(m.merged for m in layers)
    with backends.merged_adapter(model):
        with backends.merged_adapter(model):  # already merged: the outer block unmerges, once
            assert all(m.merged for m in layers)
        assert all(m.merged for m in layers)
    assert not any(m.merged for m in layers)
    with pytest.raises(RuntimeError, match="stop"), backends.merged_adapter(model):
        raise RuntimeError("stop")
    assert not any(m.merged for m in layers)

    model.get_base_model().config.quantization_config = {"load_in_4bit": True}  # as bitsandbytes leaves it
    assert backends.is_quantized(model)
    with backends.merged_adapter(model):
        assert not any(m.merged for m in layers)

    model.get_base_model().config.quantization_config = None
    model.to(torch.bfloat16)  # 16-bit weights would not come back exactly
    with backends.merged_adapter(model):
        assert not any(m.merged for m in layers)

    plain = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert not backends.is_quantized(plain)
    with backends.merged_adapter(plain) as same:
        assert same is plain
