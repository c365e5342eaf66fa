"""Model fingerprints: a hash of what produced the weights, never the name alone.

trained variant -> trainer + rewards + effective hyperparameters + data fingerprint + parent's fp
base            -> the profile's base spec (+ data spec for the tiny base, which is pretrained)
hf / replay     -> source + revision, or the hashes of the local files
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .registry import Profile, Registry


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


def effective_hyper(reg: Registry, profile: Profile, name: str) -> dict:
    """The variant's hyperparameters with the profile's overrides for its trainer applied."""
    from trainers import HYPER_SCHEMAS

    m = reg.models[name]
    merged = {**m.hyper, **profile.overrides.get(m.trainer, {})}
    return HYPER_SCHEMAS[m.trainer](**merged).model_dump()


def recipe(reg: Registry, profile: Profile, name: str) -> dict:
    """What defines a model's weights under ``profile`` (the fingerprint's payload, minus parent)."""
    from benchmarks.sources.math import data_fingerprint

    m = reg.models[name]
    if m.kind == "base":
        spec = profile.base.model_dump()
        return {"kind": "base", "base": spec,
                "data": data_fingerprint(profile.data) if profile.base.kind == "tiny" else None}
    if m.kind == "trained":
        from trainers.recipes import NOT_WEIGHTS

        hyper = {k: v for k, v in effective_hyper(reg, profile, name).items() if k not in NOT_WEIGHTS}
        return {"kind": "trained", "trainer": m.trainer, "rewards": list(m.rewards), "hyper": hyper,
                "data": data_fingerprint(profile.data)}
    if m.kind == "openai":  # the endpoint may move; the served model is what answers
        return {"kind": "openai", "model": m.model, "revision": m.revision}
    out = {"kind": m.kind}
    if m.kind == "lora":
        base = Path(m.base).expanduser()
        out["base"] = {"files": file_digest(base)} if base.exists() else {"source": m.base}
    source = Path(m.path).expanduser()
    if source.exists():
        return {**out, "files": file_digest(source)}
    return {**out, "source": m.path, "revision": m.revision}


def fingerprint(reg: Registry, profile: Profile, name: str) -> str:
    m = reg.models[name]
    parent = fingerprint(reg, profile, m.parent) if m.parent else None
    return digest({"recipe": recipe(reg, profile, name), "parent": parent})
