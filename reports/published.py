"""THE THESIS'S PUBLISHED NUMBERS — not this project's results.

Copied by hand from the thesis's three published tables (restated in docs/thesis.md), in the thesis's
own notation: "87%*" is 87% accuracy that the thesis marked as its column's best (it reported no
significance test). Reports show these beside the reproduced values; nothing here is computed.
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE = "the thesis's published tables (\"Improving Reasoning and Generalization in LLM Through a Hybrid Reward approach with GRPO\")"


@dataclass(frozen=True)
class PublishedRow:
    model: str   # registry name of the variant
    label: str   # the thesis's row name
    text: str    # the thesis's cells: groups separated by '|', figures by spaces


@dataclass(frozen=True)
class PublishedFigure:
    value: float
    text: str
    marked: bool  # the thesis's '*'


# In-domain: Accuracy, Judge, Efficiency, Final (one group: all in-domain items)
INDOMAIN = (
    PublishedRow("grpo-1k", "Qwen-GRPO-1k", "80% 8.36 0.92 0.838"),
    PublishedRow("grpo-1k-v2", "Qwen-GRPO-1k-v2", "82% 8.38 0.91 0.845"),
    PublishedRow("grpo-1k-v3", "Qwen-GRPO-1k-v3", "82% 8.31 0.90 0.840"),
    PublishedRow("grpo-1k-def", "Qwen-GRPO-1k-def", "84% 8.48 0.92 0.859"),
)

# Out-of-domain: Accuracy, Judge, Efficiency per dataset (BoolQ | CommonsenseQA | ARC-Challenge)
OUTDOMAIN = (
    PublishedRow("grpo-1k-def", "GRPO-def", "84% 8.03 1.10 | 57% 7.73 0.82 | 63% 8.56 0.91"),
    PublishedRow("grpo-intuitor", "GRPO-Intuitor", "87%* 8.14* 1.13* | 56% 7.93* 0.83 | 66% 8.43 0.89"),
    PublishedRow("grpo-hybrid", "GRPO-Hybrid", "83% 8.12 1.13* | 62%* 7.90 0.84* | 69%* 8.59* 0.91*"),
    PublishedRow("grpo-dualhead", "GRPO-DualHead", "83% 8.07 1.12 | 59% 7.89 0.83 | 69%* 8.52 0.90"),
)

# BFCL: average reward, perfect-match rate
BFCL = (
    PublishedRow("bfcl-hybrid", "GRPO-Hybrid-BFCL", "0.54* 50%*"),
    PublishedRow("bfcl-nohybrid", "GRPO-noHybrid-BFCL", "0.47 42.6%"),
)


def parse(token: str) -> PublishedFigure:
    """'87%*' -> 0.87, marked; '8.36' -> 8.36."""
    marked = token.endswith("*")
    core = token.rstrip("*")
    value = float(core[:-1]) / 100 if core.endswith("%") else float(core)
    return PublishedFigure(value, token, marked)


def figures(row: PublishedRow) -> list[list[PublishedFigure]]:
    """The row's figures, one list per column group."""
    return [[parse(t) for t in group.split()] for group in row.text.split("|")]
