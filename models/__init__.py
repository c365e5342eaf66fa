"""Models: every registry entry's *kind* (what it is) and the *backends* that make it generate.

- ``KINDS``: ``trained``, ``base``, ``hf``, ``lora``, ``openai``, ``replay`` — one module each in
  ``models/kinds/``, behind ``models.kind.ModelKind`` (validate, recipe, build, open).
- ``BACKENDS``: how local weights generate (``hf``: transformers + peft; ``vllm``: a vLLM
  server in its own venv, started or attached to, LoRA variants served by name); ``models/backends/`` also holds the ``openai`` and ``replay`` backends their kinds use.
- ``fingerprint``: a model's identity — its kind's recipe plus its parent's fingerprint.

Adding a kind is one module in ``models/kinds/`` and one line in ``KINDS``.
"""
from __future__ import annotations

from typing import Optional

from core.config import Profile, Registry
from core.fingerprint import digest
from core.plugins import Registry as PluginRegistry

from .handle import ModelHandle
from .kind import ModelKind

KINDS: PluginRegistry[ModelKind] = PluginRegistry("model kind", {
    "trained": "models.kinds.trained:KIND",
    "base": "models.kinds.base:KIND",
    "hf": "models.kinds.hf:KIND",
    "lora": "models.kinds.lora:KIND",
    "openai": "models.kinds.openai:KIND",
    "replay": "models.kinds.replay:KIND",
})

BACKENDS = PluginRegistry("generation backend", {
    "hf": "models.backends.hf:HFBackend",
    "hf_paged": "models.backends.hf_paged:HFPagedBackend",
    "vllm": "models.backends.vllm:VLLMBackend",
})


def kind_of(reg: Registry, name: str) -> ModelKind:
    return KINDS.get(reg.models[name].kind)


def fingerprint(reg: Registry, profile: Profile, name: str, memo: Optional[dict] = None) -> str:
    """sha256 of {recipe, parent fingerprint}, ancestors first (iterative: chains may be long).
    A chat template other than ``thesis`` joins it: the model is prompted differently."""
    from core.modeling import template_choice, template_digest

    memo = {} if memo is None else memo
    parent_fp = None
    for n in reg.lineage(name):
        if n not in memo:
            payload = {"recipe": kind_of(reg, n).recipe(reg, profile, n), "parent": parent_fp}
            template = template_choice(reg.models[n])
            if template != "thesis":
                payload["chat_template"] = template_digest(template)
            memo[n] = digest(payload)
        parent_fp = memo[n]
    return memo[name]


def recipe(reg: Registry, profile: Profile, name: str) -> dict:
    return kind_of(reg, name).recipe(reg, profile, name)


def open_model(ctx, name: str, suite: str = "") -> ModelHandle:
    """A ModelHandle for a registry model under ``ctx``'s profile."""
    fp = ctx.fingerprints.get(name) or fingerprint(ctx.reg, ctx.profile, name)
    return kind_of(ctx.reg, name).open(ctx, name, fp, suite)


__all__ = ["KINDS", "BACKENDS", "ModelHandle", "ModelKind", "kind_of", "fingerprint", "recipe", "open_model"]
