"""Answer extraction from model text (thesis protocol). Total: any input gives a value or None."""
from __future__ import annotations

import re
from typing import Optional

from core.thesis_format import SOLUTION_END, SOLUTION_START

_SOLUTION = re.compile(re.escape(SOLUTION_START) + r"(.*?)(?:" + re.escape(SOLUTION_END) + r"|$)", re.S)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def tag_span(text: str, start: str, end: str, pos: int = 0) -> Optional[tuple[int, int]]:
    """[a, b) of the text between the first ``start`` tag at or after ``pos`` and the first
    ``end`` tag after it; None when either is missing.

    Exactly what ``re.search(start + "(.*?)" + end, text, re.S).span(1)`` gives, in linear time:
    that regex retries the lazy scan from every later ``start`` when the first one is unclosed,
    quadratic in a run of unclosed tags (a degenerate model writes thousands). If the first
    ``start`` has no ``end`` after it, no later one has, so one forward ``find`` each suffices.
    """
    a = text.find(start, pos)
    if a < 0:
        return None
    a += len(start)
    b = text.find(end, a)
    return None if b < 0 else (a, b)


def solution_text(completion: str) -> Optional[str]:
    """The text inside the first solution tags (an unclosed tag runs to the end), or None."""
    if not isinstance(completion, str):
        return None
    m = _SOLUTION.search(completion[:200_000])
    return m.group(1).strip() if m else None


def first_number(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    m = _NUMBER.search(text)
    if not m:
        return None
    try:
        return float(m.group(0).replace(",", ""))
    except ValueError:
        return None


def numeric_correct(completion: str, truth: str) -> bool:
    """In-domain accuracy: the solution's first number equals the reference answer."""
    guess, want = first_number(solution_text(completion)), first_number(str(truth))
    return guess is not None and want is not None and abs(guess - want) < 1e-6
