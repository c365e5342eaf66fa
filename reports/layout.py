"""The format-independent shape of a report table: row labels, column groups, figures.

Builders (tables.py, thesis.py) produce ``ReportTable``s; renderers (render.py, html.py) turn
them into console, Markdown, LaTeX, CSV, JSON and HTML without recomputing anything.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .columns import Column, Figure

BEST_MARK = "▲"


@dataclass
class Row:
    labels: list[str]
    figures: list[Figure]  # one per (group, column), flattened in group order
    style: str = ""        # "published" | "reproduced" | "delta" | ""


@dataclass
class ReportTable:
    key: str               # file stem, e.g. "indomain-thesis" or "thesis-outdomain"
    title: str
    caption: str
    row_header: list[str]
    groups: list[tuple[str, list[Column]]]  # (group label, columns); one group with label "" = no grouping
    rows: list[Row] = field(default_factory=list)
    csv: pd.DataFrame = field(default_factory=pd.DataFrame)  # the machine-readable figures

    @property
    def columns(self) -> list[tuple[str, Column]]:
        return [(g, c) for g, cols in self.groups for c in cols]

    def headers(self, sep: str = " · ") -> list[str]:
        return [f"{g}{sep}{c.label}" if g else c.label for g, c in self.columns]


def _num(v: float, digits: int) -> str:
    return f"{v:.{digits}f}"


def cell_text(col: Column, fig: Figure, ci: bool = True) -> str:
    """A figure as people read it: value, [95% CI] when it has one; the note when missing."""
    if fig.text:
        return fig.text
    if fig.missing:
        return fig.note or "—"
    if col.kind == "count":
        return str(int(fig.value))
    if col.kind == "failures":  # the mark of an incomplete cell, in every format
        return f"{int(fig.value)} (incomplete)" if fig.value else "0"
    if col.kind == "rate":
        main, lo, hi = f"{100 * fig.value:.1f}%", f"{100 * fig.lo:.1f}", f"{100 * fig.hi:.1f}"
    else:
        digits = {"efficiency": 3, "final": 3, "tokens": 1}.get(col.kind, 2 if col.metric == "judge" else 3)
        main, lo, hi = _num(fig.value, digits), _num(fig.lo, digits), _num(fig.hi, digits)
    if ci and not (math.isnan(fig.lo) or math.isnan(fig.hi)):
        main += f" [{lo}, {hi}]"
    return main


def row_texts(table: ReportTable, row: Row, short_repeat: bool = True) -> list[str]:
    """Cell texts of a row; when every figure of the row is missing for the same reason, the
    reason is written once and the other cells say 'not run' (never blank)."""
    texts = [cell_text(c, f) for (_, c), f in zip(table.columns, row.figures)]
    notes = {f.note for f in row.figures}
    if short_repeat and len(row.figures) > 1 and all(f.missing and not f.text for f in row.figures) \
            and len(notes) == 1 and next(iter(notes)):
        texts = [texts[0]] + ["not run"] * (len(texts) - 1)
    return texts


def uniform_note(row: Row) -> str:
    """The shared reason when every figure of the row is missing for one reason, else ''."""
    notes = {f.note for f in row.figures}
    if row.figures and all(f.missing and not f.text for f in row.figures) and len(notes) == 1:
        return next(iter(notes))
    return ""
