"""The tuned heap (``core.device.configure_allocator``) against glibc's defaults: the same
evaluation in two fresh processes, side by side. The setting is process-wide and cannot be
undone, hence the subprocesses."""
from __future__ import annotations

from core.context import Context

from .measure import Measurement, failed
from .parallel import side_by_side


def allocator(ctx: Context, registry: str) -> Measurement:
    """``bench run --models sft --suite all --jobs 1`` from a store holding only the base and SFT,
    once with ``GRPO_BENCH_MALLOC=system`` and once tuned; both must exit 0 with the same tables."""
    from core.device import MALLOC_ENV

    name = "evaluation: tuned heap vs glibc's defaults"
    target = ">= 1.05x"
    times, why = side_by_side(ctx, registry, {mode: (("--models", "sft", "--suite", "all", "--jobs", "1"),
                                                     {MALLOC_ENV: mode}) for mode in ("system", "tuned")})
    if why:
        return failed(name, target, why)
    ratio = times["system"] / times["tuned"]
    return Measurement(name, ratio, target, ratio >= 1.05,
                       f"profile {ctx.profile_name}: sft on every suite, one process each: glibc defaults "
                       f"{times['system']:.1f}s vs tuned {times['tuned']:.1f}s (whole commands); tables identical")
