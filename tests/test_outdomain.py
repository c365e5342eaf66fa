"""Out-of-domain suite, fast part: answer extraction, synthetic twins, real-data loading, items."""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from benchmarks.outdomain import SUITE, _extract, _sources, _synthetic, predict
from core.errors import BadInput
from core.config import DataSpec

CSQA = (list("ABCDE"), ["get mad", "compile", "debug", "write code", "get frustrated"])
ARC = (list("ABCD"), ["12 eggs", "11 eggs", "21 eggs", "7 eggs"])
ARC_NUM = (["1", "2", "3", "4"], ["mad", "glad", "sad", "bad"])


# -- extraction ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,want", [
    ("B", "B"), ("b", "B"), ("(B)", "B"), ("[C]", "C"), ("**D**", "D"), ("E.", "E"), ("  A  ", "A"),
    ("B) compile", "B"), ("(B) compile", "B"), ("B. compile", "B"), ("C: debug", "C"), ("d) write code", "D"),
    ("The answer is B", "B"), ("the answer is (c).", "C"), ("Answer: E", "E"), ("option D", "D"),
    ("I think the answer is b", "B"), ("The answer is A because a program fails", "A"),
    ("First I thought A. The answer is C", "C"),  # the last stated answer wins
    ("Looking at it again, the answer is C", "C"),
    ("get frustrated", "E"), ("Get Frustrated.", "E"), ("they would get frustrated", "E"),
    ("compile", "B"), ("They debug it", "C"),
    ("I pick D here", "D"), ("A person would pick D", "D"),  # "A person": the article, not a label
    ("", None), ("   ", None), ("no idea", None), ("A or B", None), ("F", None),
    ("get mad or compile", None), ("the answer is a mystery", None),
])
def test_choice_csqa(text, want):
    assert _extract.choice(text, *CSQA) == want


@pytest.mark.parametrize("text,want", [
    ("12 eggs", "A"), ("12", "A"), ("21", "C"), ("The answer is 11 eggs", "B"), ("D", "D"), ("13", None),
])
def test_choice_text_and_shortened(text, want):
    assert _extract.choice(text, *ARC) == want


@pytest.mark.parametrize("text,want", [
    ("2", "2"), ("(3)", "3"), ("4) bad", "4"), ("the answer is 1", "1"), ("glad", "2"), ("5", None), ("A", None),
])
def test_choice_numeric_labels(text, want):
    assert _extract.choice(text, *ARC_NUM) == want


@pytest.mark.parametrize("text,want", [
    ("Yes", "yes"), ("yes.", "yes"), ("YES!", "yes"), ("True", "yes"), ("correct", "yes"),
    ("No", "no"), ("no.", "no"), ("No, because 7 + 5 = 12 not 13", "no"), ("false", "no"), ("Not equal", "no"),
    ("The answer is yes", "yes"), ("The answer is no, it is 12", "no"), ("I would say yes", "yes"),
    ("the answer: false", "no"), ("It is 12, so yes", "yes"),
    ("", None), ("12", None), ("maybe", None), ("it could be yes or no", None), ("Yes, there are no more", "yes"), (None, None),
])
def test_yes_no(text, want):
    assert _extract.yes_no(text) == want


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.lists(st.sampled_from(list("ABCDE12345")), min_size=1, max_size=5, unique=True),
       st.lists(st.text(max_size=20), min_size=5, max_size=5))
def test_extraction_total(text, labels, texts):
    got = _extract.choice(text, labels, texts[:len(labels)])
    assert got is None or got in labels
    assert _extract.yes_no(text) in (None, "yes", "no")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list("ABCDE")), st.sampled_from(["{}", "({})", "{}) x", "The answer is {}", "Answer: {}."]))
def test_extraction_finds_any_label(label, form):
    assert _extract.choice(form.format(label), *CSQA) == label


# -- synthetic twins -------------------------------------------------------------------------------
def test_twins_are_deterministic_and_seeded():
    for gen in _synthetic.GENERATORS.values():
        rows = gen(7, 40)
        assert rows == gen(7, 40) and rows != gen(8, 40) and len(rows) == 40


def _value(text: str) -> int:
    """Recompute a twin's arithmetic from its story: the truth the row's answer must state."""
    a, b = map(int, re.findall(r"\d+", text)[:2])
    if "gets" in text or "+" in text:
        return a + b
    if "gave away" in text or " - " in text:
        return a - b
    return a * b


