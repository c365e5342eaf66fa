"""Reward library: the thesis rewards (quirks reproduced) and corrected ``*_fixed`` variants.

Every reward is a TRL reward callable ``f(prompts, completions, **kwargs) -> list[float]``
named (``__name__``) after its registry key. Ground truth comes in the ``answer`` kwarg.
Intrinsic rewards (intuitor, hybrid, dualhead and their fixed variants) need
``bind_policy(model, tokenizer)`` first. See QUIRKS.md.

The library is in the ground layer because training and evaluation share it: GRPO trains on
these rewards, and the BFCL thesis reward is also that suite's metric.

Adding a reward: one function (in a ``_*.py`` module here, or anywhere as ``package.module:fn``
in the registry) + one line in ``REWARDS``. ``reward_fingerprint`` hashes its code, so a variant
trained on it retrains when its body changes.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ._bfcl import bfcl_thesis, bfcl_thesis_v2
from ._answer import check_answer, check_numbers, is_correct, normalize
from ._common import completion_text, completion_texts, zscore_clip
from ._composite import grpo_1k, grpo_1k_v2, grpo_1k_v3
from ._format import (
    extract_reasoning,
    extract_solution,
    match_format_approximately,
    match_format_approximately_fixed,
    match_format_exactly,
    solution_span,
    with_prompt_start,
)
from ._intrinsic import (
    TokenSignals,
    bind_policy,
    bound_policy,
    char_span_to_token_span,
    decode_completion,
    encode_prompts,
    policy_signals,
    token_signals,
    unbind_policy,
)
from ._ood import (
    calibration,
    dualhead,
    dualhead_fixed,
    dualhead_score,
    epoch_progress,
    hybrid,
    hybrid_fixed,
    hybrid_score,
    intuitor,
    intuitor_fixed,
    intuitor_score,
    process_quality,
    step_progress,
)

RewardFn = Callable[..., list]

REWARDS: dict[str, RewardFn] = {
    f.__name__: f
    for f in (
        match_format_exactly,
        match_format_approximately,
        match_format_approximately_fixed,
        check_answer,
        check_numbers,
        grpo_1k,
        grpo_1k_v2,
        grpo_1k_v3,
        intuitor,
        intuitor_fixed,
        hybrid,
        hybrid_fixed,
        dualhead,
        dualhead_fixed,
        bfcl_thesis,
        bfcl_thesis_v2,
    )
}


def get_reward(name: str) -> RewardFn:
    """A registered reward by name, or a user function given as "package.module:function"."""
    if name in REWARDS:
        return REWARDS[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError, TypeError) as exc:
            raise ValueError(f"cannot import reward '{name}': {exc}") from None
        if not callable(fn):
            raise ValueError(f"reward '{name}' is not callable")
        return fn
    raise ValueError(f"unknown reward {name!r} (known: {', '.join(sorted(REWARDS))})")


def reward_fingerprint(name: str) -> str:
    """What a reward contributes to a trained variant's fingerprint: the hash of its code."""
    from core.fingerprint import code_digest

    return code_digest(get_reward(name))


__all__ = [
    "REWARDS", "get_reward", "reward_fingerprint",
    "match_format_exactly", "match_format_approximately", "match_format_approximately_fixed",
    "check_answer", "check_numbers", "grpo_1k", "grpo_1k_v2", "grpo_1k_v3",
    "intuitor", "intuitor_fixed", "hybrid", "hybrid_fixed", "dualhead", "dualhead_fixed",
    "bfcl_thesis", "bfcl_thesis_v2",
    "extract_solution", "extract_reasoning", "solution_span", "with_prompt_start", "normalize", "is_correct",
    "process_quality", "calibration", "intuitor_score", "hybrid_score", "dualhead_score",
    "epoch_progress", "step_progress", "completion_text", "completion_texts", "zscore_clip",
    "TokenSignals", "bind_policy", "unbind_policy", "bound_policy", "token_signals", "policy_signals",
    "char_span_to_token_span", "decode_completion", "encode_prompts",
]
