"""What every perf measurement shares: the result record, a timer, and the items measured on."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from core.context import Context


@dataclass
class Measurement:
    name: str
    value: float
    target: str
    passed: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _items(ctx: Context, n: int):
    from benchmarks import get_suite

    return get_suite("indomain").items(ctx.profile, "thesis", n).items
