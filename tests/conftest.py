"""Shared fixtures: a private outputs folder per test session, and a tiny trained adapter many stages reuse."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def session_outputs(tmp_path_factory):
    """Every test writes under its own outputs folder, never into the repository's outputs/."""
    path = tmp_path_factory.mktemp("outputs")
    old = os.environ.get("GPT_OSS_TUTORIAL_OUTPUTS")
    os.environ["GPT_OSS_TUTORIAL_OUTPUTS"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GPT_OSS_TUTORIAL_OUTPUTS", None)
    else:
        os.environ["GPT_OSS_TUTORIAL_OUTPUTS"] = old


@pytest.fixture(scope="session")
def tiny_preset():
    from gpt_oss_tutorial.presets import get_preset

    return get_preset("tiny-gpt-oss", max_steps=3, save_steps=2, max_seq_length=384)


@pytest.fixture(scope="session")
def tiny_rows():
    from gpt_oss_tutorial import data

    result = data.load_rows("train", offline=True)
    return data.LoadResult(rows=result.rows[:24], source=result.source)


@pytest.fixture(scope="session")
def tiny_trained(tiny_preset, tiny_rows, tmp_path_factory):
    """tiny-gpt-oss with LoRA trained 3 steps: (loaded, train_result). The adapter is at result.adapter_dir."""
    from gpt_oss_tutorial import backends, data, sft

    loaded = backends.load(tiny_preset)
    prepared = data.prepare(loaded.tokenizer, tiny_rows, max_length=tiny_preset.max_seq_length, progress=False)
    result = sft.train(loaded, prepared.dataset, tmp_path_factory.mktemp("sft"), progress=False)
    return loaded, result


@pytest.fixture(scope="session")
def smollm2_dir():
    from gpt_oss_tutorial.offline_models import ensure_model

    return ensure_model("smollm2-135m")
