"""The HTML report's sample browser: every stored item, filterable, two models side by side.

Self-contained like the rest of the report (inline CSS and JS, no server, nothing fetched): the
records travel as one JSON block and a few dozen lines of plain JavaScript render one page of
cards at a time, so a report with thousands of items stays responsive. Model text is hostile
input (it may contain ``</script>`` or HTML): the JSON escapes ``<``, and the script writes it
with ``textContent`` only, never ``innerHTML``.

Records are the application's neutral per-item records (``harness.samples.cell_records``): the
report layer cannot rebuild prompts and targets (they come from the suites), so it is handed them.
Filters: model, suite/protocol, status (correct | incorrect | failed); "compare with" shows a
second model's answer to the same item beside the first. The URL fragment
(``#samples?model=sft&compare=grpo-1k&status=incorrect&suite=indomain/thesis``) sets the filters,
so a link opens the browser on a given view.
"""
from __future__ import annotations

import json
from html import escape
from typing import Optional

FLAGS = ("judge_error", "judge_missing", "failed")
MAX_CHARS = 6000  # a runaway completion is cut in the browser (the JSONL export keeps all of it)

CSS = """
#samples-browser .controls{display:flex;gap:14px;flex-wrap:wrap;align-items:center;font-size:13px;margin:6px 0 10px}
#samples-browser select,#samples-browser button{font-size:13px;padding:2px 6px}
#samples-browser .count{color:#5a6475;font-size:12.5px}
.sb-item{border:1px solid #d6dbe4;border-radius:6px;margin:0 0 12px;background:#fbfcfe}
.sb-head{padding:6px 10px;border-bottom:1px solid #e3e7ee;font-size:12.5px;color:#374151}
.sb-head b{color:#1d2433}
.sb-q{padding:6px 10px;font-size:12.5px;white-space:pre-wrap;color:#1d2433;border-bottom:1px solid #e3e7ee;
      max-height:9em;overflow:auto}
.sb-cols{display:grid;grid-template-columns:repeat(var(--cols,1),minmax(0,1fr));gap:0}
.sb-col{padding:6px 10px;border-left:1px solid #e3e7ee;min-width:0}
.sb-col:first-child{border-left:none}
.sb-col pre{white-space:pre-wrap;word-break:break-word;font-size:12px;background:#fff;border:1px solid #e3e7ee;
            padding:6px;margin:4px 0;max-height:22em;overflow:auto}
.sb-badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600;margin-left:6px}
.sb-correct{background:#dcf3e3;color:#0b6b2f} .sb-incorrect{background:#fde2e1;color:#a11d1d}
.sb-failed{background:#fff0d6;color:#8a4b00} .sb-none{background:#eceff4;color:#4b5563}
.sb-meta{font-size:11.5px;color:#4b5563} .sb-verdict{font-size:11.5px;color:#374151;white-space:pre-wrap}
"""

