"""Benchmarks: one module per suite (items + prompt + scorer), each owning its facts.

``SUITES`` maps a suite name to its ``SUITE`` object (imported on first use). Adding a suite is
one module with ``SUITE = MySuite()`` (a ``benchmarks.suite.Suite``) + one line here.
"""
from __future__ import annotations

from core.plugins import Registry

from .suite import Suite

SUITES: Registry[Suite] = Registry("suite", {
    "indomain": "benchmarks.indomain:SUITE",
    "outdomain": "benchmarks.outdomain:SUITE",
    "bfcl": "benchmarks.bfcl.suite:SUITE",
})


def get_suite(name: str) -> Suite:
    return SUITES.get(name)


__all__ = ["SUITES", "Suite", "get_suite"]
