"""Judges rate a response 0-10.

A judge has ``name``, ``fingerprint`` (part of the verdict cache key: change the prompt or the
model, change it) and ``rate_many(kind, [(item, response, correct), ...]) -> [(score|None, verdict)]``
where ``item`` has ``question`` and ``answer`` and ``kind`` is the suite's judge_kind. Verdicts
(score + text) are cached in the store by (judge fingerprint, item, response hash); an
unparsable verdict is stored as missing, never 0.

Adding a judge kind: one module with a class ``(name, entry)`` + one line in ``JUDGE_KINDS``.
"""
from __future__ import annotations

from core.plugins import Registry

from .verdict import JUDGE_ERROR, is_judge_error, response_hash

JUDGE_KINDS = Registry("judge kind", {
    "rubric": "judges.rubric:RubricJudge",
    "llm": "judges.llm:LLMJudge",
})


def get_judge(name: str, entry):
    """The judge a registry ``judges:`` entry describes."""
    return JUDGE_KINDS.get(entry.kind)(name, entry)


__all__ = ["JUDGE_KINDS", "JUDGE_ERROR", "get_judge", "is_judge_error", "response_hash"]
