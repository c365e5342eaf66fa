"""Hand-computed cases pinning the thesis rewards (quirks included) and their fixed variants."""

import json
from types import SimpleNamespace

import pytest

import core.rewards as R
from core.rewards import _ood

GOOD = "Let me think.<end_working_out><SOLUTION>42</SOLUTION>"  # start tag is in the prompt
GOOD_WITH_START = "<start_working_out>" + GOOD
W = "work<end_working_out>"


def conv(texts):
    return [[{"role": "assistant", "content": t}] for t in texts]


def call(fn, texts, **kw):
    return fn(["prompt"] * len(texts), texts, **kw)


# ------------------------------------------------------------------ format


@pytest.mark.parametrize(
    "text, score",
    [
        (GOOD, 3.0),
        (GOOD_WITH_START, 3.0),
        (GOOD + "  \n", 3.0),
        (GOOD + "<|endoftext|>", 3.0),
        (GOOD + "\n<|im_end|>\n", 3.0),
        (GOOD + " trailing words", 0.0),
        (GOOD + "\ntrailing line", 0.0),  # end of TEXT, not end of line
        ("x<end_working_out><SOLUTION></SOLUTION>", 0.0),  # empty answer
        ("x<SOLUTION>42</SOLUTION>", 0.0),  # no <end_working_out>
        ("", 0.0),
    ],
)
def test_match_format_exactly(text, score):
    assert call(R.match_format_exactly, [text]) == [score]


@pytest.mark.parametrize(
    "text, thesis, fixed",
    [
        (GOOD, 1.0, 4.0),  # the quirk: well-formed output scores 1.0; the fix gives 4.0
        (GOOD_WITH_START, 4.0, 4.0),
        ("plain text", -8.0, -5.0),
        ("<end_working_out><end_working_out><SOLUTION>1</SOLUTION>", -3.0, 0.0),  # -2-1 for the double tag
        ("<SOLUTION>1</SOLUTION><SOLUTION>2</SOLUTION>", -2 - 2 - 3 - 3.0, 1 - 2 - 3 - 3.0),
    ],
)
def test_match_format_approximately(text, thesis, fixed):
    assert call(R.match_format_approximately, [text]) == [thesis]
    assert call(R.match_format_approximately_fixed, [text]) == [fixed]


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize(
    "text, truth, score",
    [
        ("no format at all 42", "42", -2.0),
        (W + "<SOLUTION>42</SOLUTION>", "42", 5.0),
        (W + "<SOLUTION> 42 </SOLUTION>", "42", 3.5),
        (W + "<SOLUTION>44</SOLUTION>", "42", 2.0),  # ratio 1.048
        (W + "<SOLUTION>9</SOLUTION>", "10", 2.0),  # ratio 0.9 exactly (inclusive)
        (W + "<SOLUTION>12</SOLUTION>", "10", 1.5),  # ratio 1.2 exactly (inclusive)
        (W + "<SOLUTION>36</SOLUTION>", "42", 1.5),  # ratio 0.857
        (W + "<SOLUTION>10</SOLUTION>", "42", -2.5),
        (W + "<SOLUTION>forty-two</SOLUTION>", "42", -4.5),
        (W + "<SOLUTION>1</SOLUTION>", "0", -4.5),  # division by zero counts as not numeric
        (W + "<SOLUTION>42</SOLUTION>", 42, 5.0),  # non-string truth
    ],
)
def test_check_answer(text, truth, score):
    assert call(R.check_answer, [text], answer=[truth]) == [score]


@pytest.mark.parametrize(
    "text, truth, score",
    [
        ("no tag 42", "42", -2.5),
        ("<SOLUTION>no digits</SOLUTION>", "42", -2.5),
        ("<SOLUTION>The answer is 1,234</SOLUTION>", "1234", 3.5),
        ("<SOLUTION>-5</SOLUTION>", "-5", 3.5),
        ("<SOLUTION>x = 7.0</SOLUTION>", "7", 3.5),
        ("<SOLUTION>7</SOLUTION>", "5", -1.5),
        ("<SOLUTION>Hello. 5</SOLUTION>", "5", 0.0),  # first "number" is the lone "." -> unparsable
        ("<SOLUTION>5</SOLUTION>", "five", 0.0),  # truth not numeric
        ("<SOLUTION>5</SOLUTION>", "1,000", 0.0),  # commas removed from the guess only
    ],
)
def test_check_numbers(text, truth, score):
    assert call(R.check_numbers, [text], answer=[truth]) == [score]


def test_check_answer_needs_answer():
    with pytest.raises(TypeError, match="answer"):
        call(R.check_answer, [GOOD])


