"""Judges rate a response 0-10.

A judge has ``name``, ``fingerprint`` (part of the verdict cache key: change the prompt or the
model, change it) and ``rate_many(kind, [(item, response, correct), ...]) -> [(score|None, verdict)]``
where ``item`` is a ``benchmarks.suite.Item`` (question, answer) and ``kind`` the suite's judge_kind. Verdicts (score + text) are cached in the store by
(judge fingerprint, item, response hash); an unparsable verdict is stored as missing, never 0."""
from __future__ import annotations

import hashlib

JUDGE_ERROR = "judge error: "  # a verdict starting with this is a failure to judge: never cached


def is_judge_error(verdict: str | None) -> bool:
    return bool(verdict) and verdict.startswith(JUDGE_ERROR)


def response_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def get_judge(name: str, entry):
    if entry.kind == "rubric":
        from .rubric import RubricJudge

        return RubricJudge(name)
    if entry.kind == "llm":
        from .llm import LLMJudge

        return LLMJudge(name, entry)
    from harness.errors import NotBuilt

    raise NotBuilt(f"judge kind '{entry.kind}' ('{name}') is not built in this version; use the rubric judge")
