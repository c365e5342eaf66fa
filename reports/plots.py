"""PNG plots for the HTML report (matplotlib, Agg backend: no display needed).

Each function returns ``Plot``s holding PNG bytes; nothing is written to disk here.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

from .layout import ReportTable


@dataclass
class Plot:
    title: str
    caption: str
    png: bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _headline(t: ReportTable):
    """The table's accuracy-like column (accuracy, else perfect match, else the first rate)."""
    cols = [c for _, c in t.columns]
    for key in ("accuracy", "perfect"):
        if any(c.key == key for c in cols):
            return key
    rates = [c.key for c in cols if c.kind == "rate"]
    return rates[0] if rates else None


def _series(t: ReportTable, key: str):
    """{group: {model: Figure}} for column ``key``."""
    out: dict[str, dict] = {}
    for row in t.rows:
        for (g, c), f in zip(t.columns, row.figures):
            if c.key == key and not f.missing:
                out.setdefault(g, {})[row.labels[0]] = f
    return out


def accuracy_plots(tables: list[ReportTable]) -> list[Plot]:
    """Per suite table: grouped bars (dataset × model) of its accuracy-like figure with 95% CIs."""
    plt = _plt()
    plots = []
    for t in tables:
        key = _headline(t)
        data = _series(t, key) if key else {}
        if not data:
            continue
        groups = list(data)
        models = list(dict.fromkeys(m for g in groups for m in data[g]))
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(groups) * len(models) + 1.5), 3.6))
        width = 0.8 / max(1, len(models))
        for i, m in enumerate(models):
            xs, ys, err = [], [], [[], []]
            for gi, g in enumerate(groups):
                f = data[g].get(m)
                if f is None:
                    continue
                xs.append(gi + (i - (len(models) - 1) / 2) * width)
                ys.append(100 * f.value)
                lo = f.lo if not math.isnan(f.lo) else f.value
                hi = f.hi if not math.isnan(f.hi) else f.value
                err[0].append(100 * (f.value - lo))
                err[1].append(100 * (hi - f.value))
            ax.bar(xs, ys, width=width * 0.95, yerr=err, capsize=3, label=m)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylabel(f"{key} (%)")
        ax.set_ylim(0, 105)
        ax.set_title(f"{t.title}: {key} with 95% CI")
        ax.legend(fontsize=8, loc="upper right")
        plots.append(Plot(f"{t.title}: {key}", f"{key} per dataset and model; error bars: 95% CI (Wilson score for rates, percentile bootstrap for means).",
                          _png(fig)))
    return plots


def efficiency_plots(tables: list[ReportTable]) -> list[Plot]:
    """Accuracy against efficiency, one point per (model, dataset), with the accuracy CI."""
    plt = _plt()
    plots = []
    for t in tables:
        key = _headline(t)
        acc, eff = (_series(t, key) if key else {}), _series(t, "efficiency")
        points = [(g, m, acc[g][m], eff[g][m]) for g in acc for m in acc[g] if m in eff.get(g, {})]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 4))
        markers = "osD^v<>p*h"
        groups = list(dict.fromkeys(g for g, *_ in points))
        for g, m, a, e in points:
            lo = a.lo if not math.isnan(a.lo) else a.value
            hi = a.hi if not math.isnan(a.hi) else a.value
            ax.errorbar(e.value, 100 * a.value, yerr=[[100 * (a.value - lo)], [100 * (hi - a.value)]],
                        fmt=markers[groups.index(g) % len(markers)], capsize=3)
            ax.annotate(f"{m} ({g})" if len(groups) > 1 else m, (e.value, 100 * a.value), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("efficiency (reference tokens / model tokens; > 1 = more concise)")
        ax.set_ylabel(f"{key} (%)")
        ax.set_title(f"{t.title}: {key} vs. efficiency")
        plots.append(Plot(f"{t.title}: {key} vs. efficiency",
                          "Each point is a model on a dataset; vertical bars: 95% CI (Wilson score for rates, percentile bootstrap for means).", _png(fig)))
    return plots


def _curves(manifest: dict) -> dict[str, tuple[list, list]]:
    """Reward series from a checkpoint manifest: log_history (with steps), else reward_components."""
    tm = manifest.get("train_metrics") or {}
    series: dict[str, tuple[list, list]] = {}
    for i, entry in enumerate(tm.get("log_history") or []):
        step = entry.get("step", i + 1)
        for k, v in entry.items():
            if isinstance(v, (int, float)) and "reward" in k and not k.endswith("std") and "zero_std" not in k:
                series.setdefault(k, ([], []))
                series[k][0].append(step)
                series[k][1].append(v)
    if not series:
        for k, values in (tm.get("reward_components") or {}).items():
            series[k] = (list(range(1, len(values) + 1)), list(values))
    return series


def reward_plots(manifests: dict[str, dict]) -> list[Plot]:
    """Training reward curves (total and per reward function) from the checkpoint manifests."""
    plt = _plt()
    curves = {name: c for name, m in manifests.items() if (c := _curves(m))}
    if not curves:
        return []
    n = len(curves)
    fig, axes = plt.subplots(n, 1, figsize=(7, 2.8 * n), squeeze=False)
    for ax, (name, series) in zip(axes[:, 0], curves.items()):
        for k, (xs, ys) in series.items():
            label = k.removeprefix("rewards/").removesuffix("/mean")
            ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, markersize=3, label=label,
                    linewidth=2.2 if k == "reward" else 1.2)
        fp = manifests[name].get("fingerprint", "")[:12]
        ax.set_title(f"{name} [{fp}]", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("reward (batch mean)")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return [Plot("Training reward curves", "Per-step batch-mean rewards logged during GRPO training "
                 "(checkpoint manifests: train_metrics.log_history / reward_components).", _png(fig))]
