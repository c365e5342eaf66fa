"""``trained``: a variant this project trains (SFT, GRPO, BFCL-GRPO) as a LoRA adapter on its
parent, so every trained variant is the profile's base + one adapter."""
from __future__ import annotations

from pydantic import ValidationError

from core.errors import BadInput, RunFailed
from core.recipes import HYPER_SCHEMAS, NOT_WEIGHTS, effective_hyper, hyper_error
from core.rewards import get_reward, reward_fingerprint
from core.sources.math import data_fingerprint

from ..kind import ModelKind
from ..local import local_handle


class TrainedKind(ModelKind):
    name = "trained"
    required = ("parent", "trainer")

    def validate(self, name, entry, where):
        super().validate(name, entry, where)
        if entry.trainer in HYPER_SCHEMAS:
            try:
                HYPER_SCHEMAS[entry.trainer](**entry.hyper)
            except ValidationError as exc:
                raise BadInput(hyper_error(exc, f"{where}.hyper.")) from None
        if entry.trainer == "grpo" and not entry.rewards:
            raise BadInput(f"{where}.rewards: a grpo model needs at least one reward")
        for r in entry.rewards:
            try:
                get_reward(r)
            except (ValueError, ImportError, AttributeError) as exc:
                raise BadInput(f"{where}.rewards: {str(exc).splitlines()[0]}") from None

    def recipe(self, reg, profile, name):
        m = reg.models[name]
        hyper = {k: v for k, v in effective_hyper(m, profile).items() if k not in NOT_WEIGHTS}
        rewards = [{"name": r, "code": reward_fingerprint(r)[:16]} for r in m.rewards]
        return {"kind": "trained", "trainer": m.trainer, "rewards": rewards, "hyper": hyper,
                "data": data_fingerprint(profile.data)}

    def built_here(self, profile):
        return True

    def trainer(self, entry):
        return entry.trainer

    def open(self, ctx, name, fp, suite=""):
        from .. import fingerprint

        base = ctx.reg.lineage(name)[0]
        base_fp = fingerprint(ctx.reg, ctx.profile, base)
        path = ctx.ckpts.path(base, base_fp) if ctx.profile.base.kind == "tiny" else None
        adapter = ctx.ckpts.path(name, fp) / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            raise RunFailed(f"checkpoint of '{name}' is missing or truncated ({adapter}); delete it and re-run")
        return local_handle(ctx, name, fp, suite, ctx.profile.base, path, ("base", base_fp), adapter)


KIND = TrainedKind()
