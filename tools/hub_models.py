#!/usr/bin/env python
"""An offline hub for the model: place a model under the hub ids the tutorial asks for, in a Hugging Face cache.

    python tools/hub_models.py --arch tiny --repo-id tutorial-offline/tiny-gpt-oss --cache DIR
    python tools/hub_models.py --arch gpt-oss-20b --cache /dev/shm/hf/hub [--experts mxfp4]   # on a CUDA GPU

The folders follow the hub cache layout (``models--org--name/{blobs,refs/main,snapshots/<rev>}``), so with
``HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1`` the unmodified ``from_pretrained("<hub id>")`` calls of transformers and Unsloth
load them: the tutorial's hub code path runs on a machine without the hub.

* ``--arch tiny``: the repository's tiny-gpt-oss (offline_models) under ``--repo-id`` (any machine, seconds).
* ``--arch gpt-oss-20b``: random bf16 weights of the real gpt-oss-20b architecture and configuration (``use_cache``
  on, as on the hub) under ``unsloth/gpt-oss-20b`` -- experts in bf16 as ``unsloth/gpt-oss-20b-BF16`` stores them,
  or with ``--experts mxfp4`` in MXFP4 as the hub's ``unsloth/gpt-oss-20b`` does -- and the same weights quantized
  to 4-bit NF4 by bitsandbytes under
  ``unsloth/gpt-oss-20b-unsloth-bnb-4bit`` -- the checkpoint Unsloth loads for ``unsloth/gpt-oss-20b`` with
  ``load_in_4bit=True``. Like Unsloth's own, that checkpoint stores each expert as its own linear layer
  (``mlp.experts.gate_up_projs.N`` / ``down_projs.N``, router as ``mlp.router.linear``): Unsloth reads that split
  layout as "pre-quantized"; fused bf16 experts under that name make it refuse the checkpoint.

Every repository gets the offline Harmony BPE tokenizer (each Harmony marker one special token; the o200k vocabulary
is not available offline) with gpt-oss's own chat template (``tools/templates/gpt_oss_chat_template.jinja``).
A repository already built the same way is skipped; a repository folder this tool did not make is never touched.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from gpt_oss_tutorial import atomic  # noqa: E402

TEMPLATE_FILE = REPO_ROOT / "tools" / "templates" / "gpt_oss_chat_template.jinja"
MARKER = "offline_stand_in.json"  # inside the snapshot: what built it (a repository file like any other)
FORMAT = 1  # bump when what a build writes changes, so older builds are rebuilt
GPT_OSS_20B = "unsloth/gpt-oss-20b"
GPT_OSS_20B_BNB4 = "unsloth/gpt-oss-20b-unsloth-bnb-4bit"  # Unsloth's mapper: unsloth/gpt-oss-20b + load_in_4bit
TINY_DEFAULT_ID = "tutorial-offline/tiny-gpt-oss"
# The quantization of Unsloth's bnb-4bit repositories: NF4, double quantization, bf16 compute; the modules Unsloth
# itself keeps out of 4-bit when it quantizes (router, lm_head) stay bf16.
BNB_4BIT = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                llm_int8_skip_modules=["lm_head", "router", "embed_tokens"])
# What the hub's gpt-oss-20b config.json says beyond GptOssConfig's own fields for these sizes.
GPT_OSS_20B_HUB_CONFIG = dict(router_aux_loss_coef=0.9, initial_context_length=4096, experts_per_token=4,
                              use_cache=True)


class HubCacheError(RuntimeError):
    """The cache holds something this tool must not replace, or a build is incomplete."""


def log(message: str, start: float | None = None) -> None:
    suffix = f" ({time.perf_counter() - start:.1f} s)" if start is not None else ""
    print(f"[hub_models] {message}{suffix}", flush=True)


# --------------------------------------------------------------------------- the hub cache layout
def default_cache() -> Path:
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def repo_folder(cache: Path, repo_id: str) -> Path:
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"a hub model id is 'org/name', got {repo_id!r}")
    return Path(cache) / ("models--" + repo_id.replace("/", "--"))


def snapshot(cache: Path, repo_id: str) -> Path | None:
    """The snapshot ``refs/main`` points to, or None."""
    ref = repo_folder(cache, repo_id) / "refs" / "main"
    if not ref.is_file():
        return None
    folder = ref.parent.parent / "snapshots" / ref.read_text().strip()
    return folder if folder.is_dir() else None


def stand_in_info(cache: Path, repo_id: str) -> dict | None:
    folder = snapshot(cache, repo_id)
    try:
        return json.loads((folder / MARKER).read_text()) if folder else None
    except (OSError, ValueError):
        return None


def is_complete(cache: Path, repo_id: str, want: dict) -> bool:
    """True when the repository is a stand-in built with ``want`` and every file it names is present."""
    info = stand_in_info(cache, repo_id)
    if info is None or any(info.get(k) != v for k, v in want.items()):
        return False
    folder = snapshot(cache, repo_id)
    needed = {"config.json", "tokenizer_config.json", *info.get("files", [])}
    index = folder / "model.safetensors.index.json"
    if index.exists():
        needed |= set(json.loads(index.read_text())["weight_map"].values())
    return all((folder / name).exists() for name in needed)  # exists() follows the blob symlinks


def _refuse_foreign(repo: Path) -> None:
    """A repository folder with snapshots but no stand-in marker is a real download: never touch it."""
    snaps = repo / "snapshots"
    if snaps.is_dir():
        for snap in snaps.iterdir():
            if snap.is_dir() and not snap.name.startswith(".") and not (snap / MARKER).exists():
                raise HubCacheError(
                    f"{repo} holds a snapshot this tool did not build ({snap.name}); it may be a real download. "
                    f"Use another --cache, or move that folder away yourself."
                )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(64 * 2**20):
            digest.update(chunk)
    return digest.hexdigest()


def publish(stage: Path, cache: Path, repo_id: str, info: dict, *, workers: int = 16) -> Path:
    """Move the files of ``stage`` into the cache as ``repo_id``: blobs named by their sha256, a snapshot of
    relative symlinks, and ``refs/main`` written last, so an interrupted publish never looks complete."""
    start = time.perf_counter()
    repo = repo_folder(cache, repo_id)
    _refuse_foreign(repo)
    files = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != MARKER)
    names = [p.relative_to(stage).as_posix() for p in files]
    (stage / MARKER).write_text(json.dumps({**info, "repo_id": repo_id, "files": names}, indent=2) + "\n")
    files.append(stage / MARKER)
    names.append(MARKER)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(files)))) as pool:
        digests = list(pool.map(_sha256, files))  # hashlib releases the GIL: the shards hash in parallel
    revision = hashlib.sha1(json.dumps(sorted(zip(names, digests))).encode()).hexdigest()
    blobs = repo / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    for path, digest in zip(files, digests):
        target = blobs / digest
        if target.exists():
            path.unlink()
        else:
            os.replace(path, target)
    snaps = repo / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=snaps))
    for name, digest in zip(names, digests):
        link = tmp / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blobs / digest, (snaps / revision / name).parent), link)
    final = snaps / revision
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic.write_text(repo / "refs" / "main", revision)
    _drop_old_builds(repo, keep=revision, blobs_kept=set(digests))
    log(f"{repo_id}: {len(files)} files published at revision {revision[:12]} in {repo}", start)
    return final


def _drop_old_builds(repo: Path, *, keep: str, blobs_kept: set[str]) -> None:
    """Earlier stand-in snapshots and the blobs only they used (a 20B build is 42 GB of memory in /dev/shm)."""
    for snap in (repo / "snapshots").iterdir():
        if snap.name != keep and ((snap / MARKER).exists() or snap.name.startswith(".partial-")):
            shutil.rmtree(snap, ignore_errors=True)
    for blob in (repo / "blobs").iterdir():
        if blob.name not in blobs_kept:
            blob.unlink()


@contextlib.contextmanager
def staging(cache: Path, name: str):
    """A scratch folder on the cache's filesystem (so publishing is a rename), removed afterwards."""
    root = Path(cache) / ".hub_models_staging"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=name.replace("/", "--") + ".", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            root.rmdir()


