"""Format rewards and tag helpers (thesis "Output format" and format rewards)."""

from __future__ import annotations

import re

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
    optional whitespace/EOS, end of text. Group 1 is the (unstripped) answer."""
    key = tuple(EOS_TOKENS)
    if key not in _exact_cache:
        eos = "|".join(re.escape(t) for t in key)
        _exact_cache[key] = re.compile(
            rf"{re.escape(REASONING_END)}.*?{re.escape(SOLUTION_START)}(.+?){re.escape(SOLUTION_END)}"
            rf"\s*(?:{eos})?\s*$",
            flags=re.DOTALL,
        )
    return _exact_cache[key]


_SOLUTION_RE = re.compile(rf"{re.escape(SOLUTION_START)}(.*?){re.escape(SOLUTION_END)}", re.DOTALL)
_REASONING_RE = re.compile(rf"{re.escape(REASONING_START)}(.*?){re.escape(REASONING_END)}", re.DOTALL)


def solution_span(text: str) -> tuple[int, int] | None:
    """Char span [start, end) of the stripped text between the first solution tag pair; None if
    there is no tag pair or the solution is empty."""
    m = _SOLUTION_RE.search(text)
    if m is None:
        return None
    start, end = m.span(1)
    inner = m.group(1)
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
    m = _REASONING_RE.search(text)
    return None if m is None else m.group(1).strip()


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
    pattern = exact_format_pattern()
    return [3.0 if pattern.search(t) else 0.0 for t in completion_texts(completions)]


@named("match_format_approximately")
def match_format_approximately(prompts, completions, **kwargs) -> list[float]:
    """Thesis quirk: counts <start_working_out> in the completion, so well-formed output scores 1.0."""
    return [approx_format_score(t) for t in completion_texts(completions)]


@named("match_format_approximately_fixed")
def match_format_approximately_fixed(prompts, completions, **kwargs) -> list[float]:
    """As the thesis, with the prompt's <start_working_out> counted: well-formed output scores 4.0."""
    return [approx_format_score(with_prompt_start(t)) for t in completion_texts(completions)]
