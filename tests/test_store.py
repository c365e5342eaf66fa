"""Results store: idempotent inserts, resume bookkeeping, judge cache, concurrent writers."""
from __future__ import annotations

import multiprocessing as mp

from core.results import ResultStore


def _gen(item: str, text: str = "x") -> dict:
    return {"model_fp": "fp", "suite": "indomain", "protocol": "thesis", "item_id": item, "gen_hash": "g",
            "dataset": "gsm8k", "completion": text, "n_tokens": 3}


def test_generations_idempotent_and_resumable(tmp_path):
    s = ResultStore(tmp_path)
    s.add_generations([_gen("a"), _gen("b")])
    s.add_generations([_gen("a", "other"), _gen("c")])  # re-insert never duplicates or overwrites
    assert s.done_items("fp", "indomain", "thesis", "g") == {"a", "b", "c"}
    rows = {r["item_id"]: r for r in s.generations("fp", "indomain", "thesis", "g")}
    assert rows["a"]["completion"] == "x" and len(rows) == 3
    assert s.done_items("fp", "indomain", "thesis", "other-config") == set()


def test_scores_and_judge_cache(tmp_path):
    s = ResultStore(tmp_path)
    s.add_scores([("fp", "indomain", "thesis", "a", "g", 0, "correct", 1.0)])
    s.add_scores([("fp", "indomain", "thesis", "a", "g", 0, "correct", 0.0)])  # re-score replaces
    df = s.frame("SELECT value FROM scores")
    assert df["value"].tolist() == [0.0]
    s.add_judgments([("rubric-v1", "indomain/a", "h", None, "no number here")])
    assert s.judgment("rubric-v1", "indomain/a", "h") == (None, "no number here")
    assert s.judgment("rubric-v1", "indomain/a", "other") is None


def _writer(root, start):
    s = ResultStore(root)
    for i in range(start, start + 200, 10):
        s.add_generations([_gen(f"i{j}") for j in range(i, i + 10)])


def test_concurrent_writers_consistent(tmp_path):
    procs = [mp.Process(target=_writer, args=(tmp_path, k)) for k in (0, 100, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(ResultStore(tmp_path).done_items("fp", "indomain", "thesis", "g")) == 300


def test_wal_mode(tmp_path):
    s = ResultStore(tmp_path)
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _opener(root, n):
    for _ in range(n):
        ResultStore(root).close()


def test_many_processes_open_a_new_store_at_once(tmp_path):
    """Creating the file and switching it to WAL races between processes: all must open it."""
    procs = [mp.Process(target=_opener, args=(tmp_path, 5)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
