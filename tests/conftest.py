"""Shared fixtures: the real registry, and a smoke-profile store built once per test session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "public"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("BENCH_QUIET", "1")


def bench(*args: str, cwd: Path = ROOT, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (as a user would)."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


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
