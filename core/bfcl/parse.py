"""Safe decoding of model function calls. Never ``eval``s model text.

Accepted shapes:
- BFCL prompting format ``[f(a=1), pkg.g(b='x')]`` (brackets optional), parsed with ``ast``;
  each argument must be a literal (``ast.literal_eval`` on the argument node), the callee a
  plain or dotted name. Anything else (nested calls, lambdas, subscripts, attribute access on a
  non-name, ``*args``/``**kwargs``) rejects the whole output.
- JSON: ``[{"name": ..., "parameters"|"arguments": {...}}]``, one such object, the BFCL json
  return format ``{"function": ..., "parameters": ...}``, or ``{"func": {args}}`` (list or dict).

All-or-nothing: one bad call rejects the output (``[]``), as bfcl-eval's own decoder fails on the
whole output. A call is ``{"name": str, "parameters": dict}`` plus ``"args": list`` when it had
positional arguments (used by the multi-turn classes, e.g. ``sort('a.txt')``).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from core.extract import tag_span

MAX_CHARS = 100_000
MAX_DEPTH = 50

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
# possessive: the language tag and the blank run after it never give characters back, so a
# fence without its closing ``` fails in one scan (backtracking into the run was quadratic);
# neither class can hold the closing fence, so no match is lost
_FENCE_RE = re.compile(r"^```[A-Za-z0-9_+-]*+\s*+\n?(.*?)\n?```$", re.DOTALL)


class _Reject(ValueError):
    pass


def nesting_depth(text: str) -> int:
    """Maximum bracket nesting (``[{(``), counted regardless of quoting: a cheap upper bound."""
    depth = best = 0
    for ch in text:
        if ch in "[{(":
            depth += 1
            if depth > best:
                best = depth
        elif ch in "]})":
            depth = max(0, depth - 1)
    return best


def _literal(node: ast.AST) -> Any:
    # literal_eval accepts only constants, containers, +/- on numbers, complex sums and set().
    if isinstance(node, ast.Call):  # set() is the one call literal_eval allows: refuse it here
        raise _Reject("nested call")
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise _Reject(f"non-literal argument: {type(node).__name__}") from exc


def _dotted_name(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise _Reject("callee is not a (dotted) name")
    parts.append(node.id)
    return ".".join(reversed(parts))


def _call(node: ast.AST) -> dict:
    if not isinstance(node, ast.Call):
        raise _Reject("element is not a call")
    call: dict = {"name": _dotted_name(node.func), "parameters": {}}
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _Reject("*args")
        args.append(_literal(arg))
    for kw in node.keywords:
        if kw.arg is None:
            raise _Reject("**kwargs")
        if kw.arg in call["parameters"]:
            raise _Reject("duplicate keyword")
        call["parameters"][kw.arg] = _literal(kw.value)
    if args:
        call["args"] = args
    return call


def parse_python_calls(text: str) -> list[dict]:
    """BFCL prompting format only (what the official decoder accepts), safely."""
    text = text.strip().strip("`\n ").strip().strip("'")
    if not text:
        return []
    if not text.startswith("["):
        text = "[" + text
    if not text.endswith("]"):
        text = text + "]"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    body = tree.body
    elts = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    try:
        return [_call(e) for e in elts]
    except _Reject:
        return []


def _json_call(obj: Any) -> list[dict]:
    if not isinstance(obj, dict):
        raise _Reject("JSON call is not an object")
    name = obj.get("name", obj.get("function"))
    if isinstance(name, dict) and "name" in name:  # OpenAI {"function": {"name", "arguments"}}
        return _json_call(name)
    if isinstance(name, str):
        params = obj.get("parameters", obj.get("arguments", {}))
        if isinstance(params, str):
            if len(params) > MAX_CHARS or nesting_depth(params) > MAX_DEPTH:
                raise _Reject("arguments string too large")
            try:
                params = json.loads(params)
            except ValueError as exc:
                raise _Reject("arguments string is not JSON") from exc
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise _Reject("parameters is not an object")
        return [{"name": name, "parameters": params}]
    # {"func": {args}, "g": {args}} style
    if obj and all(isinstance(v, dict) for v in obj.values()):
        return [{"name": k, "parameters": v} for k, v in obj.items()]
    raise _Reject("unrecognised JSON call")


def parse_json_calls(text: str) -> list[dict]:
    text = text.strip()
    fence = _FENCE_RE.match(text)
    if fence:
        text = fence.group(1).strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # Fall back to the outermost [...] or {...} span.
        spans = [(text.find(o), text.rfind(c)) for o, c in ("[]", "{}")]
        spans = [(a, b) for a, b in spans if 0 <= a < b]
        if not spans:
            return []
        a, b = min(spans)
        try:
            data = json.loads(text[a : b + 1])
        except (ValueError, RecursionError):
            return []
    try:
        items = data if isinstance(data, list) else [data]
        calls = [c for item in items for c in _json_call(item)]
    except _Reject:
        return []
    return calls


def _valid(calls: list[dict]) -> bool:
    return all(
        isinstance(c["name"], str)
        and _NAME_RE.match(c["name"])
        and all(isinstance(k, str) and k.isidentifier() for k in c["parameters"])
        for c in calls
    )


def parse_calls(text: str, allow_json: bool = True, allow_python: bool = True) -> list[dict]:
    """Decode model output into ``[{"name", "parameters"[, "args"]}]``; ``[]`` when rejected.

    Looks inside ``<SOLUTION>…</SOLUTION>`` when present, strips a Markdown code fence, then
    tries the Python call-list format and JSON. Inputs over ``MAX_CHARS`` characters or nested
    deeper than ``MAX_DEPTH`` brackets are rejected outright.
    """
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        return []
    span = tag_span(text, "<SOLUTION>", "</SOLUTION>")  # linear, as the lazy regex was not
    if span:
        text = text[span[0] : span[1]]
    text = text.strip()
    fence = _FENCE_RE.match(text)
    if fence:
        text = fence.group(1).strip()
    if not text or nesting_depth(text) > MAX_DEPTH:
        return []
    calls: list[dict] = []
    if allow_python:
        calls = parse_python_calls(text)
    if not calls and allow_json:
        calls = parse_json_calls(text)
    return calls if _valid(calls) else []


def render_call(call: dict) -> str:
    """Render a parsed call as ``name('pos', k='v', n=1)`` (repr of literals only)."""
    if not _NAME_RE.match(str(call.get("name", ""))):
        raise ValueError(f"bad function name: {call.get('name')!r}")
    parts = [repr(a) for a in call.get("args", [])]
    for k, v in call.get("parameters", {}).items():
        if not (isinstance(k, str) and k.isidentifier()):
            raise ValueError(f"bad parameter name: {k!r}")
        parts.append(f"{k}={v!r}")
    return f"{call['name']}({', '.join(parts)})"


def render_calls(calls: list[dict]) -> str:
    """The BFCL prompting format: ``[f(a=1), g(b='x')]``."""
    return "[" + ", ".join(render_call(c) for c in calls) + "]"
