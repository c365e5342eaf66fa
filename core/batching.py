"""How a GRPO recipe's batch reads, and the optimizer step count it gives: ONE function, used by
the trainer (what it passes to TRL) and by ``bench plan`` (what it shows).

The thesis trained with Unsloth, which rewrites ``per_device_train_batch_size`` (a count of
completions) to ``num_generations`` whenever it is not a multiple of it, and prints so
(unsloth/models/rl.py, "We will change the batch size of ... to the `num_generations`"). The
thesis's "batch 2, 3 generations" and "batch 4, 6 generations" therefore trained one prompt per
device step: with grad-acc 8 / 4 that is 8 / 4 prompts per optimizer step, 125 / 250 steps for
1,000 rows. ``batch_size_unit: unsloth`` reproduces that; ``prompts`` is the other reading
(batch_size prompts × num_generations completions per device step). QUIRKS.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GRPOBatch:
    completions_per_device_step: int  # TRL's per_device_train_batch_size
    prompts_per_device_step: float
    prompts_per_optimizer_step: int


def grpo_batch(hyper: dict) -> GRPOBatch:
    """The device and optimizer batch of a GRPO recipe under its ``batch_size_unit``."""
    b, g, acc = int(hyper["batch_size"]), int(hyper["num_generations"]), int(hyper["grad_accum"])
    if hyper.get("batch_size_unit", "unsloth") == "prompts":
        completions = b * g
    else:
        completions = b if b % g == 0 else g  # Unsloth's rewrite
    per_opt = completions * acc // g  # TRL: one generation batch (per_device × grad_accum) per step
    return GRPOBatch(completions, completions / g, per_opt)


def grpo_rows(hyper: dict, data) -> int:
    """Rows the GRPO trainer reads before the prompt-length cap: ``train_rows``, bounded by the
    synthetic data's size (hub and local sets hold far more than the thesis's 1,000)."""
    rows = int(hyper["train_rows"])
    return min(rows, int(data.grpo_rows)) if data.source == "synthetic" else rows


def grpo_optimizer_steps(hyper: dict, rows: int) -> int:
    """Optimizer steps TRL makes for ``rows`` prompts: its sampler drops the last incomplete
    generation batch, an epoch is rows // prompts-per-step steps (at least 1, as transformers
    counts it), fractional epochs round up, and a positive ``max_steps`` overrides all of it."""
    if int(hyper.get("max_steps", -1)) > 0:
        return int(hyper["max_steps"])
    per_epoch = max(rows // grpo_batch(hyper).prompts_per_optimizer_step, 1)
    return math.ceil(float(hyper["epochs"]) * per_epoch)


def split_over_processes(per_device: int, grad_accum: int, processes: int, what: str) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) for ``processes`` data-parallel processes that
    keep the single-process global batch ``per_device × grad_accum`` and so its optimizer steps.

    Accumulation is divided first: each micro-batch stays the size the recipe was tuned (and, for
    GRPO, a whole number of prompt groups) with. Only when it does not divide is the per-device
    batch divided; when neither does, the global batch cannot be kept and the run is refused
    rather than silently trained with another batch (and another step count).
    """
    if processes <= 1:
        return per_device, grad_accum
    if grad_accum % processes == 0:
        return per_device, grad_accum // processes
    if per_device % processes == 0:
        return per_device // processes, grad_accum
    from .errors import BadInput

    raise BadInput(f"{what}: the global batch (per-device {per_device} × grad_accum {grad_accum}) does not split "
                   f"over {processes} processes; make grad_accum or the batch a multiple of {processes}")