# --------------------------------------------------------------------------- the tokenizer
def chat_template() -> str:
    return TEMPLATE_FILE.read_text(encoding="utf-8")


def save_tokenizer(tokenizer, folder: Path) -> None:
    tokenizer.chat_template = chat_template()
    tokenizer.save_pretrained(str(folder))


def _versions() -> dict:
    import importlib.metadata as md

    return {name: md.version(name) for name in ("transformers", "torch")}


# --------------------------------------------------------------------------- --arch tiny
def build_tiny(cache: Path, repo_id: str, *, force: bool = False) -> Path:
    """The repository's tiny-gpt-oss (built by offline_models, cached there) under ``repo_id``."""
    want = {"format": FORMAT, "arch": "tiny", **_versions()}
    if not force and is_complete(cache, repo_id, want):
        log(f"{repo_id}: complete in {cache}, skipped")
        return snapshot(cache, repo_id)
    from transformers import AutoTokenizer

    from gpt_oss_tutorial.offline_models import BUILD_INFO, ensure_model

    start = time.perf_counter()
    source = ensure_model("tiny-gpt-oss")
    with staging(cache, repo_id) as stage:
        for path in source.iterdir():
            if path.is_file() and path.name != BUILD_INFO:
                shutil.copy2(path, stage / path.name)
        save_tokenizer(AutoTokenizer.from_pretrained(str(stage)), stage)
        log(f"tiny-gpt-oss staged from {source}", start)
        return publish(stage, cache, repo_id, {**want, "source": "offline_models tiny-gpt-oss"})