# ------------------------------------------------------------------ GRPO-1K composites

RIGHT = GOOD  # approx 1.0, check_answer 5.0 vs "42"
WRONG_START = "<start_working_out>w<end_working_out><SOLUTION>10</SOLUTION>"  # approx 4.0, answer -2.5
NO_TAGS = "just 42"  # approx -8.0, no format


def test_grpo_1k():
    texts = [RIGHT, WRONG_START, NO_TAGS, W + "<SOLUTION> 42 </SOLUTION>", W + "<SOLUTION>41</SOLUTION>"]
    # a near miss (ratio within 0.8..1.2) has check_answer > 0, so it counts as right
    assert call(R.grpo_1k, texts, answer=["42"] * 5) == pytest.approx([1.0, 0.6, 0.0, 1.0, 1.0])


def test_grpo_1k_v2_v3():
    texts, ans = [RIGHT, WRONG_START, NO_TAGS], ["42"] * 3
    # max approx = 4: RIGHT 0.6*1/4 + 0.4; WRONG 0.6*1; NO_TAGS max(-2, 0) = 0
    assert call(R.grpo_1k_v2, texts, answer=ans) == pytest.approx([0.55, 0.6, 0.0])
    assert call(R.grpo_1k_v3, texts, answer=ans) == pytest.approx([0.55, 0.6, -0.8])


def test_grpo_1k_v2_all_negative_batch_quirk():
    texts = [NO_TAGS, "<SOLUTION>5</SOLUTION>"]  # approx -8 and -2: the worst gets 0.6*(-8/-2)
    assert call(R.grpo_1k_v2, texts, answer=["5", "5"]) == pytest.approx([2.4, 0.6])
    assert call(R.grpo_1k_v3, texts, answer=["5", "5"]) == pytest.approx([1.6, 0.4])


def test_grpo_1k_v2_zero_max():
    text = "<start_working_out><end_working_out><SOLUTION><SOLUTION></SOLUTION>"  # 1 + 1 - 3 + 1 = 0
    assert call(R.grpo_1k_v2, [text], answer=["1"]) == [0.0]


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("3.50", "350"),
        (" The Answer is: Yes! ", "the answer is yes"),
        ("x = 12.", "12"),
        ("between 3 and -7", "-7"),
        ("a   b", "a b"),
        ("1,234", "1234"),
    ],
)
def test_normalize(raw, norm):
    assert R.normalize(raw) == norm


@pytest.mark.parametrize(
    "sol, truth, ok",
    [
        ("42", "42", True),
        ("The answer is 42.", "42", True),
        ("no", "not", True),  # substring quirk
        ("b", "abc", True),  # substring quirk
        ("3.5", "3.50", False),  # "35" vs "350"
        ("12", "12.0", False),  # "12" vs "120"
        ("-0", "0", True),  # float comparison
        ("12", "123", False),  # both numeric: substring is not tried
        ("yes", "no", False),
        ("?", "anything", False),  # empty after normalize: never correct
        (None, "x", False),
    ],
)
def test_is_correct(sol, truth, ok):
    assert R.is_correct(sol, truth) is ok


def test_extractors_and_quirk():
    assert R.extract_solution("a<SOLUTION>  x y \n</SOLUTION>") == "x y"
    assert R.extract_solution("<SOLUTION> </SOLUTION>") is None
    assert R.extract_solution("<SOLUTION>open") is None
    assert R.extract_reasoning(GOOD) is None  # quirk: needs the start tag in the completion
    assert R.extract_reasoning(R.with_prompt_start(GOOD)) == "Let me think."
    assert R.extract_reasoning(GOOD_WITH_START) == "Let me think."
    assert R.with_prompt_start(GOOD_WITH_START) == GOOD_WITH_START


def test_process_quality():
    assert R.process_quality(None) == 0.0
    assert R.process_quality("too short") == 0.0  # 9 chars
    assert R.process_quality("abcdefghij") == pytest.approx(10 / 500)
    t = "Step 1: add them. Therefore x because y"
    assert R.process_quality(t) == pytest.approx(0.35 + 0.16 + len(t) / 500)
    t = "we also need some words here"  # "so" only inside words: no connective
    assert R.process_quality(t) == pytest.approx(len(t) / 500)
    t = "therefore because since thus hence so " * 30  # all six, cap 0.35; length cap 0.3; no marker
    assert R.process_quality(t) == pytest.approx(0.35 + 0.3)
    assert R.process_quality("First " + t) == pytest.approx(1.0)
    assert R.process_quality("1. do it\n2. more text") == pytest.approx(0.35 + 21 / 500)


