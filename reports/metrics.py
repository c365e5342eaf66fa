"""Aggregate metrics of the thesis tables, with 95% bootstrap confidence intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd

N_BOOT = 1000


def bootstrap_ci(values, seed: int = 0) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(N_BOOT, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def final_score(accuracy: float, judge: float, eff: float) -> float:
    """The thesis's Final score (docs/thesis.md): 0.4·Accuracy + 0.4·Judge/10 + 0.2·Efficiency (reproduces the published column)."""
    return 0.4 * accuracy + 0.4 * judge / 10 + 0.2 * eff
