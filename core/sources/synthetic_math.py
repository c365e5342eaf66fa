"""Seeded arithmetic word problems with worked steps, in the hub schemas the thesis uses.

Three disjoint splits come from one stream of unique problems: SFT rows in the
OpenMathReasoning schema, GRPO rows in the DAPO-Math schema, test rows in the GSM8K schema.
Problems are one or two operations on small numbers: learnable by a tiny model in minutes, so SFT
reaches partial accuracy and GRPO has signal.
"""
from __future__ import annotations

import random

VERSION = "math-v1"  # bump when the generator changes: it is part of every data fingerprint

NAMES = ["Tom", "Ana", "Sam", "Mia", "Leo", "Zoe", "Ben", "Eva", "Max", "Ivy", "Ali", "Kim"]
THINGS = ["apples", "books", "coins", "cards", "pens", "eggs", "shells", "stamps", "rocks", "cups"]


def first_step(name: str, obj: str, op: str, a: int, b: int) -> str:
    """A one-operation problem's first worked step; the pretraining corpus works its QA facts out
    with the same words, so one place says how a solution starts."""
    return f"There are {a} boxes of {b} {obj}." if op == "mul" else f"{name} starts with {a} {obj}."


def _problem(rng: random.Random) -> tuple[str, list[str], int]:
    name, obj = rng.choice(NAMES), rng.choice(THINGS)
    kind = rng.choice(["add", "add", "sub", "sub", "mul", "two"])
    if kind == "add":
        a, b = rng.randint(2, 25), rng.randint(2, 25)
        c = a + b
        q = f"{name} has {a} {obj}. {name} gets {b} more {obj}. How many {obj} does {name} have now?"
        steps = [first_step(name, obj, "add", a, b), f"{a} + {b} = {c}."]
    elif kind == "sub":
        a = rng.randint(5, 30)
        b = rng.randint(1, a - 1)
        c = a - b
        q = f"{name} had {a} {obj} and gave away {b} of them. How many {obj} are left?"
        steps = [first_step(name, obj, "sub", a, b), f"{a} - {b} = {c}."]
    elif kind == "mul":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        c = a * b
        q = f"{name} buys {a} boxes with {b} {obj} in each box. How many {obj} does {name} buy?"
        steps = [first_step(name, obj, "mul", a, b), f"{a} * {b} = {c}."]
    else:
        a, b = rng.randint(2, 15), rng.randint(2, 15)
        s = a + b
        d = rng.randint(1, s - 1)
        c = s - d
        q = (f"{name} has {a} {obj} and finds {b} more. Then {name} gives {d} {obj} away. "
             f"How many {obj} does {name} have?")
        steps = [f"First, {a} + {b} = {s}.", f"Then, {s} - {d} = {c}."]
    return q, steps, c


def _unique_problems(seed: int, n: int) -> list[tuple[str, list[str], int]]:
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        p = _problem(rng)
        if p[0] not in seen:
            seen.add(p[0])
            out.append(p)
    return out


def worked_solution(steps: list[str], answer: int) -> str:
    numbered = " ".join(f"Step {i}: {s}" for i, s in enumerate(steps, 1))
    return f"{numbered} So the answer is {answer}."


def splits(seed: int, sft_rows: int, grpo_rows: int, test_rows: int) -> dict[str, list[dict]]:
    probs = _unique_problems(seed, sft_rows + grpo_rows + test_rows)
    sft, grpo, test = probs[:sft_rows], probs[sft_rows:sft_rows + grpo_rows], probs[sft_rows + grpo_rows:]
    return {
        # unsloth/OpenMathReasoning-mini schema
        "sft": [{"problem": q, "generated_solution": f"<think>{worked_solution(s, c)}</think>",
                 "expected_answer": str(c)} for q, s, c in sft],
        # open-r1/DAPO-Math-17k-Processed schema
        "grpo": [{"prompt": q, "solution": str(c)} for q, _, c in grpo],
        # openai/gsm8k schema: worked solution ending in '#### N'
        "test": [{"question": q, "answer": f"{worked_solution(s, c)}\n#### {c}"} for q, s, c in test],
    }


def pretraining_text(seed: int, held_out: int, n: int) -> list[str]:
    """Plain question/answer text (no thesis tags) to pretrain the tiny base model.

    Drawn from the same unique stream after the first ``held_out`` problems (the SFT, GRPO and
    test splits), so the base model never sees a test problem.
    """
    probs = _unique_problems(seed, held_out + n)[held_out:]
    return [f"Question: {q}\nAnswer: {worked_solution(s, c)}" for q, s, c in probs]
