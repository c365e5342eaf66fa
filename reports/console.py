"""`bench report`: tables on the console (rich) and report files in the requested formats.

Everything comes from the results store and the checkpoint manifests; no model is run.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Optional


from core.errors import BadInput
from core.context import Context, code_version
from core.progress import LazyConsole

from . import html, plots, render
from .data import CellData, load_cells, train_manifests
from .layout import ReportTable
from .provenance import provenance, short
from .tables import suite_table
from .thesis import thesis_cells, thesis_tables

out = LazyConsole(wide=True)  # made on first print: a closed stdout must not fail the import

FORMATS = ("md", "latex", "csv", "json", "html")
DEFAULT_FORMATS = ("md", "csv")
ALIASES = {"tex": "latex", "markdown": "md", "htm": "html"}


def parse_formats(specs: Optional[Iterable[str]]) -> list[str]:
    """``--format`` values (repeatable, comma lists) -> known format names; one-line error otherwise."""
    if not specs:
        return list(DEFAULT_FORMATS)
    names = [ALIASES.get(f.strip().lower(), f.strip().lower()) for s in specs for f in s.split(",") if f.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise BadInput(f"unknown --format '{','.join(bad) or ''}' (choose from {', '.join(FORMATS)})")
    return list(dict.fromkeys(names))


def build(ctx: Context, suites: list[str], thesis: bool) -> tuple[list[ReportTable], list[CellData], list[ReportTable]]:
    """(tables to show, cells they read, suite tables for the plots)."""
    all_cells = load_cells(ctx, None if thesis else suites)  # the thesis tables span every suite
    cells_of = [(s, p) for s in suites for (s2, p) in ctx.gen_hashes if s2 == s]  # resolved by the app
    suite_tables = [t for s, p in cells_of if (t := suite_table(ctx, all_cells, s, p)) is not None]
    if thesis:
        return thesis_tables(ctx, all_cells), thesis_cells(ctx, all_cells), suite_tables
    shown = {t.key for t in suite_tables}
    used = [c for c in all_cells if f"{c.suite}-{c.protocol}" in shown]
    return suite_tables, used, suite_tables


def print_report(ctx: Context, suites: list[str], out_dir: Path, formats: Optional[Iterable[str]] = None,
                 thesis: bool = False) -> list[Path]:
    """Print the tables and write report files; returns the files written ([] when nothing is stored)."""
    fmts = parse_formats(formats)
    tables, used, suite_tables = build(ctx, suites, thesis)
    if not tables:
        return []
    for t in tables:
        table, notes = render.rich_table(t)
        out.print(table)
        for n in notes:
            out.print(n, highlight=False, soft_wrap=True)
        out.print(f"[dim]{t.caption}[/]", highlight=False)
    prov = provenance(ctx, used)
    if not prov.empty:
        view = short(prov)[["model", "fingerprint", "suite", "protocol", "items", "data_source", "data_fp", "judge",
                            "code_version", "run_time"]]
        out.print(render.rich_frame("provenance (full: provenance files / JSON / HTML)", view))
    written = write(ctx, out_dir, fmts, tables, prov, suite_tables, used, thesis)
    if written:
        out.print(f"report files: {', '.join(str(p) for p in written)}", highlight=False)
    return written


def write(ctx: Context, out_dir: Path, fmts: list[str], tables: list[ReportTable], prov, suite_tables,
          used: list[CellData], thesis: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "thesis" if thesis else "report"
    prov_stem = "thesis-provenance" if thesis else "provenance"
    prov_caption = "What produced each stored cell the tables read (full fingerprints)."
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        path = out_dir / name
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # readers never see a half-written report
        written.append(path)

    for t in tables:
        if "md" in fmts:
            put(f"{t.key}.md", render.markdown(t))
        if "latex" in fmts:
            put(f"{t.key}.tex", render.latex(t))
        if "csv" in fmts:
            put(f"{t.key}.csv", render.csv(t))
    if "md" in fmts:
        put(f"{prov_stem}.md", render.markdown_frame("Provenance", prov_caption, short(prov)))
    if "csv" in fmts:
        put(f"{prov_stem}.csv", prov.to_csv(index=False))
    meta = {"title": f"grpo-bench {'thesis tables' if thesis else 'report'}", "profile": ctx.profile_name,
            "store": str(ctx.store_dir), "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "code_version": code_version()}
    if "json" in fmts:
        put(f"{stem}.json", render.report_json(meta, tables, prov))
    if "html" in fmts:
        figs = (plots.accuracy_plots(suite_tables) + plots.reward_plots(train_manifests(ctx, list(ctx.reg.models)))
                + plots.efficiency_plots(suite_tables))
        lines = [f"profile {meta['profile']} · store {meta['store']} · generated {meta['generated']} · "
                 f"code {meta['code_version']}"]
        samples = ctx.samples(used) if getattr(ctx, "samples", None) else None  # set by the application
        put(f"{stem}.html", html.page(meta["title"], lines, tables, figs, prov, samples=samples))
    return written

