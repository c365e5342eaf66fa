"""What the device can do, probed in this process: memory bandwidth (a large copy) and matmul
FLOP/s; and the bound they put on decoding.

A decode step must read every weight once (memory-bound at small batches) and do 2 FLOPs per
parameter per sequence (compute-bound at large ones), so for a batch of B sequences

    step time >= max(weight bytes / bandwidth, 2 * parameters * B / FLOP/s)

and new tokens/s <= B / that. The KV cache and activations are left out, so the bound is
optimistic: a fraction of it is a lower estimate of how close generation runs to the hardware.
Probes run in the same process as the measurement so they see the same threads and the same
noisy neighbours.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Hardware:
    device: str
    bandwidth: float  # bytes/s (read + write of a large copy)
    flops: float  # FLOP/s of a square matmul in the compute dtype
    dtype: str

    def describe(self) -> str:
        return f"{self.device}: {self.bandwidth / 1e9:.1f} GB/s copy, {self.flops / 1e12:.2f} TFLOP/s {self.dtype} matmul"


def probe(device: str, dtype=None) -> Hardware:
    import torch

    dtype = dtype or torch.float32
    cuda = device.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def best(fn, reps):
        fn()
        sync()  # warm-up (allocation, kernel choice)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return min(times)  # the least disturbed run: a bound is about what the device can do

    n_bytes = (2 << 30) if cuda else (256 << 20)  # far beyond any cache
    src = torch.empty(n_bytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    t = best(lambda: dst.copy_(src), 5)
    bandwidth = 2 * n_bytes / t  # read + write
    src = dst = None  # freed before the matmul's buffers
    n = 8192 if cuda else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = best(lambda: a @ b, 5 if cuda else 3)
    return Hardware(device, bandwidth, 2 * n ** 3 / t, str(dtype).replace("torch.", ""))


def decode_bound(hw: Hardware, params: int, weight_bytes: int, batch: int) -> float:
    """Upper bound on new tokens/s for ``batch`` sequences decoding together."""
    step = max(weight_bytes / hw.bandwidth, 2 * params * batch / hw.flops)
    return batch / step


def model_size(model) -> tuple[int, int]:
    """(parameters, bytes of weights) of a torch model (an adapter's share included)."""
    params = sum(p.numel() for p in model.parameters())
    return params, sum(p.numel() * p.element_size() for p in model.parameters())


def bound_fraction(hw: Hardware, model, batch: int, new_tokens: int, seconds: float) -> tuple[float, float, float]:
    """(new tokens/s, the device's bound in tokens/s, their ratio) of one generation run."""
    params, nbytes = model_size(model)
    rate = new_tokens / max(seconds, 1e-9)
    bound = decode_bound(hw, params, nbytes, batch)
    return rate, bound, rate / bound


def against_bound(hw: Hardware, model, batch: int, new_tokens: int, seconds: float) -> str:
    """'N new tokens/s = X% of the device bound (batch B)', for a measurement's detail."""
    rate, bound, frac = bound_fraction(hw, model, batch, new_tokens, seconds)
    return f"{rate:,.0f} new tok/s = {100 * frac:.1f}% of the {bound:,.0f} tok/s bound (batch {batch})"
