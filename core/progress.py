"""Rich progress bars for long work (training steps, generation, judging), on stderr, and the
consoles every command prints with.

Consoles are made on first use, not at import, and bound to a stream that can be written: a
process started with stdout or stderr closed has ``sys.stdout``/``sys.stderr`` set to None (or a
closed file), and a console built at import from ``sys.stdout.isatty()`` raised before any
command ran. Such a stream is replaced by the null device: the command still runs, its output
goes nowhere, as it would with ``>/dev/null``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Optional, TextIO

from rich.console import Console


def usable(stream: Optional[TextIO]) -> TextIO:
    """``stream`` if it can be written to, else the null device."""
    # no fileno() probe: in-memory streams (pytest's capture, io.StringIO) have none and are fine
    with contextlib.suppress(AttributeError, ValueError):
        if stream is not None and not stream.closed:
            return stream
    return open(os.devnull, "w", encoding="utf-8")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError, AttributeError):
        return False


class LazyConsole:
    """A rich ``Console`` created on first use (see the module docstring); attribute access is
    forwarded to it. ``stderr=True`` writes to standard error, else to standard output. ``wide``:
    a stream that is not a terminal gets a width of 200, so tables do not wrap at 80. A usable
    stream is looked up at each write, as rich does (so a redirected ``sys.stdout`` is followed)."""

    def __init__(self, stderr: bool = False, wide: bool = False, **kwargs: Any):
        self._stderr, self._wide, self._kwargs, self._console = stderr, wide, kwargs, None

    def get(self) -> Console:
        if self._console is None:
            current = sys.stderr if self._stderr else sys.stdout
            stream = usable(current)
            kwargs = dict(self._kwargs)
            if self._wide:
                kwargs.setdefault("width", None if _isatty(stream) else 200)
            if stream is current:
                self._console = Console(stderr=self._stderr, **kwargs)
            else:
                self._console = Console(file=stream, **kwargs)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = LazyConsole(stderr=True)


PROGRESS_ENV = "BENCH_PROGRESS"  # "lines": plain lines even on a terminal (see progress_bar)
LOG_EVERY_S = 30.0  # when stderr is not a terminal (CI, `| tee`): one line at least this often


@contextlib.contextmanager
def progress_bar(label: str, total: int):
    """Yields ``advance(n=1, **fields)``; fields (e.g. loss=0.3) are shown beside the bar.

    On a terminal: a rich bar. Otherwise (CI, a log file) a plain line at the start, then one at
    least every ``LOG_EVERY_S`` seconds of work (count, rate, ETA, fields) and one at the end,
    so a long step never goes silent for minutes. ``BENCH_QUIET=1`` silences both.
    """
    if os.environ.get("BENCH_QUIET") == "1":
        yield lambda n=1, **fields: None
        return
    stderr = sys.stderr
    # BENCH_PROGRESS=lines: worker processes of `bench run --jobs N` share one terminal, where N
    # rich bars would overwrite each other
    if stderr is not None and _isatty(stderr) and os.environ.get(PROGRESS_ENV) != "lines":
        with _rich_bar(label, total) as advance:
            yield advance
        return
    with _log_lines(label, total) as advance:
        yield advance


def _info(fields: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


@contextlib.contextmanager
def _rich_bar(label: str, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=console.get(), transient=False) as prog:
        task = prog.add_task(label, total=total, info="")
        yield lambda n=1, **fields: prog.update(task, advance=n, info=_info(fields))


@contextlib.contextmanager
def _log_lines(label: str, total: int, every: Optional[float] = None):
    import time

    every = LOG_EVERY_S if every is None else every
    out = usable(sys.stderr)
    start = last = time.monotonic()
    state = {"done": 0, "fields": {}}

    def line(text: str) -> None:
        print(text, file=out, flush=True)

    def advance(n: int = 1, **fields):
        nonlocal last
        state["done"] += n
        state["fields"] = fields or state["fields"]
        now = time.monotonic()
        if now - last >= every:
            last = now
            done, elapsed = state["done"], now - start
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = f", ETA {(total - done) / rate:.0f}s" if rate > 0 and total > done else ""
            pct = f" ({100 * done / total:.0f}%)" if total else ""
            info = _info(state["fields"])
            line(f"{label}: {done}/{total}{pct}, {rate:.3g}/s{eta}{', ' + info if info else ''}")

    line(f"{label}: 0/{total}")
    try:
        yield advance
    finally:
        info = _info(state["fields"])
        line(f"{label}: {state['done']}/{total} in {time.monotonic() - start:.0f}s{', ' + info if info else ''}")
