"""Format rewards and tag helpers (thesis "Output format" and format rewards)."""

from __future__ import annotations

import re

from core.extract import tag_span
from core.thesis_format import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START, TAGS

from ._common import completion_texts, named

# End-of-sequence strings allowed after </SOLUTION> by the exact-format pattern. TRL decodes with
# skip_special_tokens=True so EOS is usually gone already; bind_policy() adds the policy's own.
EOS_TOKENS: list[str] = ["<|endoftext|>", "<|im_end|>", "</s>", "<|eot_id|>", "<eos>"]
_exact_cache: dict[tuple[str, ...], re.Pattern] = {}


def register_eos_token(token: str | None) -> None:
    if token and token not in EOS_TOKENS:
        EOS_TOKENS.append(token)


def exact_format_pattern() -> re.Pattern:
    """anything, <end_working_out>, anything, <SOLUTION>, non-empty answer, </SOLUTION>,
    optional whitespace/EOS, end of text. Group 1 is the (unstripped) answer.

    The thesis's regex, kept as the specification (and the oracle of the equivalence test):
    rewards call ``exact_format_answer``, which gives the same group in linear time."""
    key = tuple(EOS_TOKENS)
    if key not in _exact_cache:
        eos = "|".join(re.escape(t) for t in key)
        _exact_cache[key] = re.compile(
            rf"{re.escape(REASONING_END)}.*?{re.escape(SOLUTION_START)}(.+?){re.escape(SOLUTION_END)}"
            rf"\s*(?:{eos})?\s*$",
            flags=re.DOTALL,
        )
    return _exact_cache[key]


def exact_format_answer(text: str) -> str | None:
    """Group 1 of ``exact_format_pattern().search(text)``, or None; linear in ``len(text)``.

    The regex is quadratic to cubic on degenerate text (runs of unclosed tags, a whitespace run
    after ``</SOLUTION>``: its lazy scans restart from every tag and its two adjacent ``\\s*``
    split every run every way). Why finds give the same answer: the tail
    ``\\s*(?:EOS)?\\s*$`` can only follow the *last* ``</SOLUTION>`` (any earlier one has that
    tag after it, which is neither space nor an EOS string); the lazy ``.*?`` then takes the
    first ``<SOLUTION>`` after the first ``<end_working_out>``, and ``(.+?)`` runs to that last
    closing tag, so it needs at least one character in between.
    """
    p = text.find(REASONING_END)
    if p < 0:
        return None
    r = text.rfind(SOLUTION_END)
    if r < 0:
        return None
    tail = text[r + len(SOLUTION_END):].strip()  # str.strip and re's \s are the same Unicode set
    if tail and tail not in EOS_TOKENS:
        return None
    q = text.find(SOLUTION_START, p + len(REASONING_END))
    if q < 0 or q + len(SOLUTION_START) >= r:
        return None
    return text[q + len(SOLUTION_START) : r]


def solution_span(text: str) -> tuple[int, int] | None:
    """Char span [start, end) of the stripped text between the first solution tag pair; None if
    there is no tag pair or the solution is empty."""
    span = tag_span(text, SOLUTION_START, SOLUTION_END)
    if span is None:
        return None
    start, end = span
    inner = text[start:end]
    start += len(inner) - len(inner.lstrip())
    end -= len(inner) - len(inner.rstrip())
    return (start, end) if end > start else None


def extract_solution(text: str) -> str | None:
    """Stripped text between the solution tags; None when absent or empty ("no solution")."""
    span = solution_span(text)
    return None if span is None else text[span[0] : span[1]]


def extract_reasoning(text: str) -> str | None:
    """Stripped text between the reasoning tags. Thesis quirk: needs <start_working_out> inside
    the completion (it is normally in the prompt); use with_prompt_start() for the fix."""
    span = tag_span(text, REASONING_START, REASONING_END)
    return None if span is None else text[span[0] : span[1]].strip()


def with_prompt_start(text: str) -> str:
    """The fix for the prompt-tag quirk: the generation prompt ends with <start_working_out>, so a
    completion without it is read as if it began with it."""
    return text if REASONING_START in text else REASONING_START + text


def approx_format_score(text: str) -> float:
    score = 0.0
    for tag in TAGS:
        count = text.count(tag)
        score += 1.0 if count == 1 else -2.0
        if count > 1:
            score -= 1.0
    return score


@named("match_format_exactly")
def match_format_exactly(prompts, completions, **kwargs) -> list[float]:
    return [3.0 if exact_format_answer(t) is not None else 0.0 for t in completion_texts(completions)]


@named("match_format_approximately")
def match_format_approximately(prompts, completions, **kwargs) -> list[float]:
    """Thesis quirk: counts <start_working_out> in the completion, so well-formed output scores 1.0."""
    return [approx_format_score(t) for t in completion_texts(completions)]


@named("match_format_approximately_fixed")
def match_format_approximately_fixed(prompts, completions, **kwargs) -> list[float]:
    """As the thesis, with the prompt's <start_working_out> counted: well-formed output scores 4.0."""
    return [approx_format_score(with_prompt_start(t)) for t in completion_texts(completions)]
