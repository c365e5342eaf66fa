"""What every judge's verdicts share: the error marker and the response hash of the cache key."""
from __future__ import annotations

import hashlib

JUDGE_ERROR = "judge error: "  # a verdict starting with this is a failure to judge: never cached


def is_judge_error(verdict: str | None) -> bool:
    return bool(verdict) and verdict.startswith(JUDGE_ERROR)


def response_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]
