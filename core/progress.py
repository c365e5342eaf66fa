"""Rich progress bars for long work (training steps, generation, judging), on stderr."""
from __future__ import annotations

import contextlib
import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(label: str, total: int):
    """Yields ``advance(n=1, **fields)``; fields (e.g. loss=0.3) are shown beside the bar."""
    quiet = os.environ.get("BENCH_QUIET") == "1" or not sys.stderr.isatty() and os.environ.get("CI")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=console, disable=bool(quiet), transient=False) as prog:
        task = prog.add_task(label, total=total, info="")

        def advance(n: int = 1, **fields):
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            prog.update(task, advance=n, info=info)

        yield advance
