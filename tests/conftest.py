"""Shared fixtures: the real registry, and a smoke-profile store built once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchkit import ROOT, SHARED, bench  # noqa: F401  (re-exported for fixtures)

# One process per `bench run` in tests (they inherit this): a test machine runs several tests'
# torch processes already, and worker start-up would only slow small plans. tests/harness/
# test_scheduler.py runs --jobs 2 explicitly.
os.environ.setdefault("BENCH_JOBS", "1")


@pytest.fixture(scope="session")
def registry_path() -> Path:
    return ROOT / "registry.yaml"


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory) -> Path:
    """A store where the smoke profile's sft and grpo-1k-def are trained and evaluated in-domain."""
    store = tmp_path_factory.mktemp("smoke-store")
    r = bench("run", "--profile", "smoke", "--models", "sft,grpo-1k-def", "--suite", "indomain",
              "--store", str(store), "--registry", str(ROOT / "registry.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    return store


@pytest.fixture(scope="session")
def smoke_base(smoke_store) -> Path:
    """The smoke profile's built tiny base model folder (weights + tokenizer with the chat template)."""
    return next((smoke_store / "checkpoints").glob("base-*"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real public data not available ({SHARED} is absent; CI has it)")
    return SHARED


@pytest.fixture(scope="session")
def tiny_lora(tmp_path_factory):
    """(spec, base folder, adapter folder): a randomly initialised two-layer Qwen3 with its own
    tokenizer and a random (non-zero) LoRA on every projection, built here in a second."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3ForCausalLM

    from core.config import BaseSpec
    from core.modeling import LORA_TARGETS, build_tokenizer, tiny_config
    from core.thesis_format import SYSTEM_PROMPT

    root = tmp_path_factory.mktemp("tiny-lora")
    corpus = [f"{a} + {b} = {a + b}. The answer is {a * b}." for a in range(40) for b in range(7)]
    tok = build_tokenizer(corpus + [SYSTEM_PROMPT] * 5, 320)
    spec = BaseSpec(kind="tiny", vocab_size=320, hidden_size=32, layers=2, heads=2, kv_heads=1, intermediate_size=64)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(tiny_config(spec, tok))
    model.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS, init_lora_weights=False))
    lora.save_pretrained(root / "adapter")
    return spec, root / "base", root / "adapter"
