"""Token budgets against the base's context, and the HTTP client settings of model and judge
entries (issue #16): each is one line, exit 2, at load (``bench models`` is enough), naming the
field, the value and the limit — where a budget beyond the context failed inside generation or
training, and a zero concurrency or an infinite timeout was accepted silently.

The case tables are counted in docs/reliability.md (test_reliability_counts.py checks it).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import faultkit
from core.config import TINY_CONTEXT, load_config
from test_hostile_registry import cli, one_line

P = f"profiles.{faultkit.PROFILE}"


def _set(path: str, value):
    def mutate(d, tmp: Path):
        *keys, last = path.split(".")
        cur = d
        for k in keys:
            cur = cur.setdefault(k, {})
        cur[last] = value
    return mutate


def _model_config(folder: Path, positions: int, nested: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_type": "qwen3", "text_config": {"max_position_embeddings": positions}} if nested else \
        {"model_type": "qwen3", "max_position_embeddings": positions}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _local_base(positions: int, new_tokens: int, nested: bool = False):
    def mutate(d, tmp: Path):
        d["profiles"][faultkit.PROFILE]["base"] = {"kind": "local", "id": str(_model_config(tmp / "base", positions, nested))}
        d["profiles"][faultkit.PROFILE]["generation"]["max_new_tokens"] = new_tokens
    return mutate


def _hub_base_in_cache(positions: int, new_tokens: int):
    """A hub id whose config.json is in the local cache (HF_HUB_CACHE, set by the test)."""
    def mutate(d, tmp: Path):
        repo = tmp / "hub" / "models--org--small"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("abc123")
        _model_config(repo / "snapshots" / "abc123", positions)
        d["profiles"][faultkit.PROFILE]["base"] = {"kind": "hub", "id": "org/small"}
        d["profiles"][faultkit.PROFILE]["generation"]["max_new_tokens"] = new_tokens
    return mutate


def _hf_model(positions: int):
    def mutate(d, tmp: Path):
        d["models"]["local-hf"] = {"kind": "hf", "path": str(_model_config(tmp / "hf", positions))}
    return mutate


# id -> (mutation, words the one line must contain)
CONTEXT = {
    "tiny-max-new-tokens-2048": (_set(f"{P}.generation.max_new_tokens", 2048), ("max_new_tokens", "2048", "1024")),
    "tiny-max-new-tokens-equal-context": (_set(f"{P}.generation.max_new_tokens", TINY_CONTEXT), ("max_new_tokens", "1023")),
    "tiny-sft-max-seq-length-4096": (_set(f"{P}.overrides.sft.max_seq_length", 4096), ("max_seq_length", "4096")),
    # without the profile's override the thesis default (2,048) applies to the tiny base
    "tiny-sft-thesis-default": (_set(f"{P}.overrides.sft", {}), ("models.sft", "max_seq_length", "2048")),
    "tiny-grpo-prompt-plus-completion": (_set(f"{P}.overrides.grpo.max_completion_length", 1000),
                                         ("max_prompt_length + max_completion_length", "1096")),
    "tiny-bfcl-completion-2048": (_set(f"{P}.overrides.bfcl_grpo.max_completion_length", 2048),
                                  ("max_completion_length", "2048")),
    "local-base-config": (_local_base(256, 300), ("max_new_tokens", "300", "256", "config.json")),
    "local-base-text-config": (_local_base(128, 200, nested=True), ("max_new_tokens", "128")),
    "hub-base-in-cache": (_hub_base_in_cache(64, 100), ("max_new_tokens", "100", "64", "models--org--small")),
    "hf-model-entry": (_hf_model(40), ("local-hf", "max_new_tokens", "40")),
}

_J = "judges.llm"
CLIENT = {
    "judge-timeout-zero": (_set(f"{_J}.timeout_s", 0), "timeout_s"),
    "judge-timeout-negative": (_set(f"{_J}.timeout_s", -5), "timeout_s"),
    "judge-timeout-inf": (_set(f"{_J}.timeout_s", float("inf")), "timeout_s"),
    "judge-timeout-nan": (_set(f"{_J}.timeout_s", float("nan")), "timeout_s"),
    "judge-timeout-a-year": (_set(f"{_J}.timeout_s", 3.2e7), "timeout_s"),
    "judge-retries-negative": (_set(f"{_J}.retries", -1), "retries"),
    "judge-retries-1000": (_set(f"{_J}.retries", 1000), "retries"),
    "judge-concurrency-zero": (_set(f"{_J}.concurrency", 0), "concurrency"),
    "judge-concurrency-million": (_set(f"{_J}.concurrency", 10 ** 6), "concurrency"),
    "judge-concurrency-text": (_set(f"{_J}.concurrency", "many"), "concurrency"),
    "model-timeout-zero": (_set("models.api.timeout_s", 0), "timeout_s"),
    "model-timeout-inf": (_set("models.api.timeout_s", float("inf")), "timeout_s"),
    "model-retries-negative": (_set("models.api.retries", -2), "retries"),
    "model-concurrency-zero": (_set("models.api.concurrency", 0), "concurrency"),
    "model-concurrency-negative": (_set("models.api.concurrency", -8), "concurrency"),
    "vllm-tensor-parallel-zero": (_set(f"{P}.generation.tensor_parallel_size", 0), "tensor_parallel_size"),
    "vllm-tensor-parallel-1000": (_set(f"{P}.generation.tensor_parallel_size", 1000), "tensor_parallel_size"),
}


def _with_api_model(mutate):
    def both(d, tmp):
        d["models"]["api"] = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
        mutate(d, tmp)
    return both


def _registry(tmp_path: Path, mutate) -> Path:
    return faultkit.write_registry(tmp_path / "registry.yaml", lambda d: mutate(d, tmp_path))


@pytest.mark.parametrize("case", sorted(CONTEXT) + sorted(CLIENT))
def test_budget_or_client_setting_is_one_line_at_load(case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    mutate, words = CONTEXT[case] if case in CONTEXT else CLIENT[case]
    reg = _registry(tmp_path, _with_api_model(mutate))
    t0 = time.monotonic()
    rc, err = cli(capsys, "models", "--registry", reg, "--profile", faultkit.PROFILE, "--store", tmp_path / "store")
    line = one_line(rc, err)
    for word in (words if isinstance(words, tuple) else (words,)):
        assert word in line, line
    assert time.monotonic() - t0 < 20
    assert not (tmp_path / "store" / "checkpoints").exists() or not any((tmp_path / "store" / "checkpoints").iterdir())


@pytest.mark.parametrize("mutate", [
    _set(f"{P}.generation.max_new_tokens", TINY_CONTEXT - 1),
    _set(f"{P}.overrides.sft.max_seq_length", TINY_CONTEXT),
    _local_base(4096, 4095),
    _hf_model(49),  # the faults profile generates 48 tokens: fits
    _set(f"{P}.base", {"kind": "hub", "id": "org/not-downloaded"}),  # checked when it is loaded
    _set(f"{_J}.timeout_s", 0.5),
    _set(f"{_J}.retries", 0),
], ids=["tiny-1023", "sft-1024", "local-4095-of-4096", "hf-fits", "hub-not-in-cache", "timeout-half-second",
        "no-retries"])
def test_budgets_and_settings_at_their_limits_load(mutate, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    load_config(_registry(tmp_path, _with_api_model(mutate))).profile(faultkit.PROFILE)


def _known_only_when_loaded(monkeypatch):
    """The load check believes the base has 4,096 positions (as for a hub base not downloaded
    yet); the checkpoint says 1,024 and the run must stop once the model is loaded."""
    import core.config

    monkeypatch.setattr(core.config, "TINY_CONTEXT", 4096)


# id -> (patch, max_new_tokens): caught when the model is loaded, before any generation
LOADED = {"context-known-when-loaded": (_known_only_when_loaded, 2000)}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(LOADED))
def test_budget_beyond_the_loaded_models_context_stops_before_generating(case, tmp_path, capsys, monkeypatch,
                                                                          reference_store):
    patch, new_tokens = LOADED[case]
    patch(monkeypatch)
    store = tmp_path / "store"
    faultkit.copy_checkpoints(reference_store, store)  # sft too: the suite's reference, evaluated as well
    reg = _registry(tmp_path, _set(f"{P}.generation.max_new_tokens", new_tokens))
    rc, err = cli(capsys, "run", "--models", "base", "--suite", "indomain", "--registry", reg,
                  "--profile", faultkit.PROFILE, "--store", store)
    line = one_line(rc, err)
    assert "max_new_tokens" in line and str(new_tokens) in line and "1024" in line, line
    assert faultkit.count(store / "bench.sqlite", "SELECT COUNT(*) FROM generations") == 0


ALL_CASES = {**{f"context:{k}": v for k, v in CONTEXT.items()}, **{f"loaded:{k}": v for k, v in LOADED.items()},
             **{f"client:{k}": v for k, v in CLIENT.items()}}
