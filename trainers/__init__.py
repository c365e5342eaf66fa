"""Trainers produce checkpoints. Registered by name and imported lazily (torch is heavy).

A trainer entry point is ``train(job: harness.plan.TrainJob, ctx) -> dict`` (train metrics); it
writes weights into ``job.out_dir``; the checkpoint store makes the folder atomic and adds the
manifest.
"""
from __future__ import annotations

import importlib

from .recipes import HYPER_SCHEMAS

# name -> "module:function"; None = known to the registry but not built in this version.
TRAINERS: dict[str, str | None] = {
    "sft": "trainers.sft:train",
    "grpo": "trainers.grpo:train",
    "bfcl_grpo": "trainers.bfcl_grpo:train",
}


def get_trainer(name: str):
    target = TRAINERS.get(name)
    if target is None:
        from harness.errors import NotBuilt

        raise NotBuilt(f"trainer '{name}' is listed in the registry but not built in this version")
    module, fn = target.split(":")
    return getattr(importlib.import_module(module), fn)


__all__ = ["TRAINERS", "HYPER_SCHEMAS", "get_trainer"]
