"""What every perf measurement shares: the result record, a timer, and the items measured on."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from core.context import Context


@dataclass
class Measurement:
    """A ratio (or figure) against its target. ``error`` set: a side of the comparison failed or
    did not run, so there is no value — a ratio against a peer that failed is no measurement."""
    name: str
    value: Optional[float]
    target: str
    passed: bool
    detail: str
    error: Optional[str] = None

    @property
    def status(self) -> str:
        if self.error:
            return "FAILED"
        if self.target in ("informational", "figure"):
            return "INFO"
        return "PASS" if self.passed else "FAIL"

    def as_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


def failed(name: str, target: str, why: str, detail: str = "") -> Measurement:
    return Measurement(name, None, target, False, detail, error=" ".join(str(why).split())[:300])


def guarded(name: str, target: str, fn: Callable[[], "Measurement | list[Measurement]"]) -> "Measurement | list[Measurement]":
    """Run one measurement (or a list of lines measured together); an exception becomes its
    FAILED line, and the others still run."""
    try:
        return fn()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a peer's CLI is a failure too
        return failed(name, target, f"{type(exc).__name__}: {exc}")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _items(ctx: Context, n: int):
    from benchmarks import get_suite

    return get_suite("indomain").items(ctx.profile, "thesis", n).items


def new_tokens(results) -> int:
    """Generated tokens in a generate() result (EOS included, as the backends count them)."""
    return sum(int(r[1]) for r in results)


def last_line(text: str) -> str:
    """The most telling line of a failed subprocess's stderr (its last non-empty one)."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:240] if lines else "no output"
