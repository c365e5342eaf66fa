"""Seeded synthetic function-calling text over the shapes of BFCL's function documents.

A request in plain words, the documents of the functions it may use, and the JSON array of calls
``[{"name": ..., "parameters": {...}}]`` that fulfils it. Documents come in BFCL's two shapes: the
thesis prompt's short form (``{"name", "parameters": {arg: python type name}}``) and the full
BFCL form (description, ``{"type": "dict", "properties", "required"}``). Function names are made
up from word lists that BFCL's classes (file system, messages, trading, travel, vehicles...) do
not use, so the base learns to *read* a function list and copy a name from it, not BFCL's names.

Used only to pretrain the tiny base (``pretraining_corpus``); BFCL's own rows are never read here.
"""
from __future__ import annotations

import random

VERSION = "calls-v3"  # bump when the generator changes: it is part of a mixed-corpus base's fingerprint

VERBS = ["water", "bake", "shuffle", "tune", "ship", "calibrate", "dim", "enroll", "feed", "stack", "rent",
         "paint", "schedule", "play", "crop", "charge", "launch", "polish", "plant", "rate", "wrap", "sort",
         "brew", "knit", "label", "repair", "sketch", "weigh", "scan", "pack"]
NOUNS = ["garden", "recipe", "playlist", "parcel", "sensor", "lamp", "course", "pet", "shelf", "bike",
         "poster", "badge", "song", "photo", "robot", "plant", "battery", "drone", "puzzle", "kite", "quilt",
         "violin", "aquarium", "telescope", "greenhouse", "bakery", "canoe", "lantern", "mural", "orchard"]
PARAMS = {  # name -> kind of value
    "label": "str", "color": "str", "owner": "str", "room": "str", "title": "str", "code": "str",
    "size": "int", "count": "int", "minutes": "int", "level": "int", "weight": "float", "price": "float",
    "ratio": "float", "urgent": "bool", "public": "bool", "tags": "list",
}
JSON_TYPE = {"str": "string", "int": "integer", "float": "float", "bool": "boolean", "list": "array"}
WORDS = ["red", "blue", "north", "alpha", "maple", "river", "delta", "sunny", "oak", "cedar", "amber",
         "Nora", "Omar", "Lena", "Ravi", "Pia", "Hugo", "kitchen", "attic", "lab"]
OPAQUE_SHARE = 0.6  # examples whose function names are not made of the request's words
OPENERS = ["Could you {act}?", "Please {act}.", "I need you to {act}.", "Can you {act} for me?",
           "I'd like to {act}.", "Help me {act}, please.", "{Act} now."]


def _value(kind: str, rng: random.Random):
    if kind == "str":
        w = rng.choice(WORDS)
        return w if rng.random() < 0.6 else f"{w}_{rng.randint(1, 99)}"
    if kind == "int":
        return rng.randint(1, 60)
    if kind == "float":
        return round(rng.uniform(0.5, 99.5), 1)
    if kind == "bool":
        return rng.random() < 0.5
    return rng.sample(WORDS, rng.randint(1, 3))


def _made_up(rng: random.Random) -> str:
    """A pronounceable nonsense word: some names are not English, so copying beats guessing."""
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 3)))


def _function(rng: random.Random) -> dict:
    verb, noun = rng.choice(VERBS), rng.choice(NOUNS)
    # mostly made-up nouns: a 300-step base memorised the 900 word-list names and emitted them
    # whatever the list said; an unseen name can only be copied from the documents
    if rng.random() < 0.6:
        noun = _made_up(rng)
    params = rng.sample(sorted(PARAMS), rng.randint(1, 3))
    return {"name": f"{verb}_{noun}", "verb": verb, "noun": noun, "params": {p: PARAMS[p] for p in params}}


def _opaque_name(rng: random.Random) -> str:
    """A name the request does not spell (BFCL's requests rarely do: "delve into my stocks" ->
    get_watchlist): the answer can only be copied from the documents."""
    if rng.random() < 0.5:  # English words, but not the request's
        a, b = rng.choice(VERBS), rng.choice(NOUNS)
    else:
        a, b = _made_up(rng), _made_up(rng)
    return rng.choice([f"{a}_{b}", a + b.capitalize(), a if len(a) > 4 else f"{a}_{b}"])


def _phrase(call: dict, fn: dict) -> str:
    args = ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in call["parameters"].items())
    return f"{fn['verb']} the {fn['noun']} with {args}"


def short_doc(fn: dict) -> dict:
    """The thesis prompt's shape: parameter -> Python type name of the value."""
    return {"name": fn["name"], "parameters": dict(fn["params"])}


def full_doc(fn: dict, rng: random.Random) -> dict:
    """BFCL's document shape (no response block: it only lengthens the prompt)."""
    props = {p: {"type": JSON_TYPE[k], "description": f"The {p} of the {fn['noun']}."} for p, k in fn["params"].items()}
    required = [p for p in fn["params"] if rng.random() < 0.7] or list(fn["params"])[:1]
    return {"name": fn["name"], "description": f"Tool description: {fn['verb'].capitalize()} a {fn['noun']}.",
            "parameters": {"type": "dict", "properties": props, "required": required}}


def example(rng: random.Random) -> dict:
    """One request: ``request``, ``docs`` (short or full shape), ``calls`` (the answer), ``names``."""
    fns, names = [], set()
    while len(fns) < rng.randint(1, 4):
        fn = _function(rng)
        if fn["name"] not in names:
            names.add(fn["name"])
            fns.append(fn)
    if rng.random() < OPAQUE_SHARE:
        for fn in fns:
            fn["name"] = _opaque_name(rng)
    used = rng.sample(fns, min(len(fns), rng.choice([1, 1, 2])))
    calls = [{"name": fn["name"], "parameters": {p: _value(k, rng) for p, k in fn["params"].items()}} for fn in used]
    acts = [_phrase(c, fn) for c, fn in zip(calls, used)]
    act = " and then ".join(acts)
    opener = rng.choice(OPENERS)
    request = opener.format(act=act, Act=act[0].upper() + act[1:])
    if rng.random() < 0.7:  # the thesis prompt lists exactly the needed functions
        docs = [short_doc(fn) for fn in used]
    else:
        docs = [full_doc(fn, rng) for fn in fns]
    # the reasoning names no function: the answer's ``"name": "`` then follows the documents' own
    # ``"name": "``, and the name is copied from there (the thesis's BFCL prompts never spell it)
    why = " ".join(f"To {a.split(' with ')[0]} I call the function listed for it." for a in acts)
    return {"request": request, "docs": docs, "calls": calls, "why": why, "names": [c["name"] for c in calls]}


def examples(seed: int, n: int) -> list[dict]:
    rng = random.Random(f"{seed}:calls:{VERSION}")
    return [example(rng) for _ in range(n)]


def all_names() -> set[str]:
    """Every name the generator can produce from its word lists (made-up nouns aside)."""
    return {f"{v}_{n}" for v in VERBS for n in NOUNS}


__all__ = ["examples", "example", "short_doc", "full_doc", "all_names", "VERSION"]
