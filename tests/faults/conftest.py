"""Fixtures of the fault-injection tests: the ``faults`` registry and one uninterrupted run."""
from __future__ import annotations

from pathlib import Path

import pytest

import faultkit


@pytest.fixture(scope="session")
def fault_registry(tmp_path_factory) -> Path:
    return faultkit.write_registry(tmp_path_factory.mktemp("faults-registry") / "registry.yaml")


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory, fault_registry) -> Path:
    """Store A: base and sft trained and evaluated in-domain (150 items) without interruption."""
    store = tmp_path_factory.mktemp("faults-reference")
    r = faultkit.bench("run", "--registry", str(fault_registry), "--profile", faultkit.PROFILE,
                       "--models", "base,sft", "--suite", "indomain", "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    return store


@pytest.fixture(scope="session")
def model_fps(reference_store) -> dict[str, str]:
    """name -> full fingerprint, read from the reference store's cells."""
    import sqlite3

    con = sqlite3.connect(reference_store / "bench.sqlite")
    try:
        return dict(con.execute("SELECT model, model_fp FROM cells"))
    finally:
        con.close()