def test_boolq_twin_schema_truth_and_balance():
    rows = _synthetic.boolq(3, 200)
    for r in rows:
        assert set(r) == {"question", "answer", "passage"}
        assert isinstance(r["answer"], bool) and r["question"] == r["question"].lower()
        assert not r["question"].endswith("?") and r["passage"]
        claim = int(re.findall(r"\d+", r["question"])[-1])
        assert (claim == _value(r["passage"])) == r["answer"], r
    assert Counter(r["answer"] for r in rows) == {True: 100, False: 100}
    assert len({r["question"] + r["passage"] for r in rows}) == 200


def test_csqa_twin_schema_truth_and_balance():
    rows = _synthetic.commonsense_qa(3, 500)
    for r in rows:
        assert set(r) == {"id", "question", "question_concept", "choices", "answerKey"}
        assert re.fullmatch(r"[0-9a-f]{32}", r["id"]) and isinstance(r["question_concept"], str)
        assert list(r["choices"]) == ["label", "text"] and r["choices"]["label"] == list("ABCDE")
        texts = r["choices"]["text"]
        assert len(set(texts)) == 5 and all(isinstance(t, str) and t for t in texts)
        assert int(texts["ABCDE".index(r["answerKey"])]) == _value(r["question"])
    assert len({r["id"] for r in rows}) == 500
    shares = Counter(r["answerKey"] for r in rows)
    assert set(shares) == set("ABCDE") and all(60 <= v <= 140 for v in shares.values()), shares


def test_arc_twin_schema_truth_and_balance():
    rows = _synthetic.arc_challenge(3, 500)
    sizes, numeric = Counter(), 0
    for r in rows:
        assert set(r) == {"id", "question", "choices", "answerKey"}
        assert list(r["choices"]) == ["text", "label"]
        labels, texts = r["choices"]["label"], r["choices"]["text"]
        assert 3 <= len(labels) <= 5 and len(labels) == len(texts) == len(set(texts))
        assert labels in (list("ABCDE")[:len(labels)], [str(i + 1) for i in range(len(labels))])
        numeric += labels[0] == "1"
        sizes[len(labels)] += 1
        assert int(texts[labels.index(r["answerKey"])].split()[0]) == _value(r["question"])
    assert sizes[4] > sizes[3] > 0 and sizes[5] > 0 and 10 < numeric < 100, (sizes, numeric)
    first = Counter(r["answerKey"] for r in rows if r["choices"]["label"][0] == "A")
    assert all(v >= 40 for k, v in first.items() if k in "ABC"), first


# -- the suite's items -----------------------------------------------------------------------------
class _Profile:
    def __init__(self, **data):
        self.data = DataSpec(**data)


def test_items_from_twins():
    its = SUITE.items(_Profile(source="synthetic", seed=5, test_rows=10), "thesis")
    assert Counter(i.dataset for i in its.items) == {"boolq": 10, "commonsense_qa": 10, "arc_challenge": 10}
    assert its.skipped == 0 and len({i.id for i in its.items}) == 30
    again = SUITE.items(_Profile(source="synthetic", seed=5, test_rows=10), "standard")
    assert [i.id for i in again.items] == [i.id for i in its.items] and again.data_fp == its.data_fp
    other = SUITE.items(_Profile(source="synthetic", seed=6, test_rows=10), "thesis")
    assert other.data_fp != its.data_fp
    limited = SUITE.items(_Profile(source="synthetic", seed=5, test_rows=10), "thesis", limit=3)
    # --limit caps each dataset and keeps a prefix: an item id always means the same question
    assert Counter(i.dataset for i in limited.items) == {"boolq": 3, "commonsense_qa": 3, "arc_challenge": 3}
    same = {i.id: i.prompt for i in its.items}
    assert all(same[i.id] == i.prompt for i in limited.items)
    b = next(i for i in its.items if i.dataset == "boolq")
    assert b.prompt[0]["role"] == "system" and "<SOLUTION>" in b.prompt[1]["content"]
    assert "yes or no" in b.prompt[1]["content"] and b.answer in ("yes", "no")
    c = next(i for i in its.items if i.dataset == "commonsense_qa")
    assert "\nE. " in c.prompt[1]["content"] and c.answer in "ABCDE"


