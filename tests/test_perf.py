"""`bench perf --quick` runs and its figures are sane (targets are judged by the full run, not CI)."""
from __future__ import annotations

import json
import math
import shutil

from benchkit import bench


def test_perf_quick_runs(smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("perf", "--quick", "--json", "--profile", "smoke", "--store", str(store), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    assert len(rows) == 7
    for m in rows.values():
        assert math.isfinite(m["value"]) and m["value"] > 0, m
    cached = next(m for name, m in rows.items() if name.startswith("fully cached"))
    assert cached["detail"].startswith("0 model calls")
