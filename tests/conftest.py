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
