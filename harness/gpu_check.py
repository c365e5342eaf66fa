"""``make gpu-check``: the whole pipeline on whatever device is present, in one offline command.

Runs the smoke profile for every registry variant and every suite (BFCL included) through the
real CLI, prints the device and dtype each stage ran on (from the checkpoint manifests and the
cells' backend records), trains one chain again in a second store to check that the weights
come out byte-identical (``repeat_check``), then ``bench perf --quick``. Exits non-zero when a
command fails, a stage ran somewhere other than the device policy's choice, or a retrained
checkpoint differs. It runs on a CPU too, which is how CI keeps it alive; ``--reduced`` is the
CI-speed form (fewer variants, two items per cell).

    python -m harness.gpu_check [--store DIR] [--reduced] [--device auto|cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the reduced form still covers every trainer (base, sft, grpo with an intrinsic reward, bfcl_grpo)
REDUCED_MODELS = "grpo-1k-def,grpo-intuitor,bfcl-nohybrid"


def _bench(args: list[str], env: dict, show: bool = False) -> tuple[int, float]:
    """Run the real CLI; its report tables are long, so only a failure's tail (or ``show``) prints."""
    t0 = time.time()
    print(f"$ bench {' '.join(args)}", flush=True)
    r = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL)
    lines = r.stdout.splitlines()
    if show or r.returncode:
        print("\n".join(lines[-60:]))
    else:
        print("\n".join(ln for ln in lines if ln.startswith("run: ")))
    if r.returncode:
        print("\n".join(r.stderr.splitlines()[-40:]), file=sys.stderr)
    return r.returncode, time.time() - t0


