"""Seeded twins of BoolQ, CommonsenseQA and ARC-Challenge in the hub schemas, about small quantities.

They test whether a tiny arithmetic model transfers to new answer formats (yes/no, a letter out
of 5, a letter out of 3-5), not world knowledge: the questions are the arithmetic the model was
trained on, asked the way the real datasets ask. Each row has exactly the real dataset's fields
and types, so the hub/local code path and this one share everything after loading.

Deterministic: the same (seed, n) gives the same rows; each dataset has its own stream.
BoolQ answers are half True, half False; the correct letter is drawn uniformly.

Two streams per dataset: ``test`` (the suite's rows; unchanged since outdomain-v1) and
``pretrain`` (the tiny base's pretraining corpus, ``core.sources.pretraining_corpus``). The
pretraining stream skips every fact (name, object, operation, operands) that a test row of the
same seed asks about, so the base never sees a test question, even reworded. The generators live
here, below both the suite and the pretraining, so the two cannot drift apart.
"""
from __future__ import annotations

import hashlib
import random
import string

VERSION = "outdomain-v1"  # bump when the generator changes: it is part of the data fingerprint

NAMES = ["Tom", "Ana", "Sam", "Mia", "Leo", "Zoe", "Ben", "Eva", "Max", "Ivy", "Ali", "Kim"]
THINGS = ["apples", "books", "coins", "cards", "pens", "eggs", "shells", "stamps", "rocks", "cups"]
SYMBOL = {"add": "+", "sub": "-", "mul": "*"}


def draw_fact(rng: random.Random) -> dict:
    """One small arithmetic fact, with a story (passage) and a bare form (a op b)."""
    name, obj, op = rng.choice(NAMES), rng.choice(THINGS), rng.choice(["add", "sub", "mul"])
    if op == "add":
        a, b = rng.randint(2, 25), rng.randint(2, 25)
        c = a + b
        story = f"{name} has {a} {obj}. {name} gets {b} more {obj}."
        ask = f"how many {obj} does {name} have now"
    elif op == "sub":
        a = rng.randint(5, 30)
        b = rng.randint(1, a - 1)
        c = a - b
        story = f"{name} had {a} {obj} and gave away {b} of them."
        ask = f"how many {obj} are left"
    else:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        c = a * b
        story = f"{name} buys {a} boxes with {b} {obj} in each box."
        ask = f"how many {obj} does {name} buy"
    return {"name": name, "obj": obj, "op": op, "a": a, "b": b, "c": c, "story": story, "ask": ask}


def _distractors(f: dict, k: int, rng: random.Random) -> list[int]:
    """k wrong answers a confused model would give: off by a little, or the wrong operation."""
    a, b, c = f["a"], f["b"], f["c"]
    pool = {c - 2, c - 1, c + 1, c + 2, c + 10, a + b, a * b, abs(a - b), 2 * c, c + a}
    pool = sorted(x for x in pool if x >= 0 and x != c)
    while len(pool) < k:  # tiny facts can run out of plausible ones
        pool.append(c + 3 + len(pool))
    return rng.sample(pool, k)


def fact_key(f: dict) -> tuple:
    return (f["name"], f["obj"], f["op"], f["a"], f["b"])


def _rng(seed: int, dataset: str, stream: str) -> random.Random:
    # the test stream keeps its historical seed string: the suite's rows stay byte-identical
    suffix = "" if stream == "test" else f":{stream}"
    return random.Random(f"{seed}:{dataset}:{VERSION}{suffix}")


def _unique(rng: random.Random, n: int, make, exclude: frozenset = frozenset()) -> list:
    """n rows as (row, fact); a fact in ``exclude`` is redrawn (never counted as a try)."""
    seen, out, tries = set(), [], 0
    while len(out) < n:
        row, key, fact = make(rng, len(out))
        if exclude and fact_key(fact) in exclude:
            continue
        tries += 1
        if key in seen and tries < 50 * (n + 10):
            continue
        seen.add(key)
        out.append((row, fact))
    return out


# -- google/boolq: question (lowercase, no '?'), answer (bool), passage ---------------------------
def boolq(seed: int, n: int) -> list[dict]:
    return [row for row, _ in boolq_facts(seed, n)]


