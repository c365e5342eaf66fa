"""Bounded scoring: every extractor, reward and verdict parser is linear-time on any string.

A degenerate model (a 1,536-token loop of spaces, unclosed tags, digits) used to stall scoring
for hours: backtracking regexes were quadratic or cubic in such runs. Two guarantees here:

- **time**: every scorer on generated degenerate strings (a run of one piece, up to ~60k
  characters, between a prefix and a suffix that arm the old backtracking) finishes within a
  per-call CPU budget; the named cases that hung before are checked explicitly too;
- **exactness**: the linear rewrites give what the thesis regexes gave, checked against those
  regexes (kept here as oracles) on generated ordinary text, where they are fast.

CPU time (``time.process_time``) rather than wall time: the CI machine is shared, and a busy
neighbour must not fail a linear scorer.
"""
from __future__ import annotations

import faulthandler
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.outdomain import _extract
from core import rewards
from core.bfcl import parse as bfcl_parse
from core.bfcl import reward as bfcl_reward
from core.extract import first_number, numeric_correct, solution_text, tag_span
from core.rewards import _answer, _format, _ood
from core.thesis_format import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START
from judges.llm import parse_score
from judges.rubric import RubricJudge, step_share

BUDGET_S = 2.0  # CPU seconds per call; the linear scorers take ~10-60 ms on 60k characters
LABELS, CHOICES = ["A", "B", "C", "D"], ["get mad", "mad", "12 eggs", "answer"]
FN = [{"name": "f"}, {"name": "g"}]


def _rewards_on(text: str) -> list:
    pure = ["match_format_exactly", "match_format_approximately", "match_format_approximately_fixed",
            "check_answer", "check_numbers", "grpo_1k", "grpo_1k_v2", "grpo_1k_v3"]
    out = [rewards.REWARDS[n]([None], [text], answer=["42"]) for n in pure]
    out += [rewards.REWARDS[n]([None], [text], ground_truth=[FN], available=[FN]) for n in ("bfcl_thesis", "bfcl_thesis_v2")]
    return out


def _ood_parts(text: str) -> tuple:
    sol, rea = _format.extract_solution(text), _format.extract_reasoning(_format.with_prompt_start(text))
    return (_ood.process_quality(text), _ood.hybrid_score(sol, rea, "42", 0.5, 0.5),
            _ood.dualhead_score(text, sol, rea, "42", 0.9), _answer.is_correct(text, "42"), _answer.normalize(text))


# every scorer that reads model (or judge) text, each as text -> anything
SCORERS = {
    "outdomain.yes_no": _extract.yes_no,
    "outdomain.choice": lambda t: _extract.choice(t, LABELS, CHOICES),
    "outdomain.choice_numeric": lambda t: _extract.choice(t, ["1", "2", "3"], ["yes", "no", "12"]),
    "indomain.numeric_correct": lambda t: (numeric_correct(t, "42"), first_number(solution_text(t))),
    "rewards.registered": _rewards_on,
    "rewards.ood_parts": _ood_parts,
    "rewards.solution_span": _format.solution_span,
    "bfcl.thesis_reward": lambda t: (bfcl_reward.thesis_reward(t, FN, FN), bfcl_reward.thesis_reward_v2(t, FN, FN)),
    "bfcl.parse_calls": bfcl_parse.parse_calls,
    "judge.rubric": lambda t: (RubricJudge().rate("arithmetic", None, t, True), step_share(t)),
    "judge.llm_verdict": parse_score,
}

PIECES = [" ", "\n", "\t", " \n", SOLUTION_START, SOLUTION_END, REASONING_START, REASONING_END, "[", "{", "(",
          "1", "1,", "1.", "-", "answer ", "answer", "yes ", "no ", "A ", "a", "step 1 ", '"name": "', '"name":',
          "```", "1+1=", "option ", '"', "*", "<", "foo ", "SCORE: "]
PREFIXES = ["", "x", "answer", "answer is", "The answer: (", SOLUTION_START, REASONING_END + SOLUTION_START,
            "```py", "[f(", '"name":', "option", "1 +", "(", "A", "SCORE:"]
