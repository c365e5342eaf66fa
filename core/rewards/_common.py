"""Small shared helpers: completion shapes, ground-truth lists, naming, batch z-normalization."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # multimodal-style content parts: [{"type": "text", "text": ...}, ...]
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def completion_text(completion: Any) -> str:
    """Text of one completion: a plain string or a TRL conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    return "".join(
        _content_text(m.get("content")) for m in completion if m.get("role", "assistant") == "assistant"
    )


def completion_texts(completions: Sequence[Any]) -> list[str]:
    return [completion_text(c) for c in completions]


def per_item(values: Any, n: int, name: str = "answer") -> list:
    """A kwarg column as a list of length n (a lone scalar is broadcast)."""
    if values is None:
        raise TypeError(f"this reward needs the ground truth in the '{name}' keyword argument")
    if isinstance(values, (str, int, float)):
        return [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"'{name}' has {len(values)} items for {n} completions")
    return values


def named(name: str) -> Callable:
    """Decorator: set __name__/__qualname__ (TRL logs a reward by its __name__)."""

    def deco(fn):
        fn.__name__ = name
        fn.__qualname__ = name
        return fn

    return deco


def zscore_clip(values: Sequence[float], bound: float, eps: float = 1e-8) -> list[float]:
    """Thesis batch normalization: (r - mean) / (population std + eps), clipped to ±bound."""
    n = len(values)
    if n == 0:
        return []
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    return [max(-bound, min(bound, (v - mean) / (std + eps))) for v in values]