def test_calibration():
    assert R.calibration(0.9, True) == 0.9
    assert R.calibration(0.9, False) == pytest.approx(0.1)


def test_intuitor_score():
    assert R.intuitor_score(False, 1, 1, 1) == -10.0
    assert R.intuitor_score(True, 0.5, 0.5, 0.5) == pytest.approx(0.5)
    assert R.intuitor_score(True, 0.9, 0.8, 0.5) == pytest.approx((0.54 + 0.24 + 0.05) * 1.5)
    assert R.intuitor_score(True, 0.9, 0.7, 0.5) == pytest.approx(0.54 + 0.21 + 0.05)  # needs > 0.7


def test_hybrid_score():
    assert R.hybrid_score(None, "r", "42", 0.9, 0) == -3.0
    assert R.hybrid_score("42", None, "42", 0.9, 0) == -2.0
    assert R.hybrid_score("42", "short", "42", 0.5, 0) == pytest.approx(0.1 + 0.4 + 0.125)
    assert R.hybrid_score("42", "short", "42", 0.9, 0) == pytest.approx((0.18 + 0.4 + 0.225) * 1.2)
    assert R.hybrid_score("41", "short", "42", 0.9, 0) == pytest.approx((0.18 + 0.025) * 0.7)
    assert R.hybrid_score("41", "short", "42", 0.75, 0) == pytest.approx(0.15 + 0.0625)
    assert R.hybrid_score("42", "short", "42", 0.5, 1) == pytest.approx(0.2 + 0.25 + 0.125)
    t = "abcdefghij" * 5
    assert R.hybrid_score("42", t, "42", 0.5, 0) == pytest.approx(0.625 + 0.15 * 50 / 500)


def test_dualhead_score():
    full = "<start_working_out>" + "r" * 20 + "<end_working_out><SOLUTION>42</SOLUTION>"
    assert R.dualhead_score(full, None, None, "42", 0.9) == -10.0
    assert R.dualhead_score(full, "42", "r" * 20, "42", 0.5) == pytest.approx(0.35 + 0.3)
    assert R.dualhead_score(full, "42", "r" * 20, "42", 0.9) == pytest.approx((0.63 + 0.3) * 1.2)
    assert R.dualhead_score(full, "41", "r" * 20, "42", 0.5) == pytest.approx(0.35 + 0.3 * 0.4)
    no_start = full.replace("<start_working_out>", "")  # fmt 0.25 -> external 0.1 + 0.6
    assert R.dualhead_score(no_start, "42", None, "42", 0.5) == pytest.approx(0.35 + 0.3 * 0.7)


def test_progress():
    s = SimpleNamespace(epoch=0.97, num_train_epochs=1, global_step=97, max_steps=100)
    assert R.epoch_progress(s) == 0.0  # quirk: stays 0 through a one-epoch run
    assert R.step_progress(s) == pytest.approx(0.97)
    assert R.epoch_progress(SimpleNamespace(epoch=1.5, num_train_epochs=3)) == pytest.approx(1 / 3)
    assert R.epoch_progress(None) == R.step_progress(None) == 0.0


def test_zscore_clip():
    assert R.zscore_clip([1.0, 1.0], 3) == [0.0, 0.0]
    assert R.zscore_clip([0.0, 2.0], 3) == pytest.approx([-1.0, 1.0])
    assert R.zscore_clip([0.0] * 99 + [1.0], 3) == pytest.approx([-0.1005] * 99 + [3.0], abs=1e-3)
    assert R.zscore_clip([], 3) == []


# ------------------------------------------------------------------ OOD rewards with fixed signals


@pytest.fixture
def fake_signals(monkeypatch):
    certs = {}

    def fake(prompts, completions, completion_ids=None):
        n = len(completions)
        a = certs.get("a", [0.5] * n)
        return R.TokenSignals(a, [0.6] * n, [0.4] * n)

    monkeypatch.setattr(_ood, "policy_signals", fake)
    return certs


