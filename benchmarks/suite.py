"""What a suite is: items (dataset + prompt + reference) and a per-item scorer.

A suite module exposes ``SUITE`` with:
  name: str; datasets: tuple[str, ...]; judge_kind: "arithmetic" | "qa" | None (None = not judged)
  items(profile, protocol, limit) -> ItemSet
  score(item, completion) -> dict[str, float]          per-item metrics ("correct" drives Accuracy)
and, for protocols that are not one greedy generation per item (log-likelihood, multi-turn,
best-of-n), optionally
  run_protocol(protocol, model, itemset, generation) -> list[Outcome]
where ``model`` is a ``models.ModelHandle`` (generate(), hf_model/tokenizer when local).
"""
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


@dataclass
class Outcome:
    """One item's result from ``run_protocol``: what to store as its generation and scores."""
    item_id: str
    dataset: str
    completion: str
    n_tokens: int
    metrics: dict[str, float]
    error: str | None = None


class Suite:
    name: str = ""
    datasets: tuple = ()
    judge_kind: str | None = None
    protocols: tuple[str, ...] = ("thesis",)
    custom_protocols: tuple[str, ...] = ()
    needs_weights: tuple[str, ...] = ()
    version: str = "1"
    decoding: dict = {}

    def generation_key(self, protocol: str) -> dict:
        """This suite's part of a cell's generation key (its version and decoding constants)."""
        return {"suite": self.name, "protocol": protocol, "suite_version": self.version,
                "decoding": dict(self.decoding)}
