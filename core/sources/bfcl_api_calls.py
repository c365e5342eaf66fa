"""Seeded synthetic requests over BFCL's own multi-turn API (its function documents, not its questions).

Qwen3-Base met shell commands, trading and travel APIs in its web-scale pretraining; the tiny
base met nothing. With ``synthetic_calls`` its function-call text has made-up names only, so
answering a BFCL prompt needs copying a listed name, which a 4-layer base does not learn in
minutes (docs/tiny-experiments.md, sections 2-5), and BFCL GRPO never sees a reward. These
documents teach it the API the way general text would: a request in plain words made from a
function's own description ("Please add a stock to the watchlist, with stock 'maple'."), the functions
listed as the thesis prompt lists them, and the call.

What is and is not shared with the BFCL suite: the function documents (names, descriptions,
parameters) are the ones its prompts list, as the thesis's BFCL GRPO training prompts do too; the
requests, argument values and call lists are generated here, never read from a BFCL question or
ground truth (``tests/test_pretraining_corpus.py`` checks no BFCL question is in the corpus).
Used only to pretrain a tiny base whose ``pretrain_calls`` is ``bfcl-api``.
"""
from __future__ import annotations

import random

VERSION = "bfcl-api-v1"  # bump when the generator changes: it is part of such a base's fingerprint

WORDS = ["alpha", "maple", "river", "delta", "cedar", "amber", "north", "orbit", "pine", "coral", "nova",
         "Nora", "Omar", "Lena", "Ravi", "Pia", "Hugo", "report", "draft", "notes", "budget", "photos"]
OPENERS = ["Could you {act}?", "Please {act}.", "I need you to {act}.", "Can you {act} for me?",
           "I'd like to {act}.", "Help me {act}, please.", "{Act} now.", "Would you mind if we {act}?"]


def _what(doc: dict) -> str:
    """The function's own words: the part of its description after "Tool description:"."""
    text = doc["description"].split("Tool description:")[-1].strip()
    first = text.split(". ")[0].rstrip(". ")
    if not first:
        return doc["name"].replace("_", " ")
    verb, _, rest = first.partition(" ")
    if verb.endswith("s") and not verb.endswith("ss") and len(verb) > 3:  # "Gets the zipcode" -> "get the zipcode"
        verb = verb[:-1]
    return " ".join([verb.lower(), rest]).strip()


def _value(name: str, prop: dict, rng: random.Random):
    if "enum" in prop:
        return rng.choice(prop["enum"])
    kind = prop.get("type")
    if kind == "integer":
        return rng.randint(1, 500)
    if kind in ("float", "number"):
        return round(rng.uniform(1, 999), 1)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        item = prop.get("items", {})
        if item.get("type") in ("integer", "float", "number"):
            return [_value(name, item, rng) for _ in range(rng.randint(2, 4))]
        return rng.sample(WORDS, rng.randint(1, 3))
    if kind == "dict":
        return {}
    word = rng.choice(WORDS)
    if "file" in name:
        return f"{word}.{rng.choice(['txt', 'pdf', 'csv', 'md'])}"
    return word if rng.random() < 0.6 else f"{word}_{rng.randint(1, 99)}"


def _call(doc: dict, rng: random.Random) -> dict:
    props = doc["parameters"].get("properties", {})
    required = doc["parameters"].get("required", [])
    names = [p for p in props if p in required or rng.random() < 0.3]
    return {"name": doc["name"], "parameters": {p: _value(p, props[p], rng) for p in names}}


def _phrase(doc: dict, call: dict) -> str:
    args = ", ".join(f"{k} {v!r}" for k, v in call["parameters"].items())
    return _what(doc) + (f", with {args}" if args else "")


def full_doc(doc: dict) -> dict:
    return {k: doc[k] for k in ("name", "description", "parameters")}


def example(rng: random.Random, classes: dict) -> dict:
    """One request over one class: ``request``, ``docs``, ``calls``, ``why``, ``names``."""
    from core.bfcl.data import thesis_available  # imported with class_function_docs by ``examples``

    docs = classes[rng.choice(sorted(classes))]
    used = rng.sample(docs, min(len(docs), rng.choice([1, 1, 2])))
    calls = [_call(d, rng) for d in used]
    act = " and then ".join(_phrase(d, c) for d, c in zip(used, calls))
    request = rng.choice(OPENERS).format(act=act, Act=act[0].upper() + act[1:])
    if rng.random() < 0.7:  # as the thesis prompt lists them: exactly the needed functions
        listed = thesis_available(calls)
    else:  # as the fair protocol does: several of the class's documents, the needed ones among them
        others = [d for d in docs if d not in used]
        listed = [full_doc(d) for d in rng.sample(others, min(len(others), rng.randint(1, 3))) + used]
        rng.shuffle(listed)
    why = " ".join(f"To {_what(d)} I call {d['name']}." for d in used)
    return {"request": request, "docs": listed, "calls": calls, "why": why, "names": [c["name"] for c in calls]}


def examples(seed: int, n: int) -> list[dict]:
    from core.bfcl.data import class_function_docs  # bfcl-eval is an extra: only a bfcl-api base needs it

    rng = random.Random(f"{seed}:bfcl-api:{VERSION}")
    classes = {k: list(v) for k, v in class_function_docs().items()}
    return [example(rng, classes) for _ in range(n)]


__all__ = ["examples", "example", "VERSION"]
