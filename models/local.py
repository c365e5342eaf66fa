"""Local weights: one loaded base per (base, backend), shared by every adapter on it.

The profile's ``generation.backend`` picks the backend class (``models.BACKENDS``); the first
model that needs a base loads it into ``ctx.engines``, the next ones only switch adapters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.config import BaseSpec
from core.context import Context

from .handle import ModelHandle


def local_handle(ctx: Context, name: str, fp: str, suite: str, spec: BaseSpec, base_path: Optional[Path],
                 key: tuple, adapter: Optional[Path] = None) -> ModelHandle:
    if key not in ctx.engines:
        from . import BACKENDS

        backend = BACKENDS.get(ctx.profile.generation.backend)
        make = getattr(backend, "for_generation", None)  # a backend that reads the profile's settings (vllm)
        ctx.engines[key] = make(ctx.profile.generation, spec, base_path) if make else backend(spec, base_path)
    from core.modeling import template_choice

    return ModelHandle(name, fp, ctx.engines[key], adapter, suite=suite,
                       chat_template=template_choice(ctx.reg.models[name]))
