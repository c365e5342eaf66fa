"""Paired significance tests between two models on the same items.

The thesis marks each column's best with an asterisk and no test; here a best is marked only
when the best model beats the runner-up on the *same items* at p < 0.05:
  - 0/1 per-item metrics (accuracy, perfect match): exact McNemar test on the discordant pairs;
  - anything else (judge score, mean reward, efficiency, final score): a paired bootstrap that
    resamples items jointly for both models and recomputes the column's statistic.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

ALPHA = 0.05
N_BOOT = 2000

# stat(idx) -> one value per row of idx: the column's statistic on a resample of item positions
Stat = Callable[[np.ndarray], np.ndarray]


def mcnemar_exact(a, b) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes ``a`` and ``b``."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n01 = int(np.sum(a & ~b))
    n10 = int(np.sum(~a & b))
    n = n01 + n10
    if n == 0:
        return 1.0
    k = min(n01, n10)
    # binomial(n, 1/2) tail in log space: exact for any n without overflowing floats
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return float(min(1.0, 2 * tail))


def paired_bootstrap(stat_a: Stat, stat_b: Stat, n: int, n_boot: int = N_BOOT, seed: int = 0) -> float:
    """Two-sided p-value that stat_a == stat_b, resampling the n shared items jointly."""
    if n < 2:
        return 1.0
    whole = np.arange(n)[None, :]
    observed = float(stat_a(whole)[0] - stat_b(whole)[0])
    if observed == 0 or math.isnan(observed):
        return 1.0
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    diff = stat_a(idx) - stat_b(idx)
    crossing = np.sum(diff <= 0) if observed > 0 else np.sum(diff >= 0)
    # add-one so a finite resample never claims p = 0
    return float(min(1.0, 2 * (crossing + 1) / (n_boot + 1)))


def mean_stat(values) -> Stat:
    v = np.asarray(values, dtype=float)
    return lambda idx: v[idx].mean(axis=1)
