"""``openai``: any OpenAI-compatible endpoint (vLLM, SGLang, TGI, ``transformers serve``, APIs)."""
from __future__ import annotations

from ..handle import ModelHandle
from ..kind import ModelKind


class OpenAIKind(ModelKind):
    name = "openai"
    required = ("base_url", "model")
    local_weights = False

    def recipe(self, reg, profile, name):
        m = reg.models[name]  # the endpoint may move; the served model is what answers
        return {"kind": "openai", "model": m.model, "revision": m.revision}

    def open(self, ctx, name, fp, suite=""):
        from ..backends.openai import OpenAIBackend

        m = ctx.reg.models[name]
        key = ("openai", m.base_url, m.model)
        if key not in ctx.engines:
            ctx.engines[key] = OpenAIBackend(m.base_url, m.model, m.api_key_env, timeout_s=m.timeout_s,
                                             retries=m.retries, concurrency=m.concurrency)
        return ModelHandle(name, fp, ctx.engines[key], suite=suite)


KIND = OpenAIKind()
