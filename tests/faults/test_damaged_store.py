"""A damaged results store is one line naming the file and the way out; a dead run is reaped."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from core.results import ResultStore
from harness.cli import main


def test_garbage_pages_in_the_results_store_are_one_line(tmp_path, capsys, registry_path):
    store = tmp_path / "s"
    rs = ResultStore(store)
    rs.upsert_cell("sft", "f" * 64, "indomain", "thesis", "g", "smoke", "gsm8k", "d", "rubric", {})
    rs.add_generations([{"model_fp": "f", "suite": "indomain", "protocol": "thesis", "item_id": f"i{k}",
                         "gen_hash": "g", "dataset": "d", "completion": "x" * 2000, "n_tokens": 1} for k in range(200)])
    rs.close()  # the last connection checkpoints the WAL into the file
    db = store / "bench.sqlite"
    raw = bytearray(db.read_bytes())
    assert len(raw) > 16 * 4096
    raw[100:4096] = os.urandom(3996)  # the schema page: every query then reads a malformed database
    db.write_bytes(bytes(raw))
    rc = main(["report", "--registry", str(registry_path), "--store", str(store), "--profile", "smoke"])
    err = capsys.readouterr().err
    assert rc == 1 and "damaged" in err and "bench.sqlite.damaged" in err and err.count("\n") == 1, err


def test_a_run_whose_process_died_is_marked_interrupted(tmp_path):
    store = ResultStore(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    store.start_run("r1", "bench run", "smoke", "v", {})
    manifest = json.loads(store.db.execute("SELECT manifest FROM runs WHERE run_id='r1'").fetchone()[0])
    store.db.execute("UPDATE runs SET manifest=? WHERE run_id='r1'",
                     (json.dumps({**manifest, "owner": {**manifest["owner"], "pid": pid}}),))
    store.start_run("r2", "bench run", "smoke", "v", {})  # the next run reaps the dead one
    status = dict(store.db.execute("SELECT run_id, status FROM runs").fetchall())
    assert status == {"r1": "interrupted", "r2": "running"}
