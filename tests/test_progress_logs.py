"""Long work prints a plain line at least every LOG_EVERY_S seconds when stderr is not a terminal."""
from __future__ import annotations

import io
import sys
import time

from core import progress


def test_log_lines_when_not_a_terminal(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    monkeypatch.delenv("BENCH_QUIET", raising=False)
    with progress._log_lines("train sft", 10, every=0.05) as advance:
        for _ in range(4):
            time.sleep(0.06)
            advance(1, loss=0.5)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "train sft: 0/10"
    assert len(lines) >= 5 and all("/s" in ln and "loss=0.5" in ln for ln in lines[1:-1])
    assert "ETA" in lines[1] and lines[-1].startswith("train sft: 4/10 in ")


def test_progress_bar_picks_lines_off_a_terminal_and_nothing_when_quiet(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    monkeypatch.delenv("BENCH_QUIET", raising=False)
    with progress.progress_bar("generate", 3) as advance:
        advance(3)
    assert buf.getvalue().splitlines()[0] == "generate: 0/3"
    monkeypatch.setenv("BENCH_QUIET", "1")
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    with progress.progress_bar("generate", 3) as advance:
        advance(3)
    assert quiet.getvalue() == ""