def test_score_thesis_protocol():
    its = SUITE.items(_Profile(source="synthetic", seed=5, test_rows=4), "thesis").items
    b = next(i for i in its if i.dataset == "boolq")
    right, wrong = b.answer.capitalize(), ("no" if b.answer == "yes" else "yes")
    assert SUITE.score(b, f"x<end_working_out><SOLUTION>{right}.</SOLUTION>") == {"correct": 1.0, "has_solution": 1.0}
    assert SUITE.score(b, f"<SOLUTION>{wrong}</SOLUTION>")["correct"] == 0.0
    assert SUITE.score(b, f"{right}, it is") == {"correct": 1.0, "has_solution": 0.0}  # no tags: whole text
    c = next(i for i in its if i.dataset == "commonsense_qa")
    text = c.meta["texts"][c.meta["labels"].index(c.answer)]
    assert SUITE.score(c, f"<SOLUTION>({c.answer})</SOLUTION>")["correct"] == 1.0
    assert SUITE.score(c, f"<SOLUTION>{text}</SOLUTION>")["correct"] == 1.0
    assert SUITE.score(c, "<SOLUTION></SOLUTION>") == {"correct": 0.0, "has_solution": 1.0}
    assert SUITE.score(c, None)["correct"] == 0.0
    assert predict(c, "the answer is " + c.answer) == c.answer


def test_corrupt_rows_are_skipped_and_counted(tmp_path):
    good = _synthetic.arc_challenge(1, 3)
    bad = [{"id": "x1", "question": "", "choices": good[0]["choices"], "answerKey": "A"},  # empty question
           {"id": "x2", "question": "q", "choices": good[0]["choices"], "answerKey": "Z"},  # key not a label
           {"id": "x3", "question": "q", "choices": {"text": ["a", "b"], "label": ["A"]}, "answerKey": "A"},
           {"id": "x4", "question": "q", "choices": "A,B", "answerKey": "A"},
           {"id": 5, "question": "q", "choices": good[0]["choices"], "answerKey": "A"},  # id not a string
           {"id": "x6", "question": "q", "choices": {"text": ["a", None], "label": ["A", "B"]}, "answerKey": "A"}]
    folder = tmp_path / "allenai__ai2_arc__ARC-Challenge"
    folder.mkdir()
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [good[0], *bad, *good[1:]]))
    recs, skipped = _sources.records("arc_challenge", DataSpec(source="local", dir=str(tmp_path)), 100)
    assert [r.id for r in recs] == [f"arc_challenge-{g['id']}" for g in good] and skipped == len(bad)
    for ds, row in [("boolq", {"question": "q", "passage": "p", "answer": "yes"}),  # answer not a bool
                    ("boolq", {"question": "q", "passage": " ", "answer": True}),
                    ("boolq", None),
                    ("commonsense_qa", {**_synthetic.commonsense_qa(1, 1)[0], "choices": good[0]["choices"]})]:
        assert _sources.check(ds, row, 0) is None


def test_missing_local_data_is_one_clear_line(tmp_path):
    with pytest.raises(BadInput) as e:
        SUITE.items(_Profile(source="local", dir=str(tmp_path)), "thesis")
    msg = str(e.value)
    assert "\n" not in msg and "google/boolq" in msg and "google__boolq/validation.jsonl" in msg


def _local_layout(shared_data, tmp_path):
    arc = tmp_path / "allenai__ai2_arc__ARC-Challenge"
    csqa = tmp_path / "tau__commonsense_qa"
    arc.mkdir()
    csqa.mkdir()
    shutil.copy(shared_data / "arc_challenge_test.jsonl", arc / "test.jsonl")
    shutil.copy(shared_data / "commonsense_qa_sample200.jsonl", csqa / "validation.jsonl")
    return DataSpec(source="local", dir=str(tmp_path), test_rows=100_000)


def test_real_data_through_local_folder(shared_data, tmp_path):
    spec = _local_layout(shared_data, tmp_path)
    arc, arc_bad = _sources.records("arc_challenge", spec, spec.test_rows)
    csqa, csqa_bad = _sources.records("commonsense_qa", spec, spec.test_rows)
    assert (len(arc), arc_bad, len(csqa), csqa_bad) == (1172, 0, 200, 0)
    assert len({r.id for r in arc}) == 1172 and len({r.id for r in csqa}) == 200
    assert Counter(len(r.labels) for r in arc)[4] > 1100
    assert all(r.answer in "ABCDE" for r in csqa)
    # rows reach lm-eval unchanged apart from our id column
    from benchmarks.outdomain import to_item
    line = json.loads((shared_data / "arc_challenge_test.jsonl").read_text().splitlines()[0])
    assert to_item(arc[0], 0).meta["lm_eval_row"] == line
    # capped per dataset by test_rows
    few, _ = _sources.records("arc_challenge", DataSpec(source="local", dir=str(tmp_path), test_rows=7), 7)
    assert [r.id for r in few] == [r.id for r in arc[:7]]