SUFFIXES = ["", "x", SOLUTION_END, "```", " yes", "B)", "=", "/10"]

# The degenerate outputs that stalled main (issue #16) and their neighbours: each is tried on
# every scorer. docs/reliability.md counts these cases (test_reliability_counts.py checks it).
NAMED_CASES = {
    "answer+20k-spaces": "answer" + " " * 20_000,
    "answer-is+20k-spaces+x": "The answer is" + " " * 20_000 + "x",
    "option+20k-newlines": "option" + "\n" * 20_000 + "?",
    "quote+20k-spaces": '"' + " " * 20_000 + "x",
    "6k-unclosed-solution-tags": SOLUTION_START * 6_000,
    "6k-unclosed-reasoning-tags": REASONING_START * 6_000,
    "end-working-out-x6k": REASONING_END * 6_000 + SOLUTION_START,
    "solution+60k-spaces": SOLUTION_START + " " * 60_000,
    "closed-solution+60k-spaces+x": REASONING_END + SOLUTION_START + "1" + SOLUTION_END + " " * 60_000 + "x",
    "fence+60k-newlines": "```py" + "\n" * 60_000 + "x",
    "60k-digits": "1" * 60_000,
    "60k-digits-in-tags": SOLUTION_START + "1" * 60_000 + SOLUTION_END,
    "30k-brackets": "[" * 30_000,
    "10k-name-keys": '"name": "' * 10_000,
    "A-article-x10k": "A " * 10_000,
    "answer-A-x6k": "answer A " * 6_000,
    "1MB-spaces": " " * (1 << 20),
    "step-digits": "step " + "1" * 60_000 + ".",
}


def _timed(fn, text: str) -> float:
    t0 = time.process_time()
    fn(text)
    return time.process_time() - t0


@pytest.fixture(autouse=True)
def _hang_guard():
    # a regression to super-linear would not fail: it would hang; this turns a hang into a
    # traceback of where it hangs, and ends the run
    faulthandler.dump_traceback_later(600, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize("case", sorted(NAMED_CASES))
def test_named_degenerate_output_is_scored_in_budget(case):
    text = NAMED_CASES[case]
    slow = {name: round(t, 2) for name, fn in SCORERS.items() if (t := _timed(fn, text)) > BUDGET_S}
    assert not slow, f"{case}: over {BUDGET_S}s CPU: {slow}"


degenerate = st.builds(lambda pre, piece, n, suf: pre + piece * n + suf,
                       st.sampled_from(PREFIXES), st.sampled_from(PIECES),
                       st.integers(min_value=1_000, max_value=30_000), st.sampled_from(SUFFIXES))
mixed_runs = st.lists(st.tuples(st.sampled_from(PIECES), st.integers(1, 4_000)), min_size=2, max_size=6).map(
    lambda runs: "".join(p * n for p, n in runs))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(degenerate, mixed_runs), st.sampled_from(sorted(SCORERS)))
def test_every_scorer_is_linear_on_degenerate_text(text, scorer):
    t = _timed(SCORERS[scorer], text)
    assert t <= BUDGET_S, f"{scorer} took {t:.2f}s CPU on {len(text)} chars starting {text[:40]!r}"


def test_scorers_scale_linearly():
    """Doubling a degenerate run at most ~doubles the time (quadratic would quadruple)."""
    for name, fn in SCORERS.items():
        for piece in (" ", SOLUTION_START, "1", "answer "):
            small, big = ("answer" + piece * 20_000 + "x"), ("answer" + piece * 80_000 + "x")
            ts, tb = min(_timed(fn, small) for _ in range(3)), min(_timed(fn, big) for _ in range(3))
            assert tb <= max(8 * ts, 0.05), f"{name} on {piece!r}: {ts:.4f}s -> {tb:.4f}s for 4x the text"


# --- exactness: the thesis regexes, as they were, are the oracles on ordinary text ---------------

