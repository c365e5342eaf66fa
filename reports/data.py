"""Read the results store into per-item frames for the models of the registry under one profile.

Only cells whose model fingerprint matches the registry's current recipe are read: a model
retrained under a new recipe never shows its predecessor's numbers. Reports never run a model.

A failed generation (stored with an ``error``) is not an item result: it is kept out of the
per-item frame (so no figure counts it) and listed in ``CellData.failures`` instead.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

import pandas as pd

from core.context import Context


@dataclass(eq=False)  # identity: two cells are the same only if they are one object
class CellData:
    """One evaluated (model, suite, protocol): its store row, manifest and per-item metrics."""
    model: str
    model_fp: str
    suite: str
    protocol: str
    gen_hash: str
    judge: str
    data_fp: str
    datasets: str
    manifest: dict
    updated: float
    current_config: bool  # its generation config is the profile's current one
    items: pd.DataFrame = field(repr=False)  # one row per scored item: item_id, dataset, one column per metric
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["item_id", "dataset", "error"]),
                                   repr=False)  # one row per failed item: item_id, dataset, error

    @property
    def incomplete(self) -> bool:
        return not self.failures.empty

    def failed(self, dataset: Optional[str] = None) -> pd.DataFrame:
        """The failed items, all or one dataset's."""
        return self.failures if dataset is None else self.failures[self.failures["dataset"] == dataset]


def cells(ctx: Context, suites: Optional[list[str]] = None) -> pd.DataFrame:
    fps = ctx.fingerprints  # the current recipes' fingerprints, resolved by the application
    df = ctx.results.frame("SELECT * FROM cells WHERE profile=?", (ctx.profile_name,))
    if df.empty:
        return df
    if suites is not None:
        df = df[df["suite"].isin(suites)]
    df = df[[fps.get(m) == fp for m, fp in zip(df["model"], df["model_fp"])]]
    order = {name: i for i, name in enumerate(ctx.reg.models)}
    return df.sort_values(by="model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def item_scores(ctx: Context, model_fp: str, suite: str, protocol: str, gen_hash: str) -> pd.DataFrame:
    """One row per item, one column per metric, plus the item's dataset.

    Two indexed reads joined in pandas, not one SQL join: the join looked up the generation row
    once per score row (seven per item), twice the time on a store of 10x the demo's rows."""
    key = (model_fp, suite, protocol, gen_hash)
    scores = ctx.results.frame("SELECT item_id, metric, value FROM scores WHERE model_fp=? AND suite=? AND "
                               "protocol=? AND gen_hash=? AND sample=0", key)
    # a failure is never an item result, even where an older version stored scores for it
    gens = ctx.results.frame("SELECT item_id, dataset FROM generations WHERE model_fp=? AND suite=? AND "
                             "protocol=? AND gen_hash=? AND sample=0 AND error IS NULL", key)
    if scores.empty or gens.empty:
        return pd.DataFrame()
    wide = scores.pivot(index="item_id", columns="metric", values="value")  # (item, metric) is a key
    wide.columns.name = None
    wide = gens.set_index("item_id").join(wide, how="inner")
    return wide.reset_index().sort_values(["item_id", "dataset"], kind="stable").reset_index(drop=True)


def item_failures(ctx: Context, model_fp: str, suite: str, protocol: str, gen_hash: str) -> pd.DataFrame:
    """One row per failed item: item_id, dataset, error (the reason)."""
    return ctx.results.frame(
        "SELECT item_id, dataset, error FROM generations WHERE model_fp=? AND suite=? AND protocol=? AND gen_hash=? "
        "AND sample=0 AND error IS NOT NULL ORDER BY item_id", (model_fp, suite, protocol, gen_hash))


def load_cells(ctx: Context, suites: Optional[list[str]] = None) -> list[CellData]:
    """One CellData per (model, suite, protocol) of the current registry and profile (of
    ``suites`` only, when given: a report of one suite reads no other suite's items).

    When a cell was evaluated under several generation configs (the registry's generation
    settings changed), the current config wins; otherwise the most recently updated one.
    """
    df = cells(ctx, suites)
    if df.empty:
        return []
    chosen: dict[tuple, CellData] = {}
    for row in df.itertuples():
        current = ctx.gen_hashes.get((row.suite, row.protocol)) == row.gen_hash
        key = (row.model, row.suite, row.protocol)
        old = chosen.get(key)
        if old and (old.current_config, old.updated) >= (current, row.updated):
            continue
        try:
            manifest = json.loads(row.manifest or "{}")
        except ValueError:
            manifest = {"unreadable": True}
        chosen[key] = CellData(row.model, row.model_fp, row.suite, row.protocol, row.gen_hash, row.judge or "",
                               row.data_fp or "", row.dataset or "", manifest, float(row.updated or 0), current,
                               pd.DataFrame())
    for cell in chosen.values():
        cell.items = item_scores(ctx, cell.model_fp, cell.suite, cell.protocol, cell.gen_hash)
        cell.failures = item_failures(ctx, cell.model_fp, cell.suite, cell.protocol, cell.gen_hash)
    return list(chosen.values())


def find(cells_: list[CellData], model: Optional[str], suite: str, protocol: str) -> Optional[CellData]:
    for c in cells_:
        if c.model == model and c.suite == suite and c.protocol == protocol:
            return c
    return None


def train_manifests(ctx: Context, models: list[str]) -> dict[str, dict]:
    """Checkpoint manifests (with ``train_metrics``) of the current checkpoints of ``models``."""
    out = {}
    for name in models:
        if name not in ctx.reg.models:
            continue
        if name not in ctx.fingerprints:
            continue
        m = ctx.ckpts.manifest(name, ctx.fingerprints[name])
        if m:
            out[name] = m
    return out
