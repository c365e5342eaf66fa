"""``hf``: a full model from the hub (id + revision) or a local folder, evaluated as it is."""
from __future__ import annotations

from pathlib import Path

from core.config import BaseSpec
from core.fingerprint import file_digest

from ..kind import ModelKind
from ..local import local_handle


def source_recipe(path: str, revision) -> dict:
    """Local files are hashed (edit them, re-evaluate); a hub id is pinned by its revision."""
    local = Path(path).expanduser()
    return {"files": file_digest(local)} if local.exists() else {"source": path, "revision": revision}


class HFKind(ModelKind):
    name = "hf"
    required = ("path",)

    def recipe(self, reg, profile, name):
        m = reg.models[name]
        return {"kind": "hf", **source_recipe(m.path, m.revision)}

    def open(self, ctx, name, fp, suite=""):
        m = ctx.reg.models[name]
        spec = BaseSpec(kind="hub", id=m.path, revision=m.revision)
        return local_handle(ctx, name, fp, suite, spec, None, ("hf", m.path))


KIND = HFKind()
