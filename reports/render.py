"""Text renderers of ``ReportTable``s: rich (console), Markdown, LaTeX (booktabs), CSV, JSON."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
from rich.table import Table
from rich.text import Text

from .layout import BEST_MARK, ReportTable, cell_text, row_texts, uniform_note

STYLE = {"published": "dim", "delta": "italic"}


# -- console ------------------------------------------------------------------------------------
def rich_table(t: ReportTable) -> tuple[Table, list[str]]:
    """The table for the console, and footnotes: a row that was not run shows 'not run [k]' and
    footnote k gives the command (long commands would otherwise wrap every cell); so does any
    other missing figure ('not scored: 4 failed [k]')."""
    rt = Table(title=t.title, title_justify="left")
    for h in t.row_header:
        rt.add_column(h, justify="left")
    for h in t.headers(sep="\n"):
        rt.add_column(h, justify="right")
    notes: list[str] = []
    for i, row in enumerate(t.rows):
        repeat = i > 0 and t.rows[i - 1].labels[0] == row.labels[0]
        cells = [Text("" if (j == 0 and repeat) else x) for j, x in enumerate(row.labels)]
        note = uniform_note(row)
        texts = row_texts(t, row)
        if note and len(row.figures) > 1:
            notes += [note] if note not in notes else []
            texts = [f"not run [{notes.index(note) + 1}]"] + ["not run"] * (len(texts) - 1)
        else:  # a missing figure says why in a word; its footnote gives the command
            for j, fig in enumerate(row.figures):
                if fig.missing and not fig.text and " — " in fig.note:
                    notes += [fig.note] if fig.note not in notes else []
                    texts[j] = f"{fig.note.split(' — ')[0]} [{notes.index(fig.note) + 1}]"
        for text, fig in zip(texts, row.figures):
            cells.append(Text(f"{text} {BEST_MARK}", style="bold green") if fig.best else Text(text))
        last = i + 1 == len(t.rows) or t.rows[i + 1].labels[0] != row.labels[0]
        rt.add_row(*cells, style=STYLE.get(row.style, ""), end_section=bool(row.style) and last)
    return rt, [f"[{k + 1}] {n}" for k, n in enumerate(notes)]


def rich_frame(title: str, df: pd.DataFrame) -> Table:
    rt = Table(title=title, title_justify="left")
    for col in df.columns:
        rt.add_column(str(col))
    for rec in df.itertuples(index=False):
        rt.add_row(*[Text(str(v)) for v in rec])
    return rt


# -- Markdown -----------------------------------------------------------------------------------
def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown(t: ReportTable) -> str:
    head = t.row_header + t.headers()
    lines = [f"### {t.title}", "", t.caption, "",
             "| " + " | ".join(_md_escape(h) or " " for h in head) + " |",
             "|" + "|".join(":---" if i < len(t.row_header) else "---:" for i in range(len(head))) + "|"]
    for row in t.rows:
        texts = [f"**{x} {BEST_MARK}**" if f.best else x for x, f in zip(row_texts(t, row), row.figures)]
        if row.style == "delta":
            texts = [f"*{x}*" for x in texts]
        lines.append("| " + " | ".join(_md_escape(x) for x in row.labels + texts) + " |")
    return "\n".join(lines) + "\n"


def markdown_frame(title: str, caption: str, df: pd.DataFrame) -> str:
    return f"### {title}\n\n{caption}\n\n" + df.to_markdown(index=False, disable_numparse=True) + "\n"


# -- LaTeX (booktabs, the thesis's table style) ---------------------------------------------------
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "—": "---", "−": "$-$", "·": r"$\cdot$",
        "Δ": r"$\Delta$", "≥": r"$\geq$", "▲": r"$\blacktriangle$", "…": r"\ldots{}", "’": "'"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex(s: str) -> str:
    return _TEX_RE.sub(lambda m: _TEX[m.group()], s)


def _tex_cell(text: str, best: bool, style: str) -> str:
    if text.startswith("not ") and " — " in text:  # a missing figure: the reason, then the command
        why, cmd = text.split(" — ", 1)
        return rf"\emph{{{tex(why)}}} --- \texttt{{{tex(cmd).replace('--', '-{}-')}}}"
    star = text.endswith("*")  # the thesis's own best mark on a published figure
    text = text[:-1] if star else text
    m = re.fullmatch(r"(.+?) \[(.+)\]", text)  # value [lo, hi]: the interval in small type
    body = tex(m.group(1)) + rf" {{\scriptsize[{tex(m.group(2))}]}}" if m else tex(text)
    body += "$^{*}$" if star else ""
    if best:
        body = rf"\textbf{{{body}}}"
    return rf"\emph{{{body}}}" if style == "delta" else body


def latex(t: ReportTable) -> str:
    nl = len(t.row_header)
    spec = "l" * nl + "".join("r" * len(cols) for _, cols in t.groups)
    out = [r"% requires \usepackage{booktabs} (and amssymb for \blacktriangle)",
           r"\begin{table}[htbp]", r"\centering", r"\small",
           rf"\caption{{{tex(t.caption)}}}", rf"\label{{tab:{t.key}}}",
           rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    if any(g for g, _ in t.groups):
        heads, rules, col = [], [], nl + 1
        for g, cols in t.groups:
            heads.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{tex(g)}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + len(cols) - 1}}}")
            col += len(cols)
        out += [" & " * nl + " & ".join(heads) + r" \\", " ".join(rules)]
    out.append(" & ".join([tex(h) for h in t.row_header] + [tex(c.label) for _, c in t.columns]) + r" \\")
    out.append(r"\midrule")
    last = None
    for row in t.rows:
        first = row.labels[0]
        if last is not None and first != last and t.rows[0].style:
            out.append(r"\midrule")
        labels = [("" if first == last and i == 0 else tex(x)) for i, x in enumerate(row.labels)]
        note = uniform_note(row)
        if note and len(row.figures) > 1:
            cells = [rf"\multicolumn{{{len(row.figures)}}}{{l}}{{{_tex_cell(note, False, '')}}}"]
        else:
            cells = [_tex_cell(x, f.best, row.style) for x, f in zip(row_texts(t, row, short_repeat=False), row.figures)]
        out.append(" & ".join(labels + cells) + r" \\")
        last = first
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


# -- CSV and JSON -------------------------------------------------------------------------------
def csv(t: ReportTable) -> str:
    return t.csv.to_csv(index=False)


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def table_json(t: ReportTable) -> dict:
    return {
        "key": t.key, "title": t.title, "caption": t.caption, "row_header": t.row_header,
        "columns": [{"group": g, "key": c.key, "label": c.label, "kind": c.kind} for g, c in t.columns],
        "rows": [{"labels": r.labels, "style": r.style,
                  "incomplete": any(c.kind == "failures" and not f.missing and f.value > 0
                                    for (_, c), f in zip(t.columns, r.figures)),
                  "cells": [{"text": cell_text(c, f), "value": _clean(f.value), "lo": _clean(f.lo),
                             "hi": _clean(f.hi), "n": f.n, "best": f.best, "p": _clean(f.p),
                             "note": f.note or None}
                            for (_, c), f in zip(t.columns, r.figures)]} for r in t.rows],
    }


def report_json(meta: dict, tables: list[ReportTable], prov: pd.DataFrame) -> str:
    records = [{k: _clean(v) for k, v in rec.items()} for rec in prov.to_dict(orient="records")]
    return json.dumps({**meta, "tables": [table_json(t) for t in tables], "provenance": records},
                      indent=2, default=str, allow_nan=False)
