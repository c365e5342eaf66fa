"""Rows of the three datasets (synthetic twins, hub, or a local folder) checked into one shape.

Hub ids and splits are the thesis's: ``google/boolq`` validation, ``tau/commonsense_qa``
validation (its test split has no answers), ``allenai/ai2_arc`` ARC-Challenge test. Local files
follow ``benchmarks/sources/hub.py``'s layout, e.g. ``DIR/allenai__ai2_arc__ARC-Challenge/test.jsonl``.

A corrupt row (missing field, wrong type, empty string, answer not among the choices) is
skipped and counted, never fatal. Each kept row becomes a ``Record`` holding the hub row as
loaded (the standard protocol writes it back out for lm-eval) and a stable id.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional

from core.sources.hub import load_rows

from core.sources import synthetic_qa as _synthetic

DATASETS = ("boolq", "commonsense_qa", "arc_challenge")
HUB = {
    "boolq": ("google/boolq", None, "validation"),
    "commonsense_qa": ("tau/commonsense_qa", None, "validation"),
    "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge", "test"),
}
CSQA_LABELS = ["A", "B", "C", "D", "E"]  # lm-eval's commonsense_qa prompt hard-codes these five


@dataclass
class Record:
    id: str  # stable: dataset + the row's own id (or its index when the dataset has none)
    dataset: str
    question: str
    answer: str  # "yes"/"no" for BoolQ, the correct label otherwise
    labels: list[str]
    texts: list[str]
    passage: str = ""
    row: Optional[dict] = None  # the hub row, as loaded


def _text(v) -> Optional[str]:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _choices(row: dict) -> Optional[tuple[list[str], list[str]]]:
    ch = row.get("choices")
    if not isinstance(ch, dict):
        return None
    labels, texts = ch.get("label"), ch.get("text")
    if not isinstance(labels, list) or not isinstance(texts, list) or len(labels) != len(texts):
        return None
    labels = [_text(x) for x in labels]
    texts = [_text(x) for x in texts]
    if None in labels or None in texts or len(set(labels)) != len(labels):
        return None
    return labels, texts  # type: ignore[return-value]


def check(dataset: str, row, index: int) -> Optional[Record]:
    """The row as a Record, or None when it is corrupt."""
    if not isinstance(row, dict):
        return None
    question = _text(row.get("question"))
    if question is None:
        return None
    if dataset == "boolq":
        passage, answer = _text(row.get("passage")), row.get("answer")
        if passage is None or not isinstance(answer, bool):
            return None
        return Record(f"boolq-{index:05d}", dataset, question, "yes" if answer else "no", ["yes", "no"],
                      ["yes", "no"], passage=passage, row=row)
    rid, ch, key = _text(row.get("id")), _choices(row), _text(row.get("answerKey"))
    if rid is None or ch is None or key not in ch[0]:
        return None
    labels, texts = ch
    if dataset == "commonsense_qa" and labels != CSQA_LABELS:
        return None
    if dataset == "arc_challenge" and not 2 <= len(labels) <= 8:
        return None
    return Record(f"{dataset}-{rid}", dataset, question, key, labels, texts, row=row)


def raw_rows(dataset: str, spec) -> list:
    if spec.source == "synthetic":  # always test_rows rows, then capped: a --limit run is a prefix
        return _synthetic.GENERATORS[dataset](spec.seed, spec.test_rows)
    hub_id, config, split = HUB[dataset]
    return load_rows(hub_id, config, split, spec.source, spec.dir)


def records(dataset: str, spec, cap: Optional[int]) -> tuple[list[Record], int]:
    """The first ``cap`` good rows of one dataset, and how many corrupt rows were skipped."""
    out, skipped, seen = [], 0, set()
    for i, row in enumerate(raw_rows(dataset, spec)):
        if cap is not None and len(out) >= cap:
            break
        rec = check(dataset, row, i)
        if rec is None:
            skipped += 1
            continue
        if rec.id in seen:  # a duplicated row id: keep both, the second one by its index
            rec.id = f"{rec.id}-{i:05d}"
        seen.add(rec.id)
        out.append(rec)
    return out, skipped


def fingerprint(spec, recs: list[Record]) -> str:
    """What the items are: source, generator version, and every item's content."""
    h = hashlib.sha256(json.dumps({"source": spec.source, "seed": spec.seed,
                                   "generator": _synthetic.VERSION if spec.source == "synthetic" else None},
                                  sort_keys=True).encode())
    for r in recs:
        h.update(json.dumps([r.id, r.question, r.passage, r.answer, r.labels, r.texts]).encode())
    return h.hexdigest()[:16]
