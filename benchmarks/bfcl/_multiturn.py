"""Official multi-turn scoring: bfcl-eval's ``multi_turn_checker`` behind a safe front end.

Only calls that parse with ``ast``, carry literal arguments and name a documented public method
of the entry's involved classes are re-rendered (``repr`` of the literals) and reach bfcl-eval's
executor, which ``eval``s them. Each scoring call uses a unique ``model_name`` (bfcl-eval caches
class instances in module globals keyed by it; they are purged afterwards) and runs inside a
fresh temporary working folder, the previous cwd restored.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import re
import tempfile
import threading
import uuid
import warnings
from functools import lru_cache

from core.bfcl.env import bfcl_module
from core.bfcl.parse import parse_calls, render_call

_REASONING_END_RE = re.compile(r"</think>|<end_working_out>")
_SANDBOX_LOCK = threading.RLock()


def _strip_reasoning(text: str) -> str:
    parts = _REASONING_END_RE.split(text)
    return parts[-1]


def decode_official(text: str) -> list[dict]:
    """Calls of an official-protocol answer: reasoning (``</think>``/``<end_working_out>``)
    dropped, Python call-list format only (as bfcl-eval's prompting decoder)."""
    if not isinstance(text, str):
        return []
    return parse_calls(_strip_reasoning(text), allow_json=False)


@lru_cache(maxsize=None)
def _public_methods(class_name: str) -> frozenset[str]:
    backend = bfcl_module("constants.executable_backend_config")
    module = bfcl_module(backend.CLASS_FILE_PATH_MAPPING[class_name].removeprefix("bfcl_eval."))
    cls = getattr(module, class_name)
    return frozenset(
        n for n, f in inspect.getmembers(cls, predicate=inspect.isfunction) if not n.startswith("_")
    )


def allowed_functions(item: dict) -> frozenset[str]:
    """Names that may reach the executor: documented *and* public methods of involved classes."""
    methods = frozenset().union(*(_public_methods(c) for c in item["involved_classes"]))
    return methods & {d["name"] for d in item["function"]}


def _decode_step(text: str, allowed: frozenset[str]) -> list[str]:
    calls = decode_official(text)
    if not calls or any(c["name"] not in allowed for c in calls):
        return []  # a failed decode: bfcl-eval skips such a step
    try:
        return [render_call(c) for c in calls]
    except ValueError:
        return []


@contextlib.contextmanager
def sandbox_cwd():
    """Run inside a fresh temporary working folder; the previous cwd is restored."""
    with _SANDBOX_LOCK, tempfile.TemporaryDirectory(prefix="grpo-bench-bfcl-exec-") as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            yield tmp
        finally:
            os.chdir(old)


def _purge_instances(model_name: str) -> None:
    mt_utils = bfcl_module("eval_checker.multi_turn_eval.multi_turn_utils")
    prefix = re.sub(r"[-./:]", "_", model_name)
    for key in [k for k in vars(mt_utils) if k.startswith(prefix)]:
        del vars(mt_utils)[key]


def _normalize_turns(completion) -> list[list[str]] | None:
    if isinstance(completion, str):
        return [[completion]]
    if isinstance(completion, (list, tuple)):
        turns = []
        for turn in completion:
            if isinstance(turn, str):
                turns.append([turn])
            elif isinstance(turn, (list, tuple)) and all(isinstance(s, str) for s in turn):
                turns.append(list(turn))
            else:
                return None
        return turns
    return None


def multi_turn_score(item: dict, completion) -> dict:
    turns = _normalize_turns(completion)
    gt = item["ground_truth"]
    if turns is None:
        return {"valid": False, "error": "completion must be a str or a list of per-turn answers", "error_type": "multi_turn:inference_error", "decoded": []}
    allowed = allowed_functions(item)
    decoded = [[d for d in (_decode_step(s, allowed) for s in steps) if d] for steps in turns]
    if len(turns) != len(gt):
        return {
            "valid": False,
            "error": f"model answered {len(turns)} turns, the entry has {len(gt)}",
            "error_type": "multi_turn:force_terminated",
            "decoded": decoded,
        }
    checker = bfcl_module("eval_checker.multi_turn_eval.multi_turn_checker")
    # Unique per call: bfcl-eval caches class instances in module globals keyed by model_name.
    # bfcl-eval's _process_method_calls also prefixes method-like words *inside string
    # literals* with "<model_name>_..._instance."; starting with "g", the prefix can only turn an
    # escape such as "\t" into the invalid (literal) "\g": data changes, syntax never does.
    model_name = f"grpobench_{uuid.uuid4().hex}"
    entry = {
        "id": item["id"],
        "initial_config": copy.deepcopy(item["initial_config"]),
        "involved_classes": list(item["involved_classes"]),
    }
    try:
        with sandbox_cwd(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            result = checker.multi_turn_checker(decoded, copy.deepcopy(gt), entry, item["category"], model_name)
    except Exception as exc:  # the checker asserts on inconsistent instances
        result = {"valid": False, "error_message": f"checker raised {type(exc).__name__}: {exc}", "error_type": "multi_turn:checker_error"}
    finally:
        _purge_instances(model_name)
    valid = bool(result.get("valid"))
    return {
        "valid": valid,
        "error": None if valid else str(result.get("error_message", "invalid")),
        "error_type": result.get("error_type"),
        "decoded": decoded,
    }