def _old_exact(text: str):
    eos = "|".join(re.escape(t) for t in _format.EOS_TOKENS)
    m = re.search(rf"{re.escape(REASONING_END)}.*?{re.escape(SOLUTION_START)}(.+?){re.escape(SOLUTION_END)}"
                  rf"\s*(?:{eos})?\s*$", text, re.DOTALL)
    return m.group(1) if m else None


def _old_span(text: str, a: str, b: str):
    m = re.search(rf"{re.escape(a)}(.*?){re.escape(b)}", text, re.DOTALL)
    return m.span(1) if m else None


def _old_numbers_score(text: str, truth) -> float:
    m = re.search(re.escape(SOLUTION_START) + r".*?[\s]{0,}([-]?[\d\.\,]{1,})", text, re.DOTALL)
    if m is None:
        return -2.5
    try:
        return 3.5 if float(m.group(1).strip().replace(",", "")) == float(str(truth).strip()) else -1.5
    except ValueError:
        return 0.0


_OLD_YN = re.compile(r"answer\s*(?:is|would be|should be|will be|:|=)?\s*[\"'(\[*]*\s*(yes|no|true|false)\b")


def _old_phrase(alt: str) -> re.Pattern:
    return re.compile(r"(?:answer|option|choice)\s*(?:is|would be|should be|will be|:|=)?\s*[\"'*`(\[]*\s*("
                      + alt + r")(?![\w])", re.I)


_OLD_FENCE = re.compile(r"^```[A-Za-z0-9_+-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_OLD_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(10|100)\b", re.I)

ORDINARY = ["<SOLUTION>", "</SOLUTION>", "<start_working_out>", "<end_working_out>", "<|im_end|>", "</s>", " ", "\n",
            "  ", "answer", "answer is", " is ", ":", "=", "(", "[", '"', "'", "*", "`", "yes", "No", "true", "false",
            "A", "b", "C)", "option", "choice", "1", "-", "4.5", ",", ".", "```", "```json\n", "/10", " out of ", "100"]
ordinary = st.lists(st.one_of(st.sampled_from(ORDINARY), st.text(max_size=4)), max_size=30).map("".join)
EXACT = settings(max_examples=400, deadline=None, derandomize=True)


@EXACT
@given(ordinary)
def test_exact_format_answer_equals_the_thesis_regex(text):
    assert _format.exact_format_answer(text) == _old_exact(text)


@EXACT
@given(ordinary)
def test_tag_spans_equal_the_lazy_regex(text):
    assert tag_span(text, SOLUTION_START, SOLUTION_END) == _old_span(text, SOLUTION_START, SOLUTION_END)
    assert tag_span(text, REASONING_START, REASONING_END) == _old_span(text, REASONING_START, REASONING_END)


@EXACT
@given(ordinary, st.sampled_from(["42", "-4.5", "1", "1,000"]))
def test_numbers_score_equals_the_thesis_regex(text, truth):
    assert _answer.numbers_score(text, truth) == _old_numbers_score(text, truth)


@EXACT
@given(ordinary)
def test_outdomain_phrase_rules_equal_the_old_regexes(text):
    low = text.lower()
    assert _extract._ANSWER_YN.findall(low) == _OLD_YN.findall(low)
    alt = _extract._label_alt(LABELS + ["1", "2"])
    new = re.compile(r"(?:answer|option|choice)\s*" + _extract._CONNECTIVE + r"(?:[\"'*`(\[]+\s*)?(" + alt + r")(?![\w])", re.I)
    assert [m.span(1) for m in new.finditer(text)] == [m.span(1) for m in _old_phrase(alt).finditer(text)]


@EXACT
@given(ordinary)
def test_fence_and_fraction_equal_the_old_regexes(text):
    s = text.strip()
    old, new = _OLD_FENCE.match(s), bfcl_parse._FENCE_RE.match(s)
    assert (old and old.group(1)) == (new and new.group(1))
    from judges import llm

    assert llm._FRACTION.findall(text) == _OLD_FRACTION.findall(text)