# --------------------------------------------------------------------------- --arch gpt-oss-20b
def gpt_oss_20b_config(tokenizer):
    """gpt-oss-20b's config.json values (without the MXFP4 quantization_config: these weights are bf16), with the
    offline tokenizer's token ids."""
    from gpt_oss_tutorial import harmony
    from gpt_oss_tutorial.backends import gpt_oss_20b_config as architecture

    config = architecture()
    for key, value in GPT_OSS_20B_HUB_CONFIG.items():
        setattr(config, key, value)
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.convert_tokens_to_ids(harmony.RETURN)
    return config


def _save_parallel():
    """The benchmark's multi-threaded safetensors writer, wherever it lives now (tools/ or the package)."""
    path = REPO_ROOT / "tools" / "benchmark.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location("_tools_benchmark", path)
        module = importlib.util.module_from_spec(spec)
        with contextlib.suppress(Exception):
            spec.loader.exec_module(module)
            if hasattr(module, "save_parallel"):
                return module.save_parallel
    with contextlib.suppress(ImportError, AttributeError):
        from gpt_oss_tutorial.benchmark import save_parallel

        return save_parallel
    return None


def save_weights(model, folder: Path) -> None:
    save = _save_parallel()
    if save is not None:
        save(model, folder)
    else:
        model.save_pretrained(str(folder), max_shard_size="5GB")


def split_expert_tensors(model, layer: int) -> dict:
    """One decoder layer's experts and router as Unsloth's pre-quantized layout names them: a linear layer per
    expert (weight = the fused matrix of that expert, transposed to (out, in)) and ``router.linear``."""
    mlp = model.model.layers[layer].mlp
    prefix = f"model.layers.{layer}.mlp."
    out = {prefix + "router.linear.weight": mlp.router.weight, prefix + "router.linear.bias": mlp.router.bias}
    experts = mlp.experts
    for e in range(experts.gate_up_proj.shape[0]):
        out[f"{prefix}experts.gate_up_projs.{e}.weight"] = experts.gate_up_proj[e].t()
        out[f"{prefix}experts.gate_up_projs.{e}.bias"] = experts.gate_up_proj_bias[e]
        out[f"{prefix}experts.down_projs.{e}.weight"] = experts.down_proj[e].t()
        out[f"{prefix}experts.down_projs.{e}.bias"] = experts.down_proj_bias[e]
    return out


