"""`bench perf`: performance targets measured as ratios side by side in one run.

Machines here are shared and noisy, so only ratios of two measurements taken back to back on the
same items count as evidence; absolute seconds are printed for context only.
"""
from .suite import Measurement, run_perf

__all__ = ["Measurement", "run_perf"]
