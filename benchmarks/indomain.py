"""In-domain suite: math word problems, thesis protocol (tags, extracted solution).

Thesis data is GSM8K test (hub or local files); tiny/smoke use the synthetic GSM8K-schema split,
disjoint from the SFT and GRPO rows. Metrics: Accuracy, Judge, Efficiency, Final (reports).
"""
from __future__ import annotations

import hashlib
from typing import Optional

from core.thesis_format import messages

from core.extract import numeric_correct, solution_text
from core.sources.math import data_fingerprint, indomain_items
from .suite import Item, ItemSet, Suite


class InDomain(Suite):
    name = "indomain"
    datasets = ("gsm8k",)
    judge_kind = "arithmetic"
    protocols = ("thesis",)
    version = "1"

    def items(self, profile, protocol: str, limit: Optional[int] = None) -> ItemSet:
        counts: dict = {}
        rows = indomain_items(profile.data, counts)
        items = [Item(id=r["id"], dataset="gsm8k", prompt=messages(r["question"]), answer=r["answer"],
                      question=r["question"], meta={"reference": r["reference"]}) for r in rows]
        if limit:
            items = items[:limit]
        fp = hashlib.sha256((data_fingerprint(profile.data) + ",".join(i.id for i in items)).encode()).hexdigest()[:16]
        return ItemSet(items=items, data_fp=fp, source=profile.data.source, skipped=counts.get("skipped", 0))

    def score(self, item: Item, completion: str) -> dict[str, float]:
        return {"correct": float(numeric_correct(completion, item.answer)),
                "has_solution": float(solution_text(completion) is not None)}


SUITE = InDomain()
