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


THREADS_ENV = "GRPO_BENCH_THREADS"


def cpu_threads() -> int:
    """Intra-op threads for CPU work: $GRPO_BENCH_THREADS, else all cores but one (at least 1).

    Fixed from the core count, never from the current load, so the same commit and seeds give
    the same floating-point reductions on a busy machine as on an idle one. One core is left
    free because OpenMP threads wait for each other at every parallel region: when another
    CPU-bound process holds a core, a pool as large as the machine stalls at each barrier
    (training slowed ~15x here), while a pool one smaller keeps its cores.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            from .errors import BadInput

            raise BadInput(f"{THREADS_ENV} must be a whole number (got '{raw}')") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def configure_process() -> None:
    """Set the thread policy for this process; call before torch is imported (the CLI does).

    OpenMP reads OMP_NUM_THREADS once, at library load; a passive wait policy makes idle
    threads sleep instead of spinning, so a neighbour process is not starved either. An
    explicit OMP_NUM_THREADS from the user wins.
    """
    n = str(cpu_threads())
    os.environ.setdefault("OMP_NUM_THREADS", n)
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
