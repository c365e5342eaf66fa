"""`bench run --jobs auto` vs `--jobs 1`: the same plan from the same start, side by side.

Parallel work is only worth its worker start-up (~10 s of imports per process) where tasks are
long, so the ratio is measured on whole runs of the perf profile (four GRPO trainings from the
SFT checkpoint, then their in-domain evaluations), and it counts only if both runs exit 0 and
print the same tables — a faster run with other figures is no speed-up.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.context import Context

from .measure import Measurement, _timed, failed, last_line

MODELS = "grpo-1k,grpo-1k-v2,grpo-1k-def,grpo-hybrid"


def _bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_JOBS": "", "BENCH_QUIET": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env,
                          timeout=3600, stdin=subprocess.DEVNULL)


def _seeded_store(ctx: Context, folder: Path) -> Path:
    """A store holding the perf store's built base and SFT checkpoints (their parents), nothing else."""
    from models import fingerprint

    for ckpt in (ctx.ckpts.path(m, fingerprint(ctx.reg, ctx.profile, m)) for m in ("base", "sft")):
        shutil.copytree(ckpt, folder / "checkpoints" / ckpt.name)
    return folder


def run_tables(ctx: Context, registry: str, store: Path, *run_args: str, env: dict | None = None):
    """(seconds, tables of its report, None) for one ``bench run`` subprocess on ``store``, or
    (seconds, None, why) when it exited non-zero: a side that failed is no measurement."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        seconds, r = _timed(lambda: _bench("run", "--profile", ctx.profile_name, *run_args, "--store", str(store),
                                           "--registry", registry))
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    if r.returncode != 0:
        return seconds, None, f"exited {r.returncode}: {last_line(r.stderr or r.stdout)}"
    _bench("report", "--profile", ctx.profile_name, "--store", str(store), "--format", "json", "--registry", registry)
    return seconds, json.loads((store / "reports" / "report.json").read_text())["tables"], None


def side_by_side(ctx: Context, registry: str, sides: dict[str, tuple[tuple[str, ...], dict]]):
    """Each side's ``bench run`` (its arguments and environment) from a store seeded with the base
    and SFT: (seconds per side, None), or (that, why) when a side failed or the tables differ."""
    times, tables = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-sides-") as tmp:
        for i, (label, (args, env)) in enumerate(sides.items()):
            times[label], tables[label], why = run_tables(ctx, registry, _seeded_store(ctx, Path(tmp, str(i))), *args,
                                                          env=env)
            if why:
                return times, f"{label}: {why}"
    if len({json.dumps(t, sort_keys=True) for t in tables.values()}) > 1:
        return times, "the runs printed different tables"
    return times, None


def jobs_vs_serial(ctx: Context, registry: str) -> Measurement:
    from harness.scheduler import default_jobs

    name = "bench run: --jobs auto vs --jobs 1"
    jobs = default_jobs("cpu")
    target = ">= 1.3x" if jobs > 1 else "figure"
    if jobs == 1:
        return Measurement(name, 1.0, "figure", True, "one core here: auto is --jobs 1, nothing to compare")
    times, why = side_by_side(ctx, registry, {f"--jobs {label}": (("--models", MODELS, "--suite", "indomain",
                                                                   "--jobs", label), {}) for label in ("1", "auto")})
    if why:
        return failed(name, target, why)
    ratio = times["--jobs 1"] / times["--jobs auto"]
    return Measurement(name, ratio, target, ratio >= 1.3,
                       f"profile {ctx.profile_name}: train {MODELS} from SFT, evaluate them in-domain: "
                       f"{times['--jobs 1']:.1f}s vs {times['--jobs auto']:.1f}s with {jobs} worker processes; "
                       "tables identical")
