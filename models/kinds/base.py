"""``base``: the profile's base model — the tiny Qwen3 built here, or a hub id / local path."""
from __future__ import annotations

from core.config import BaseSpec
from core.sources import pretraining_corpus
from core.sources.math import data_fingerprint

from ..kind import ModelKind
from ..local import local_handle


class BaseKind(ModelKind):
    name = "base"

    def recipe(self, reg, profile, name):
        tiny = profile.base.kind == "tiny"
        later = BaseSpec.LATER_FIELDS  # absent at their defaults: published fingerprints stay valid
        base = {k: v for k, v in profile.base.model_dump().items() if not (k in later and v == later[k])}
        return {"kind": "base", "base": base,
                "data": data_fingerprint(profile.data) if tiny else None,
                "corpus": (pretraining_corpus.version(profile.base.pretrain_corpus, profile.base.pretrain_calls)
                           if tiny else None)}

    def built_here(self, profile):
        return profile.base.kind == "tiny"  # a hub or local base needs no build

    def open(self, ctx, name, fp, suite=""):
        path = ctx.ckpts.path(name, fp) if ctx.profile.base.kind == "tiny" else None
        return local_handle(ctx, name, fp, suite, ctx.profile.base, path, ("base", fp))


KIND = BaseKind()
