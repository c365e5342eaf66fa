"""The official BFCL protocol, scored by bfcl-eval's own checkers on safely decoded calls.

- Data and function documents: ``bfcl_eval.utils.load_dataset_entry`` (with the language hint,
  as bfcl-eval's generation does) and ``load_ground_truth_entry``.
- Prompt: ``bfcl_eval.model_handler.utils.system_prompt_pre_processing_chat_model`` (the default
  prompting format: python call list, JSON function docs, plaintext, classic style).
- AST categories: ``bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker`` on calls decoded
  by :func:`parse_calls` (Python call-list format only, as bfcl-eval's prompting decoder).
- ``multi_turn_base``: ``bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker`` on calls
  re-rendered from safely parsed literals and restricted to public methods of the entry's
  involved classes; a unique ``model_name`` per scoring call, inside a temporary working folder.
"""

from __future__ import annotations

import copy
from functools import lru_cache

from core.bfcl.env import bfcl_module
from ._multiturn import decode_official, multi_turn_score
from core.bfcl.parse import render_calls

AST_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple")
MULTI_TURN_CATEGORIES = ("multi_turn_base",)
CATEGORIES = AST_CATEGORIES + MULTI_TURN_CATEGORIES

# ast_checker looks the model up in MODEL_CONFIG_MAPPING (only for dotted function names, to
# decide whether "." was replaced by "_"): a prompting model whose names keep their dots.
AST_MODEL_NAME = "Qwen_Qwen3-8B"



# ---------------------------------------------------------------- data and prompt
@lru_cache(maxsize=None)
def _load(category: str) -> tuple[tuple[dict, ...], dict]:
    if category not in CATEGORIES:
        raise ValueError(f"unsupported BFCL category {category!r}; expected one of {CATEGORIES}")
    utils = bfcl_module("utils")
    entries = utils.load_dataset_entry(category)
    truths = {t["id"]: t["ground_truth"] for t in utils.load_ground_truth_entry(category)}
    return tuple(entries), truths


def official_items(category: str, limit: int | None = None) -> list[dict]:
    """Entries of a category: id, category, question (list of turns of messages), function
    (documents), ground_truth, and initial_config/involved_classes for multi-turn."""
    entries, truths = _load(category)
    items = []
    for e in entries[:limit] if limit is not None else entries:
        item = {
            "id": e["id"],
            "category": category,
            "question": copy.deepcopy(e["question"]),
            "function": copy.deepcopy(e["function"]),
            "ground_truth": copy.deepcopy(truths[e["id"]]),
        }
        if category in MULTI_TURN_CATEGORIES:
            item["initial_config"] = copy.deepcopy(e["initial_config"])
            item["involved_classes"] = list(e["involved_classes"])
        items.append(item)
    return items


def official_prompt(item: dict, turn: int = 0) -> list[dict]:
    """System prompt of bfcl-eval's default prompting format + the turn's messages.

    For multi-turn entries, later turns are appended by the caller (``item["question"][turn]``)
    after the model's answers and tool results; ``turn`` > 0 returns that turn's messages only.
    """
    messages = copy.deepcopy(item["question"][turn])
    if turn > 0:
        return messages
    mh = bfcl_module("model_handler.utils")
    return mh.system_prompt_pre_processing_chat_model(messages, copy.deepcopy(item["function"]), item["id"])


# ---------------------------------------------------------------- ground truth as model text
def _pick(options: list):
    """First accepted value other than ``""`` (which marks an optional parameter); nested
    dicts hold option lists per key, chosen the same way."""
    value = next((o for o in options if o != ""), "")
    if isinstance(value, dict):
        return {k: _pick(v) for k, v in value.items() if any(o != "" for o in v)}
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return [{k: _pick(v) for k, v in d.items() if any(o != "" for o in v)} for d in value]
    return value