def boolq_facts(seed: int, n: int, stream: str = "test", exclude: frozenset = frozenset()) -> list:
    rng = _rng(seed, "boolq", stream)
    truths = [i % 2 == 0 for i in range(n)]
    rng.shuffle(truths)

    def make(rng, i):
        f, truth = draw_fact(rng), truths[i]
        claim = f["c"] if truth else max(0, f["c"] + rng.choice([-3, -2, -1, 1, 2, 3]))
        if not truth and claim == f["c"]:  # c + delta clipped to c (c small): move the other way
            claim = f["c"] + 1
        if rng.random() < 0.5:  # a story and a question about its outcome
            passage = f["story"] + f" Then someone asks {f['ask']}."
            question = {"add": f"does {f['name'].lower()} have {claim} {f['obj']} now",
                        "sub": f"are there {claim} {f['obj']} left",
                        "mul": f"does {f['name'].lower()} buy {claim} {f['obj']}"}[f["op"]]
        else:  # a bare sum, the way the real passages state facts
            sym = SYMBOL[f["op"]]
            passage = (f"{f['story']} In numbers, that is {f['a']} {sym} {f['b']}. "
                       f"Working it out step by step gives the total.")
            question = f"is {f['a']} {sym} {f['b']} equal to {claim}"
        return {"question": question, "answer": bool(truth), "passage": passage}, question + passage, f

    return _unique(rng, n, make, exclude)


# -- tau/commonsense_qa: id, question, question_concept, choices{label,text} A-E, answerKey --------
def commonsense_qa(seed: int, n: int) -> list[dict]:
    return [row for row, _ in commonsense_qa_facts(seed, n)]


def commonsense_qa_facts(seed: int, n: int, stream: str = "test", exclude: frozenset = frozenset()) -> list:
    rng = _rng(seed, "commonsense_qa", stream)
    labels = list("ABCDE")

    def make(rng, i):
        f = draw_fact(rng)
        question = f"{f['story']} So {f['ask']}?"
        question = question[0].upper() + question[1:]
        key = rng.randrange(5)
        texts = [str(x) for x in _distractors(f, 4, rng)]
        texts.insert(key, str(f["c"]))
        row = {"id": hashlib.md5(f"{seed}:csqa:{i}".encode()).hexdigest(), "question": question,
               "question_concept": f["obj"], "choices": {"label": labels, "text": texts},
               "answerKey": labels[key]}
        return row, question, f

    return _unique(rng, n, make, exclude)


# -- allenai/ai2_arc ARC-Challenge: id, question, choices{text,label} (3-5), answerKey --------------
def arc_challenge(seed: int, n: int) -> list[dict]:
    return [row for row, _ in arc_challenge_facts(seed, n)]


def arc_challenge_facts(seed: int, n: int, stream: str = "test", exclude: frozenset = frozenset()) -> list:
    rng = _rng(seed, "arc_challenge", stream)

    def make(rng, i):
        f = draw_fact(rng)
        k = rng.choice([3, 4, 4, 4, 4, 5])  # real ARC: mostly 4 options, a few 3 or 5
        numeric = rng.random() < 0.1  # real ARC labels some questions 1-4 instead of A-D
        labels = [str(j + 1) for j in range(k)] if numeric else list(string.ascii_uppercase[:k])
        if numeric or rng.random() < 0.5:
            question = f"{f['story']} Which is the number of {f['obj']} in the end?"
            unit = f" {f['obj']}"  # texts with a unit never read as a bare label
        else:
            question = f"Which number is {f['a']} {SYMBOL[f['op']]} {f['b']}?"
            unit = ""
        key = rng.randrange(k)
        texts = [f"{x}{unit}" for x in _distractors(f, k - 1, rng)]
        texts.insert(key, f"{f['c']}{unit}")
        row = {"id": f"Synthetic_{seed}_{i:05d}", "question": question,
               "choices": {"text": texts, "label": labels}, "answerKey": labels[key]}
        return row, question, f

    return _unique(rng, n, make, exclude)


GENERATORS = {"boolq": boolq, "commonsense_qa": commonsense_qa, "arc_challenge": arc_challenge}
WITH_FACTS = {"boolq": boolq_facts, "commonsense_qa": commonsense_qa_facts, "arc_challenge": arc_challenge_facts}


def test_facts(seed: int, n: int) -> frozenset:
    """The facts the suite's test rows (any ``n`` up to this) ask about, over the three datasets."""
    return frozenset(fact_key(f) for gen in WITH_FACTS.values() for _, f in gen(seed, n))
