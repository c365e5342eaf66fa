"""Fingerprints: hashes of what produced a result, never a name alone.

- ``digest``: a canonical JSON payload -> sha256 (recipes, generation configs, data specs).
- ``file_digest``: a file or folder's contents (local models, adapters).
- ``code_digest``: a function's source and, transitively, the project functions and constants it
  uses, so editing a reward's body changes the fingerprint of exactly the variants that use it.

How a model's recipe is composed (its kind's payload + its parent's fingerprint) is the model
kind's business: ``models.fingerprint``.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import re
import types
from pathlib import Path
from typing import Any, Callable

# packages whose code is followed by code_digest (a user reward module is followed too: see below)
PROJECT_PACKAGES = ("core", "models", "judges", "trainers", "benchmarks", "reports", "harness")


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(file_digest(f).encode())
        return h.hexdigest()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_digest(fn: Callable) -> str:
    """sha256 of ``fn``'s source and of every function, class and constant it reaches through
    module globals or closures, inside the project (or inside ``fn``'s own top-level package).

    A function may declare ``__code_version__`` instead: then that string is the digest input and
    its body is not read (for code whose source is unavailable or deliberately versioned).
    """
    roots = set(PROJECT_PACKAGES) | {(getattr(fn, "__module__", "") or "").split(".")[0]}
    h = hashlib.sha256()
    seen: set[int] = set()
    stack = [fn]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        h.update(_source(obj).encode())
        for ref in _references(obj):
            if isinstance(ref, (types.FunctionType, type)):
                if (getattr(ref, "__module__", "") or "").split(".")[0] in roots:
                    stack.append(ref)
            elif isinstance(ref, re.Pattern):
                h.update(f"re:{ref.pattern!r}:{ref.flags}".encode())
            elif isinstance(ref, (str, int, float, bool, tuple, frozenset)) and len(repr(ref)) < 10_000:
                h.update(f"const:{ref!r}".encode())
    return h.hexdigest()


def _source(obj: Any) -> str:
    version = getattr(obj, "__code_version__", None)
    if version is not None:
        return f"version:{version}"
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # built in, or defined at a prompt: its name is all there is
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def _references(obj: Any) -> list:
    """The globals (by name, in use order) and closure values a function's code reaches."""
    if isinstance(obj, type):
        return [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
    if not isinstance(obj, types.FunctionType):
        return []
    names: list[str] = []
    codes = [obj.__code__]
    while codes:
        code = codes.pop()
        names += code.co_names
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    g = obj.__globals__
    refs = [g[n] for n in dict.fromkeys(names) if n in g and not isinstance(g[n], types.ModuleType)]
    for cell in obj.__closure__ or ():
        try:
            refs.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    return refs
