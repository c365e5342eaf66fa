"""Training under a multi-process launcher (``accelerate launch``, ``torchrun``): who this process
is, and the one process-group state every stage shares.

The launcher starts the same ``bench train`` in every process and says which one each is through
the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``); nothing here guesses from the hardware.
The process group is accelerate's ``PartialState``, the one transformers' Trainer (and so TRL's
trainers) use: created first with ``cpu=True`` on a CPU run, it takes gloo, which is how the
two-process CPU proof runs (the Trainer's ``use_cpu=True`` asks the same of the same singleton).
"""
from __future__ import annotations

import os


def world_size() -> int:
    """Processes the launcher started (1 without one)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def launched() -> bool:
    return world_size() > 1


def rank_device(dev: str) -> str:
    """This process's device: under a launcher each process owns GPU ``LOCAL_RANK``; the CPU is shared."""
    if launched() and dev == "cuda":
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return dev


def state(dev: str = "cpu"):
    """accelerate's process-group state (initialised on first use: gloo on the CPU, NCCL on GPUs)."""
    from accelerate import PartialState

    return PartialState(cpu=not dev.startswith("cuda"))


def is_main() -> bool:
    """Whether this process is the one that writes (rank 0, or the only process)."""
    if not launched():
        return True
    return int(os.environ.get("RANK", "0")) == 0


def barrier(dev: str = "cpu") -> None:
    if launched():
        state(dev).wait_for_everyone()
