"""The HTML report: ONE self-contained file (inline CSS, PNG plots embedded as base64)."""
from __future__ import annotations

import base64
from html import escape

import pandas as pd

from .layout import BEST_MARK, ReportTable, row_texts, uniform_note
from .plots import Plot
from .samples_html import section as samples_section

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d2433;
     background:#ffffff;max-width:1600px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #d6dbe4}
.meta{color:#5a6475;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 4px}
th,td{padding:3px 8px;border-bottom:1px solid #e3e7ee;text-align:right;white-space:nowrap}
th{background:#eef2f8;font-weight:600} th.group{text-align:center;border-bottom:2px solid #9fb0c8}
td.label{text-align:left;font-weight:600} td.sub{text-align:left;color:#5a6475}
tr.published td{color:#6b7280;background:#fafafa} tr.delta td{font-style:italic;color:#374151}
tr.first td{border-top:2px solid #c3ccd9}
td.best{font-weight:700;color:#0b6b2f;background:#e3f6e8} td.missing{color:#a04b00;text-align:left;white-space:normal}
p.caption{font-size:12px;color:#4b5563;max-width:1400px;margin:2px 0 10px}
figure{margin:10px 0 20px} figcaption{font-size:12px;color:#4b5563}
img{max-width:100%;border:1px solid #e3e7ee}
table.prov td{text-align:left;font-size:11.5px;white-space:normal;max-width:380px;word-break:break-all}
"""


def _table(t: ReportTable) -> str:
    nl = len(t.row_header)
    head = []
    if any(g for g, _ in t.groups):
        head.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in [""] * nl) +
                    "".join(f'<th class="group" colspan="{len(cols)}">{escape(g)}</th>' for g, cols in t.groups)
                    + "</tr>")
    head.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in t.row_header) +
                "".join(f"<th>{escape(c.label)}</th>" for _, c in t.columns) + "</tr>")
    body, last = [], None
    for row in t.rows:
        first = row.labels[0]
        classes = [row.style] + (["first"] if row.style and first != last and last is not None else [])
        labels = "".join(f'<td class="{"label" if i == 0 else "sub"}">{escape("" if (i == 0 and first == last) else x)}'
                         "</td>" for i, x in enumerate(row.labels))
        note = uniform_note(row)
        if note and len(row.figures) > 1:
            cells = f'<td class="missing" colspan="{len(row.figures)}">{escape(note)}</td>'
        else:
            cells = ""
            for text, f in zip(row_texts(t, row, short_repeat=False), row.figures):
                cls = "best" if f.best else "missing" if f.missing and not f.text else ""
                mark = f" {BEST_MARK}" if f.best else ""
                title = f' title="paired test vs runner-up: p = {f.p:.3g}"' if f.best else ""
                cells += f'<td class="{cls}"{title}>{escape(text + mark)}</td>'
        body.append(f'<tr class="{" ".join(c for c in classes if c)}">{labels}{cells}</tr>')
        last = first
    return (f'<h2 id="{escape(t.key)}">{escape(t.title)}</h2>\n<p class="caption">{escape(t.caption)}</p>\n'
            f"<table><thead>{''.join(head)}</thead><tbody>{''.join(body)}</tbody></table>")


def _frame(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in rec) + "</tr>"
                   for rec in df.itertuples(index=False))
    return f'<table class="prov"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _plot(p: Plot) -> str:
    data = base64.b64encode(p.png).decode("ascii")
    return (f'<figure><img alt="{escape(p.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{escape(p.title)}.</b> {escape(p.caption)}</figcaption></figure>")


def page(title: str, meta: list[str], tables: list[ReportTable], plots: list[Plot], prov: pd.DataFrame,
         samples: list[dict] | None = None) -> str:
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{escape(title)}</h1>", "".join(f'<div class="meta">{escape(m)}</div>' for m in meta)]
    parts += [_table(t) for t in tables]
    if plots:
        parts.append("<h2 id=\"plots\">Plots</h2>")
        parts += [_plot(p) for p in plots]
    parts.append(samples_section(samples or []))
    parts.append('<h2 id="provenance">Provenance (every figure above comes from one of these cells)</h2>')
    parts.append(_frame(prov) if not prov.empty else "<p>No stored cells.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