# Plain ES2015, no dependencies. Data: {models, cells, items, rows}; a row is
# [model, cell, item key, status, completion, failure, judge score, verdict, metrics, tokens].
JS = r"""
(function(){
const D = JSON.parse(document.getElementById('samples-data').textContent);
const $ = id => document.getElementById(id);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text); return e; };
const byKey = {};  // model|cell|item -> row
D.rows.forEach(r => { byKey[r[0] + '|' + r[1] + '|' + r[2]] = r; });
let page = 0; const PER = 20;
function fill(sel, values, labels, first) {
  if (first) sel.appendChild(new Option(first[1], first[0]));
  values.forEach((v, i) => sel.appendChild(new Option(labels[i], v)));
}
fill($('sb-model'), D.models.map((_, i) => String(i)), D.models);
fill($('sb-compare'), D.models.map((_, i) => String(i)), D.models, ['', '(none)']);
fill($('sb-suite'), D.cells.map((_, i) => String(i)), D.cells, ['', 'all']);
function status(r) { return r ? (r[3] || 'none') : 'none'; }
function column(r, name) {
  const c = el('div', 'sb-col');
  const head = el('div', 'sb-meta'); head.appendChild(el('b', null, name));
  head.appendChild(el('span', 'sb-badge sb-' + status(r), r ? (r[3] || 'no 0/1 score') : 'not evaluated'));
  c.appendChild(head);
  if (!r) return c;
  c.appendChild(el('pre', 'sb-completion', r[4] || '(empty completion)'));
  if (r[5]) c.appendChild(el('div', 'sb-meta', 'failure: ' + r[5]));
  const m = Object.keys(r[8] || {}).map(k => k + '=' + (+r[8][k]).toFixed(3).replace(/\.?0+$/, '')).join('  ');
  c.appendChild(el('div', 'sb-meta', (r[9] !== null ? r[9] + ' tokens  ' : '') + m));
  if (r[6] !== null || r[7]) c.appendChild(el('div', 'sb-verdict', 'judge ' + (r[6] !== null ? r[6] : '—') +
    (r[7] ? ': ' + r[7] : '')));
  return c;
}
function render() {
  const m = $('sb-model').value, cmp = $('sb-compare').value, cell = $('sb-suite').value, st = $('sb-status').value;
  const rows = D.rows.filter(r => String(r[0]) === m && (cell === '' || String(r[1]) === cell) &&
                                  (st === '' || status(r) === st));
  const pages = Math.max(1, Math.ceil(rows.length / PER)); page = Math.min(page, pages - 1);
  const list = $('sb-list'); list.textContent = '';
  rows.slice(page * PER, page * PER + PER).forEach(r => {
    const it = D.items[r[2]] || ['', '', ''];
    const box = el('div', 'sb-item'); box.dataset.status = status(r);
    const head = el('div', 'sb-head'); head.appendChild(el('b', null, it[0]));
    head.appendChild(document.createTextNode(' · ' + D.cells[r[1]] + ' · target: ' + (it[2] || '—')));
    box.appendChild(head);
    if (it[1]) box.appendChild(el('div', 'sb-q', it[1]));
    const cols = el('div', 'sb-cols'); cols.style.setProperty('--cols', cmp === '' ? 1 : 2);
    cols.appendChild(column(r, D.models[r[0]]));
    if (cmp !== '') cols.appendChild(column(byKey[cmp + '|' + r[1] + '|' + r[2]], D.models[+cmp]));
    box.appendChild(cols); list.appendChild(box);
  });
  $('sb-count').textContent = rows.length ? ('items ' + (page * PER + 1) + '–' + Math.min(rows.length, page * PER + PER) +
    ' of ' + rows.length + ' · page ' + (page + 1) + '/' + pages) : 'no items match';
}
['sb-model', 'sb-compare', 'sb-suite', 'sb-status'].forEach(id => $(id).addEventListener('change', () => { page = 0; render(); }));
$('sb-prev').addEventListener('click', () => { page = Math.max(0, page - 1); render(); });
$('sb-next').addEventListener('click', () => { page += 1; render(); });
const q = (location.hash.split('?')[1] || '');  // #samples?model=sft&compare=grpo-1k&status=incorrect
q.split('&').forEach(kv => { const [k, v] = kv.split('=').map(decodeURIComponent);
  const idx = (list, name) => String(list.indexOf(name));
  if (k === 'model' && D.models.includes(v)) $('sb-model').value = idx(D.models, v);
  if (k === 'compare' && D.models.includes(v)) $('sb-compare').value = idx(D.models, v);
  if (k === 'suite' && D.cells.includes(v)) $('sb-suite').value = idx(D.cells, v);
  if (k === 'status') $('sb-status').value = v; });
render();
if (location.hash.startsWith('#samples')) $('samples').scrollIntoView();
})();
"""


def _question(r: dict) -> str:
    if r.get("question"):
        return r["question"]
    users = [m.get("content", "") for m in (r.get("prompt") or []) if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1]) if users else ""


def _cut(text: Optional[str]) -> Optional[str]:
    if text is None or len(text) <= MAX_CHARS:
        return text
    return text[:MAX_CHARS] + f"\n[… {len(text) - MAX_CHARS} more characters in `bench samples`]"


def data(records: list[dict]) -> dict:
    """The compact JSON the script reads: questions and targets once per item, not per model."""
    models: list[str] = []
    cells: list[str] = []
    items: dict[str, list] = {}
    rows = []
    for r in records:
        if r["model"] not in models:
            models.append(r["model"])
        cell = f"{r['suite']}/{r['protocol']}"
        if cell not in cells:
            cells.append(cell)
        key = f"{cell}/{r['item_id']}"
        items.setdefault(key, [f"{r['dataset']} {r['item_id']}", _cut(_question(r)), r.get("target")])
        # tokens and the judge score have their own line; bookkeeping flags only when they are set
        metrics = {k: v for k, v in (r.get("metrics") or {}).items()
                   if v is not None and k not in ("scored", "n_tokens", "judge") and not (k in FLAGS and not v)}
        rows.append([models.index(r["model"]), cells.index(cell), key, r.get("status"), _cut(r.get("completion")),
                     r.get("failure"), r.get("judge_score"), r.get("judge_verdict"), metrics, r.get("n_tokens")])
    return {"models": models, "cells": cells, "items": items, "rows": rows}


def section(records: list[dict]) -> str:
    """The browser's HTML (heading, controls, data, script); '' when there is nothing to show."""
    if not records:
        return ""
    payload = json.dumps(data(records), ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    status = "".join(f'<option value="{v}">{escape(label)}</option>' for v, label in
                     (("", "all"), ("correct", "correct"), ("incorrect", "incorrect"), ("failed", "failed")))
    return (f"<style>{CSS}</style>\n"
            '<h2 id="samples">Samples</h2>\n<div id="samples-browser">'
            '<div class="controls">'
            '<label>model <select id="sb-model"></select></label>'
            '<label>compare with <select id="sb-compare"></select></label>'
            '<label>suite <select id="sb-suite"></select></label>'
            f'<label>status <select id="sb-status">{status}</select></label>'
            '<button id="sb-prev" type="button">◀ prev</button><button id="sb-next" type="button">next ▶</button>'
            '<span class="count" id="sb-count"></span></div>'
            '<div id="sb-list"></div></div>\n'
            f'<script type="application/json" id="samples-data">{payload}</script>\n'
            f"<script>{JS}</script>")
