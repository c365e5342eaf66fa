"""`bench report --thesis`: the thesis's three tables, same rows and columns, with the published
figures (reports/published.py), the reproduced ones from the store, and their difference.

A reproduced figure is only printed for a complete cell: where any item of the cell (of that
dataset) failed, the cell says "incomplete (k failed)" instead, whatever the share — a thesis
figure on part of the items is not the thesis's figure, and a small share today is a large one
on a flaky endpoint tomorrow. The suite table (`bench report`) still shows the partial figures,
marked incomplete."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import pandas as pd

from core.context import Context

from . import published
from .columns import ACCURACY, AVG_REWARD, EFFICIENCY, FINAL, JUDGE, PERFECT, Column, Figure
from .data import CellData, find
from .layout import ReportTable, Row
from .metrics import CI_NOTE
from .tables import TEST_NOTE, compute, failed_items, judge_note, profile_note, run_hint


@dataclass(frozen=True)
class ThesisSpec:
    key: str
    title: str
    suite: str
    protocol: str
    groups: tuple[tuple[Optional[str], str], ...]  # (dataset, label); dataset None = all items of the suite
    columns: tuple[Column, ...]
    rows: tuple[published.PublishedRow, ...]
    note: str = ""


SPECS = (
    ThesisSpec("thesis-indomain", "Thesis table: in-domain (math)", "indomain", "thesis", ((None, ""),),
               (replace(ACCURACY, label="Accuracy"), replace(JUDGE, label="Judge Score"),
                replace(EFFICIENCY, label="Efficiency"), replace(FINAL, label="Final Score")),
               published.INDOMAIN,
               "Final = 0.4·Accuracy + 0.4·Judge/10 + 0.2·Efficiency"),
    ThesisSpec("thesis-outdomain", "Thesis table: out-of-domain", "outdomain", "thesis",
               (("boolq", "BoolQ"), ("commonsense_qa", "CommonsenseQA"), ("arc_challenge", "ARC-Challenge")),
               (replace(ACCURACY, label="Accuracy"), replace(JUDGE, label="Judge"),
                replace(EFFICIENCY, label="Efficiency")),
               published.OUTDOMAIN),
    ThesisSpec("thesis-bfcl", "Thesis table: BFCL function calling", "bfcl", "thesis", ((None, ""),),
               (replace(AVG_REWARD, label="Average reward"), replace(PERFECT, label="Perfect-match rate")),
               published.BFCL,
               "average reward = mean over test prompts of the thesis reward of the best of the sampled "
               "completions (the thesis's test reward; metric reward, = reward_best); perfect match = that reward "
               "≥ 0.95 (metric perfect); the mean over all samples (reward_mean) is in the bfcl suite table"),
)


def _delta(col: Column, pub: published.PublishedFigure, rep: Figure) -> Figure:
    if rep.missing:
        return Figure(text="n/a", note="no reproduced value")
    d = rep.value - pub.value
    text = f"{100 * d:+.1f} pp" if col.kind == "rate" else f"{d:+.2f}" if col.metric == "judge" else f"{d:+.3f}"
    return Figure(value=d, text=text)


def thesis_table(ctx: Context, all_cells: list[CellData], spec: ThesisSpec) -> ReportTable:
    models = [r.model for r in spec.rows]
    cols = list(spec.columns)
    failed = {(m, gi): len(failed_items(find(all_cells, m, spec.suite, spec.protocol), d))
              for m in models for gi, (d, _) in enumerate(spec.groups)}
    incomplete = frozenset(k for k, n in failed.items() if n)
    figs = compute(ctx, all_cells, spec.suite, spec.protocol, models, [(d, cols) for d, _ in spec.groups],
                   exclude=incomplete)
    for m, gi in incomplete:
        for c in cols:
            figs[(m, gi, c.key)] = Figure(text=f"incomplete ({failed[(m, gi)]} failed)", n=figs[(m, gi, c.key)].n,
                                          note=f"incomplete ({failed[(m, gi)]} failed) — retry: "
                                               f"{run_hint(ctx, m, spec.suite)}")
    used = [c for m in models if (c := find(all_cells, m, spec.suite, spec.protocol))]
    caption = "; ".join(p for p in (
        f"{spec.title}, {spec.protocol} protocol",
        f"published: {published.SOURCE}, * = the thesis's own best mark (no significance test)",
        f"reproduced: {profile_note(ctx)}",
        judge_note({c.judge for c in used} or {ctx.profile.judge}),
        CI_NOTE.replace("95% CIs", "95% CIs of reproduced figures"),
        "incomplete (k failed): k items of the cell failed to generate (see `bench report` for the partial "
        "figures; the next `bench run` retries them)" if incomplete else "",
        TEST_NOTE.replace("column's best", "best reproduced value of a column"),
        "Δ = reproduced − published (accuracy in percentage points)",
        spec.note) if p) + "."
    table = ReportTable(key=spec.key, title=spec.title, caption=caption, row_header=["Model", ""],
                        groups=[(label, cols) for _, label in spec.groups])
    records = []
    for prow in spec.rows:
        pub = [f for group in published.figures(prow) for f in group]
        rep = [figs[(prow.model, gi, c.key)] for gi in range(len(spec.groups)) for c in cols]
        flat_cols = [c for _ in spec.groups for c in cols]
        deltas = [_delta(c, p, r) for c, p, r in zip(flat_cols, pub, rep)]
        label = f"{prow.label} ({prow.model})"
        table.rows += [Row([label, "published"], [Figure(value=p.value, text=p.text) for p in pub], "published"),
                       Row([label, f"reproduced ({ctx.profile_name})"], rep, "reproduced"),
                       Row([label, "Δ"], deltas, "delta")]
        for i, (c, p, r, d) in enumerate(zip(flat_cols, pub, rep, deltas)):
            records.append({"table": spec.key, "model": prow.model, "thesis_label": prow.label,
                            "dataset": spec.groups[i // len(cols)][0] or "all", "metric": c.key,
                            "published": p.value, "published_marked": p.marked,
                            "reproduced": None if r.missing else r.value,
                            "reproduced_lo": None if r.missing else r.lo, "reproduced_hi": None if r.missing else r.hi,
                            "n": r.n, "best": r.best, "p": r.p, "delta": None if d.missing else d.value,
                            "note": r.note, "profile": ctx.profile_name})
    table.csv = pd.DataFrame(records)
    return table


def thesis_tables(ctx: Context, all_cells: list[CellData]) -> list[ReportTable]:
    return [thesis_table(ctx, all_cells, spec) for spec in SPECS]


def thesis_cells(ctx: Context, all_cells: list[CellData]) -> list[CellData]:
    """The cells the thesis tables read (their models and the suites' reference models)."""
    out = []
    for spec in SPECS:
        ref = ctx.reg.suites[spec.suite].reference if spec.suite in ctx.reg.suites else None
        for m in [r.model for r in spec.rows] + ([ref] if ref else []):
            c = find(all_cells, m, spec.suite, spec.protocol)
            if c is not None and c not in out:
                out.append(c)
    return out
