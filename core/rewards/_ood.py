"""Out-of-domain rewards of the thesis (Intuitor, Hybrid, DualHead) and their fixed variants.

Per-item scores are pure functions (``*_score``); the reward callables add the policy signals
(see _intrinsic) and, for the thesis names, the batch z-normalization + clipping quirk.
"""

from __future__ import annotations

import re

from core.thesis_format import TAGS

from ._answer import is_correct
from ._common import completion_texts, named, per_item, zscore_clip
from ._format import extract_reasoning, extract_solution, with_prompt_start
from ._intrinsic import TokenSignals, policy_signals

_STEP_MARKER = re.compile(r"\bstep\s*\d+|(?:^|\s)\d+\.(?=\s|$)|\bfirst\b|\bthen\b|\bfinally\b", re.I | re.M)
_CONNECTIVES = tuple(re.compile(rf"\b{w}\b", re.I) for w in ("therefore", "because", "since", "thus", "hence", "so"))


def process_quality(reasoning: str | None) -> float:
    """0..1: 0 under 10 chars; +0.35 for step markers; +0.08 per distinct connective (cap 0.35);
    + min(len/500, 0.3). Markers and connectives match as whole words, case-insensitive."""
    if not reasoning or len(reasoning) < 10:
        return 0.0
    score = 0.35 if _STEP_MARKER.search(reasoning) else 0.0
    score += min(0.08 * sum(1 for c in _CONNECTIVES if c.search(reasoning)), 0.35)
    return score + min(len(reasoning) / 500, 0.3)


def calibration(certainty: float, correct: bool) -> float:
    return certainty if correct else 1.0 - certainty


def intuitor_score(has_solution: bool, answer_certainty: float, sequence_confidence: float, entropy_confidence: float) -> float:
    if not has_solution:
        return -10.0
    r = 0.6 * answer_certainty + 0.3 * sequence_confidence + 0.1 * entropy_confidence
    return r * 1.5 if answer_certainty > 0.8 and sequence_confidence > 0.7 else r


def hybrid_score(solution: str | None, reasoning: str | None, truth, certainty: float, progress: float) -> float:
    if solution is None:
        return -3.0
    if reasoning is None:
        return -2.0
    correct = is_correct(solution, truth)
    w_cert, w_corr = 0.20 + 0.20 * progress, 0.40 - 0.15 * progress
    r = w_cert * certainty + w_corr * correct + 0.25 * calibration(certainty, correct) + 0.15 * process_quality(reasoning)
    if correct and certainty > 0.7:
        return r * 1.2
    if not correct and certainty > 0.8:
        return r * 0.7
    return r


def dualhead_score(text: str, solution: str | None, reasoning: str | None, truth, certainty: float) -> float:
    if solution is None:
        return -10.0
    fmt = (0.5 if all(tag in text for tag in TAGS) else 0.0) + (0.25 if reasoning and len(reasoning) > 10 else 0.0) + 0.25
    external = 0.4 * fmt + 0.6 * is_correct(solution, truth)
    r = 0.7 * certainty + 0.3 * external
    return r * 1.2 if certainty > 0.8 and external > 0.8 else r


def epoch_progress(state) -> float:
    """Thesis quirk: progress from the epoch index, int(epoch)/num_epochs (0 through a 1-epoch run)."""
    if state is None or not getattr(state, "epoch", None):
        return 0.0
    epochs = getattr(state, "num_train_epochs", 0) or 1
    return min(max(int(state.epoch) / epochs, 0.0), 1.0)


def step_progress(state) -> float:
    """Fixed progress: global_step / max_steps, in [0, 1]."""
    if state is None or not getattr(state, "max_steps", 0):
        return 0.0
    return min(max(state.global_step / state.max_steps, 0.0), 1.0)


def _signals(prompts, completions, kwargs) -> TokenSignals:
    sig = policy_signals(prompts, completions, kwargs.get("completion_ids"))
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and sig.answer_certainty:
        n = len(sig.answer_certainty)
        log_metric("intrinsic/answer_certainty", sum(sig.answer_certainty) / n)
        log_metric("intrinsic/sequence_confidence", sum(sig.sequence_confidence) / n)
        log_metric("intrinsic/entropy_confidence", sum(sig.entropy_confidence) / n)
    return sig


def _intuitor(prompts, completions, kwargs) -> list[float]:
    sig = _signals(prompts, completions, kwargs)
    sols = [extract_solution(t) for t in completion_texts(completions)]
    return [intuitor_score(s is not None, *x) for s, *x in zip(sols, sig.answer_certainty, sig.sequence_confidence, sig.entropy_confidence)]


def _hybrid(prompts, completions, kwargs, *, fixed: bool) -> list[float]:
    texts = completion_texts(completions)
    truths = per_item(kwargs.get("answer"), len(texts))
    sig = _signals(prompts, completions, kwargs)
    state = kwargs.get("trainer_state")
    p = step_progress(state) if fixed else epoch_progress(state)
    tag_texts = [with_prompt_start(t) for t in texts] if fixed else texts
    return [
        hybrid_score(extract_solution(t), extract_reasoning(tt), a, c, p)
        for t, tt, a, c in zip(texts, tag_texts, truths, sig.answer_certainty)
    ]


def _dualhead(prompts, completions, kwargs, *, fixed: bool) -> list[float]:
    texts = completion_texts(completions)
    truths = per_item(kwargs.get("answer"), len(texts))
    sig = _signals(prompts, completions, kwargs)
    tag_texts = [with_prompt_start(t) for t in texts] if fixed else texts
    return [
        dualhead_score(tt, extract_solution(t), extract_reasoning(tt), a, c)
        for t, tt, a, c in zip(texts, tag_texts, truths, sig.answer_certainty)
    ]


@named("intuitor")
def intuitor(prompts, completions, **kwargs) -> list[float]:
    """Intrinsic only; thesis batch z-normalization, clipped to ±10."""
    return zscore_clip(_intuitor(prompts, completions, kwargs), 10.0)


@named("intuitor_fixed")
def intuitor_fixed(prompts, completions, **kwargs) -> list[float]:
    """Intuitor without the batch z-normalization (GRPO normalizes per group)."""
    return _intuitor(prompts, completions, kwargs)


@named("hybrid")
def hybrid(prompts, completions, **kwargs) -> list[float]:
    """Thesis Hybrid: epoch-index progress (0 in a 1-epoch run), completion-only reasoning tags,
    batch z-normalization clipped to ±3."""
    return zscore_clip(_hybrid(prompts, completions, kwargs, fixed=False), 3.0)


@named("hybrid_fixed")
def hybrid_fixed(prompts, completions, **kwargs) -> list[float]:
    """Hybrid with the prompt's <start_working_out> counted, p = global_step/max_steps, no batch z-norm."""
    return _hybrid(prompts, completions, kwargs, fixed=True)


@named("dualhead")
def dualhead(prompts, completions, **kwargs) -> list[float]:
    """Thesis DualHead: completion-only tags, batch z-normalization clipped to ±10."""
    return zscore_clip(_dualhead(prompts, completions, kwargs, fixed=False), 10.0)


@named("dualhead_fixed")
def dualhead_fixed(prompts, completions, **kwargs) -> list[float]:
    """DualHead with the prompt's <start_working_out> counted and no batch z-norm."""
    return _dualhead(prompts, completions, kwargs, fixed=True)
