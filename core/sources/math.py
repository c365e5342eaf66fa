"""Math data for SFT, GRPO and the in-domain suite, from the hub schemas (real or synthetic).

The converters are the same for both: synthetic rows are written in the hub schemas, so the
``thesis`` code path (hub or local files) and the ``tiny`` one share everything after loading.
"""
from __future__ import annotations

import hashlib
import json
import re

from core.config import DataSpec
from core.thesis_format import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START

from . import synthetic_math
from .hub import load_rows

HUB = {
    "sft": ("unsloth/OpenMathReasoning-mini", None, "cot"),
    "grpo": ("open-r1/DAPO-Math-17k-Processed", "en", "train"),
    "test": ("openai/gsm8k", "main", "test"),
}
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")


def data_fingerprint(spec: DataSpec) -> str:
    """The SFT, GRPO and test rows: the spec, and the generator's version when synthetic. (The tiny
    base's pretraining text is the base recipe's business: ``pretraining_corpus.version``.)"""
    payload = spec.model_dump() | {"generator": synthetic_math.VERSION if spec.source == "synthetic" else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _rows(spec: DataSpec, split: str) -> list[dict]:
    if spec.source == "synthetic":
        return synthetic_math.splits(spec.seed, spec.sft_rows, spec.grpo_rows, spec.test_rows)[split]
    hub_id, config, hub_split = HUB[split]
    return load_rows(hub_id, config, hub_split, spec.source, spec.dir)


def sft_examples(spec: DataSpec, max_rows: int) -> list[dict]:
    """OpenMathReasoning rows with a numeric expected answer -> {problem, assistant}."""
    out = []
    for row in _rows(spec, "sft"):
        answer = str(row.get("expected_answer", "")).strip()
        if not _NUMERIC.match(answer.replace(",", "")) or not isinstance(row.get("problem"), str):
            continue  # corrupt or non-numeric row: skipped
        reasoning = str(row.get("generated_solution", "")).replace("<think>", "").replace("</think>", "").strip()
        out.append({"problem": str(row["problem"]),
                    "assistant": f"{REASONING_START}{reasoning}{REASONING_END}"
                                 f"{SOLUTION_START}{answer}{SOLUTION_END}"})
        if len(out) >= max_rows:
            break
    return out


def grpo_examples(spec: DataSpec, rows: int, seed: int = 3407) -> list[dict]:
    """DAPO rows shuffled with the thesis seed, first ``rows`` -> {problem, answer}."""
    import random

    data = _rows(spec, "grpo")
    if spec.source != "synthetic":
        random.Random(seed).shuffle(data)
    data = [r for r in data if isinstance(r.get("prompt"), str) and r["prompt"].strip()
            and isinstance(r.get("solution"), (str, int, float))]  # corrupt rows: skipped
    return [{"problem": r["prompt"], "answer": str(r["solution"])} for r in data[:rows]]


def indomain_items(spec: DataSpec, counts: dict | None = None) -> list[dict]:
    """GSM8K-schema rows -> {id, question, answer}; the answer is what follows '####'.
    ``counts["skipped"]`` receives the number of corrupt rows left out."""
    items, rows = [], _rows(spec, "test")
    for i, row in enumerate(rows):
        q, a = row.get("question"), row.get("answer")
        if not isinstance(q, str) or not isinstance(a, str) or "####" not in a or not q.strip():
            continue  # corrupt row: skipped, counted by the suite
        items.append({"id": f"gsm8k-{i:05d}", "question": q,
                      "answer": a.split("####")[-1].strip().replace(",", ""), "reference": a})
    if counts is not None:
        counts["skipped"] = len(rows) - len(items)
    return items
