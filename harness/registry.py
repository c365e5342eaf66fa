"""Load ``registry.yaml`` and check every name in it against what this installation provides.

``core.config`` parses the file (types, ranges, parents, cycles); here the names that refer to
plugins are checked: model kinds (``models.KINDS``), trainers (``trainers.TRAINERS``), suites
and their protocols (``benchmarks.SUITES``), judge kinds (``judges.JUDGE_KINDS``). This is the
loader every command uses; each problem is one line naming the file and the key.
"""
from __future__ import annotations

import os

from benchmarks import SUITES
from core.config import Registry, load_config
from core.errors import BadInput
from judges import JUDGE_KINDS
from models import KINDS
from trainers import TRAINERS


def load_registry(path: str | os.PathLike = "registry.yaml") -> Registry:
    reg = load_config(path)
    path = str(path)
    for name, m in reg.models.items():
        where = f"{path}: models.{name}"
        if m.kind not in KINDS:
            raise BadInput(f"{where}.kind: unknown model kind '{m.kind}' (known: {', '.join(KINDS)})")
        kind = KINDS.get(m.kind)
        kind.validate(name, m, where)
        trainer = kind.trainer(m)
        if trainer and trainer not in TRAINERS:
            raise BadInput(f"{where}.trainer: unknown trainer '{trainer}' (known: {', '.join(TRAINERS)})")
    for sname, s in reg.suites.items():
        if sname not in SUITES:
            raise BadInput(f"{path}: suites.{sname}: unknown suite (known: {', '.join(SUITES)})")
        known = SUITES.get(sname).protocols
        for p in s.protocols or ():
            if p not in known:
                raise BadInput(f"{path}: suites.{sname}.protocols: unknown protocol '{p}' (known: {', '.join(known)})")
    for jname, j in reg.judges.items():
        if j.kind not in JUDGE_KINDS:
            raise BadInput(f"{path}: judges.{jname}.kind: unknown judge kind '{j.kind}' "
                           f"(known: {', '.join(JUDGE_KINDS)})")
    return reg


def protocols(reg: Registry, suite: str) -> list[str]:
    """The protocols to run for ``suite``: the registry's selection, else all the suite has."""
    return list(reg.suites[suite].protocols or SUITES.get(suite).protocols)


__all__ = ["load_registry", "protocols", "Registry"]
