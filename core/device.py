"""The one device policy every stage uses: CUDA when present, else the CPU; bf16 where the GPU
supports it, float32 elsewhere. ``GRPO_BENCH_DEVICE`` (``auto`` | ``cpu`` | ``cuda`` |
``cuda:N``), set by ``bench --device``, overrides the choice for the whole process."""
from __future__ import annotations

import os

ENV = "GRPO_BENCH_DEVICE"


def device(preference: str | None = None) -> str:
    """``"cuda"`` / ``"cuda:N"`` / ``"cpu"``: the explicit preference, else $GRPO_BENCH_DEVICE, else auto."""
    import torch

    pref = (preference or os.environ.get(ENV) or "auto").strip().lower()
    if pref == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if pref.startswith("cuda") and not torch.cuda.is_available():
        from .errors import BadInput

        raise BadInput(f"device '{pref}' asked for, but torch sees no CUDA device (use --device cpu)")
    if pref != "cpu" and not pref.startswith("cuda"):
        from .errors import BadInput

        raise BadInput(f"unknown device '{pref}' (auto, cpu, cuda, cuda:N)")
    return pref


def dtype(dev: str):
    """The compute dtype for ``dev``: bf16 on GPUs that support it, else float32."""
    import torch

    if dev.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def describe(dev: str) -> dict:
    """What a manifest records about the device a stage ran on."""
    import torch

    out = {"device": dev, "dtype": str(dtype(dev)).replace("torch.", "")}
    if dev.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(dev))
    else:
        out["threads"] = torch.get_num_threads()
    return out