def save_split_layout(model, folder: Path, *, workers: int = 8) -> None:
    """The model as a bf16 checkpoint in the split layout: one shard per layer, written by several threads."""
    from safetensors.torch import save_file

    layers = len(model.model.layers)
    state = model.state_dict()
    rest = {k: v for k, v in state.items() if ".mlp.experts." not in k and ".mlp.router." not in k}
    names = [f"model-{i + 1:05d}-of-{layers + 1:05d}.safetensors" for i in range(layers + 1)]
    weight_map: dict[str, str] = {}

    def cpu(tensors: dict) -> dict:
        return {k: v.detach().contiguous().to("cpu") for k, v in tensors.items()}

    def write(i: int) -> list[str]:
        tensors = cpu(split_expert_tensors(model, i) if i < layers else rest)
        save_file(tensors, str(folder / names[i]), metadata={"format": "pt"})
        return list(tensors)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, keys in enumerate(pool.map(write, range(layers + 1))):
            weight_map.update(dict.fromkeys(keys, names[i]))
    total = sum(os.path.getsize(folder / n) for n in names)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    model.config.save_pretrained(str(folder))
    model.generation_config.save_pretrained(str(folder))


@contextlib.contextmanager
def split_expert_classes():
    """Build GptOss models with one nn.Linear per expert and a router holding an inner ``linear`` (the module
    names of Unsloth's pre-quantized checkpoints), so bitsandbytes quantizes the experts like any linear layer."""
    import torch
    from torch import nn
    from transformers.models.gpt_oss import modeling_gpt_oss as m

    fused_experts, fused_router = m.GptOssExperts, m.GptOssTopKRouter

    class RouterLinear(nn.Module):  # not an nn.Linear: bitsandbytes leaves it in 16-bit
        def __init__(self, n_in, n_out, dtype):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(n_out, n_in, dtype=dtype))
            self.bias = nn.Parameter(torch.zeros(n_out, dtype=dtype))

    class SplitRouter(fused_router):
        def __init__(self, config):
            nn.Module.__init__(self)
            self.top_k, self.num_experts = config.num_experts_per_tok, config.num_local_experts
            self.hidden_dim = config.hidden_size
            self.linear = RouterLinear(config.hidden_size, config.num_local_experts, torch.get_default_dtype())

        weight = property(lambda self: self.linear.weight)
        bias = property(lambda self: self.linear.bias)

    class SplitExperts(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.num_experts, self.hidden_size = config.num_local_experts, config.hidden_size
            self.intermediate_size = config.intermediate_size
            self.alpha, self.limit = getattr(config, "swiglu_alpha", 1.702), getattr(config, "swiglu_limit", 7.0)
            h, i = config.hidden_size, config.intermediate_size
            self.gate_up_projs = nn.ModuleList(nn.Linear(h, 2 * i) for _ in range(self.num_experts))
            self.down_projs = nn.ModuleList(nn.Linear(i, h) for _ in range(self.num_experts))
            for name in ("gate_up_proj", "gate_up_proj_bias", "down_proj", "down_proj_bias"):
                self.register_buffer(name, torch.empty(0), persistent=False)  # for _init_weights only

        def forward(self, hidden_states, router_indices=None, routing_weights=None):
            # transformers passes the top-k weights (tokens, k); some versions the dense scores (tokens, experts).
            dense = routing_weights.shape[-1] == self.num_experts != router_indices.shape[-1]
            out = torch.zeros_like(hidden_states, dtype=torch.float32)
            for e in range(self.num_experts):
                token, slot = torch.where(router_indices == e)
                if token.numel() == 0:
                    continue
                gate_up = self.gate_up_projs[e](hidden_states[token])
                gate, up = gate_up[..., ::2].clamp(max=self.limit), gate_up[..., 1::2].clamp(-self.limit, self.limit)
                y = self.down_projs[e]((up + 1) * gate * torch.sigmoid(gate * self.alpha))
                weight = routing_weights[token, e] if dense else routing_weights[token, slot]
                out.index_add_(0, token, y.float() * weight[:, None].float())
            return out.to(hidden_states.dtype)

    m.GptOssExperts, m.GptOssTopKRouter = SplitExperts, SplitRouter
    try:
        yield
    finally:
        m.GptOssExperts, m.GptOssTopKRouter = fused_experts, fused_router


def split_state_dict(model) -> dict:
    """The whole model's state dict in the split layout (expert matrices copied transposed, on their device)."""
    state = {k: v for k, v in model.state_dict().items() if ".mlp.experts." not in k and ".mlp.router." not in k}
    for layer in range(len(model.model.layers)):
        state.update({k: v.contiguous() for k, v in split_expert_tensors(model, layer).items()})
    return state


def load_split(source, *, quantize: bool, device: str):
    """A split-layout model from a checkpoint folder, or straight from a fused model in memory (no copy on disk);
    with ``quantize`` through BitsAndBytesConfig (NF4), the way a bitsandbytes 4-bit repository is made."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs = dict(dtype=torch.bfloat16, device_map={"": device})
    if quantize:
        kwargs["quantization_config"] = BitsAndBytesConfig(**BNB_4BIT, bnb_4bit_compute_dtype=torch.bfloat16)
    with split_expert_classes():
        if isinstance(source, (str, Path)):
            return AutoModelForCausalLM.from_pretrained(str(source), use_safetensors=True, **kwargs).eval()
        config = copy.deepcopy(source.config)
        return type(source).from_pretrained(None, config=config, state_dict=split_state_dict(source),
                                            **kwargs).eval()


def quantize_4bit(model, cache: Path, device: str):
    """The fused bf16 model quantized to NF4 in the split layout: in memory, or (should this transformers refuse a
    state dict) through a split-layout copy written to a scratch folder with room for it."""
    import torch

    try:
        return load_split(model, quantize=True, device=device)
    except torch.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any refusal of the in-memory route: the copy on disk is the fallback
        log(f"in-memory quantization refused ({type(exc).__name__}: {exc}); going through a copy on disk")
    need = 1.1 * sum(p.numel() * p.element_size() for p in model.parameters())
    for root in (Path(cache), Path(tempfile.gettempdir())):
        if shutil.disk_usage(root).free > need:
            break
    else:
        raise HubCacheError(f"no room for the {need / 1e9:.0f} GB split-layout copy in {cache} or the temp folder")
    with staging(root, "split-layout") as split:
        t = time.perf_counter()
        save_split_layout(model, split)
        log(f"split-expert bf16 layout written to {split} ({_gb(split)} GB)", t)
        return load_split(split, quantize=True, device=device)


def checkpoint_dtypes(folder: Path) -> dict[str, str]:
    """{tensor name: safetensors dtype} of a checkpoint folder, read from the file headers only."""
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    files = set(json.loads(index.read_text())["weight_map"].values()) if index.exists() else {"model.safetensors"}
    out = {}
    for name in sorted(files):
        with safe_open(str(folder / name), framework="pt") as f:
            out.update({key: f.get_slice(key).get_dtype() for key in f.keys()})
    return out


def check_split_layout(folder: Path, *, quantized: bool) -> dict:
    """What Unsloth looks for in a pre-quantized gpt-oss checkpoint: per-expert keys and, quantized, their packed
    4-bit weights with the bitsandbytes state beside them."""
    dtypes = checkpoint_dtypes(folder)
    split = [k for k in dtypes if ".experts.gate_up_projs." in k or ".experts.down_projs." in k]
    fused = [k for k in dtypes if k.endswith((".experts.gate_up_proj", ".experts.down_proj"))]
    weights = [k for k in split if k.endswith(".weight")]
    packed = [k for k in weights if dtypes[k] == "U8" and k + ".absmax" in dtypes]
    problems = []
    if not split or fused:
        problems.append(f"expected split experts only: {len(split)} split tensors, {len(fused)} fused")
    if quantized and len(packed) != len(weights):
        problems.append(f"{len(weights) - len(packed)} of {len(weights)} expert weights are not packed 4-bit")
    if problems:
        raise HubCacheError(f"{folder}: " + "; ".join(problems))
    return {"expert_weights": len(weights), "packed_4bit": len(packed),
            "attention_4bit": sum(1 for k, v in dtypes.items() if ".self_attn." in k and k.endswith("proj.weight")
                                  and v == "U8")}


def compare_logits(reference, other, input_ids) -> dict:
    """max |difference| of the logits relative to max |logit|, and how often the top-1 token agrees."""
    import torch

    with torch.no_grad():
        a = reference(input_ids=input_ids.to(reference.device)).logits.float().cpu()
        b = other(input_ids=input_ids.to(other.device)).logits.float().cpu()
    return {"max_abs_diff": float((a - b).abs().max()), "max_abs_logit": float(a.abs().max()),
            "top1_agreement": float((a.argmax(-1) == b.argmax(-1)).float().mean())}


# --------------------------------------------------------------------------- MXFP4 (the hub's expert format)
FP4_MAGNITUDES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # e2m1; code bit 3 is the sign, as transformers reads it
MXFP4_CONFIG = {"quant_method": "mxfp4", "modules_to_not_convert": [
    "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}


def mxfp4_pack(weight):
    """A fused expert tensor (E, in, out) as MXFP4 ``blocks`` (E, out, in/32, 16) uint8 and ``scales``
    (E, out, in/32) uint8: 32 values share a power-of-two scale (biased by 127), each an FP4 code, two per byte."""
    import torch

    experts, n_in, n_out = weight.shape
    blocks = torch.empty(experts, n_out, n_in // 32, 16, dtype=torch.uint8, device=weight.device)
    scales = torch.empty(experts, n_out, n_in // 32, dtype=torch.uint8, device=weight.device)
    lut = torch.tensor(FP4_MAGNITUDES, device=weight.device)
    edges = (lut[1:] + lut[:-1]) / 2
    for e in range(experts):  # one expert at a time: the float32 temporaries of all experts would not fit
        groups = weight[e].t().float().reshape(n_out, n_in // 32, 32)
        exponent = torch.ceil(torch.log2(groups.abs().amax(-1).clamp_min(2.0**-120) / 6.0)).clamp(-127, 127)
        scaled = groups / torch.exp2(exponent)[..., None]
        magnitude = torch.bucketize(scaled.abs().contiguous(), edges).to(torch.uint8)
        code = magnitude | (((scaled < 0) & (magnitude > 0)).to(torch.uint8) << 3)  # no "-0": packing is idempotent
        blocks[e] = code[..., 0::2] | (code[..., 1::2] << 4)
        scales[e] = (exponent + 127).to(torch.uint8)
    return blocks, scales


def mxfp4_round_experts(model) -> None:
    """Replace every expert weight by its MXFP4 value, so the bf16, MXFP4 and 4-bit repositories hold one model."""
    import torch
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    with torch.no_grad():
        for layer in model.model.layers:
            for name in ("gate_up_proj", "down_proj"):
                param = getattr(layer.mlp.experts, name)
                value = convert_moe_packed_tensors(*mxfp4_pack(param), dtype=param.dtype)
                if value.shape != param.shape:  # transformers 5.17 unpacks to (E, out, in), later versions to (E, in, out)
                    value = value.transpose(1, 2)
                param.copy_(value)


def save_mxfp4(model, folder: Path) -> None:
    """The model as the hub stores gpt-oss: experts in MXFP4 (``*_blocks``/``*_scales``), the rest bf16."""
    from safetensors.torch import save_file

    state = {k: v for k, v in model.state_dict().items() if not k.endswith((".gate_up_proj", ".down_proj"))}
    names = [f"model-{i + 1:05d}-of-{len(model.model.layers) + 1:05d}.safetensors"
             for i in range(len(model.model.layers) + 1)]
    weight_map = {}
    for i, layer in enumerate(model.model.layers):
        tensors = {}
        for name in ("gate_up_proj", "down_proj"):
            blocks, scales = mxfp4_pack(getattr(layer.mlp.experts, name))
            tensors[f"model.layers.{i}.mlp.experts.{name}_blocks"] = blocks.cpu()
            tensors[f"model.layers.{i}.mlp.experts.{name}_scales"] = scales.cpu()
        save_file(tensors, str(folder / names[i]), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, names[i]))
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(folder / names[-1]),
              metadata={"format": "pt"})
    weight_map.update(dict.fromkeys(state, names[-1]))
    total = sum(os.path.getsize(folder / n) for n in names)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n")
    config = json.loads(model.config.to_json_string())
    config["quantization_config"] = MXFP4_CONFIG
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    model.generation_config.save_pretrained(str(folder))


def build_random_model(config, device: str, seed: int, stop_ids: list[int]):
    """Random bf16 weights (transformers' own initialisation) built directly on ``device``."""
    import torch
    from transformers import GenerationConfig, GptOssForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = GptOssForCausalLM._from_config(config, dtype=torch.bfloat16)
    # As the hub's generation_config.json: sampling, stop on <|return|>, <|endoftext|> and <|call|>.
    model.generation_config = GenerationConfig(eos_token_id=stop_ids, pad_token_id=config.pad_token_id,
                                               do_sample=True)
    return model.eval()


def build_gpt_oss(cache: Path, *, arch: str, repo_id: str, bnb_repo_id: str | None, seed: int = 0,
                  device: str | None = None, force: bool = False, experts: str = "bf16") -> dict:
    """Random weights of ``arch`` ("gpt-oss-20b", or "tiny" for the CPU test of this path) under ``repo_id`` --
    experts in bf16, or with ``experts="mxfp4"`` in MXFP4 as the hub stores gpt-oss -- and, unless ``bnb_repo_id``
    is None, the same weights quantized to 4-bit NF4 under ``bnb_repo_id``."""
    import torch

    from gpt_oss_tutorial import harmony
    from gpt_oss_tutorial.offline_models import TINY_GPT_OSS_CONFIG, build_harmony_bpe_tokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if arch == "gpt-oss-20b" and device == "cpu":
        raise HubCacheError("--arch gpt-oss-20b is built on a CUDA GPU (42 GB of bf16 weights); none is visible here")
    if experts not in ("bf16", "mxfp4"):
        raise ValueError(f"experts must be 'bf16' or 'mxfp4', got {experts!r}")
    want = {"format": FORMAT, "arch": arch, "seed": seed, "dtype": "bfloat16", "experts": experts, **_versions()}
    out: dict = {"bf16": repo_id, "bnb4": bnb_repo_id}
    bf16_done = not force and is_complete(cache, repo_id, want)
    bnb_want = dict(want, dtype="nf4", source_revision=snapshot(cache, repo_id).name if bf16_done else None)
    bnb_done = bnb_repo_id is None or (bf16_done and is_complete(cache, bnb_repo_id, bnb_want))
    if bf16_done and bnb_done:
        log(f"{repo_id}{' and ' + bnb_repo_id if bnb_repo_id else ''}: complete in {cache}, skipped")
        return out

    t = time.perf_counter()
    if bf16_done:  # only the 4-bit checkpoint is missing: quantize exactly the weights already published
        from transformers import AutoTokenizer, GptOssForCausalLM

        folder = snapshot(cache, repo_id)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        kwargs = {}
        if experts == "mxfp4":
            from transformers import Mxfp4Config

            kwargs["quantization_config"] = Mxfp4Config(dequantize=True)  # MXFP4 values are exact in bf16
        model = GptOssForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16, device_map={"": device},
                                                  **kwargs).eval()
        log(f"{repo_id}: loaded from {folder} to quantize it", t)
    else:
        tokenizer = build_harmony_bpe_tokenizer()
        if arch == "gpt-oss-20b":
            config = gpt_oss_20b_config(tokenizer)
        else:
            from transformers import GptOssConfig

            config = GptOssConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                  eos_token_id=tokenizer.convert_tokens_to_ids(harmony.RETURN),
                                  **TINY_GPT_OSS_CONFIG)
        stop_ids = [tokenizer.convert_tokens_to_ids(s) for s in (harmony.RETURN, "<|endoftext|>", harmony.CALL)]
        log(f"tokenizer ({len(tokenizer)} tokens) and config ready", t)
        t = time.perf_counter()
        model = build_random_model(config, device, seed, stop_ids)
        if device == "cuda":
            torch.cuda.synchronize()
        log(f"{arch}: {sum(p.numel() for p in model.parameters()):,} random bf16 parameters built on {device}", t)
        if experts == "mxfp4":
            t = time.perf_counter()
            mxfp4_round_experts(model)  # every repository then holds the same model
            log("expert weights rounded to their MXFP4 values", t)
    params = sum(p.numel() for p in model.parameters())

    if not bf16_done:
        with staging(cache, repo_id) as stage:
            t = time.perf_counter()
            if experts == "mxfp4":
                save_mxfp4(model, stage)
            else:
                save_weights(model, stage)
            save_tokenizer(tokenizer, stage)
            log(f"{repo_id}: weights saved, experts in {experts} ({_gb(stage)} GB)", t)
            publish(stage, cache, repo_id, {**want, "parameters": params})
    bnb_want["source_revision"] = snapshot(cache, repo_id).name
    if bnb_repo_id is not None and (force or not is_complete(cache, bnb_repo_id, bnb_want)):
        with staging(cache, bnb_repo_id) as stage:
            probe = torch.randint(0, len(tokenizer), (1, 64), generator=torch.Generator().manual_seed(seed))
            t = time.perf_counter()
            quantized = quantize_4bit(model, cache, device)
            log("quantized through BitsAndBytesConfig (NF4): experts and attention in 4-bit", t)
            out["bnb4_vs_bf16"] = compare_logits(model, quantized, probe)
            log(f"4-bit vs bf16 logits on a random probe: {out['bnb4_vs_bf16']}")
            t = time.perf_counter()
            quantized.save_pretrained(str(stage))
            save_tokenizer(tokenizer, stage)
            del quantized
            out["layout"] = check_split_layout(stage, quantized=True)
            log(f"{bnb_repo_id}: 4-bit checkpoint saved ({_gb(stage)} GB), {out['layout']}", t)
            publish(stage, cache, bnb_repo_id, bnb_want)
    del model
    return out


