"""``lora``: a LoRA adapter trained elsewhere (local folder or hub id) on a named base."""
from __future__ import annotations

from pathlib import Path

from core.config import BaseSpec

from ..kind import ModelKind
from ..local import local_handle
from .hf import source_recipe


class LoraKind(ModelKind):
    name = "lora"
    required = ("path", "base")

    def recipe(self, reg, profile, name):
        m = reg.models[name]
        return {"kind": "lora", "base": source_recipe(m.base, None), **source_recipe(m.path, m.revision)}

    def open(self, ctx, name, fp, suite=""):
        m = ctx.reg.models[name]
        spec = BaseSpec(kind="hub", id=m.base)
        return local_handle(ctx, name, fp, suite, spec, None, ("hf", m.base), Path(m.path).expanduser())


KIND = LoraKind()
