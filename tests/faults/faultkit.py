"""Helpers for the fault-injection tests: a derived registry, the real CLI in a subprocess,
and a snapshot of the results store that two runs can be compared with.

Every subprocess gets OMP_NUM_THREADS=1: the CI machine has two cores, and two torch processes
each starting a thread per core would slow the concurrency tests by an order of magnitude.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import yaml

ROOT = Path(__file__).resolve().parents[2]
REAL_REGISTRY = ROOT / "registry.yaml"
PROFILE = "faults"  # the smoke profile with enough items for several generation batches
TEST_ROWS = 150
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
       "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "BENCH_QUIET": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def real_registry() -> dict:
    return yaml.safe_load(REAL_REGISTRY.read_text())


def write_registry(path: Path, mutate: Optional[Callable[[dict], None]] = None) -> Path:
    """The real registry plus a ``faults`` profile (smoke, 150 test rows, generation batches of 4)."""
    data = real_registry()
    prof = data["profiles"]["smoke"]
    prof = yaml.safe_load(yaml.safe_dump(prof))  # a deep copy
    prof["description"] = "fault-injection tests: smoke with several generation batches"
    prof["data"]["test_rows"] = TEST_ROWS
    prof["generation"]["batch_size"] = 4
    prof["generation"]["max_new_tokens"] = 48  # ~0.1 s per batch: a poller can land mid-run
    data["profiles"][PROFILE] = prof
    if mutate:
        mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def bench(*args: str, timeout: int = 600, env: Optional[dict] = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **ENV, **(env or {})}, stdin=subprocess.DEVNULL, **kw)


def start(*args: str, env: Optional[dict] = None, log: Optional[Path] = None, **kw) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(command(*args), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE,
                            env={**os.environ, **ENV, **(env or {})}, stdin=subprocess.DEVNULL, **kw)


def one_line_error(r: subprocess.CompletedProcess, codes=(2,)) -> str:
    """Assert the CLI failed with one clear line and no traceback; return that line."""
    err = r.stderr.strip()
    assert r.returncode in codes, (r.returncode, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("bench: error:"), err[-2000:]
    assert sum(ln.startswith("bench: error:") for ln in lines) == 1, err[-2000:]
    return lines[-1]


def count(db: Path, sql: str, params: tuple = ()) -> int:
    """A read that tolerates a writer holding the database (the poller must never block it)."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql, params).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def wait_for(pred: Callable[[], bool], proc: subprocess.Popen, timeout: float, every: float = 0.02) -> bool:
    """Poll ``pred`` until true (True), the process exits or the time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc.poll() is not None:
            return pred()
        time.sleep(every)
    return False


def snapshot(store: Path) -> dict:
    """Everything a report is computed from, keyed by the store's natural keys (no timestamps,
    no run ids): generations and scores per (model fp, suite, protocol, item, gen hash, sample)."""
    con = sqlite3.connect(store / "bench.sqlite")
    try:
        gens = {tuple(r[:6]): tuple(r[6:]) for r in con.execute(
            "SELECT model_fp, suite, protocol, item_id, gen_hash, sample, dataset, completion, n_tokens, error "
            "FROM generations")}
        scores = {tuple(r[:7]): r[7] for r in con.execute(
            "SELECT model_fp, suite, protocol, item_id, gen_hash, sample, metric, value FROM scores")}
        cells = sorted(tuple(r) for r in con.execute(
            "SELECT model, model_fp, suite, protocol, gen_hash, profile, dataset, data_fp FROM cells"))
        dup = con.execute("SELECT COUNT(*) - COUNT(DISTINCT model_fp || suite || protocol || item_id || gen_hash "
                          "|| sample) FROM generations").fetchone()[0]
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    return {"generations": gens, "scores": scores, "cells": cells, "duplicates": dup, "integrity": ok}


def copy_checkpoints(src: Path, dest: Path, only: tuple[str, ...] = ()) -> None:
    """Reuse trained checkpoints in another store (the fingerprints do not depend on the store)."""
    (dest / "checkpoints").mkdir(parents=True, exist_ok=True)
    for d in (src / "checkpoints").iterdir():
        if d.is_dir() and not d.name.startswith(".") and (not only or d.name.rsplit("-", 1)[0] in only):
            shutil.copytree(d, dest / "checkpoints" / d.name)
