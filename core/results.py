"""Results store: one SQLite file (WAL) with every generation, score and judge verdict.

Keys make re-runs cheap and safe: a generation is identified by (model fingerprint, suite,
protocol, item, generation-config hash, sample); inserts are idempotent, so a resumed or
concurrent run never duplicates a row.

Concurrent runs on one store also never duplicate *work*: a run claims the items it is about to
generate (a row per item in ``leases``, taken in one ``BEGIN IMMEDIATE`` transaction), other runs
skip them and wait for them to land. A lease ends when its item is stored (same transaction as
the generation row), when its run finishes, when its run's process is gone (``reap_dead_runs``)
or when it expires (no renewal for ``LEASE_TTL_S``: a dead run on another host).

A generation that did not happen (transport error, timeout, a replay entry missing, a crash
inside the harness) is stored with its ``error`` and no completion worth scoring: it is a
*failure*, never a wrong answer. Failures are not "done": the next run asks for them again, and
a successful answer then replaces the failure row (an answer is never replaced).
"""
from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from .errors import RunFailed

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, started REAL, finished REAL, command TEXT, profile TEXT,
  code_version TEXT, status TEXT, manifest TEXT);
CREATE TABLE IF NOT EXISTS cells (
  model TEXT, model_fp TEXT, suite TEXT, protocol TEXT, gen_hash TEXT, profile TEXT,
  dataset TEXT, data_fp TEXT, judge TEXT, manifest TEXT, updated REAL,
  PRIMARY KEY (model, model_fp, suite, protocol, gen_hash, dataset));
CREATE TABLE IF NOT EXISTS generations (
  model_fp TEXT, suite TEXT, protocol TEXT, item_id TEXT, gen_hash TEXT, sample INTEGER,
  dataset TEXT, completion TEXT, n_tokens INTEGER, error TEXT, run_id TEXT, created REAL,
  PRIMARY KEY (model_fp, suite, protocol, item_id, gen_hash, sample));
CREATE TABLE IF NOT EXISTS scores (
  model_fp TEXT, suite TEXT, protocol TEXT, item_id TEXT, gen_hash TEXT, sample INTEGER,
  metric TEXT, value REAL,
  PRIMARY KEY (model_fp, suite, protocol, item_id, gen_hash, sample, metric));
CREATE TABLE IF NOT EXISTS judgments (
  judge_fp TEXT, item_key TEXT, response_hash TEXT, score REAL, verdict TEXT, created REAL,
  PRIMARY KEY (judge_fp, item_key, response_hash));
CREATE TABLE IF NOT EXISTS leases (
  model_fp TEXT, suite TEXT, protocol TEXT, gen_hash TEXT, item_id TEXT, run_id TEXT, expires REAL,
  PRIMARY KEY (model_fp, suite, protocol, gen_hash, item_id)) WITHOUT ROWID;
