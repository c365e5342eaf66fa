"""``replay``: generations made elsewhere, read from a JSONL file by (suite, item id)."""
from __future__ import annotations

from ..handle import ModelHandle
from ..kind import ModelKind
from .hf import source_recipe


class ReplayKind(ModelKind):
    name = "replay"
    required = ("path",)
    local_weights = False
    answers_new_prompts = False

    def recipe(self, reg, profile, name):
        m = reg.models[name]
        return {"kind": "replay", **source_recipe(m.path, m.revision)}

    def open(self, ctx, name, fp, suite=""):
        from ..backends.replay import ReplayBackend

        return ModelHandle(name, fp, ReplayBackend(ctx.reg.models[name].path), suite=suite)


KIND = ReplayKind()
