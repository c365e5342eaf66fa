"""A full disk while results are written: a clear error, what was written stays intact, and the
next run resumes. The limit is a real one: RLIMIT_FSIZE in the child process (writes past it
fail with EFBIG, as SQLite sees a full disk), so SQLite's own error path is exercised."""
from __future__ import annotations

import resource
import sqlite3

import pytest

import faultkit
from faultkit import PROFILE, TEST_ROWS

pytestmark = pytest.mark.slow
LIMIT = 96 * 1024  # bytes per file: the database and its WAL fill up after a few batches


def _limit():
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_disk_full_mid_run_clear_error_then_resume(fault_registry, reference_store, model_fps, tmp_path):
    store = tmp_path / "F"
    faultkit.copy_checkpoints(reference_store, store)
    args = ("run", "--registry", str(fault_registry), "--profile", PROFILE, "--models", "sft",
            "--suite", "indomain", "--store", str(store))
    r = faultkit.bench(*args, preexec_fn=_limit)
    line = faultkit.one_line_error(r, codes=(1,))
    assert "results" in line or "full" in line or "large" in line, line
    con = sqlite3.connect(store / "bench.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = con.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    finally:
        con.close()
    assert 0 < kept < TEST_ROWS, "the limit did not bite mid-run: the test proves nothing"

    r = faultkit.bench(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    sft = model_fps["sft"]
    a, b = faultkit.snapshot(reference_store), faultkit.snapshot(store)
    assert b["duplicates"] == 0 and b["integrity"] == "ok"
    assert b["generations"] == {k: v for k, v in a["generations"].items() if k[0] == sft}
    assert b["scores"] == {k: v for k, v in a["scores"].items() if k[0] == sft}