"""

# A lease is renewed by its run's keeper thread every LEASE_TTL_S / 4 seconds, so it expires only
# when its run stopped renewing it: a run of another host that died (runs of this host are
# recognised as dead at once by their pid). Two minutes keep a dead foreign run's items waiting
# briefly, and are far beyond any pause of a live keeper.
LEASE_TTL_S = 120.0
# A run claims this many generation batches at a time: enough to keep the batches full, few
# enough that a second run starting a moment later still finds most of a cell to share.
CLAIM_BATCHES = 4
LEASE_POLL_S = 0.5  # how often a run waiting for another run's items looks again


@dataclass
class Claim:
    """One claim's answer: the items now leased to the caller, the items settled since ``since``
    (an answer, or a failure recorded by any run), and the items a live run holds."""
    claimed: list[str]
    settled: set[str]
    waiting: set[str]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value):
    """Text SQLite can store: lone surrogates (a JSON "\\ud800" escape from a replay file or an
    endpoint) cannot be encoded as UTF-8 and become U+FFFD instead of failing the whole batch."""
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


class ResultStore:
    def __init__(self, root: Path):
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.path = root / "bench.sqlite"
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout=60000")
            self._setup()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, unreadable folder: not damage
                raise RunFailed(f"cannot open the results store in {root}: {exc}") from None
            raise RunFailed(damaged(root / "bench.sqlite", exc)) from None
        except OSError as exc:
            raise RunFailed(f"cannot open the results store in {root}: {exc}") from None

    def _setup(self, attempts: int = 60) -> None:
        """WAL mode and the schema. Switching the journal mode can answer "database is locked" at
        once (SQLite's busy handler does not cover it) while another process creates the file:
        retried with a short backoff, so two `bench` processes starting together both open it."""
        for attempt in range(attempts):
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                self.db.executescript(SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            with self.db:  # one transaction: a batch lands whole or not at all
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise RunFailed(f"cannot write results to {self.path}: {exc}") from None

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, run_id: str, command: str, profile: str, code_version: str, manifest: dict) -> None:
        self.reap_dead_runs()
        owner = {"host": socket.gethostname(), "pid": os.getpid()}
        self._write("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?)",
                    [(run_id, time.time(), None, command, profile, code_version, "running",
                      json.dumps({**manifest, "owner": owner}))])

    def reap_dead_runs(self) -> int:
        """Mark ``running`` rows whose process on this host is gone as ``interrupted``.

        A run killed, or one whose disk filled up before it could write its final status, would
        otherwise read ``running`` forever; its stored generations are kept and the next run
        resumes them. Runs of other hosts (a shared store) are left to their own host."""
        host, dead = socket.gethostname(), []
        for run_id, manifest in self.db.execute("SELECT run_id, manifest FROM runs WHERE status='running'"):
            try:
                owner = json.loads(manifest or "{}").get("owner") or {}
            except (ValueError, AttributeError):
                continue
            if owner.get("host") == host and isinstance(owner.get("pid"), int) and not _alive(owner["pid"]):
                dead.append(run_id)
        self._write("UPDATE runs SET status='interrupted' WHERE run_id=? AND status='running'", [(r,) for r in dead])
        return len(dead)

    def finish_run(self, run_id: str, status: str) -> None:
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("UPDATE runs SET finished=?, status=? WHERE run_id=?", (time.time(), status, run_id))
                self.db.execute("DELETE FROM leases WHERE run_id=?", (run_id,))
        except sqlite3.Error as exc:
            raise RunFailed(f"cannot write results to {self.path}: {exc}") from None

    # -- leases ---------------------------------------------------------------------------
    def claim(self, run_id: str, cell: tuple, item_ids: list[str], limit: int, since: float,
              ttl: float = LEASE_TTL_S) -> Claim:
        """Lease up to ``limit`` of ``item_ids`` (in their order) to ``run_id``, atomically.

        ``cell`` is (model_fp, suite, protocol, gen_hash). An item is settled (never claimed)
        when it has a stored answer, or a failure stored at or after ``since`` (by this run or
        another: that outcome stands until the next run retries it). An item leased to another
        run is taken over when that run is no longer ``running`` (finished, or marked
        interrupted by ``reap_dead_runs``) or its lease expired; a lease of a run missing from
        ``runs`` lives until it expires. Leases this run already holds are renewed."""
        self.reap_dead_runs()
        fp, suite, protocol, ghash = cell
        now = time.time()
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                where = "model_fp=? AND suite=? AND protocol=? AND gen_hash=?"
                settled = {r[0] for r in self.db.execute(
                    f"SELECT item_id FROM generations WHERE {where} AND (error IS NULL OR created >= ?)",
                    (*cell, since))} & set(item_ids)
                status = dict(self.db.execute("SELECT run_id, status FROM runs WHERE run_id IN "
                                              "(SELECT DISTINCT run_id FROM leases WHERE " + where + ")", cell))
                held = {}
                for item, owner, expires in self.db.execute(
                        f"SELECT item_id, run_id, expires FROM leases WHERE {where}", cell):
                    live = owner != run_id and (expires or 0) > now and status.get(owner, "running") == "running"
                    if live:
                        held[item] = owner
                free = [i for i in item_ids if i not in settled and i not in held]
                claimed = free[:max(0, limit)]
                self.db.executemany("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?,?)",
                                    [(fp, suite, protocol, ghash, i, run_id, now + ttl) for i in claimed])
        except sqlite3.Error as exc:
            raise RunFailed(f"cannot write results to {self.path}: {exc}") from None
        return Claim(claimed=claimed, settled=settled, waiting={i for i in item_ids if i in held})

    def release(self, run_id: str, cell: tuple) -> None:
        """Drop this run's leases in a cell (items it claimed but did not store: the next claim
        of any run takes them)."""
        self._write("DELETE FROM leases WHERE run_id=? AND model_fp=? AND suite=? AND protocol=? AND gen_hash=?",
                    [(run_id, *cell)])

    def keep_leases(self, run_id: str, ttl: float = LEASE_TTL_S) -> "LeaseKeeper":
        """A context manager renewing ``run_id``'s leases every ``ttl / 4`` s while the run
        generates (one long batch must not let them expire)."""
        return LeaseKeeper(self.path, run_id, ttl)

    def upsert_cell(self, model: str, model_fp: str, suite: str, protocol: str, gen_hash: str, profile: str,
                    dataset: str, data_fp: str, judge: str, manifest: dict) -> None:
        self._write("INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [(model, model_fp, suite, protocol, gen_hash, profile, dataset, data_fp, judge,
                      json.dumps(manifest, default=str), time.time())])

    def cell_manifest(self, model_fp: str, suite: str, protocol: str, gen_hash: str) -> Optional[dict]:
        row = self.db.execute("SELECT manifest FROM cells WHERE model_fp=? AND suite=? AND protocol=? AND gen_hash=? "
                              "ORDER BY updated DESC LIMIT 1", (model_fp, suite, protocol, gen_hash)).fetchone()
        return json.loads(row[0]) if row else None

    # -- generations and scores ------------------------------------------------------------
    def done_items(self, model_fp: str, suite: str, protocol: str, gen_hash: str) -> set[str]:
        """Items with a stored answer; failed ones are not done (the next run retries them)."""
        cur = self.db.execute("SELECT item_id FROM generations WHERE model_fp=? AND suite=? AND protocol=? "
                              "AND gen_hash=? AND error IS NULL", (model_fp, suite, protocol, gen_hash))
        return {r[0] for r in cur}

    def failures(self, model_fp: str, suite: str, protocol: str, gen_hash: str) -> dict[str, str]:
        """item_id -> the reason its generation failed, for the cell's failed items."""
        cur = self.db.execute("SELECT item_id, error FROM generations WHERE model_fp=? AND suite=? AND protocol=? "
                              "AND gen_hash=? AND error IS NOT NULL ORDER BY item_id",
                              (model_fp, suite, protocol, gen_hash))
        return {r[0]: r[1] for r in cur}

    def drop_scores(self, model_fp: str, suite: str, protocol: str, gen_hash: str, item_ids: Iterable[str]) -> None:
        """Forget the scores of items about to be generated again (stores written before failures
        were kept apart scored a failure as correct = 0: that row must not outlive the retry)."""
        self._write("DELETE FROM scores WHERE model_fp=? AND suite=? AND protocol=? AND gen_hash=? AND item_id=?",
                    [(model_fp, suite, protocol, gen_hash, i) for i in item_ids])

    def add_generations(self, rows: list[dict], scores: Iterable[tuple] = ()) -> None:
        """Insert generations; a row for an item whose stored generation failed replaces it (a
        retry), a row for an item with a stored answer is ignored (idempotent, first answer wins).
        The writer's leases on these items end in the same transaction: no run ever sees an item
        neither leased nor stored while it is being written. ``scores`` (as for ``add_scores``)
        land in the same transaction: a protocol that scores as it generates never stores an
        answer without its scores."""
        scores = list(scores)
        if not rows and not scores:
            return
        now = time.time()
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?)", scores)
                self.db.executemany(
                    "INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (model_fp, suite, protocol, item_id, gen_hash, sample) DO UPDATE SET "
                    "dataset=excluded.dataset, completion=excluded.completion, n_tokens=excluded.n_tokens, "
                    "error=excluded.error, run_id=excluded.run_id, created=excluded.created "
                    "WHERE generations.error IS NOT NULL",
                    [(r["model_fp"], r["suite"], r["protocol"], r["item_id"], r["gen_hash"], r.get("sample", 0),
                      r["dataset"], _text(r["completion"]), r.get("n_tokens"), _text(r.get("error")),
                      r.get("run_id"), now) for r in rows])
                self.db.executemany(
                    "DELETE FROM leases WHERE model_fp=? AND suite=? AND protocol=? AND gen_hash=? AND item_id=? "
                    "AND run_id=?", [(r["model_fp"], r["suite"], r["protocol"], r["gen_hash"], r["item_id"],
                                      r.get("run_id")) for r in rows])
        except sqlite3.Error as exc:
            raise RunFailed(f"cannot write results to {self.path}: {exc}") from None

    def generations(self, model_fp: str, suite: str, protocol: str, gen_hash: str) -> list[dict]:
        cur = self.db.execute("SELECT item_id, sample, dataset, completion, n_tokens, error FROM generations "
                              "WHERE model_fp=? AND suite=? AND protocol=? AND gen_hash=?",
                              (model_fp, suite, protocol, gen_hash))
        keys = ("item_id", "sample", "dataset", "completion", "n_tokens", "error")
        return [dict(zip(keys, r)) for r in cur]

    def add_scores(self, rows: list[tuple]) -> None:
        """rows: (model_fp, suite, protocol, item_id, gen_hash, sample, metric, value)."""
        self._write("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?)", rows)

    def scored_items(self, model_fp: str, suite: str, protocol: str, gen_hash: str, metric: str) -> set[str]:
        cur = self.db.execute("SELECT item_id FROM scores WHERE model_fp=? AND suite=? AND protocol=? AND "
                              "gen_hash=? AND metric=?", (model_fp, suite, protocol, gen_hash, metric))
        return {r[0] for r in cur}

    def flagged_items(self, model_fp: str, suite: str, protocol: str, gen_hash: str, metric: str) -> set[str]:
        """Items whose ``metric`` is set (> 0), e.g. judge_error = 1."""
        cur = self.db.execute("SELECT item_id FROM scores WHERE model_fp=? AND suite=? AND protocol=? AND "
                              "gen_hash=? AND metric=? AND value > 0", (model_fp, suite, protocol, gen_hash, metric))
        return {r[0] for r in cur}

    # -- judge cache -----------------------------------------------------------------------
    def judgment(self, judge_fp: str, item_key: str, response_hash: str) -> Optional[tuple]:
        return self.db.execute("SELECT score, verdict FROM judgments WHERE judge_fp=? AND item_key=? AND "
                               "response_hash=?", (judge_fp, item_key, response_hash)).fetchone()

    def add_judgments(self, rows: list[tuple]) -> None:
        """rows: (judge_fp, item_key, response_hash, score or None, verdict)."""
        now = time.time()
        self._write("INSERT OR REPLACE INTO judgments VALUES (?,?,?,?,?,?)", [(*r[:4], _text(r[4]), now) for r in rows])

    # -- reading for reports ------------------------------------------------------------------
    def frame(self, sql: str, params: tuple = ()):
        import pandas as pd

        return pd.read_sql_query(sql, self.db, params=params)

    def close(self) -> None:
        self.db.close()


class LeaseKeeper:
    """Renews one run's leases from a thread with its own connection (SQLite connections are not
    shared across threads). A renewal that fails (a busy or full disk) is skipped: the lease then
    expires, and the worst outcome is another run generating the same items again, which the
    idempotent inserts absorb."""

    def __init__(self, path: Path, run_id: str, ttl: float):
        self.path, self.run_id, self.ttl = path, run_id, ttl
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "LeaseKeeper":
        self._thread = threading.Thread(target=self._loop, name=f"leases-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                con = sqlite3.connect(self.path, timeout=5, isolation_level=None)
                try:
                    con.execute("UPDATE leases SET expires=? WHERE run_id=?", (time.time() + self.ttl, self.run_id))
                finally:
                    con.close()
            except sqlite3.Error:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def damaged(path: Path, exc: Exception) -> str:
    """The one line for a results store SQLite cannot read, with the way out."""
    return (f"the results store {path} is damaged ({exc}); move it aside (mv {path} {path}.damaged) and "
            "re-run: checkpoints are kept, results are evaluated again")
