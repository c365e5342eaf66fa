"""Comparison tables per suite: models × (dataset × metric), from the results store only."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rich.table import Table

from harness.runner import Context

from .data import cells, item_scores
from .metrics import summarize


def suite_table(ctx: Context, suite: str, protocol: str) -> pd.DataFrame:
    """One row per (model, dataset) with the summary metrics of that cell."""
    cs = cells(ctx)
    if cs.empty:
        return pd.DataFrame()
    cs = cs[(cs["suite"] == suite) & (cs["protocol"] == protocol)]
    ref_name = ctx.reg.suites[suite].reference if suite in ctx.reg.suites else None
    frames = {row.model: item_scores(ctx, row.model_fp, suite, protocol, row.gen_hash) for row in cs.itertuples()}
    ref = frames.get(ref_name)
    rows = []
    for row in cs.itertuples():
        items = frames[row.model]
        if items.empty:
            continue
        for dataset, part in items.groupby("dataset"):
            ref_part = ref[ref["dataset"] == dataset] if ref is not None and not ref.empty else None
            rows.append({"model": row.model, "dataset": dataset, "fingerprint": row.model_fp[:12],
                         "judge_name": row.judge, **summarize(part, ref_part)})
    return pd.DataFrame(rows)


def _fmt(v, pct=False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The human table: accuracy with its 95% CI, judge, efficiency, final."""
    out = pd.DataFrame({
        "model": df["model"], "dataset": df["dataset"], "n": df["n"],
        "accuracy [95% CI]": [f"{_fmt(a, True)} [{_fmt(lo, True)}, {_fmt(hi, True)}]"
                              for a, lo, hi in zip(df["accuracy"], df["acc_lo"], df["acc_hi"])],
        "judge": [_fmt(v) + (f" ({m} missing)" if m else "") for v, m in zip(df["judge"], df["judge_missing"])],
        "efficiency": [_fmt(v) for v in df["efficiency"]],
        "tokens": [_fmt(v) for v in df["tokens"]],
        "final": [_fmt(v) for v in df["final"]],
    })
    return out


def rich_table(title: str, df: pd.DataFrame) -> Table:
    t = Table(title=title, title_justify="left")
    for col in df.columns:
        t.add_column(col, justify="left" if col in ("model", "dataset") else "right")
    for row in df.itertuples(index=False):
        t.add_row(*[str(v) for v in row])
    return t


def write_files(out_dir: Path, name: str, raw: pd.DataFrame, shown: pd.DataFrame, caption: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv, md = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    _atomic(csv, raw.to_csv(index=False))
    _atomic(md, f"### {name}\n\n{caption}\n\n" + shown.to_markdown(index=False) + "\n")
    return [csv, md]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(text)
    tmp.replace(path)
