"""Concurrency: two ``bench`` processes on one store, and two builders of one checkpoint.

Guarantee: both processes finish (exit 0) and the store is exactly what one uninterrupted run
writes: SQLite in WAL mode with a busy timeout, idempotent inserts, and checkpoints published
by an atomic rename where the first builder wins and the second drops its copy.
"""
from __future__ import annotations

import json
import os

import pytest

import faultkit
from faultkit import PROFILE, TEST_ROWS
from core.checkpoints import CheckpointStore


@pytest.mark.slow
def test_two_runs_same_store_train_and_evaluate_concurrently(fault_registry, reference_store, tmp_path):
    """P1 runs sft, P2 runs base (and sft, the suite's reference): both build the missing sft
    checkpoint at once, then both evaluate sft (same model) and base/sft (different models)."""
    store = tmp_path / "E"
    faultkit.copy_checkpoints(reference_store, store, only=("base",))
    common = ("--registry", str(fault_registry), "--profile", PROFILE, "--suite", "indomain", "--store", str(store))
    p1 = faultkit.start("run", "--models", "sft", *common, log=tmp_path / "p1.log")
    p2 = faultkit.start("run", "--models", "base", *common, log=tmp_path / "p2.log")
    for p, log in ((p1, "p1.log"), (p2, "p2.log")):
        assert p.wait(timeout=600) == 0, (tmp_path / log).read_text()[-3000:]
    a, b = faultkit.snapshot(reference_store), faultkit.snapshot(store)
    assert b["integrity"] == "ok" and b["duplicates"] == 0
    assert len(b["generations"]) == 2 * TEST_ROWS
    assert b["generations"] == a["generations"] and b["scores"] == a["scores"] and b["cells"] == a["cells"]
    built = [d for d in (store / "checkpoints").iterdir()]
    assert sorted(d.name.split("-")[0] for d in built if not d.name.startswith(".")) == ["base", "sft"]
    assert not [d for d in built if d.name.startswith(".")], "a temporary folder was left behind"
    assert faultkit.count(store / "bench.sqlite", "SELECT COUNT(*) FROM runs WHERE status='ok'") == 2


def _produce(out):
    (out / "weights.bin").write_bytes(b"w" * 1000)
    return {"loss": 1.0}


def test_checkpoint_rename_race_second_builder_succeeds(tmp_path, monkeypatch):
    """Another process publishes the same checkpoint between our existence check and our rename
    (the window a timing test rarely hits): the rename fails with 'directory not empty', and the
    build must still succeed with the other process's complete copy."""
    import core.checkpoints as ck

    store = CheckpointStore(tmp_path)
    real_replace = os.replace
    calls = []

    def racing_replace(src, dst):
        src, dst = str(src), str(dst)
        if dst.endswith("sft-0123456789ab") and not calls:
            calls.append(dst)
            other = CheckpointStore(tmp_path)  # the rival finished first: a complete folder appears
            real_replace(src, src + "-rival")
            os.makedirs(dst)
            for f in os.listdir(src + "-rival"):
                real_replace(os.path.join(src + "-rival", f), os.path.join(dst, f))
            os.rmdir(src + "-rival")
            assert other.exists("sft", "0123456789ab" * 2)
            os.makedirs(src)
            (ck.Path(src) / "partial").write_text("ours")
        return real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", racing_replace)
    final = store.build("sft", "0123456789ab" * 2, _produce, {"recipe": {}})
    assert calls and store.exists("sft", "0123456789ab" * 2)
    assert json.loads((final / "manifest.json").read_text())["name"] == "sft"
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_stale_tmp_of_a_live_process_is_kept(tmp_path):
    """Cleanup removes only dead builders' temporary folders, never a live one's."""
    import socket

    store = CheckpointStore(tmp_path)
    host = socket.gethostname()
    live = tmp_path / "checkpoints" / f".tmp-sft-0123456789ab-{host}-{os.getppid()}"
    dead = tmp_path / "checkpoints" / f".tmp-sft-0123456789ab-{host}-{2 ** 22 + 7}"  # above pid_max
    for d in (live, dead):
        d.mkdir(parents=True)
    store.build("sft", "0123456789ab" * 2, _produce, {})
    assert live.is_dir() and not dead.exists()
