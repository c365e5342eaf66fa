"""The BFCL rewards as TRL reward callables: ``ground_truth`` (calls) and ``available`` (the
prompt's function list) come as dataset columns. The scoring itself is ``core.bfcl.reward``,
which is also the BFCL suite's thesis metric."""
from __future__ import annotations

from core.bfcl.reward import thesis_reward, thesis_reward_v2

from ._common import completion_text, per_item


def _score(fn, completions, ground_truth, available) -> list[float]:
    n = len(completions)
    truths, avails = per_item(ground_truth, n, "ground_truth"), per_item(available, n, "available")
    return [fn(completion_text(c), t, a) for c, t, a in zip(completions, truths, avails)]


def bfcl_thesis(prompts, completions, ground_truth=None, available=None, **kwargs) -> list[float]:
    return _score(thesis_reward, completions, ground_truth, available)


def bfcl_thesis_v2(prompts, completions, ground_truth=None, available=None, **kwargs) -> list[float]:
    return _score(thesis_reward_v2, completions, ground_truth, available)
