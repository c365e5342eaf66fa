"""Concurrent runs claim items (issue #16): a lease row per item in SQLite, so two ``bench run``
processes on one store split a cell instead of each generating all of it.

Store-level cases use the real ``ResultStore`` on one SQLite file opened by two connections (as
two processes would); process-level cases start the real CLI twice on one store, and ``kill -9``
one of them. Every case ends with each item stored exactly once and no lease left behind.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import faultkit
from faultkit import PROFILE, TEST_ROWS
from core.results import ResultStore

CELL = ("f" * 64, "indomain", "thesis", "0123456789abcdef")
IDS = [f"item-{i:03d}" for i in range(20)]


def _row(item, run_id, error=None):
    fp, suite, protocol, ghash = CELL
    return {"model_fp": fp, "suite": suite, "protocol": protocol, "item_id": item, "gen_hash": ghash,
            "dataset": "d", "completion": "" if error else f"answer {item}", "n_tokens": 3, "error": error,
            "run_id": run_id}


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _stores(tmp_path):
    a, b = ResultStore(tmp_path), ResultStore(tmp_path)
    a.start_run("A", "bench run", "smoke", "v", {})
    b.start_run("B", "bench run", "smoke", "v", {})
    return a, b


def _leases(store) -> dict:
    return dict(store.db.execute("SELECT item_id, run_id FROM leases"))


# -- store-level cases: each returns nothing and asserts its guarantee ---------------------------
def case_split(tmp_path):
    """Two runs claiming the same cell get disjoint items; the second waits for the first's."""
    a, b = _stores(tmp_path)
    t = time.time()
    ca = a.claim("A", CELL, IDS, 8, t)
    cb = b.claim("B", CELL, IDS, 8, t)
    assert ca.claimed == IDS[:8] and cb.claimed == IDS[8:16]
    assert cb.waiting == set(IDS[:8]) and not cb.settled


def case_stored_items_release(tmp_path):
    """Storing an item ends its lease (same transaction) and settles it for everyone."""
    a, b = _stores(tmp_path)
    t = time.time()
    a.claim("A", CELL, IDS, 4, t)
    a.add_generations([_row(i, "A") for i in IDS[:4]])
    assert _leases(a) == {}
    cb = b.claim("B", CELL, IDS[:6], 10, t)
    assert cb.settled == set(IDS[:4]) and cb.claimed == IDS[4:6]


def case_failure_settles_this_round(tmp_path):
    """A failure stored during this round (by any run) settles the item: no run loops on it; a
    failure from before the round is retried."""
    a, b = _stores(tmp_path)
    a.add_generations([_row(IDS[0], "old", error="earlier failure")])
    t = time.time()
    a.claim("A", CELL, IDS[1:3], 2, t)
    a.add_generations([_row(IDS[1], "A", error="RuntimeError: boom")])
    cb = b.claim("B", CELL, IDS[:3], 10, t)
    assert cb.settled == {IDS[1]} and cb.claimed == [IDS[0]] and cb.waiting == {IDS[2]}


def case_dead_run_taken_over(tmp_path):
    """A lease of a run whose process is gone (this host) is taken over at once: the run is
    marked interrupted by the claim."""
    a, b = _stores(tmp_path)
    a.db.execute("UPDATE runs SET manifest=json_set(manifest, '$.owner.pid', ?) WHERE run_id='A'", (_dead_pid(),))
    t = time.time()
    a.claim("A", CELL, IDS, 5, t)
    cb = b.claim("B", CELL, IDS[:5], 10, t)
    assert cb.claimed == IDS[:5] and not cb.waiting
    assert a.db.execute("SELECT status FROM runs WHERE run_id='A'").fetchone()[0] == "interrupted"
    assert set(_leases(a).values()) == {"B"}


def case_expired_lease_taken_over(tmp_path):
    """A lease not renewed within its time to live (a dead run on another host) is taken over."""
    a, b = _stores(tmp_path)
    t = time.time()
    a.claim("A", CELL, IDS, 5, t, ttl=0.05)
    time.sleep(0.1)
    assert b.claim("B", CELL, IDS[:5], 10, t).claimed == IDS[:5]


def case_finished_run_taken_over(tmp_path):
    """finish_run drops the run's leases; a lease of a finished run is never waited for."""
    a, b = _stores(tmp_path)
    t = time.time()
    a.claim("A", CELL, IDS, 5, t)
    a.finish_run("A", "ok")
    assert _leases(b) == {}
    a.db.execute("INSERT INTO leases VALUES (?,?,?,?,?,?,?)", (*CELL, IDS[0], "A", time.time() + 60))
    assert b.claim("B", CELL, IDS[:1], 1, t).claimed == IDS[:1]


def case_unknown_run_lives_until_expiry(tmp_path):
    """A lease of a run the store does not know (a caller outside `bench run`) is respected until
    it expires, never taken over early."""
    a, b = _stores(tmp_path)
    t = time.time()
    a.claim("X", CELL, IDS, 3, t, ttl=60)
    cb = b.claim("B", CELL, IDS[:3], 10, t)
    assert not cb.claimed and cb.waiting == set(IDS[:3])


def case_keeper_renews(tmp_path):
    """The keeper thread renews a run's leases while it generates, and stops with its block."""
    a, _ = _stores(tmp_path)
    a.claim("A", CELL, IDS, 3, time.time(), ttl=0.4)
    first = a.db.execute("SELECT MIN(expires) FROM leases").fetchone()[0]
    with a.keep_leases("A", ttl=0.4):
        time.sleep(0.5)
    renewed = a.db.execute("SELECT MIN(expires) FROM leases").fetchone()[0]
    assert renewed > first


