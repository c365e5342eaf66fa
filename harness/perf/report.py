"""`bench perf` on the console: one line per measurement; a FAILED line shows why, never a ratio."""
from __future__ import annotations

from .measure import Measurement

_STYLE = {"PASS": "[green]PASS[/]", "FAIL": "[red]FAIL[/]", "FAILED": "[bold red]FAILED[/]", "INFO": "info"}


def table(results: list[Measurement], title: str):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("measurement", "value", "target", "result", "detail"):
        t.add_column(col)
    for m in results:
        value = "—" if m.value is None else f"{m.value:.2f}"
        detail = f"{m.error}" + (f" ({m.detail})" if m.detail else "") if m.error else m.detail
        t.add_row(m.name, value, m.target, _STYLE[m.status], detail)
    return t
