"""Interruption: ``kill -9`` of ``bench run`` / ``bench train`` at an arbitrary moment.

Guarantee: a killed run loses at most the batch in flight; the next run resumes and ends with
exactly the results of an uninterrupted run (greedy decoding); a half-built checkpoint is never
taken as complete.
"""
from __future__ import annotations

import json
import os
import signal

import pytest

import faultkit
from faultkit import PROFILE, TEST_ROWS

pytestmark = pytest.mark.slow
GEN = "SELECT COUNT(*) FROM generations"


def _run_args(reg, store, models="base,sft"):
    return ("run", "--registry", str(reg), "--profile", PROFILE, "--models", models, "--suite", "indomain",
            "--store", str(store))


def test_kill9_during_generation_then_resume_equals_uninterrupted(fault_registry, reference_store, tmp_path):
    store = tmp_path / "B"
    faultkit.copy_checkpoints(reference_store, store)
    db = store / "bench.sqlite"
    proc = faultkit.start(*_run_args(fault_registry, store), log=tmp_path / "killed.log")
    try:
        # mid-cell: some generations stored, not all (the first cell has TEST_ROWS items)
        landed = faultkit.wait_for(lambda: 0 < faultkit.count(db, GEN) < TEST_ROWS - 8, proc, timeout=300)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert landed, (tmp_path / "killed.log").read_text()[-2000:]
    assert proc.returncode == -signal.SIGKILL
    stored = faultkit.count(db, GEN)
    assert 0 < stored < 2 * TEST_ROWS
    assert faultkit.count(db, "SELECT COUNT(*) FROM runs WHERE status='running'") == 1  # the killed run

    r = faultkit.bench(*_run_args(fault_registry, store))
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = faultkit.snapshot(reference_store), faultkit.snapshot(store)
    assert b["integrity"] == "ok" and b["duplicates"] == 0
    assert len(b["generations"]) == len(a["generations"]) == 2 * TEST_ROWS
    assert b["generations"] == a["generations"]  # same completions, token counts, no errors
    assert b["scores"] == a["scores"]
    assert b["cells"] == a["cells"]


def test_kill9_during_training_never_publishes_a_half_checkpoint(fault_registry, reference_store, tmp_path):
    store = tmp_path / "C"
    faultkit.copy_checkpoints(reference_store, store, only=("base",))
    ckpts = store / "checkpoints"
    sft_name = next(d.name for d in (reference_store / "checkpoints").iterdir() if d.name.startswith("sft-"))
    proc = faultkit.start("train", "sft", "--registry", str(fault_registry), "--profile", PROFILE,
                          "--store", str(store), log=tmp_path / "train.log")
    try:  # killed once the trainer has written something (its work folder, kept for resuming)
        began = faultkit.wait_for(lambda: any(ckpts.glob(f".work-{sft_name}/*")), proc, timeout=300)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert began and proc.returncode == -signal.SIGKILL, (tmp_path / "train.log").read_text()[-2000:]
    assert not (ckpts / sft_name).exists()
    stale = list(ckpts.glob(f".tmp-{sft_name}-*"))
    assert stale, "the killed build left no temporary folder: the kill came too late to test anything"
    # an older writer's leftover: the final name without a manifest, and a checkpoint with a manifest
    # whose adapter file was truncated afterwards - neither may count as built
    half = ckpts / sft_name
    (half / "adapter").mkdir(parents=True)
    (half / "adapter" / "adapter_config.json").write_text("{}")
    models = faultkit.bench("models", "--registry", str(fault_registry), "--profile", PROFILE, "--store", str(store))
    assert models.returncode == 0, models.stderr[-2000:]
    row = next(ln for ln in models.stdout.splitlines() if ln.strip("│ ").startswith("sft "))
    assert "missing" in row and "built" not in row

    r = faultkit.bench("train", "sft", "--registry", str(fault_registry), "--profile", PROFILE, "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((half / "manifest.json").read_text())
    assert manifest["name"] == "sft" and (half / "adapter" / "adapter_model.safetensors").is_file()
    assert not list(ckpts.glob(".tmp-*")), "the dead build's temporary folder was not cleaned up"
    assert not list(ckpts.glob(".work-*")), "the trainer's work folder outlived the published checkpoint"


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_checkpoint_is_rebuilt_not_loaded(fault_registry, reference_store, tmp_path, damage):
    store = tmp_path / "D"
    faultkit.copy_checkpoints(reference_store, store)
    weights = next((store / "checkpoints").glob("sft-*/adapter/adapter_model.safetensors"))
    if damage == "truncate":
        os.truncate(weights, weights.stat().st_size // 2)
    else:
        weights.unlink()
    r = faultkit.bench(*_run_args(fault_registry, store, models="sft"), "--limit", "8")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "train" in r.stderr and "sft" in r.stderr  # rebuilt, not loaded
    assert weights.is_file() and weights.stat().st_size > 1000
