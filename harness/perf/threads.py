"""The tiny base's pretraining on every core against one thread: the one step of a run that has
the machine to itself (``core.device.solo_threads``)."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from core.context import Context

from .measure import Measurement


def pretrain_threads(ctx: Context, steps: int) -> Measurement:
    """``steps`` pretraining steps of the profile's tiny base with one thread, then with the
    threads a run gives it, same seed and corpus. The weights must be byte-identical: the thread
    count may change how fast the base trains, never what it learns."""
    from core.device import device, solo_threads
    from trainers.pretrain import build_tiny

    name = "tiny base pretraining: every core vs one thread"
    base = ctx.profile.base
    if base.kind != "tiny" or not device().startswith("cpu"):
        return Measurement(name, 1.0, "informational", True,
                           "not measured: this profile's base is not pretrained here on a CPU")
    spec = base.model_copy(update={"pretrain_steps": steps})
    seconds, hashes = {}, {}
    for threads in dict.fromkeys((1, solo_threads())):  # one row on a one-core machine
        out = Path(tempfile.mkdtemp(prefix="perf-pretrain-"))
        try:
            seconds[threads] = build_tiny(spec, ctx.profile.data, out, threads=threads)["pretrain_seconds"]
            hashes[threads] = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()[:16]
        finally:
            shutil.rmtree(out, ignore_errors=True)
    many = solo_threads()
    same = len(set(hashes.values())) == 1
    ratio = seconds[1] / max(seconds[many], 1e-9)
    detail = (f"{steps} steps: 1 thread {seconds[1]:.1f}s, {many} threads {seconds[many]:.1f}s; "
              f"weights byte-identical: {'yes' if same else 'NO'} ({', '.join(sorted(set(hashes.values())))})")
    if many == 1:
        return Measurement(name, ratio, "figure", True, detail + "; one core: nothing to compare")
    return Measurement(name, ratio, ">= 1.1x and identical", ratio >= 1.1 and same, detail)
