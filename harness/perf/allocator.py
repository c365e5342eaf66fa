"""The tuned heap (``core.device.configure_allocator``) against glibc's defaults: the same
evaluation in two fresh processes, side by side. The setting is process-wide and cannot be
undone, hence the subprocesses."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from core.context import Context

from .measure import Measurement, _timed, failed, last_line
from .parallel import _bench, _seeded_store


def allocator(ctx: Context, registry: str) -> Measurement:
    """``bench run --models sft --suite all --jobs 1`` from a store holding only the base and SFT,
    once with ``GRPO_BENCH_MALLOC=system`` and once tuned; both must exit 0 with the same tables."""
    from core.device import MALLOC_ENV

    name = "evaluation: tuned heap vs glibc's defaults"
    target = ">= 1.05x"
    times, tables = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-malloc-") as tmp:
        for mode in ("system", "tuned"):
            store = _seeded_store(ctx, Path(tmp, mode))
            old = os.environ.get(MALLOC_ENV)
            os.environ[MALLOC_ENV] = mode
            try:
                times[mode], r = _timed(lambda: _bench("run", "--profile", ctx.profile_name, "--models", "sft",
                                                       "--suite", "all", "--jobs", "1", "--store", str(store),
                                                       "--registry", registry))
            finally:
                os.environ.pop(MALLOC_ENV) if old is None else os.environ.__setitem__(MALLOC_ENV, old)
            if r.returncode != 0:
                return failed(name, target, f"{MALLOC_ENV}={mode} exited {r.returncode}: {last_line(r.stderr or r.stdout)}")
            _bench("report", "--profile", ctx.profile_name, "--store", str(store), "--format", "json",
                   "--registry", registry)
            tables[mode] = json.loads((store / "reports" / "report.json").read_text())["tables"]
    if tables["system"] != tables["tuned"]:
        return failed(name, target, "the two runs printed different tables")
    ratio = times["system"] / times["tuned"]
    return Measurement(name, ratio, target, ratio >= 1.05,
                       f"profile {ctx.profile_name}: sft on every suite, one process each: glibc defaults "
                       f"{times['system']:.1f}s vs tuned {times['tuned']:.1f}s (whole commands); tables identical")
