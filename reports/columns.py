"""Report columns: what each figure is, how it is computed from per-item metrics, its 95%
confidence interval, and the paired test that decides a best-in-column mark.

Metrics are read generically from the store (long format metric/value per item); the few the
thesis tables rely on have fixed definitions here, any other metric a suite stores shows up as
its own column (a 0/1 metric as a rate, anything else as a mean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from . import stats
from .metrics import bootstrap_ci, final_score, mean_stderr, normal_ci_clipped, wilson_ci

NAN = float("nan")


@dataclass(frozen=True)
class Column:
    key: str      # name in CSV/JSON
    label: str    # header shown to people
    kind: str     # rate | mean | efficiency | final | tokens | aggregate | count | failures
    metric: Optional[str] = None  # the per-item metric it reads
    higher_better: bool = True
    compare: bool = True  # False: descriptive only (no best mark), e.g. the share of truncated prompts

    @property
    def tested(self) -> bool:
        return self.compare and self.kind in ("rate", "mean", "efficiency", "final")


ACCURACY = Column("accuracy", "Accuracy", "rate", "correct")
JUDGE = Column("judge", "Judge", "mean", "judge")
EFFICIENCY = Column("efficiency", "Efficiency", "efficiency")
FINAL = Column("final", "Final", "final")
TOKENS = Column("tokens", "tokens", "tokens", "n_tokens", higher_better=False)
# BFCL thesis protocol (benchmarks/bfcl/suite.py): ``reward`` is the best of the n sampled completions
# (the thesis's test reward, from which ``perfect`` is derived); ``reward_mean`` their mean
AVG_REWARD = Column("reward", "Avg. reward", "mean", "reward")
PERFECT = Column("perfect", "Perfect match", "rate", "perfect")
N_ITEMS = Column("n", "n", "count")  # items scored (failed ones are not)
# items whose generation failed: shown when any cell of the table has one (the cell is then incomplete)
FAILED = Column("failed", "failed", "failures", compare=False)

KNOWN = {c.metric: c for c in (ACCURACY, JUDGE, AVG_REWARD,
                               Column("reward_mean", "reward (mean of n)", "mean", "reward_mean"), PERFECT,
                               Column("truncated", "truncated prompts", "rate", "truncated", compare=False),
                               # judged items the judge could not score: unparsable verdict / unreachable judge
                               Column("judge_missing", "judge unparsable", "rate", "judge_missing", compare=False),
                               Column("judge_error", "judge errors", "rate", "judge_error", compare=False))}
# not columns of their own: bookkeeping, or shown through another column
# lm-eval aggregate -> the per-item metric it averages. Its stderr is recomputed over the cell's items:
# a resumed cell spans several lm-eval runs, each of which reported the stderr of its own items only.
AGGREGATE_OF = {"lm_eval_acc": "correct"}
BOOKKEEPING = {"scored", "failed", "n_tokens", "correct", "judge", "reward_best"}
# suites whose table carries the thesis's composite Final score
FINAL_SUITES = {"indomain"}


@dataclass
class Figure:
    """One number of a table with its interval; ``note`` says why it is missing."""
    value: float = NAN
    lo: float = NAN
    hi: float = NAN
    n: int = 0
    note: str = ""
    best: bool = False
    p: float = NAN  # paired test of the column's best against its runner-up (on the best's figure)
    text: str = ""  # shown verbatim (published figures, differences)

    @property
    def missing(self) -> bool:
        return self.value is None or math.isnan(self.value)


# flags worth a column only when they happened somewhere (an all-zero column is noise)
SHOWN_IF_SET = {"judge_missing", "judge_error", "truncated", "failed"}


def columns_for(frames: list[pd.DataFrame], suite: str, has_reference: bool = True) -> list[Column]:
    """The columns of a suite table, from the metrics its cells stored."""
    metrics: list[str] = []
    for f in frames:
        metrics += [c for c in f.columns if c not in ("item_id", "dataset") and c not in metrics]
    metrics = [m for m in metrics if m not in SHOWN_IF_SET
               or any(m in f and f[m].fillna(0).gt(0).any() for f in frames)]
    known_order = list(KNOWN)
    metrics.sort(key=lambda m: (known_order.index(m) if m in known_order else len(known_order), m))
    cols = [N_ITEMS]
    if "correct" in metrics:
        cols.append(ACCURACY)
    for m in metrics:
        if m in BOOKKEEPING or m.endswith("_stderr"):
            continue
        if m in KNOWN:
            cols.append(KNOWN[m])
        elif m.startswith("lm_eval_") or f"{m}_stderr" in metrics:
            # lm-eval's own aggregate (with its stderr): shown as reported, not re-tested per item
            cols.append(Column(m, m, "aggregate", m))
        else:
            binary = all(set(f[m].dropna().unique()) <= {0.0, 1.0} for f in frames if m in f)
            cols.append(Column(m, m, "rate" if binary else "mean", m))
    if "judge" in metrics:
        cols.append(JUDGE)
    # log-likelihood protocols generate nothing (n_tokens 0): no token economy to report
    if any("n_tokens" in f and f["n_tokens"].fillna(0).gt(0).any() for f in frames):
        # efficiency compares with the suite's reference model; a suite without one shows tokens only
        cols += [EFFICIENCY, TOKENS] if has_reference else [TOKENS]
    if suite in FINAL_SUITES and {"correct", "judge", "n_tokens"} <= set(metrics):
        cols.append(FINAL)
    return cols


def figure(col: Column, items: pd.DataFrame, ref: Optional[pd.DataFrame]) -> Figure:
    """The column's value for one model on ``items`` (``ref``: the reference model's items)."""
    if items is None or items.empty:
        return Figure()
    n = len(items)
    if col.kind == "count":
        return Figure(float(n), n=n)
    if col.kind in ("rate", "mean", "tokens", "aggregate"):
        if col.metric not in items or items[col.metric].dropna().empty:
            return Figure(n=n)
        v = items[col.metric].dropna()
        if col.kind == "aggregate":
            se_col, per_item = f"{col.metric}_stderr", AGGREGATE_OF.get(col.metric)
            if per_item in items and items[per_item].notna().all():
                se = mean_stderr(items[per_item])
            else:
                se = float(items[se_col].mean()) if se_col in items else NAN
            value = float(v.mean())
            lo, hi = normal_ci_clipped(value, se) if 0.0 <= value <= 1.0 else (value - 1.96 * se, value + 1.96 * se)
            return Figure(value, lo, hi, n=len(v))
        if col.kind == "tokens":
            return Figure(float(v.mean()), n=len(v))
        if col.kind == "rate" and set(v.unique()) <= {0.0, 1.0}:  # a proportion: Wilson, see metrics.py
            lo, hi = wilson_ci(int(v.sum()), len(v))
        else:
            lo, hi = bootstrap_ci(v)
        return Figure(float(v.mean()), lo, hi, n=len(v))
    eff_items = _with_ref(items, ref)
    if col.kind == "efficiency":
        if eff_items is None:
            return Figure(n=n)
        return Figure(float(eff_items["n_tokens_ref"].mean() / eff_items["n_tokens"].mean()), n=len(eff_items))
    if col.kind == "final":
        if eff_items is None or "correct" not in items or "judge" not in items or items["judge"].dropna().empty:
            return Figure(n=n)
        eff = float(eff_items["n_tokens_ref"].mean() / eff_items["n_tokens"].mean())
        return Figure(final_score(float(items["correct"].mean()), float(items["judge"].dropna().mean()), eff), n=n)
    raise ValueError(col.kind)


def _with_ref(items: pd.DataFrame, ref: Optional[pd.DataFrame]) -> Optional[pd.DataFrame]:
    """Items shared with the reference, with both token counts (efficiency needs the same items)."""
    if ref is None or ref.empty or "n_tokens" not in items or "n_tokens" not in ref:
        return None
    both = items.merge(ref[["item_id", "n_tokens"]], on="item_id", suffixes=("", "_ref"))
    if both.empty or both["n_tokens"].mean() == 0:
        return None
    return both


def paired_p(col: Column, a: pd.DataFrame, b: pd.DataFrame, ref: Optional[pd.DataFrame]) -> float:
    """p-value that models a and b differ on ``col``, on the items both answered."""
    if not col.tested:
        return NAN
    if col.kind in ("rate", "mean"):
        both = a[["item_id", col.metric]].merge(b[["item_id", col.metric]], on="item_id").dropna()
        x, y = both[f"{col.metric}_x"].to_numpy(float), both[f"{col.metric}_y"].to_numpy(float)
        if col.kind == "rate" and set(np.unique(np.r_[x, y])) <= {0.0, 1.0}:
            return stats.mcnemar_exact(x, y)
        return stats.paired_bootstrap(stats.mean_stat(x), stats.mean_stat(y), len(both))
    if ref is None or ref.empty:
        return NAN
    need = ["item_id", "n_tokens"] + (["correct", "judge"] if col.kind == "final" else [])
    if any(k not in a or k not in b for k in need):
        return NAN
    both = (a[need].merge(b[need], on="item_id", suffixes=("_a", "_b"))
            .merge(ref[["item_id", "n_tokens"]].rename(columns={"n_tokens": "ref"}), on="item_id").dropna())
    r = both["ref"].to_numpy(float)

    def stat(side: str):
        t = both[f"n_tokens_{side}"].to_numpy(float)
        if col.kind == "efficiency":
            return lambda idx: r[idx].mean(1) / np.maximum(t[idx].mean(1), 1e-9)
        c, j = both[f"correct_{side}"].to_numpy(float), both[f"judge_{side}"].to_numpy(float)
        return lambda idx: (0.4 * c[idx].mean(1) + 0.04 * j[idx].mean(1)
                            + 0.2 * r[idx].mean(1) / np.maximum(t[idx].mean(1), 1e-9))

    return stats.paired_bootstrap(stat("a"), stat("b"), len(both))


def mark_best(col: Column, figures: dict[str, Figure], items: dict[str, pd.DataFrame],
              ref: Optional[pd.DataFrame]) -> None:
    """Set ``best`` on the column's best figure when a paired test separates it from the runner-up."""
    if not col.tested:
        return
    ranked = sorted((m for m, f in figures.items() if not f.missing),
                    key=lambda m: figures[m].value, reverse=col.higher_better)
    if len(ranked) < 2:
        return
    best, second = ranked[0], ranked[1]
    if figures[best].value == figures[second].value:
        return
    p = paired_p(col, items[best], items[second], ref)
    figures[best].p = p
    figures[best].best = not math.isnan(p) and p < stats.ALPHA
