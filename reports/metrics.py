"""Aggregate metrics of the tables and their 95% confidence intervals.

- a proportion (a 0/1 metric: accuracy, perfect match) gets the Wilson score interval: it stays
  inside [0, 1] and is not degenerate at 0 or n successes (0 of 8 correct is [0, 0.32], where a
  percentile bootstrap of eight zeros says [0, 0]);
- a mean of anything else (judge score, mean reward) gets a percentile bootstrap over items
  (``N_BOOT`` resamples), which stays inside the range of the values;
- lm-eval's own aggregate is shown as lm-eval prints it, acc ± 1.96·stderr, clipped to [0, 1], with
  the stderr computed by lm-eval's formula over the cell's items (``mean_stderr``): a cell that was
  resumed spans several lm-eval runs, and each reported the stderr of its own items only.
"""
from __future__ import annotations

import math

import numpy as np

N_BOOT = 1000
Z95 = 1.96  # as lm-eval prints its interval

CI_NOTE = (f"95% CIs: Wilson score interval on 0/1 rates, percentile bootstrap ({N_BOOT} item resamples) on "
           "other means, lm-eval's acc ± 1.96·stderr clipped to [0, 1] on its aggregates")


def wilson_ci(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for ``successes`` out of ``n``: the closed form that scipy's
    ``binomtest(k, n).proportion_ci(method="wilson")`` computes, without importing scipy.stats
    (about 1.5 s, half of a fully cached `bench run`)."""
    if n < 1:
        return (float("nan"), float("nan"))
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.975)
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bootstrap_ci(values, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``values`` (NaN with fewer than 2)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(N_BOOT, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def normal_ci_clipped(value: float, stderr: float, lo: float = 0.0, hi: float = 1.0) -> tuple[float, float]:
    """value ± 1.96·stderr clipped to [lo, hi] (lm-eval's interval for its acc)."""
    if math.isnan(value) or math.isnan(stderr):
        return (float("nan"), float("nan"))
    return max(lo, value - Z95 * stderr), min(hi, value + Z95 * stderr)


def mean_stderr(values) -> float:
    """Standard error of a mean as lm-eval computes it (``lm_eval.api.metrics.mean_stderr``: the
    sample standard deviation over sqrt(n)), in its order of float operations, so a cell evaluated
    in one lm-eval run gets the stderr lm-eval reported, bit for bit. NaN with fewer than 2 values."""
    v = [float(x) for x in values]
    if len(v) < 2:
        return float("nan")
    mu = sum(v) / len(v)
    return math.sqrt(sum([(x - mu) ** 2 for x in v]) / (len(v) - 1)) / math.sqrt(len(v))


def final_score(accuracy: float, judge: float, eff: float) -> float:
    """The thesis's Final score (docs/thesis.md): 0.4·Accuracy + 0.4·Judge/10 + 0.2·Efficiency (reproduces the published column)."""
    return 0.4 * accuracy + 0.4 * judge / 10 + 0.2 * eff