def stage_rows(store: Path) -> list[dict]:
    """One row per checkpoint: name, trainer, device record, train seconds (from the manifests)."""
    rows = []
    for manifest in sorted((store / "checkpoints").glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        dev = (m.get("train_metrics") or {}).get("device") or {}
        trainer = (m.get("recipe") or {}).get("trainer") or "pretrain"
        rows.append({"stage": m.get("name"), "trainer": trainer, "device": dev.get("device"),
                     "dtype": dev.get("dtype"), "weights": dev.get("weights_dtype"),
                     "where": dev.get("gpu") or (f"{dev['threads']} threads" if "threads" in dev else ""),
                     "seconds": m.get("train_seconds")})
    return rows


def cell_rows(store: Path) -> list[dict]:
    """Per evaluated cell: model, suite/protocol, the backend's device and dtype."""
    db = store / "bench.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        found = con.execute("SELECT model, suite, protocol, manifest FROM cells ORDER BY model, suite, protocol").fetchall()
    rows = []
    for model, suite, protocol, manifest in found:
        backend = (json.loads(manifest or "{}").get("backend") or {})
        rows.append({"model": model, "cell": f"{suite}/{protocol}", "backend": backend.get("backend", "?"),
                     "device": backend.get("device", "?"), "dtype": str(backend.get("dtype", "?")).replace("torch.", "")})
    return rows


def per_model(cells: list[dict]) -> list[dict]:
    """The cells folded per model: how many, and the backend/device/dtype they ran on."""
    out: dict[str, dict] = {}
    for c in cells:
        row = out.setdefault(c["model"], {"model": c["model"], "cells": 0, "suites": set(), "ran on": set()})
        row["cells"] += 1
        row["suites"].add(c["cell"].split("/")[0])
        row["ran on"].add(f"{c['backend']} {c['device']} {c['dtype']}")
    return [{**r, "suites": ",".join(sorted(r["suites"])), "ran on": "; ".join(sorted(r["ran on"]))} for r in out.values()]


def check(store: Path, expected: str) -> list[str]:
    """Problems: a stage without a device record, or one that ran off the expected device."""
    problems = []
    stages = stage_rows(store)
    if not stages:
        problems.append("no checkpoints were built")
    for r in stages:
        if not r["device"]:
            problems.append(f"{r['stage']}: no device in its manifest")
        elif r["device"].split(":")[0] != expected.split(":")[0]:
            problems.append(f"{r['stage']}: trained on {r['device']}, expected {expected}")
    for r in cell_rows(store):
        if r["backend"] == "hf" and r["device"].split(":")[0] != expected.split(":")[0]:
            problems.append(f"{r['model']} {r['cell']}: generated on {r['device']}, expected {expected}")
    return problems


def weight_hashes(store: Path) -> dict[str, str]:
    """checkpoint folder (name + fingerprint) -> one sha256 over its weight files. The others
    name the store's paths (adapter_config.json, the adapter's README) or the clock (manifest,
    tensorboard events)."""
    import hashlib

    out = {}
    for ck in sorted(p for p in (store / "checkpoints").glob("*") if p.is_dir() and not p.name.startswith(".")):
        h = hashlib.sha256()
        for f in sorted(x for x in ck.rglob("*") if x.is_file() and x.suffix == ".safetensors"):
            h.update(f.relative_to(ck).as_posix().encode() + b"\0" + f.read_bytes())
        out[ck.name] = h.hexdigest()
    return out


def repeat_check(store: Path, env: dict, model: str) -> tuple[list[dict], list[str]]:
    """Train ``model`` and its parents again in a second store; every checkpoint must come out
    byte-identical to the first run's (core.device's determinism switches, on by default)."""
    from core.device import deterministic

    second = Path(tempfile.mkdtemp(prefix="gpu-check-repeat-"))
    rc, _ = _bench(["train", model, "--profile", "smoke", "--store", str(second)], env)
    if rc:
        return [], [f"bench train {model} (second store) exited {rc}"]
    first, again = weight_hashes(store), weight_hashes(second)
    rows = [{"checkpoint": name, "same weights": "yes" if first.get(name) == h else
             ("not in the first run" if name not in first else "NO")} for name, h in again.items()]
    differ = [r["checkpoint"] for r in rows if r["same weights"] == "NO"]
    mode = deterministic()
    if differ and mode == "off":
        print(f"  (determinism is off: {len(differ)} checkpoint(s) differ, not counted as a failure)")
        return rows, []
    return rows, [f"{name}: other weights on a second training ({mode} determinism)" for name in differ]


def _print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
        return
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  " + "  ".join(c.ljust(width[c]) for c in cols))
    for r in rows:
        print("  " + "  ".join(str(r[c]).ljust(width[c]) for c in cols))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gpu-check", description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="store folder (default: a fresh temporary one)")
    ap.add_argument("--reduced", action="store_true", help=f"CI speed: models {REDUCED_MODELS}, 2 items per cell")
    ap.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: $GRPO_BENCH_DEVICE or auto)")
    ap.add_argument("--no-perf", action="store_true", help="skip bench perf --quick")
    args = ap.parse_args(argv)

    from core.device import ENV, configure_process, describe, device

    if args.device:
        os.environ[ENV] = args.device
    # the thread policy, set before torch loads, is handed to every command below as well
    configure_process()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "BENCH_QUIET": "1"}
    from core.errors import BenchError

    try:
        expected = device()
    except BenchError as exc:
        print(f"gpu-check: {exc}", file=sys.stderr)
        return 2
    import torch

    info = describe(expected)
    print(f"gpu-check: device {expected} ({info.get('gpu') or str(info.get('threads')) + ' CPU threads'}), "
          f"dtype {info['dtype']}; torch {torch.__version__}, CUDA {torch.version.cuda or '-'}", flush=True)
    store = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="gpu-check-"))
    run = ["run", "--profile", "smoke", "--models", REDUCED_MODELS if args.reduced else "all", "--suite", "all",
           "--store", str(store)]
    if args.reduced:
        run += ["--limit", "2"]
    timings, failed = {}, []
    rc, timings["bench run (smoke, every suite)"] = _bench(run, env)
    if rc:
        failed.append(f"bench run exited {rc}")
    _print_table("stages (checkpoint manifests)", stage_rows(store))
    _print_table("cells (backend of each evaluation, per model)", per_model(cell_rows(store)))
    failed += check(store, expected)
    rows, problems = repeat_check(store, env, REDUCED_MODELS.split(",")[0])
    _print_table("trained again in a second store (the same commit and seeds must give the same bytes)", rows)
    failed += problems
    if not args.no_perf:
        rc, timings["bench perf --quick"] = _bench(["perf", "--quick", "--profile", "smoke", "--store", str(store)], env,
                                                   show=True)
        if rc:
            failed.append(f"bench perf --quick exited {rc}")
    print("\n" + "; ".join(f"{k}: {v:.0f}s" for k, v in timings.items()))
    if failed:
        print("gpu-check FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print(f"gpu-check passed on {expected} (store {store})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
