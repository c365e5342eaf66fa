"""Provenance: for every cell a report reads, what produced its numbers (model fingerprint, data
source and fingerprint, protocol, judge, generation config, backend, code version, run, time)."""
from __future__ import annotations

import time

import pandas as pd

from core.context import Context

from .data import CellData

COLUMNS = ["model", "fingerprint", "suite", "protocol", "datasets", "items", "data_source", "data_fp", "judge",
           "generation", "backend", "code_version", "run_id", "run_time", "checkpoint"]


def _compact(d) -> str:
    if not isinstance(d, dict):
        return str(d or "")
    return ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("suite", "protocol"))


def provenance(ctx: Context, cells: list[CellData]) -> pd.DataFrame:
    rows = []
    for c in cells:
        m = c.manifest
        when = m.get("time") or c.updated
        ckpt = ctx.ckpts.path(c.model, c.model_fp)
        rows.append({
            "model": c.model, "fingerprint": c.model_fp, "suite": c.suite, "protocol": c.protocol,
            "datasets": ",".join(sorted(set(c.items["dataset"]))) if not c.items.empty else c.datasets,
            "items": len(c.items), "data_source": m.get("data_source", ""), "data_fp": c.data_fp,
            "judge": c.judge, "generation": _compact(m.get("generation")) + f" (hash {c.gen_hash})",
            "backend": _compact(m.get("backend")) or "stored (no new generation in its last run)",
            "code_version": m.get("code_version", ""), "run_id": m.get("run_id", ""),
            "run_time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(when))) if when else "",
            "checkpoint": str(ckpt) if ckpt.is_dir() else "external / not a local checkpoint",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def short(df: pd.DataFrame) -> pd.DataFrame:
    """The human view: 12-character fingerprints, no checkpoint path."""
    out = df.drop(columns=["checkpoint"]).copy()
    out["fingerprint"] = out["fingerprint"].str[:12]
    return out
