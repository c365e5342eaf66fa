"""The tiny base's pretraining corpus: disjoint from every training and test row, in the suites' wording."""
from __future__ import annotations

import json

import pytest

from core.config import DataSpec
from core.sources import pretraining_corpus, synthetic_calls, synthetic_math, synthetic_qa
from core.thesis_format import SOLUTION_END, SOLUTION_START

TAGS = (SOLUTION_START, SOLUTION_END)


def _profile_data(name: str) -> DataSpec:
    from harness.registry import load_registry

    from benchkit import ROOT

    return load_registry(ROOT / "registry.yaml").profile(name).data


def _corpus(data: DataSpec, n: int) -> str:
    return "\x00".join(pretraining_corpus.texts(data, n))


@pytest.mark.parametrize("profile", ["tiny", "smoke"])
def test_no_pretraining_text_contains_a_training_or_test_row(profile):
    """Every suite's test question/passage, every SFT and GRPO problem: none occurs in the corpus."""
    from benchmarks.bfcl.suite import SUITE as BFCL
    from benchmarks.outdomain import _sources

    data = _profile_data(profile)
    corpus = _corpus(data, 5000)
    math = synthetic_math.splits(data.seed, data.sft_rows, data.grpo_rows, data.test_rows)
    rows = ([r["problem"] for r in math["sft"]] + [r["prompt"] for r in math["grpo"]]
            + [r["question"] for r in math["test"]])
    for ds in _sources.DATASETS:
        recs, _ = _sources.records(ds, data, None)
        assert len(recs) == data.test_rows
        rows += [r.passage or r.question for r in recs]
    split = BFCL.split()
    rows += [r["question"] for r in split["test"] + split["train"]]
    leaked = [r for r in rows if r in corpus]
    assert not leaked, leaked[:3]
    # and no test fact reworded: the QA facts drawn for pretraining avoid the test rows' facts
    test_facts = synthetic_qa.test_facts(data.seed, data.test_rows)
    drawn = synthetic_qa.boolq_facts(data.seed, 500, "pretrain", test_facts)
    assert not {synthetic_qa.fact_key(f) for _, f in drawn} & test_facts


def test_the_corpus_can_leak_a_row_when_unfiltered():
    """The check above can fail: the pretraining stream, unfiltered, does hit test facts."""
    data = _profile_data("tiny")
    test_facts = synthetic_qa.test_facts(data.seed, data.test_rows)
    drawn = synthetic_qa.boolq_facts(data.seed, 5000, "pretrain")
    assert {synthetic_qa.fact_key(f) for _, f in drawn} & test_facts


def test_corpus_is_seeded_and_mixed():
    data = DataSpec(source="synthetic", seed=5, sft_rows=50, grpo_rows=10, test_rows=20)
    a = pretraining_corpus.texts(data, 400)
    assert a == pretraining_corpus.texts(data, 400) != pretraining_corpus.texts(data.model_copy(update={"seed": 6}), 400)
    assert len(a) >= 400
    kinds = {"yes/no": sum("Answer yes or no." in t for t in a),
             "choice": sum("Answer with the label of the correct choice" in t for t in a),
             "calls": sum("Available functions:" in t for t in a),
             "math": sum("Step 1:" in t and "Choices:" not in t for t in a)}
    assert all(v >= 30 for v in kinds.values()), kinds
    opens = {t.split("Answer yes or no. Put your answer (yes or no) between ")[1].split(" and ")[0]
             for t in a if "Answer yes or no." in t}
    assert len(opens) >= 10  # many delimiters, not one tag


def test_qa_wording_is_the_suites():
    """With the thesis tags, the corpus renders exactly the out-of-domain suite's user message."""
    from benchmarks.outdomain import _sources, user_message

    data = DataSpec(source="synthetic", seed=3, test_rows=5)
    for ds in _sources.DATASETS:
        for rec in _sources.records(ds, data, None)[0]:
            if ds == "boolq":
                ours = pretraining_corpus.boolq_user(rec.passage, rec.question, TAGS)
            else:
                ours = pretraining_corpus.choice_user(rec.question, rec.labels, rec.texts, TAGS)
            assert ours == user_message(rec)


