"""`bench run --jobs N`: the same figures and checkpoints as one process; order and failures of
the task graph (harness.scheduler.run_dag) with real worker processes."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from benchkit import ROOT, bench
from core.errors import BadInput
from harness.scheduler import Task, run_dag, threads_per_job


def _tables(store: Path) -> dict:
    r = bench("report", "--profile", "smoke", "--store", str(store), "--format", "json",
              "--registry", str(ROOT / "registry.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads((store / "reports" / "report.json").read_text())["tables"]


def _adapters(store: Path) -> dict[str, str]:
    out = {}
    for f in sorted((store / "checkpoints").glob("*/adapter/*.safetensors")):
        out[f.parent.parent.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.mark.slow
def test_two_jobs_give_the_serial_figures_and_checkpoints(smoke_store, tmp_path):
    store = tmp_path / "parallel"
    r = bench("run", "--profile", "smoke", "--models", "sft,grpo-1k-def", "--suite", "indomain", "--jobs", "2",
              "--store", str(store), "--registry", str(ROOT / "registry.yaml"), env={"BENCH_JOBS": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "jobs 2 worker processes" in r.stderr + r.stdout
    serial = _adapters(smoke_store)
    assert set(_adapters(store)) <= set(serial) and len(_adapters(store)) == 2
    assert all(serial[k] == v for k, v in _adapters(store).items())
    assert _tables(store) == _tables(smoke_store)


def test_bad_jobs_value_is_one_line(tmp_path):
    r = bench("run", "--profile", "smoke", "--jobs", "many", "--store", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "bench: error: --jobs must be a whole number >= 1 or 'auto' (got 'many')"


# -- the task graph, with a cheap task function (module level: workers import it by name) ---------------
def stamp(folder: str, name: str, seconds: float, fail: bool = False) -> str:
    """Record start and end times of a task in FOLDER/NAME.json; raise when ``fail``."""
    start = time.time()
    time.sleep(seconds)
    if fail:
        raise BadInput(f"task {name} failed on purpose")
    Path(folder, f"{name}.json").write_text(json.dumps({"start": start, "end": time.time(), "pid": os.getpid()}))
    return name


def _times(folder: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def test_dependent_tasks_wait_and_independent_ones_overlap(tmp_path):
    tasks = [Task("a", (str(tmp_path), "a", 0.5)), Task("b", (str(tmp_path), "b", 1.5), after="a"),
             Task("c", (str(tmp_path), "c", 1.5), after="a"), Task("d", (str(tmp_path), "d", 0.1), after="b")]
    out = run_dag(tasks, stamp, jobs=2)
    assert out == {"a": "a", "b": "b", "c": "c", "d": "d"}
    t = _times(tmp_path)
    assert t["b"]["start"] >= t["a"]["end"] and t["c"]["start"] >= t["a"]["end"] and t["d"]["start"] >= t["b"]["end"]
    assert t["b"]["start"] < t["c"]["end"] and t["c"]["start"] < t["b"]["end"]  # b and c ran side by side
    assert t["b"]["pid"] != t["c"]["pid"]


def test_a_failed_task_stops_its_dependents_and_raises_its_error(tmp_path):
    tasks = [Task("a", (str(tmp_path), "a", 0.1, True)), Task("b", (str(tmp_path), "b", 0.1), after="a"),
             Task("c", (str(tmp_path), "c", 0.3))]
    with pytest.raises(BadInput, match="task a failed on purpose"):
        run_dag(tasks, stamp, jobs=2)
    assert "b" not in _times(tmp_path)  # never started: its parent failed


def test_threads_per_job_share_the_serial_count(monkeypatch):
    monkeypatch.setenv("GRPO_BENCH_THREADS", "3")
    assert threads_per_job(2) == 3  # pinned: every worker gets the pinned count
    monkeypatch.delenv("GRPO_BENCH_THREADS")
    assert threads_per_job(64) == 1
