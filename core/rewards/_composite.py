"""GRPO-1K single-reward composites (v1, v2, v3) built from the format and answer rewards."""

from __future__ import annotations

from ._answer import check_answer
from ._common import named
from ._format import match_format_approximately, match_format_exactly


def _answer_ok(prompts, completions, kwargs) -> list[float]:
    return [1.0 if s > 0 else 0.0 for s in check_answer(prompts, completions, **kwargs)]


@named("grpo_1k")
def grpo_1k(prompts, completions, **kwargs) -> list[float]:
    """0.6*[exact format > 0] + 0.4*[check_answer > 0]."""
    fmt = match_format_exactly(prompts, completions, **kwargs)
    return [0.6 * (f > 0) + 0.4 * a for f, a in zip(fmt, _answer_ok(prompts, completions, kwargs))]


def _v2_parts(prompts, completions, kwargs):
    approx = match_format_approximately(prompts, completions, **kwargs)
    top = max(approx, default=0.0)
    # Thesis: approx / max(approx in batch), floored at 0. Quirk: with an all-negative batch the
    # ratio of two negatives is positive (the worst completion gets the largest term). A zero
    # maximum would divide by zero: that term is taken as 0.
    fmt = [max(a / top, 0.0) if top != 0 else 0.0 for a in approx]
    return approx, fmt, _answer_ok(prompts, completions, kwargs)


@named("grpo_1k_v2")
def grpo_1k_v2(prompts, completions, **kwargs) -> list[float]:
    """0.6*max(approx / max(approx over the batch), 0) + 0.4*[check_answer > 0]."""
    _, fmt, ok = _v2_parts(prompts, completions, kwargs)
    return [0.6 * f + 0.4 * a for f, a in zip(fmt, ok)]


@named("grpo_1k_v3")
def grpo_1k_v3(prompts, completions, **kwargs) -> list[float]:
    """grpo_1k_v2 minus 0.1*|approx| when approx < 0."""
    approx, fmt, ok = _v2_parts(prompts, completions, kwargs)
    return [0.6 * f + 0.4 * a - (0.1 * abs(x) if x < 0 else 0.0) for x, f, a in zip(approx, fmt, ok)]
