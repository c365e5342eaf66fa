"""peft LoRA linears with their per-call bookkeeping taken out, for inference loops.

peft's ``lora.Linear.forward`` checks arguments, looks the active adapter up in four ModuleDicts and
calls four sub-modules (base layer, dropout, A, B) on every call: on the tiny model that Python
work costs more than the matrix products (28 LoRA linears per decode step). ``lean_lora`` swaps in,
for the duration of a ``with``, a forward that runs the very same ATen ops in the same order —
``linear(x, W, b) + linear(linear(x, A), B) * scaling``, with a power-of-two scaling folded into B
(exact) — so the results are bitwise equal; a layer
whose state is anything else (merged, disabled, several adapters, a variant such as DoRA, active
dropout, a dtype cast) keeps peft's forward.
"""
from __future__ import annotations

from contextlib import contextmanager


def _lean_forward(base, a, b, scaling: float):
    import math

    import torch.nn.functional as F

    w, bias, wa, ba, wb, bb = base.weight, base.bias, a.weight, a.bias, b.weight, b.bias
    mantissa, _ = math.frexp(scaling)
    if mantissa == 0.5 and bb is None:
        # scaling is a power of two (alpha/r = 32/16 here): multiplying by it is exact in binary
        # floating point, so folding it into B once gives bitwise the same products and sums
        # (short of overflow) and saves an elementwise pass per call
        wb_scaled = wb * scaling

        def forward(x, *args, **kwargs):
            if args or kwargs:
                raise TypeError("lean LoRA forward takes the input only")
            return F.linear(x, w, bias) + F.linear(F.linear(x, wa, ba), wb_scaled)

        return forward

    def forward(x, *args, **kwargs):
        if args or kwargs:  # peft's own path handles extra arguments (adapter_names, variants)
            raise TypeError("lean LoRA forward takes the input only")
        return F.linear(x, w, bias) + F.linear(F.linear(x, wa, ba), wb, bb) * scaling

    return forward


def _hooked(module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or hasattr(module, "_hf_hook"))


def _eligible(module):
    """(base, A, B, scaling) when ``module`` is a vanilla, unmerged, enabled, single-adapter peft
    LoRA Linear over a plain nn.Linear with no active dropout; None otherwise."""
    import torch.nn as nn
    from peft.tuners.lora.layer import Linear as LoraLinear

    # a module in training mode qualifies: peft's forward differs there only by the dropout,
    # checked below (TRL samples GRPO rollouts with the policy in training mode)
    if type(module) is not LoraLinear or module.disable_adapters or module.merged:
        return None
    active = list(module.active_adapters)
    if len(active) != 1 or active[0] not in module.lora_A or active[0] in module.lora_variant:
        return None
    name = active[0]
    base, a, b, drop = module.base_layer, module.lora_A[name], module.lora_B[name], module.lora_dropout[name]
    if type(base) is not nn.Linear or type(a) is not nn.Linear or type(b) is not nn.Linear:
        return None
    if not isinstance(drop, nn.Identity) and not (isinstance(drop, nn.Dropout) and not drop.training):
        return None
    if a.weight.dtype != base.weight.dtype or any(map(_hooked, (module, base, a, b))):
        return None  # peft would cast the input to A's dtype; hooks (accelerate offload, ...) expect the calls
    return base, a, b, float(module.scaling[name])


@contextmanager
def lean_lora(model):
    """Within the block, eligible LoRA linears of ``model`` run the lean forward; restored after."""
    swapped = []
    try:
        for module in model.modules():
            parts = _eligible(module)
            if parts is not None:
                module.forward = _lean_forward(*parts)
                swapped.append(module)
        yield len(swapped)
    finally:
        for module in swapped:
            del module.forward
