"""The one device policy every stage uses: CUDA when present, else the CPU; bf16 where the GPU
supports it, float32 elsewhere. ``GRPO_BENCH_DEVICE`` (``auto`` | ``cpu`` | ``cuda`` |
``cuda:N``), set by ``bench --device``, overrides the choice for the whole process."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

ENV = "GRPO_BENCH_DEVICE"


def device(preference: str | None = None) -> str:
    """``"cuda"`` / ``"cuda:N"`` / ``"cpu"``: the explicit preference, else $GRPO_BENCH_DEVICE, else auto.

    It also applies the determinism switches (``configure_torch``): every stage asks for its
    device before its first kernel, so this is the one call that reaches them all, the
    scheduler's spawned workers included."""
    import torch

    configure_torch()
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


def cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pinned_threads() -> int | None:
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        from .errors import BadInput

        raise BadInput(f"{THREADS_ENV} must be a whole number (got '{raw}')") from None


def cpu_threads() -> int:
    """Intra-op threads for CPU work: $GRPO_BENCH_THREADS, else all cores but one (at least 1).

    Fixed from the core count, never from the current load, so the same commit and seeds give
    the same floating-point reductions on a busy machine as on an idle one. One core is left
    free because OpenMP threads wait for each other at every parallel region: when another
    CPU-bound process holds a core, a pool as large as the machine stalls at each barrier
    (training slowed ~15x here), while a pool one smaller keeps its cores.
    """
    pinned = _pinned_threads()
    return pinned if pinned is not None else max(1, cores() - 1)


def solo_threads() -> int:
    """Intra-op threads for a step that no other work of its run can overlap: the tiny base's
    pretraining, which every other task waits for. $GRPO_BENCH_THREADS, else every core.

    Like ``cpu_threads`` it is fixed by the machine, not the load. Measured on the 2-core AMD
    EPYC (AVX2) with torch 2.13 and passive OpenMP waits: 2 threads pretrain the tiny base 1.25x
    faster than 1, with bitwise-equal weights (200 steps), and beside a CPU-bound neighbour (a
    one-thread torch matmul loop, or ``yes``) no slower than 1 thread. The stall that
    ``cpu_threads`` guards against came from two multi-threaded processes at once, which cannot
    happen while nothing else of the run is ready.
    """
    pinned = _pinned_threads()
    return pinned if pinned is not None else cores()


@contextmanager
def intra_op_threads(n: int):
    """torch's intra-op pool at ``n`` threads inside the block, restored after (OpenMP and MKL
    both follow ``torch.set_num_threads``, also above the count OMP_NUM_THREADS set at load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


MALLOC_ENV = "GRPO_BENCH_MALLOC"
_ALLOCATOR_CONFIGURED = False


def configure_allocator() -> bool:
    """Keep freed memory in this process's heap instead of handing it back to the kernel (glibc's
    malloc, once per process; True when applied). ``$GRPO_BENCH_MALLOC=system`` keeps glibc's
    defaults, and so does any MALLOC_* or GLIBC_TUNABLES setting of the user's.

    By default glibc serves blocks above a moving threshold with fresh ``mmap``s and trims the
    heap's free top, so each training step or decode batch faults its buffers in again:
    ~110,000 page faults a second per worker in the demo, a fifth to a quarter of its CPU time
    in the kernel. With the threshold at its 32 MiB maximum and trimming above 1 GiB, measured
    on the AMD EPYC (one thread): evaluating SFT on every suite 64.5 s -> 58.8 s (faults 1.85M ->
    0.95M), 6 GRPO steps 30.8 s -> 27.7 s, 60 pretraining steps 45.6 s -> 41.1 s; every
    output byte-identical (an allocator places memory, it does not change arithmetic).
    ``bench perf --only allocator`` measures it side by side."""
    global _ALLOCATOR_CONFIGURED
    if _ALLOCATOR_CONFIGURED:
        return True
    mode = os.environ.get(MALLOC_ENV, "tuned").strip().lower() or "tuned"
    if mode not in ("tuned", "system"):
        from .errors import BadInput

        raise BadInput(f"{MALLOC_ENV} must be tuned or system (got '{mode}')")
    if mode == "system" or "GLIBC_TUNABLES" in os.environ or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's <malloc.h>
        ok = all(libc.mallopt(opt, value) == 1 for opt, value in (
            (m_mmap_threshold, 32 << 20), (m_trim_threshold, 1 << 30), (m_top_pad, 64 << 20)))
    except (OSError, AttributeError):  # not glibc (macOS, musl): its allocator as it is
        return False
    _ALLOCATOR_CONFIGURED = ok
    return ok


def configure_process() -> None:
    """Set the thread policy for this process; call before torch is imported (the CLI does).

    OpenMP reads OMP_NUM_THREADS once, at library load; a passive wait policy makes idle
    threads sleep instead of spinning, so a neighbour process is not starved either. An
    explicit OMP_NUM_THREADS from the user wins. It also tunes the allocator
    (``configure_allocator``).
    """
    configure_allocator()
    n = str(cpu_threads())
    os.environ.setdefault("OMP_NUM_THREADS", n)
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


DETERMINISTIC_ENV = "GRPO_BENCH_DETERMINISTIC"
_OFF = ("0", "false", "no", "off")


def deterministic() -> str:
    """How strictly torch must repeat itself: $GRPO_BENCH_DETERMINISTIC, ``strict`` by default.

    ``strict``: every op takes its deterministic implementation and an op without one stops
    the run; ``warn``: such an op warns and runs; ``off`` (or 0/false/no): torch's defaults.
    The same commit and seeds must give the same tables. On a CPU the kernels already repeat;
    on a GPU the ones that add with atomics (embedding, scatter and attention backward passes)
    take their ordered variants, so two runs on the same GPU model give the same weights
    (measured: docs/reproducibility.md). Switch it off only to measure what it costs."""
    raw = os.environ.get(DETERMINISTIC_ENV, "strict").strip().lower()
    if raw in _OFF:
        return "off"
    if raw in ("1", "true", "yes", "on", "strict"):
        return "strict"
    if raw == "warn":
        return "warn"
    from .errors import BadInput

    raise BadInput(f"{DETERMINISTIC_ENV} must be strict, warn or off (got '{raw}')")


_TORCH_CONFIGURED = False


def configure_torch() -> None:
    """torch's determinism switches, once per process, as ``deterministic()`` says.

    cuDNN's autotuner picks kernels by timing, so it is off whenever determinism is on."""
    global _TORCH_CONFIGURED
    mode = deterministic()
    if _TORCH_CONFIGURED or mode == "off":
        return
    import torch

    # cuBLAS reads this when it creates its handle, at the first CUDA matmul, which comes after
    # device(): a fixed workspace makes its reductions repeat, and strict mode refuses without it
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=mode == "warn")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    _TORCH_CONFIGURED = True


def machine() -> str:
    """What a CPU run's floating-point figures depend on besides the code: the CPU model, the
    instruction set torch's kernels dispatch to, and the torch build, e.g. ``"AMD EPYC, AVX2,
    torch 2.13.0+cpu"``. Published figures are kept per label (``reports.reproduce``): one
    label, one set of kernels, as far as seen (the first machine type and the AMD EPYC differ;
    runs on one type never have)."""
    import platform

    import torch

    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                name = " ".join(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}"
