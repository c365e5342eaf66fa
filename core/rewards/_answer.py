"""Answer-checking rewards and the thesis notion of a "correct" answer."""

from __future__ import annotations

import re

from core.thesis_format import SOLUTION_START

from ._common import completion_texts, named, per_item
from ._format import exact_format_answer

# The thesis reads ``<SOLUTION>.*?[\s]{0,}([-]?[\d\.\,]{1,})`` (DOTALL): the first number-ish run
# after the first solution tag (if the first tag has none after it, no later one has). Its lazy
# scan retries ``\s*`` at every character, quadratic on a whitespace run; searching for the run
# itself from just after the tag is the same leftmost match (whitespace before it is skipped
# either way) in linear time.
_NUMBER_RUN = re.compile(r"-?[\d.,]+")


def answer_score(guess: str | None, truth) -> float:
    truth = str(truth)
    if guess is None:
        return -2.0
    if guess == truth:
        return 5.0
    if guess.strip() == truth.strip():
        return 3.5
    try:
        ratio = float(guess) / float(truth)
    except (ValueError, ZeroDivisionError, OverflowError):
        return -4.5
    if 0.9 <= ratio <= 1.1:
        return 2.0
    if 0.8 <= ratio <= 1.2:
        return 1.5
    return -2.5


def numbers_score(text: str, truth) -> float:
    start = text.find(SOLUTION_START)
    m = None if start < 0 else _NUMBER_RUN.search(text, start + len(SOLUTION_START))
    if m is None:
        return -2.5
    try:
        return 3.5 if float(m.group(0).strip().replace(",", "")) == float(str(truth).strip()) else -1.5
    except ValueError:
        return 0.0


@named("check_answer")
def check_answer(prompts, completions, answer=None, **kwargs) -> list[float]:
    texts = completion_texts(completions)
    truths = per_item(answer, len(texts))
    guesses = [exact_format_answer(t) for t in texts]
    return [answer_score(g, a) for g, a in zip(guesses, truths)]


@named("check_numbers")
def check_numbers(prompts, completions, answer=None, **kwargs) -> list[float]:
    texts = completion_texts(completions)
    return [numbers_score(t, a) for t, a in zip(texts, per_item(answer, len(texts)))]


_PUNCT = str.maketrans("", "", ".,!?;:")
_NUMBER = re.compile(r"-?\d+\.?\d*")


def normalize(text) -> str:
    """strip, lowercase, delete .,!?;: , collapse spaces, then keep the last number if any
    (quirk: "3.50" -> "350", since the dot is deleted first)."""
    text = " ".join(str(text).strip().lower().translate(_PUNCT).split())
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else text


def is_correct(solution, truth) -> bool:
    """Thesis "correct": equal after normalize(); else, when both parse as floats, |a - b| < 1e-6
    (nothing else tried); else substring either way (quirk: "no" vs "not", "b" vs "abc").
    Empty/None never counts as correct (an empty string would be a substring of anything)."""
    if solution is None or truth is None:
        return False
    a, b = normalize(solution), normalize(truth)
    if not a or not b:
        return False
    if a == b:
        return True
    try:
        return abs(float(a) - float(b)) < 1e-6
    except ValueError:
        pass
    return a in b or b in a
