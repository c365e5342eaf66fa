"""Comparison tables per suite and protocol: models × (dataset × metric), from the store only."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import pandas as pd

from core.context import Context

from .columns import EFFICIENCY, FAILED, N_ITEMS, Column, Figure, columns_for, figure, mark_best
from .data import CellData, find
from .layout import ReportTable, Row
from .metrics import CI_NOTE
from .stats import N_BOOT

TEST_NOTE = ("▲ marks a column's best only where a paired test on the same items (exact McNemar for 0/1 "
             f"metrics, paired bootstrap with {N_BOOT} resamples otherwise) finds it better than the runner-up at "
             "p < 0.05; the thesis marked bests without any test")
FAILED_NOTE = ("failed = items whose generation failed (transport error, timeout, server error, a replay entry "
               "missing, a crash inside the harness): not scored and in no figure; a row with failures is "
               "incomplete, its figures use its n scored items only, and the next `bench run` retries them")


def run_hint(ctx: Context, model: str, suite: str) -> str:
    """The command that fills a missing cell (with --store when it is not the default)."""
    store = "" if Path(ctx.store_dir) == Path("runs") else f" --store {ctx.store_dir}"
    return f"bench run --models {model} --suite {suite} --profile {ctx.profile_name}{store}"


def not_run(ctx: Context, model: str, suite: str) -> str:
    return f"not run — {run_hint(ctx, model, suite)}"


def not_scored(ctx: Context, model: str, suite: str, k: int) -> str:
    return f"not scored: {k} failed — retry: {run_hint(ctx, model, suite)}"


def not_stored(ctx: Context, model: str, suite: str, what: str = "") -> str:
    return f"not in store yet{what} — run: {run_hint(ctx, model, suite)}"


def profile_note(ctx: Context) -> str:
    if ctx.profile.base.kind == "tiny":
        return (f"profile {ctx.profile_name}: a toy model (tiny Qwen3 built locally, synthetic data), "
                "so differences from the thesis are expected")
    base = ctx.profile.base.id or ctx.profile.base.path or ctx.profile.base.kind
    return f"profile {ctx.profile_name} (base {base}, data source {ctx.profile.data.source})"


def judge_note(judges: set[str]) -> str:
    names = ", ".join(sorted(j for j in judges if j)) or "none"
    return f"judge: {names}" + (" (the offline rubric judge, not an LLM)" if "rubric" in judges else "")


def dataset_items(cell: Optional[CellData], dataset: Optional[str]) -> Optional[pd.DataFrame]:
    """A cell's items, all of them (dataset None) or one dataset's; None when not run."""
    if cell is None or cell.items.empty:
        return None
    if dataset is None:
        return cell.items
    part = cell.items[cell.items["dataset"] == dataset]
    return part if not part.empty else None


def failed_items(cell: Optional[CellData], dataset: Optional[str]) -> pd.DataFrame:
    """A cell's failed items, all of them (dataset None) or one dataset's."""
    if cell is None:
        return pd.DataFrame(columns=["item_id", "dataset", "error"])
    return cell.failed(dataset)


def failures_figure(failed: pd.DataFrame) -> Figure:
    """The failed count; its note is the first failure's reason."""
    k = len(failed)
    return Figure(float(k), n=k, note=f"first: {failed['error'].iloc[0]}" if k else "")


def fill(ctx: Context, suite: str, col: Column, fig: Figure, model: str, items, ref_name, failed: int = 0) -> Figure:
    """Say why a figure is missing, with the command that fills it."""
    if not fig.missing or col.kind == "count":
        return fig
    if items is None and failed:
        fig.note = not_scored(ctx, model, suite, failed)
    elif items is None:
        fig.note = not_run(ctx, model, suite)
    elif col.kind in ("efficiency", "final") and ref_name and "n_tokens" in items:
        fig.note = not_stored(ctx, ref_name, suite, f" (needs the reference {ref_name})")
    else:
        fig.note = not_stored(ctx, model, suite)
    return fig