def ground_truth_completion(item: dict):
    """The ground truth rendered as model output in the prompting format.

    AST categories: one string ``[f(a=1), g(b='x')]`` (first accepted value of each parameter
    other than ``""``; an optional parameter, ``""`` among its accepted values and not required by
    the function document, is omitted). Multi-turn: a list
    with one such string per turn.
    """
    if item["category"] in MULTI_TURN_CATEGORIES:
        return ["[" + ", ".join(turn) + "]" for turn in item["ground_truth"]]
    required = {d["name"]: set(d.get("parameters", {}).get("required", [])) for d in item["function"]}
    calls = []
    for entry in item["ground_truth"]:
        ((name, params),) = entry.items()
        chosen = {
            k: _pick(v)
            for k, v in params.items()
            if any(o != "" for o in v) and ("" not in v or k in required.get(name, ()))
        }
        calls.append({"name": name, "parameters": chosen})
    return render_calls(calls)


# ---------------------------------------------------------------- scoring
def _ast_score(item: dict, completion: str) -> dict:
    calls = decode_official(completion)
    if not calls:
        return {"valid": False, "error": "no function call decoded", "error_type": "ast_decoder:decoder_failed", "decoded": []}
    # bfcl-eval's decoder keeps keyword arguments only: positional arguments are dropped the same way.
    model_output = [{c["name"]: dict(c["parameters"])} for c in calls]
    checker = bfcl_module("eval_checker.ast_eval.ast_checker")
    language = bfcl_module("constants.enums").Language.PYTHON
    result = checker.ast_checker(
        copy.deepcopy(item["function"]),
        copy.deepcopy(model_output),
        copy.deepcopy(item["ground_truth"]),
        language,
        item["category"],
        AST_MODEL_NAME,
    )
    valid = bool(result.get("valid"))
    error = None if valid else "; ".join(str(e) for e in result.get("error", [])) or "invalid"
    return {"valid": valid, "error": error, "error_type": result.get("error_type"), "decoded": model_output}


def score_official(item: dict, completion) -> dict:
    """``{"valid", "error", "error_type", "decoded"}`` for one item.

    AST categories take the completion text. ``multi_turn_base`` takes one answer per turn: a
    list of strings (one step per turn) or of lists of step strings; a single string counts as
    turn 1 only and fails an entry with more turns (bfcl-eval: force-terminated).
    """
    if item["category"] in MULTI_TURN_CATEGORIES:
        return multi_turn_score(item, completion)
    return _ast_score(item, completion)


# ---------------------------------------------------------------- aggregation
def _is_valid(r) -> bool:
    return bool(r.get("valid")) if isinstance(r, dict) else bool(r)


def official_accuracy(results_by_category: dict) -> dict:
    """Accuracy per category and summaries the way bfcl-eval's leaderboard counts.

    ``results_by_category`` maps a category to its list of results (dicts with ``valid`` or
    bools). Returned keys: each category (accuracy), ``counts`` ({category: [correct, total]}),
    ``non_live_ast`` (unweighted mean of the four AST category accuracies, as bfcl-eval's
    "Non-Live AST" summary; ``simple`` is ``simple_python`` alone since Java/JavaScript are not
    run; a missing category counts 0 as in bfcl-eval, and ``non_live_ast_complete`` says whether
    all four were given), ``multi_turn`` (``multi_turn_base`` accuracy; bfcl-eval's multi-turn
    overall also averages three categories not run here), and ``overall`` (unweighted mean of
    the summaries present; bfcl-eval's leaderboard overall also weighs live, agentic and
    irrelevance groups that this project does not run).
    """
    out: dict = {"counts": {}}
    for cat, results in results_by_category.items():
        results = list(results)
        correct = sum(_is_valid(r) for r in results)
        out["counts"][cat] = [correct, len(results)]
        out[cat] = correct / len(results) if results else 0.0
    summaries = []
    if any(c in results_by_category for c in AST_CATEGORIES):
        out["non_live_ast"] = sum(out.get(c, 0.0) for c in AST_CATEGORIES) / len(AST_CATEGORIES)
        out["non_live_ast_complete"] = all(c in results_by_category for c in AST_CATEGORIES)
        summaries.append(out["non_live_ast"])
    if "multi_turn_base" in results_by_category:
        out["multi_turn"] = out["multi_turn_base"]
        summaries.append(out["multi_turn"])
    out["overall"] = sum(summaries) / len(summaries) if summaries else 0.0
    return out
