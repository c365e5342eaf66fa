"""Read the results store into per-item frames for the models of the registry under one profile.

Only cells whose model fingerprint matches the registry's current recipe are read: a model
retrained under a new recipe never shows its predecessor's numbers.
"""
from __future__ import annotations

import pandas as pd

from harness.fingerprint import fingerprint
from harness.runner import Context


def cells(ctx: Context) -> pd.DataFrame:
    fps = {name: fingerprint(ctx.reg, ctx.profile, name) for name in ctx.reg.models}
    df = ctx.results.frame("SELECT * FROM cells WHERE profile=?", (ctx.profile_name,))
    if df.empty:
        return df
    df = df[[fps.get(m) == fp for m, fp in zip(df["model"], df["model_fp"])]]
    order = {name: i for i, name in enumerate(ctx.reg.models)}
    return df.sort_values(by="model", key=lambda s: s.map(order)).reset_index(drop=True)


def item_scores(ctx: Context, model_fp: str, suite: str, protocol: str, gen_hash: str) -> pd.DataFrame:
    """One row per item, one column per metric, plus the item's dataset."""
    df = ctx.results.frame(
        "SELECT s.item_id, s.metric, s.value, g.dataset FROM scores s JOIN generations g ON "
        "g.model_fp=s.model_fp AND g.suite=s.suite AND g.protocol=s.protocol AND g.item_id=s.item_id "
        "AND g.gen_hash=s.gen_hash AND g.sample=s.sample "
        "WHERE s.model_fp=? AND s.suite=? AND s.protocol=? AND s.gen_hash=?",
        (model_fp, suite, protocol, gen_hash))
    if df.empty:
        return df
    wide = df.pivot_table(index=["item_id", "dataset"], columns="metric", values="value", aggfunc="first")
    return wide.reset_index()
