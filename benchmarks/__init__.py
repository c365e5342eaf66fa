"""Benchmarks: one module per suite (items + prompt + scorer), data sources, metrics.

Suites are registered by name and imported lazily; ``module: None`` marks a suite the registry
knows but this version cannot run yet (refused with a clear message).
"""
from __future__ import annotations

import importlib

SUITES: dict[str, dict] = {
    "indomain": {"protocols": ["thesis"], "module": "benchmarks.indomain"},
    # needs_weights: log-likelihood protocols, impossible for replay / API models (skipped for them)
    "outdomain": {"protocols": ["thesis", "standard"], "module": "benchmarks.outdomain", "needs_weights": ["standard"]},
    "bfcl": {"protocols": ["thesis", "thesis-fair", "official"], "module": "benchmarks.bfcl.suite"},
}


def get_suite(name: str):
    from harness.errors import NotBuilt

    entry = SUITES[name]
    if entry["module"] is None:
        raise NotBuilt(f"suite '{name}' is listed in the registry but not built in this version")
    return importlib.import_module(entry["module"]).SUITE