def compute(ctx: Context, all_cells: list[CellData], suite: str, protocol: str, models: list[str],
            groups: list[tuple[Optional[str], list[Column]]], exclude: frozenset = frozenset()) -> dict[tuple, Figure]:
    """Figures for every (model, group index, column key), with best marks set per column;
    (model, group index) pairs in ``exclude`` do not compete for the best mark."""
    ref_name = ctx.reg.suites[suite].reference if suite in ctx.reg.suites else None
    ref_cell = find(all_cells, ref_name, suite, protocol)
    out: dict[tuple, Figure] = {}
    for gi, (dataset, cols) in enumerate(groups):
        ref = dataset_items(ref_cell, dataset)
        cells = {m: find(all_cells, m, suite, protocol) for m in models}
        items = {m: dataset_items(cells[m], dataset) for m in models}
        failed = {m: failed_items(cells[m], dataset) for m in models}
        for col in cols:
            figs = {}
            for m in models:
                if col.kind == "failures" and cells[m] is not None:
                    figs[m] = failures_figure(failed[m])
                elif col.kind == "count" and items[m] is None and len(failed[m]):
                    figs[m] = Figure(0.0, n=0)  # every item failed: none scored
                else:
                    figs[m] = fill(ctx, suite, col, figure(col, items[m], ref), m, items[m], ref_name, len(failed[m]))
            racing = [m for m in models if items[m] is not None and (m, gi) not in exclude]
            mark_best(col, {m: figs[m] for m in racing}, {m: items[m] for m in racing}, ref)
            for m, f in figs.items():
                out[(m, gi, col.key)] = f
    return out


def suite_table(ctx: Context, all_cells: list[CellData], suite: str, protocol: str) -> Optional[ReportTable]:
    cs = [c for c in all_cells if c.suite == suite and c.protocol == protocol
          and not (c.items.empty and c.failures.empty)]
    if not cs:
        return None
    order: list[str] = []

    def named(c: CellData) -> set:
        return set(c.items["dataset"] if not c.items.empty else []) | set(c.failures["dataset"])

    for c in cs:  # the suite's own dataset order first, then anything else the items name
        for d in [d for d in c.datasets.split(",") if d] + sorted(named(c)):
            order += [d] if d not in order else []
    present = set().union(*(named(c) for c in cs))
    datasets = [d for d in order if d in present]
    has_ref = bool(suite in ctx.reg.suites and ctx.reg.suites[suite].reference)
    cols = columns_for([c.items for c in cs if not c.items.empty], suite, has_reference=has_ref)
    incomplete = [c for c in cs if c.incomplete]
    if incomplete:
        cols.insert(cols.index(N_ITEMS) + 1, FAILED)
    models = [c.model for c in cs]
    figs = compute(ctx, all_cells, suite, protocol, models, [(d, cols) for d in datasets])
    ref = ctx.reg.suites[suite].reference if suite in ctx.reg.suites else None
    parts = [f"{suite} · {protocol} protocol", profile_note(ctx), judge_note({c.judge for c in cs}), CI_NOTE]
    if incomplete:
        parts.append(FAILED_NOTE)
    if EFFICIENCY in cols:
        parts.append(f"Efficiency = mean completion tokens of {ref or 'the reference'} / those of the model "
                     "on the same items (> 1: more concise)")
    parts.append(TEST_NOTE)
    single = len(datasets) == 1  # one dataset: named in the title, not above every column
    table = ReportTable(key=f"{suite}-{protocol}",
                        title=f"{suite} · {protocol} protocol" + (f" · {datasets[0]}" if single else ""),
                        caption="; ".join(parts) + ".", row_header=["model"],
                        groups=[("" if single else d, cols) for d in datasets])
    records = []
    for c in cs:
        table.rows.append(Row([c.model], [figs[(c.model, gi, col.key)] for gi in range(len(datasets)) for col in cols]))
        for gi, d in enumerate(datasets):
            failed = c.failed(d)
            rec = {"model": c.model, "dataset": d, "fingerprint": c.model_fp[:12], "judge_name": c.judge,
                   "gen_hash": c.gen_hash, "data_fp": c.data_fp, "complete": failed.empty,
                   "first_failure": failed["error"].iloc[0] if not failed.empty else None}
            for col in cols:
                f = figs[(c.model, gi, col.key)]
                rec[col.key] = _plain(f.value)
                if col.kind in ("rate", "mean", "aggregate"):
                    rec[f"{col.key}_lo"], rec[f"{col.key}_hi"] = _plain(f.lo), _plain(f.hi)
                if col.tested:
                    rec[f"{col.key}_best"] = f.best
                    rec[f"{col.key}_p"] = _plain(f.p)
            records.append(rec)
    table.csv = pd.DataFrame(records)
    return table


def _plain(v) -> Optional[float]:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
