"""`bench report`: one table per suite/protocol on the console, plus Markdown and CSV files."""
from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from harness.runner import Context

from .tables import display_frame, rich_table, suite_table, write_files

out = Console(width=None if sys.stdout.isatty() else 200)


def print_report(ctx: Context, suites: list[str], out_dir: Path) -> list[Path]:
    written: list[Path] = []
    for suite in suites:
        for protocol in ctx.reg.suites[suite].protocols:
            raw = suite_table(ctx, suite, protocol)
            if raw.empty:
                continue
            shown = display_frame(raw)
            judge = ", ".join(sorted(set(raw["judge_name"])))
            ref = ctx.reg.suites[suite].reference
            caption = (f"profile {ctx.profile_name}; judge: {judge}; efficiency = mean tokens of "
                       f"{ref or 'the reference'} / mean tokens of the model (same items); accuracy with "
                       f"95% bootstrap CI")
            out.print(rich_table(f"{suite} · {protocol} protocol", shown))
            out.print(f"[dim]{caption}[/]")
            written += write_files(out_dir, f"{suite}-{protocol}", raw, shown, caption)
    if written:
        out.print(f"report files: {', '.join(str(p) for p in written)}")
    return written
