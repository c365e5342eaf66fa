"""The thesis BFCL data set: first turns of bfcl-eval's shipped ``multi_turn_base``."""

from __future__ import annotations

from typing import Callable, Optional

import copy
import hashlib
import json
import random
from functools import lru_cache

from core.thesis_format import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START, SYSTEM_PROMPT

from .env import bfcl_module
from .parse import parse_python_calls

CATEGORY = "multi_turn_base"


@lru_cache(maxsize=None)
def _raw_multi_turn() -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    utils = bfcl_module("utils")
    entries = utils.load_dataset_entry(CATEGORY, include_language_specific_hint=False)
    truths = utils.load_ground_truth_entry(CATEGORY)
    return tuple(entries), tuple(truths)


def _named_call(call_str: str, docs: dict[str, dict]) -> dict:
    """Parse a ground-truth call string; positional arguments get their documented names."""
    (call,) = parse_python_calls(call_str)
    args = call.pop("args", [])
    if args:
        order = list(docs[call["name"]]["parameters"]["properties"])
        named = dict(zip(order, args))
        named.update(call["parameters"])
        call["parameters"] = named
    return call


def thesis_available(calls: list[dict]) -> list[dict]:
    """Quirk: the thesis built the "available functions" from the ground truth alone."""
    out: dict[str, dict] = {}
    for c in calls:
        entry = out.setdefault(c["name"], {"name": c["name"], "parameters": {}})
        for k, v in c["parameters"].items():
            entry["parameters"].setdefault(k, type(v).__name__)
    return list(out.values())


def _first_user_text(turn: list[dict]) -> str:
    return "\n".join(m["content"] for m in turn if m.get("role") == "user")


def all_thesis_items() -> list[dict]:
    entries, truths = _raw_multi_turn()
    by_id = {t["id"]: t for t in truths}
    items = []
    for e in entries:
        docs = {d["name"]: d for d in e["function"]}
        gt_strings = list(by_id[e["id"]]["ground_truth"][0])
        gt = [_named_call(s, docs) for s in gt_strings]
        items.append(
            {
                "id": e["id"],
                "question": _first_user_text(e["question"][0]),
                "initial_config": copy.deepcopy(e["initial_config"]),
                "involved_classes": list(e["involved_classes"]),
                "ground_truth_calls": gt_strings,
                "ground_truth": gt,
                "available_thesis": thesis_available(gt),
                "available_fair": copy.deepcopy(e["function"]),
            }
        )
    return items


def split_fingerprint(train_ids: list[str], test_ids: list[str], seed: int) -> str:
    payload = json.dumps({"seed": seed, "train": train_ids, "test": test_ids}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def build_thesis_dataset(seed: int = 3407, test_fraction: float = 0.2) -> dict:
    """Seeded shuffle and 80/20 split (the thesis's split was unseeded: a documented quirk).

    Returns ``{"train", "test", "seed", "test_fraction", "fingerprint"}``; the fingerprint is the
    sha256 of the seed and the ordered train/test ids.
    """
    items = sorted(all_thesis_items(), key=lambda it: int(it["id"].rsplit("_", 1)[1]))
    random.Random(seed).shuffle(items)
    n_test = int(round(len(items) * test_fraction))
    train, test = items[: len(items) - n_test], items[len(items) - n_test :]
    return {
        "train": train,
        "test": test,
        "seed": seed,
        "test_fraction": test_fraction,
        "fingerprint": split_fingerprint([i["id"] for i in train], [i["id"] for i in test], seed),
    }


def thesis_prompt(item: dict, fair: bool = False) -> list[dict]:
    """System + user messages of the thesis BFCL prompt.

    ``fair=False`` reproduces the quirk (functions built from the ground truth); ``fair=True``
    lists every function of the involved classes.
    """
    functions = item["available_fair"] if fair else item["available_thesis"]
    user = (
        f"{item['question']}\n\n"
        f"Available functions:\n{json.dumps(functions, indent=2)}\n\n"
        f"Think about which functions to call and put your working out between {REASONING_START} "
        f"and {REASONING_END}. Then give the function calls as a JSON array of objects with "
        f'"name" and "parameters", e.g. [{{"name": "func", "parameters": {{"arg": "value"}}}}], '
        f"between {SOLUTION_START} and {SOLUTION_END}."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def prompt_tokens(tok, messages: list[dict]) -> int:
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return len(tok(text, add_special_tokens=False)["input_ids"])


def fit_functions(build: Callable[[list], list[dict]], functions: list, tok, budget: Optional[int]):
    """(messages, dropped): the longest prefix of ``functions`` whose prompt fits ``budget`` tokens.

    Deterministic (document order, binary search); with no budget the prompt is untouched. When
    even no function fits, the function-less prompt is returned with everything dropped.
    """
    full = build(functions)
    if budget is None or tok is None or prompt_tokens(tok, full) <= budget:
        return full, 0
    lo, hi = 0, len(functions) - 1  # the largest kept count that fits lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if prompt_tokens(tok, build(functions[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return build(functions[:lo]), len(functions) - lo


# the multi-turn classes' function documents, as bfcl-eval ships them (the memory and web-search
# classes belong to other categories, never to multi_turn_base)
MULTI_TURN_CLASSES = ("GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot",
                      "TravelAPI", "VehicleControlAPI")


@lru_cache(maxsize=None)
def class_function_docs() -> dict[str, tuple[dict, ...]]:
    """class name -> its function documents (BFCL's full form), in bfcl-eval's file order."""
    mapping = bfcl_module("constants.executable_backend_config").MULTI_TURN_FUNC_DOC_FILE_MAPPING
    folder = bfcl_module("constants.eval_config").MULTI_TURN_FUNC_DOC_PATH
    out = {}
    for cls in MULTI_TURN_CLASSES:
        with open(folder / mapping[cls], encoding="utf-8") as f:
            out[cls] = tuple(json.loads(line) for line in f if line.strip())
    return out
