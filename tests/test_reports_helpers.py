"""Helpers (no tests): synthetic per-item results written into a real results store (core.results.ResultStore), under
the real registry's fingerprints, so the report code reads them exactly as it reads a real run."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core.fingerprint import digest
from models import fingerprint
from harness.registry import load_registry
from core.context import Context
from harness.runner import gen_config, resolve

ROOT = Path(__file__).resolve().parents[1]


def context(store: Path, profile: str = "smoke") -> Context:
    return resolve(Context(reg=load_registry(ROOT / "registry.yaml"), profile_name=profile, store_dir=store))


def put_cell(ctx: Context, model: str, suite: str, protocol: str, items: dict[str, tuple[str, dict]]) -> None:
    """items: item_id -> (dataset, {metric: value})."""
    fp = fingerprint(ctx.reg, ctx.profile, model)
    ghash = digest(gen_config(ctx, suite, protocol))[:16]
    datasets = ",".join(dict.fromkeys(d for d, _ in items.values()))
    ctx.results.upsert_cell(model, fp, suite, protocol, ghash, ctx.profile_name, datasets, "synthdatafp0001", "rubric",
                            {"generation": gen_config(ctx, suite, protocol), "backend": {"backend": "synthetic"},
                             "data_source": "synthetic-test", "items": len(items), "code_version": "test",
                             "run_id": "synthrun", "time": time.time()})
    ctx.results.add_generations([{"model_fp": fp, "suite": suite, "protocol": protocol, "item_id": i,
                                  "gen_hash": ghash, "dataset": d, "completion": "x", "n_tokens": int(m.get("n_tokens", 10))}
                                 for i, (d, m) in items.items()])
    ctx.results.add_scores([(fp, suite, protocol, i, ghash, 0, k, float(v))
                            for i, (_, m) in items.items() for k, v in m.items()])


def binary(n: int, rate: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    out[rng.permutation(n)[: round(rate * n)]] = 1
    return out


def math_items(correct, judge=None, tokens=None, dataset: str = "gsm8k", prefix: str = "") -> dict:
    n = len(correct)
    judge = judge if judge is not None else [8.0 if c else 3.0 for c in correct]
    tokens = tokens if tokens is not None else [40] * n
    return {f"{prefix}{i}": (dataset, {"correct": correct[i], "judge": judge[i], "n_tokens": tokens[i], "scored": 1.0})
            for i in range(n)}
