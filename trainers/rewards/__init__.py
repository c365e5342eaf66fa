"""Reward library: the thesis rewards (quirks reproduced) and corrected ``*_fixed`` variants.

Every reward is a TRL reward callable ``f(prompts, completions, **kwargs) -> list[float]``
named (``__name__``) after its registry key. Ground truth comes in the ``answer`` kwarg.
Intrinsic rewards (intuitor, hybrid, dualhead and their fixed variants) need
``bind_policy(model, tokenizer)`` first. See QUIRKS.md.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable

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
    )
}



def _bfcl_reward(name: str, attr: str) -> RewardFn:
    """A TRL-style BFCL reward: ``ground_truth`` (calls) and ``available`` (function list) kwargs;
    benchmarks.bfcl (and bfcl-eval behind it) is imported on first call only."""

    def reward(prompts, completions, ground_truth=None, available=None, **kwargs) -> list[float]:
        from benchmarks import bfcl

        from ._common import per_item

        fn = getattr(bfcl, attr)
        n = len(completions)
        truths, avails = per_item(ground_truth, n, "ground_truth"), per_item(available, n, "available")
        return [fn(completion_text(c), t, a) for c, t, a in zip(completions, truths, avails)]

    reward.__name__ = reward.__qualname__ = name
    return reward


REWARDS["bfcl_thesis"] = _bfcl_reward("bfcl_thesis", "thesis_reward")
REWARDS["bfcl_thesis_v2"] = _bfcl_reward("bfcl_thesis_v2", "thesis_reward_v2")

# Multi-reward setups (TRL sums them with weight 1 by default).
REWARD_SETS: dict[str, tuple[str, ...]] = {
    "grpo_1k_def": ("match_format_exactly", "match_format_approximately", "check_answer", "check_numbers"),
}

INTRINSIC_REWARDS = frozenset({"intuitor", "intuitor_fixed", "hybrid", "hybrid_fixed", "dualhead", "dualhead_fixed"})


def list_rewards() -> list[str]:
    return sorted(REWARDS)


def get_reward(name: str) -> RewardFn:
    """A registered reward by name, or a user function given as "package.module:function"."""
    if name in REWARDS:
        return REWARDS[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import reward '{name}': {exc}") from exc
        if not callable(fn):
            raise ValueError(f"reward '{name}' is not callable")
        return fn
    raise ValueError(f"unknown reward {name!r} (known: {', '.join(list_rewards())})")


def register_reward(name: str, fn: RewardFn) -> RewardFn:
    """Add a reward to the registry (e.g. the BFCL rewards); sets fn.__name__ to name when it can."""
    if name in REWARDS and REWARDS[name] is not fn:
        raise ValueError(f"reward {name!r} is already registered")
    try:
        fn.__name__ = name
    except (AttributeError, TypeError):
        pass
    REWARDS[name] = fn
    return fn


def get_rewards(spec: str | Iterable[str]) -> list[RewardFn]:
    """A list of rewards: a set name (REWARD_SETS), a single name, or several names."""
    names = REWARD_SETS.get(spec, (spec,)) if isinstance(spec, str) else tuple(spec)
    return [get_reward(n) for n in names]


def needs_policy(rewards: Iterable[RewardFn]) -> bool:
    """True when any of these rewards reads the bound policy (call bind_policy first)."""
    return any(getattr(f, "__name__", None) in INTRINSIC_REWARDS for f in rewards)


__all__ = [
    "REWARDS", "REWARD_SETS", "INTRINSIC_REWARDS", "get_reward", "get_rewards", "register_reward", "list_rewards", "needs_policy",
    "match_format_exactly", "match_format_approximately", "match_format_approximately_fixed",
    "check_answer", "check_numbers", "grpo_1k", "grpo_1k_v2", "grpo_1k_v3",
    "intuitor", "intuitor_fixed", "hybrid", "hybrid_fixed", "dualhead", "dualhead_fixed",
    "extract_solution", "extract_reasoning", "solution_span", "with_prompt_start", "normalize", "is_correct",
    "process_quality", "calibration", "intuitor_score", "hybrid_score", "dualhead_score",
    "epoch_progress", "step_progress", "completion_text", "completion_texts", "zscore_clip",
    "TokenSignals", "bind_policy", "unbind_policy", "bound_policy", "token_signals", "policy_signals",
    "char_span_to_token_span", "decode_completion", "encode_prompts",
]
