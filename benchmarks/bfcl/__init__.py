"""BFCL (function calling): the thesis reward and data set, and the official bfcl-eval protocol.

Importing this package points ``BFCL_PROJECT_ROOT`` at a per-process scratch folder before any
bfcl_eval import (see ``_env``).
"""

from . import _env  # noqa: F401  (must run first)
from ._data import build_thesis_dataset, thesis_prompt
from ._official import (
    AST_CATEGORIES,
    CATEGORIES,
    ground_truth_completion,
    official_accuracy,
    official_items,
    official_prompt,
    score_official,
)
from ._parse import parse_calls, render_calls
from ._reward import perfect_match, thesis_reward, thesis_reward_v2

__all__ = [
    "AST_CATEGORIES",
    "CATEGORIES",
    "build_thesis_dataset",
    "ground_truth_completion",
    "official_accuracy",
    "official_items",
    "official_prompt",
    "parse_calls",
    "perfect_match",
    "render_calls",
    "score_official",
    "thesis_prompt",
    "thesis_reward",
    "thesis_reward_v2",
]
