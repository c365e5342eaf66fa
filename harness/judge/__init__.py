"""Judges rate a response 0-10. Verdicts (score + text) are cached in the store by
(judge fingerprint, item, response hash); an unparsable verdict is stored as missing, never 0."""
from __future__ import annotations

import hashlib


def response_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def get_judge(name: str, entry):
    if entry.kind == "rubric":
        from .rubric import RubricJudge

        return RubricJudge(name)
    from harness.errors import NotBuilt

    raise NotBuilt(f"judge kind '{entry.kind}' ('{name}') is not built in this version; use the rubric judge")
