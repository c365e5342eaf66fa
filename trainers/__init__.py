"""Trainers produce checkpoints; ``TRAINERS`` maps a registry trainer name to its entry point.

An entry point is ``train(job, out_dir) -> dict`` (train metrics): ``job`` is a
``harness.plan.TrainJob`` (duck-typed: name, profile, hyper, rewards, base_path, parent_adapter,
work_dir), the weights go into ``out_dir``; the checkpoint store makes the folder atomic and adds
the manifest. Hyperparameter schemas live in ``core.recipes`` (the registry validates them
without importing torch). ``pretrain`` builds the tiny base itself (``build_tiny``).
"""
from __future__ import annotations

from core.plugins import Registry

TRAINERS = Registry("trainer", {
    "sft": "trainers.sft:train",
    "grpo": "trainers.grpo:train",
    "bfcl_grpo": "trainers.bfcl_grpo:train",
})

__all__ = ["TRAINERS"]
