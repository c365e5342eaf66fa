"""BFCL (function calling) suite: the thesis protocols and the official bfcl-eval protocol.

Shared pieces (data, parsing, the thesis reward, the bfcl-eval gateway) live in ``core.bfcl``.
"""

from core.bfcl import env  # noqa: F401  (must run before any bfcl_eval import)

from ._official import (
    AST_CATEGORIES,
    CATEGORIES,
    ground_truth_completion,
    official_accuracy,
    official_items,
    official_prompt,
    score_official,
)

__all__ = ["AST_CATEGORIES", "CATEGORIES", "ground_truth_completion", "official_accuracy", "official_items",
           "official_prompt", "score_official"]