def test_call_wording_and_shapes_are_bfcls():
    from core.bfcl.data import REASONING_END, REASONING_START, build_thesis_dataset, thesis_prompt

    item = build_thesis_dataset(seed=3407)["test"][0]
    ours = pretraining_corpus.calls_user(item["question"], item["available_thesis"],
                                         (REASONING_START, REASONING_END), TAGS)
    assert ours == thesis_prompt(item)[1]["content"]
    bfcl_names = {f["name"] for split in build_thesis_dataset(seed=3407).values() if isinstance(split, list)
                  for it in split for f in it["available_fair"]}
    assert not synthetic_calls.all_names() & bfcl_names
    generated = {n for ex in synthetic_calls.examples(0, 2000) for n in ex["names"]}
    assert not generated & bfcl_names  # the names a request does not spell are made up too
    for ex in synthetic_calls.examples(0, 200):
        # the reasoning never names a function: the name is copied from the documents
        assert not any(n in ex["why"] for n in ex["names"])
        docs = {d["name"]: d for d in ex["docs"]}
        for call in ex["calls"]:  # every call names a listed function with its documented arguments
            doc = docs[call["name"]]
            params = doc["parameters"].get("properties", doc["parameters"])
            assert set(call["parameters"]) == set(params)
        json.loads(json.dumps(ex["calls"]))


def test_qa_documents_work_the_fact_out_like_the_math_corpus():
    """A multiple-choice document works its fact out in the math corpus's own steps and answers
    with the correct choice's text, which the thesis extractor maps to its label. With the label as
    the answer, the base had to find it among the choices — which it did not learn at this size —
    and SFT then answered such prompts with arithmetic or nothing (README, "What the demo shows")."""
    data = DataSpec(source="synthetic", seed=3, sft_rows=50, grpo_rows=10, test_rows=20)
    docs = [t for t in pretraining_corpus.texts(data, 800) if "Choices:" in t and t.endswith(SOLUTION_END)]
    worked = [t for t in docs if "Step 1:" in t]
    assert len(docs) >= 20 and len(worked) >= 10
    for t in docs:
        answer = t.rsplit(SOLUTION_START, 1)[1].removesuffix(SOLUTION_END)
        texts = [line.split(". ", 1)[1] for line in t.split("Choices:\n")[1].split("\n\n")[0].splitlines()]
        assert answer in texts, t
        if t in worked:
            assert f"So the answer is {answer.split()[0]}." in t, t


def test_bfcl_api_corpus_holds_bfcls_functions_but_none_of_its_questions_or_answers():
    """``pretrain_calls: bfcl-api``: the call documents use BFCL's multi-turn function documents,
    with requests written from each function's description. No BFCL question (train or test) and
    no ground-truth call list is in the corpus."""
    from benchmarks.bfcl.suite import SUITE as BFCL
    from core.bfcl.data import class_function_docs
    from core.sources import bfcl_api_calls

    data = _profile_data("tiny-api")
    docs = pretraining_corpus.texts(data, 3000, calls="bfcl-api")
    corpus = "\x00".join(docs)
    split = BFCL.split()
    items = split["train"] + split["test"]
    assert not [it["question"] for it in items if it["question"] in corpus]
    # a ground truth's calls as the corpus would write them (JSON): none with arguments occurs. A call
    # without any (``[{"name": "list_all_airports", "parameters": {}}]``) is knowing the function itself
    with_args = [it for it in items if any(c["parameters"] for c in it["ground_truth"])]
    assert len(with_args) >= 150
    assert not [it["id"] for it in with_args if json.dumps(it["ground_truth"]) in corpus]
    assert not [c for it in with_args for c in it["ground_truth"] if c["parameters"] and json.dumps(c) in corpus]
    assert sum("Available functions:" in t for t in docs) >= 200
    classes = class_function_docs()
    names = {d["name"]: cls for cls, ds in classes.items() for d in ds}
    for ex in bfcl_api_calls.examples(0, 300):
        listed = {d["name"]: d for d in ex["docs"]}
        assert {names[n] for n in ex["names"]} == {names[n] for n in listed} and len({names[n] for n in listed}) == 1
        for call in ex["calls"]:  # a listed function, called with documented arguments
            params = listed[call["name"]]["parameters"]
            assert set(call["parameters"]) <= set(params.get("properties", params))
        assert ex["request"] not in {it["question"] for it in items}
    # and the made-up-name corpus is untouched by the option
    assert pretraining_corpus.texts(data, 300) == pretraining_corpus.texts(data, 300, calls="made-up")


def test_bfcl_api_calls_need_the_mixed_corpus():
    from pydantic import ValidationError

    from core.config import BaseSpec

    with pytest.raises(ValidationError, match="needs pretrain_corpus: mixed"):
        BaseSpec(kind="tiny", pretrain_calls="bfcl-api")
    assert BaseSpec(kind="tiny", pretrain_corpus="mixed", pretrain_calls="bfcl-api").pretrain_calls == "bfcl-api"
