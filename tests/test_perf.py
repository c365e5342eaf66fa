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
    assert len(rows) == 13  # every measurement but vllm and jobs (full run only), and the device probes
    for m in rows.values():  # every peer ran: a FAILED line has no value and says why
        assert m["status"] != "FAILED" and m["error"] is None, m
        assert math.isfinite(m["value"]) and m["value"] > 0, m
    batched = rows["generation: batched vs per-item loop"]["detail"]
    assert "new tok/s" in batched and "% of the" in batched  # measured against the device's bound
    cached = next(m for name, m in rows.items() if name.startswith("fully cached"))
    assert cached["detail"].startswith("0 model calls")
    rollouts = rows["GRPO rollouts: fast loop vs generate"]["detail"]  # the GRPO trainers' sampler
    assert "tensors identical: yes" in rollouts and "the trainers' loop here: fast" in rollouts
    assert "determinism strict" in rows["device probes (same process)"]["detail"]  # the switches it ran under
    assert "weights byte-identical: yes" in rows["tiny base pretraining: every core vs one thread"]["detail"]
    bound = rows["generation: best hf path vs the decode bound"]  # the 25% target is a GPU's; a figure here
    assert bound["target"] == "figure" and "% of the bound" in bound["detail"]


def test_only_runs_the_named_measurements_and_a_measurement_that_did_not_run_fails_the_command(smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("perf", "--quick", "--only", "lora,turbo", "--profile", "smoke", "--store", str(store))
    assert r.returncode == 2 and "unknown measurement turbo" in r.stderr and "Traceback" not in r.stderr
    # the vLLM peer cannot start (no such interpreter): its FAILED line, and exit 1 - never a silent 0
    r = bench("perf", "--quick", "--json", "--only", "vllm,cached", "--profile", "smoke", "--store", str(store),
              env={"GRPO_BENCH_VLLM_PYTHON": str(tmp_path / "no-python")}, timeout=600)
    assert r.returncode == 1, (r.stdout[-2000:], r.stderr[-2000:])
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    assert set(rows) == {"generation: vLLM server vs hf backend", "fully cached bench run (wall s)",
                         "device probes (same process)"}
    assert rows["generation: vLLM server vs hf backend"]["status"] == "FAILED"
    cached = rows["fully cached bench run (wall s)"]  # ran; its 3 s target is judged by the full run, not here
    assert cached["status"] != "FAILED" and cached["detail"].startswith("0 model calls"), cached
    assert "1 measurement(s) did not run: generation: vLLM server vs hf backend" in r.stderr


def test_adapters_record_a_base_path_that_resolves_anywhere(tmp_path):
    """lm_eval (a peer in `bench perf`) loads an adapter's base from adapter_config.json in its own
    working folder: the store-relative path recorded there (`--store runs`) made it exit 1."""
    from pathlib import Path

    from benchkit import ROOT

    r = bench("train", "sft", "--profile", "smoke", "--store", "rel-store", "--registry", str(ROOT / "registry.yaml"),
              cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = next((tmp_path / "rel-store" / "checkpoints").glob("sft-*/adapter/adapter_config.json"))
    base = Path(json.loads(cfg.read_text())["base_model_name_or_path"])
    assert base.is_absolute() and (base / "config.json").is_file(), base


def test_a_failed_peer_is_a_failed_line_without_ratio():
    from rich.console import Console

    from harness.perf.measure import guarded
    from harness.perf.report import table

    def peer():
        raise RuntimeError("lm_eval exited 1: OSError: base not found")

    m = guarded("whole command: bench run vs lm_eval", ">= 2x", peer)
    assert m.value is None and m.status == "FAILED" and "OSError" in m.error
    console = Console(width=200, record=True)
    console.print(table([m], "t"))
    line = next(ln for ln in console.export_text().splitlines() if "bench run vs lm_eval" in ln)
    assert "FAILED" in line and "OSError" in line and "—" in line
