"""The thesis BFCL reward (also its evaluation metric), quirks included.

Only function *names* matter: parameters are never checked (thesis quirk).
"""

from __future__ import annotations

import json
import re
from collections import Counter

from core.extract import tag_span
from core.thesis_format import REASONING_START, SOLUTION_END, SOLUTION_START

# Quirk: the original format bonus looks for this tag, which the output format never uses
# (the real closing tag is REASONING_END = "<end_working_out>").
QUIRK_REASONING_END = "</end_working_out>"
PERFECT_THRESHOLD = 0.95

# Longer completions are cut before scoring. No real completion comes near it (max_new_tokens is
# at most 32,768 tokens); a degenerate replay or endpoint answer is still scored, in bounded time.
MAX_CHARS = 400_000
_NAME_RE = re.compile(r'"name"\s*:\s*"([^"]*)"')


def extract_called_names(completion: str) -> list[str]:
    """Called names in order, with repetitions, the way the thesis reads them.

    JSON array (or single object) of ``{"name", "parameters"}`` inside ``<SOLUTION>`` (the whole
    text without the tag); when the JSON does not parse, every ``"name": "…"`` is taken.
    """
    completion = completion[:MAX_CHARS]
    # the first closed <SOLUTION>…</SOLUTION>, found linearly (the lazy regex was quadratic on
    # runs of unclosed tags)
    span = tag_span(completion, SOLUTION_START, SOLUTION_END)
    content = completion[span[0] : span[1]].strip() if span else completion
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return _NAME_RE.findall(content)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return []
    return [c["name"] for c in data if isinstance(c, dict) and isinstance(c.get("name"), str)]


def _format_bonus(completion: str) -> bool:
    completion = completion[:MAX_CHARS]
    return all(t in completion for t in (REASONING_START, QUIRK_REASONING_END, SOLUTION_START, SOLUTION_END))


def _names(functions: list[dict]) -> set[str]:
    return {f["name"] for f in functions}


def thesis_reward(completion: str, ground_truth: list[dict], available: list[dict]) -> float:
    """coverage + 0.05 format (quirk tag) + 0.1 all required − 0.1/unavailable name
    − 0.05·(count−2) per name called 3+ times − 0.03/unrequired name; clipped to [0, 1]."""
    called = extract_called_names(completion)
    if not called:
        return 0.0
    required, avail, unique = _names(ground_truth), _names(available), set(called)
    reward = len(unique & required) / len(required) if required else 0.0
    if _format_bonus(completion):
        reward += 0.05
    if required <= unique:
        reward += 0.1
    reward -= 0.1 * len(unique - avail)
    reward -= sum(0.05 * (n - 2) for n in Counter(called).values() if n > 2)
    reward -= 0.03 * len(unique - required)
    return float(min(1.0, max(0.0, reward)))


def thesis_reward_v2(completion: str, ground_truth: list[dict], available: list[dict]) -> float:
    """0.8·coverage + 0.1 format bonus (same quirk tags) − min(0.2, 0.05 per unavailable name);
    no calls → 0; clipped to [0, 1] (the maximum is 0.9)."""
    called = extract_called_names(completion)
    if not called:
        return 0.0
    required, avail, unique = _names(ground_truth), _names(available), set(called)
    coverage = len(unique & required) / len(required) if required else 0.0
    reward = 0.8 * coverage + (0.1 if _format_bonus(completion) else 0.0)
    reward -= min(0.2, 0.05 * len(unique - avail))
    return float(min(1.0, max(0.0, reward)))


def perfect_match(reward: float) -> bool:
    return reward >= PERFECT_THRESHOLD