def case_release(tmp_path):
    """release drops only the caller's leases in the cell."""
    a, b = _stores(tmp_path)
    t = time.time()
    a.claim("A", CELL, IDS, 3, t)
    b.claim("B", CELL, IDS, 3, t)
    a.release("A", CELL)
    assert set(_leases(a).values()) == {"B"}


STORE_CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("case", sorted(STORE_CASES))
def test_store_leases(case, tmp_path):
    STORE_CASES[case](tmp_path)


# -- process-level cases: the real CLI -----------------------------------------------------------
NEW = re.compile(r"run: \d+ cells, (\d+) new generations")


def _args(reg, store):
    return ("run", "--registry", str(reg), "--profile", PROFILE, "--models", "base,sft", "--suite", "indomain",
            "--store", str(store))


def _new(log) -> int:
    found = NEW.findall(log.read_text())
    assert found, log.read_text()[-3000:]
    return int(found[-1])


def _same_as_reference(reference_store, store):
    a, b = faultkit.snapshot(reference_store), faultkit.snapshot(store)
    assert b["integrity"] == "ok" and b["duplicates"] == 0
    assert len(b["generations"]) == 2 * TEST_ROWS
    assert b["generations"] == a["generations"] and b["scores"] == a["scores"] and b["cells"] == a["cells"]
    assert faultkit.count(store / "bench.sqlite", "SELECT COUNT(*) FROM leases") == 0


def two_runs_together(fault_registry, reference_store, tmp_path):
    """Two `bench run` on one store started together: the generations they report add up to one
    run's (2 x 150; before leases each generated nearly everything), tables equal one run's."""
    store = tmp_path / "L"
    faultkit.copy_checkpoints(reference_store, store)
    logs = [tmp_path / "p1.log", tmp_path / "p2.log"]
    procs = [faultkit.start(*_args(fault_registry, store), log=log) for log in logs]
    for p, log in zip(procs, logs):
        assert p.wait(timeout=600) == 0, log.read_text()[-3000:]
    counts = [_new(log) for log in logs]
    assert sum(counts) == 2 * TEST_ROWS, counts  # a single run generates 2 x 150; before leases ~2x that
    _same_as_reference(reference_store, store)


def _rows_of_status(db, status) -> int:
    return faultkit.count(db, "SELECT COUNT(*) FROM generations WHERE run_id IN "
                              "(SELECT run_id FROM runs WHERE status=?)", (status,))


def kill9_then_next_run(fault_registry, reference_store, tmp_path):
    """A run killed (SIGKILL) while it holds leases: the next run takes them over at once (the
    dead pid), generates exactly what the killed run had not stored, and ends complete."""
    store = tmp_path / "K"
    faultkit.copy_checkpoints(reference_store, store)
    db = store / "bench.sqlite"
    proc = faultkit.start(*_args(fault_registry, store), log=tmp_path / "killed.log")
    try:
        landed = faultkit.wait_for(lambda: faultkit.count(db, "SELECT COUNT(*) FROM leases") > 0
                                   and faultkit.count(db, "SELECT COUNT(*) FROM generations") > 8, proc, timeout=300)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert landed, (tmp_path / "killed.log").read_text()[-2000:]
    assert faultkit.count(db, "SELECT COUNT(*) FROM leases") > 0  # the dead run's leases are still there
    by_killed = faultkit.count(db, "SELECT COUNT(*) FROM generations")
    t0 = time.monotonic()
    r = faultkit.bench(*_args(fault_registry, store))
    assert r.returncode == 0, r.stderr[-3000:]
    assert time.monotonic() - t0 < 100  # taken over at once, not after the lease's time to live
    assert int(NEW.findall(r.stdout + r.stderr)[-1]) == 2 * TEST_ROWS - by_killed
    assert _rows_of_status(db, "interrupted") == by_killed
    _same_as_reference(reference_store, store)


def kill9_while_another_runs(fault_registry, reference_store, tmp_path):
    """Of two runs on one store, the first is killed mid-cell: the second takes over its items
    and ends complete, having generated exactly what the killed one had not stored."""
    store = tmp_path / "W"
    faultkit.copy_checkpoints(reference_store, store)
    db = store / "bench.sqlite"
    first = faultkit.start(*_args(fault_registry, store), log=tmp_path / "first.log")
    second = faultkit.start(*_args(fault_registry, store), log=tmp_path / "second.log")
    try:
        # both hold leases at once: the first dies with items claimed and not stored
        both = faultkit.wait_for(lambda: faultkit.count(db, "SELECT COUNT(DISTINCT run_id) FROM leases") > 1,
                                 first, timeout=300, every=0.01)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert both, (tmp_path / "first.log").read_text()[-2000:]
    assert second.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-3000:]
    by_killed = _rows_of_status(db, "interrupted")
    assert 0 <= by_killed < 2 * TEST_ROWS
    assert _new(tmp_path / "second.log") == 2 * TEST_ROWS - by_killed
    assert faultkit.count(db, "SELECT COUNT(*) FROM runs WHERE status='interrupted'") == 1
    _same_as_reference(reference_store, store)


PROCESS_CASES = {"two-runs-together": two_runs_together, "kill9-then-next-run": kill9_then_next_run,
                 "kill9-while-another-runs": kill9_while_another_runs}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PROCESS_CASES))
def test_concurrent_runs_claim_items(case, fault_registry, reference_store, tmp_path):
    PROCESS_CASES[case](fault_registry, reference_store, tmp_path)


ALL_CASES = {**{f"store:{k}": v for k, v in STORE_CASES.items()}, **{f"process:{k}": v for k, v in PROCESS_CASES.items()}}