def test_hybrid_quirks_vs_fixed(fake_signals):
    texts = [
        "reasoning text here long<end_working_out><SOLUTION>42</SOLUTION>",
        "reasoning text here long<end_working_out><SOLUTION>41</SOLUTION>",
        "no solution",
    ]
    state = SimpleNamespace(epoch=0.5, num_train_epochs=1, global_step=10, max_steps=20)
    kw = dict(answer=["42"] * 3, trainer_state=state, completion_ids=None, log_extra=None, some_column=[1, 2, 3])
    # thesis: no start tag in the completion -> -2, -2, -3, then batch z-norm
    z = R.hybrid(["p"] * 3, texts, **kw)
    assert z == pytest.approx([2**-0.5, 2**-0.5, -(2**0.5)], abs=1e-6)
    # fixed: reasoning read with the prompt's tag, p = 10/20, no z-norm
    pq = 0.15 * 24 / 500
    assert R.hybrid_fixed(["p"] * 3, texts, **kw) == pytest.approx(
        [0.3 * 0.5 + 0.325 + 0.125 + pq, 0.3 * 0.5 + 0.125 + pq, -3.0]
    )
    # thesis progress quirk: p stays 0 (epoch index), visible once reasoning tags are complete
    with_start = ["<start_working_out>" + t for t in texts]
    expected = [R.hybrid_score(R.extract_solution(t), R.extract_reasoning(t), "42", 0.5, 0.0) for t in with_start]
    assert R.hybrid(["p"] * 3, with_start, **kw) == pytest.approx(R.zscore_clip(expected, 3))
    assert expected[0] == pytest.approx(0.2 * 0.5 + 0.4 + 0.125 + pq)


def test_intuitor_and_dualhead_rewards(fake_signals):
    texts = ["r" * 20 + "<end_working_out><SOLUTION>42</SOLUTION>", "nothing"]
    kw = dict(answer=["42", "42"])
    raw = [0.6 * 0.5 + 0.3 * 0.6 + 0.1 * 0.4, -10.0]
    assert R.intuitor_fixed(["p"] * 2, texts, **kw) == pytest.approx(raw)
    assert R.intuitor(["p"] * 2, texts, **kw) == pytest.approx([1.0, -1.0])
    assert R.dualhead_fixed(["p"] * 2, texts, **kw) == pytest.approx([0.35 + 0.3 * (0.4 + 0.6), -10.0])
    assert R.dualhead(["p"] * 2, texts, **kw) == pytest.approx([1.0, -1.0])
    # thesis dualhead on a batch of two valid answers: format differs only through the start tag
    two = [texts[0], "<start_working_out>" + texts[0]]
    raw2 = [0.35 + 0.3 * (0.4 * 0.25 + 0.6), 0.35 + 0.3 * (0.4 + 0.6)]
    assert R.dualhead(["p"] * 2, two, answer=["42"] * 2) == pytest.approx(R.zscore_clip(raw2, 10))


# ------------------------------------------------------------------ shapes, registry


@pytest.mark.parametrize("name", sorted(R.REWARDS))
def test_both_completion_shapes_and_names(name, fake_signals):
    fn = R.get_reward(name)
    assert fn.__name__ == name
    texts = [GOOD, GOOD_WITH_START, WRONG_START, NO_TAGS, W + "<SOLUTION> 42 </SOLUTION>"]
    state = SimpleNamespace(epoch=0.2, num_train_epochs=1, global_step=3, max_steps=10)
    calls = [[{"name": "f", "parameters": {}}]] * 5  # the BFCL rewards' columns
    kw = dict(answer=["42"] * 5, trainer_state=state, completion_ids=None, log_metric=lambda *a: None, extra=[0] * 5,
              ground_truth=calls, available=calls)
    as_str = fn(["p"] * 5, texts, **kw)
    as_conv = fn([[{"role": "user", "content": "p"}]] * 5, conv(texts), **kw)
    assert as_str == as_conv and len(as_str) == 5
    assert all(isinstance(x, float) for x in as_str)


def test_registry():
    assert {"match_format_exactly", "match_format_approximately", "check_answer", "check_numbers", "grpo_1k",
            "grpo_1k_v2", "grpo_1k_v3", "intuitor", "hybrid", "dualhead", "match_format_approximately_fixed",
            "hybrid_fixed", "intuitor_fixed", "dualhead_fixed", "bfcl_thesis", "bfcl_thesis_v2"} == set(R.REWARDS)
    assert all(name == fn.__name__ for name, fn in R.REWARDS.items())


def test_unknown_reward():
    with pytest.raises(ValueError, match=r"^unknown reward 'xyz' \(known: .*check_answer.*\)$") as e:
        R.get_reward("xyz")
    assert "\n" not in str(e.value)


def test_dotted_path():
    assert R.get_reward("json:dumps") is json.dumps
    assert R.get_reward("core.rewards._format:match_format_exactly") is R.match_format_exactly
    with pytest.raises(ValueError, match="cannot import"):
        R.get_reward("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="cannot import"):
        R.get_reward("json:no_such_function")


def test_reward_fingerprint_follows_code():
    """The code digest is stable, differs between rewards, and sees a helper's body."""
    assert R.reward_fingerprint("hybrid") == R.reward_fingerprint("hybrid")
    assert len({R.reward_fingerprint(n) for n in R.REWARDS}) == len(R.REWARDS)