def _gb(folder: Path) -> str:
    return f"{sum(p.stat().st_size for p in folder.rglob('*') if p.is_file()) / 1e9:.1f}"


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=("tiny", "gpt-oss-20b"), required=True)
    parser.add_argument("--cache", type=Path, help="hub cache folder (default: $HF_HUB_CACHE or ~/.cache/...)")
    parser.add_argument("--repo-id", help=f"hub id for --arch tiny (default {TINY_DEFAULT_ID}); "
                                          f"gpt-oss-20b always uses {GPT_OSS_20B}")
    parser.add_argument("--random-weights", action="store_true",
                        help="--arch tiny: random weights built here with the bf16 + 4-bit path of gpt-oss-20b "
                             "(needs bitsandbytes) instead of the offline_models tiny-gpt-oss")
    parser.add_argument("--no-4bit", action="store_true", help="skip the bitsandbytes 4-bit checkpoint")
    parser.add_argument("--experts", choices=("bf16", "mxfp4"), default="bf16",
                        help="how the bf16 repository stores the experts: bf16 (default), or MXFP4 as the hub's "
                             "unsloth/gpt-oss-20b and openai/gpt-oss-20b do (the weights are rounded to MXFP4 "
                             "values first, so the 4-bit checkpoint quantizes the same model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even when a complete build is present")
    args = parser.parse_args(argv)
    cache = (args.cache or default_cache()).expanduser().resolve()
    if args.experts == "mxfp4" and args.arch == "tiny" and not args.random_weights:
        parser.error("--experts mxfp4 needs --random-weights with --arch tiny")
    if args.arch == "gpt-oss-20b" and args.repo_id not in (None, GPT_OSS_20B):
        parser.error(f"--arch gpt-oss-20b is placed under {GPT_OSS_20B} (and {GPT_OSS_20B_BNB4})")
    try:
        repo_folder(cache, args.repo_id or TINY_DEFAULT_ID)
    except ValueError as exc:
        parser.error(str(exc))
    start = time.perf_counter()
    try:
        if args.arch == "tiny" and not args.random_weights:
            build_tiny(cache, args.repo_id or TINY_DEFAULT_ID, force=args.force)
        else:
            repo_id = GPT_OSS_20B if args.arch == "gpt-oss-20b" else (args.repo_id or TINY_DEFAULT_ID)
            bnb = None if args.no_4bit else (GPT_OSS_20B_BNB4 if args.arch == "gpt-oss-20b" else repo_id + "-bnb-4bit")
            build_gpt_oss(cache, arch=args.arch, repo_id=repo_id, bnb_repo_id=bnb, seed=args.seed, force=args.force,
                          experts=args.experts)
    except HubCacheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log(f"done; use it with HF_HUB_CACHE={cache} HF_HUB_OFFLINE=1", start)
    return 0


if __name__ == "__main__":
    # Building checkpoints needs transformers only: keep the package from importing Unsloth after it on a GPU.
    os.environ.setdefault("GPT_OSS_TUTORIAL_BACKEND", "transformers+peft")
    sys.exit(main())
