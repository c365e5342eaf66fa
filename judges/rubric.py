"""The offline rubric judge: a deterministic 0-10 from correctness, format and worked steps.

  correctness 6 (7 without arithmetic) + format 2 (3) + for arithmetic items 2 × the share of
  worked steps ``a op b = c`` that are true. Named ``rubric`` in every report: it is not an LLM.
"""
from __future__ import annotations

import re

from core.thesis_format import REASONING_END, SOLUTION_END, SOLUTION_START

# a step starts where a number starts (the lookbehind): without it a long digit run is retried
# from every position inside it, quadratic (100k digits took minutes)
_STEP = re.compile(r"(?<![\d.])(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")
VERSION = "rubric-v1"


def step_share(text: str) -> float | None:
    """Share of worked steps that are arithmetically true; None when there are none."""
    steps = _STEP.findall(text[:100_000])
    if not steps:
        return None
    ok = 0
    for a, op, b, c in steps:
        a, b, c = float(a), float(b), float(c)
        val = {"+": a + b, "-": a - b, "*": a * b, "x": a * b, "×": a * b}.get(op)
        if op == "/":
            val = a / b if b else None
        ok += val is not None and abs(val - c) < 1e-6
    return ok / len(steps)


class RubricJudge:
    def __init__(self, name: str = "rubric", entry=None):
        self.name = name
        self.fingerprint = VERSION

    def rate_many(self, kind: str, requests: list[tuple]) -> list[tuple[float | None, str]]:
        """requests: (item, response, correct) -> (score 0-10 or None if unparsable, verdict)."""
        return [self.rate(kind, item, response, correct) for item, response, correct in requests]

    def rate(self, kind: str, item, response: str, correct: bool) -> tuple[float, str]:
        arithmetic = kind == "arithmetic"
        fmt = (REASONING_END in response) + (SOLUTION_START in response and SOLUTION_END in response)
        score = (6.0 if arithmetic else 7.0) * correct + (1.0 if arithmetic else 1.5) * fmt
        notes = [f"correct={'yes' if correct else 'no'}", f"format={fmt}/2"]
        if arithmetic:
            share = step_share(response)
            score += 2.0 * (share or 0.0)
            notes.append("steps=none" if share is None else f"steps_true={share:.2f}")
        return round(score, 3), f"rubric {score:.1f}/10: " + ", ".join(notes)
