"""What a suite is: items (dataset + prompt + reference) and a per-item scorer."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    id: str
    dataset: str
    prompt: list[dict]  # chat messages
    answer: str
    question: str = ""
    meta: dict = field(default_factory=dict)


@dataclass
class ItemSet:
    items: list[Item]
    data_fp: str
    source: str
    skipped: int = 0  # corrupt rows left out
