"""The schema of ``registry.yaml`` (models, profiles, suites, judges) and its loading.

This module checks what the file alone can say (types, ranges, parents, cycles, profiles);
names that refer to plugins (model kinds, trainers, suites, protocols, judge kinds) are checked
against them by ``harness.registry.load_registry``, the loader every command uses. Every problem
is one line naming the file and the key, raised as ``BadInput``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import BadInput, NotBuilt
from .recipes import HYPER_SCHEMAS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseSpec(_Strict):
    kind: Literal["tiny", "hub", "local"]
    id: Optional[str] = None  # hub id or local path
    revision: Optional[str] = None
    vocab_size: int = 384
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 384
    pretrain_steps: int = 1000
    pretrain_batch: int = 32
    pretrain_lr: float = 3e-3
    seed: int = 0


class DataSpec(_Strict):
    source: Literal["synthetic", "hub", "local"]
    dir: Optional[str] = None  # for source=local; GRPO_BENCH_DATA_DIR overrides
    seed: int = 1234
    sft_rows: int = Field(5000, ge=0)
    grpo_rows: int = Field(1000, ge=0)
    test_rows: int = Field(500, ge=0)


class GenerationSpec(_Strict):
    backend: Literal["hf", "vllm"] = "hf"  # vllm: optional extra, GPU only
    max_new_tokens: int = Field(256, gt=0)
    batch_size: int = Field(32, gt=0)  # 0 would fail deep inside generation (range step 0)
    temperature: float = 0.0  # greedy: reproducible evaluation
    seed: Optional[int] = None  # RNG seed for sampled generations (bench run --seed); in the key when set


class Profile(_Strict):
    description: str = ""
    base: BaseSpec
    data: DataSpec
    judge: str = "rubric"
    generation: GenerationSpec = GenerationSpec()
    report_to: Optional[list[str]] = None  # trainer curves: tensorboard (default when installed), wandb, none
    overrides: dict[str, dict[str, Any]] = {}


class ModelEntry(_Strict):
    kind: str = Field("trained", description="a model kind: trained | base | hf | lora | openai | replay "
                                             "(models.KINDS; checked when the registry is loaded)")
    description: str = ""
    parent: Optional[str] = None
    trainer: Optional[str] = None
    rewards: list[str] = []
    hyper: dict[str, Any] = {}
    path: Optional[str] = None  # hf: hub id or local folder; lora: adapter folder; replay: JSONL file
    revision: Optional[str] = None
    base: Optional[str] = None  # lora: hub id or local folder of the base the adapter was trained on
    base_url: Optional[str] = None  # openai: endpoint including /v1
    model: Optional[str] = None  # openai: the served model name
    api_key_env: Optional[str] = None
    timeout_s: float = 120
    retries: int = 3
    concurrency: int = 8


class SuiteEntry(_Strict):
    description: str = ""
    protocols: Optional[list[str]] = Field(None, description="which of the suite's protocols to run "
                                           "(default: all it has; the suite defines them)")
    reference: Optional[str] = None  # model whose token counts define Efficiency = 1.0


class JudgeEntry(_Strict):
    kind: str = Field(..., description="a judge kind: rubric | llm (judges.JUDGE_KINDS)")
    base_url: Optional[str] = None
    model: Optional[str] = None
    api_key_env: Optional[str] = None
    timeout_s: float = 60
    retries: int = 3
    concurrency: int = 8


class Registry(_Strict):
    profiles: dict[str, Profile]
    default_profile: str = "tiny"
    models: dict[str, ModelEntry]
    suites: dict[str, SuiteEntry]
    judges: dict[str, JudgeEntry]
    path: str = ""

    @field_validator("models")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for name in v:
            if name == "all" or "," in name:
                raise ValueError(f"'{name}' is reserved and cannot name a model")
        return v

    # -- queries -------------------------------------------------------------------------
    def profile(self, name: Optional[str]) -> Profile:
        name = name or self.default_profile
        if name not in self.profiles:
            raise BadInput(f"unknown profile '{name}' (known: {', '.join(self.profiles)})")
        return self.profiles[name]

    def model(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise BadInput(f"unknown model '{name}' (known: {', '.join(self.models)})")
        return self.models[name]

    def lineage(self, name: str) -> list[str]:
        """Ancestors first, ``name`` last."""
        chain = [name]
        while self.models[chain[-1]].parent:
            chain.append(self.models[chain[-1]].parent)
        return chain[::-1]

    def resolve_models(self, spec: str) -> list[str]:
        if spec == "all":
            return list(self.models)
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if not names:
            raise BadInput("--models is empty")
        for n in names:
            self.model(n)
        return names

    def resolve_suites(self, spec: str) -> list[str]:
        if spec == "all":
            return list(self.suites)
        names = [n.strip() for n in spec.split(",") if n.strip()]
        for n in names:
            if n not in self.suites:
                raise BadInput(f"unknown suite '{n}' (known: {', '.join(self.suites)}, all)")
        return names



def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))


def one_line(path: str, exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = prefix + _loc(err)
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    else:
        msg = err["msg"].replace("\n", " ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def _check_graph(reg: Registry, path: str) -> None:
    """What the schema alone can check: parents exist, no cycles, profiles name known judges."""
    for name, m in reg.models.items():
        if m.parent is not None and m.parent not in reg.models:
            raise BadInput(f"{path}: models.{name}.parent: unknown model '{m.parent}'")
    for name in reg.models:  # cycles
        seen = [name]
        cur = reg.models[name].parent
        while cur:
            if cur in seen:
                raise BadInput(f"{path}: models.{name}.parent: cycle {' -> '.join(seen + [cur])}")
            seen.append(cur)
            cur = reg.models[cur].parent
    for pname, prof in reg.profiles.items():
        if prof.judge not in reg.judges:
            raise BadInput(f"{path}: profiles.{pname}.judge: unknown judge '{prof.judge}'")
        for trainer, over in prof.overrides.items():
            if trainer not in HYPER_SCHEMAS:
                raise BadInput(f"{path}: profiles.{pname}.overrides.{trainer}: unknown trainer")
            bad = set(over) - set(HYPER_SCHEMAS[trainer].model_fields)
            if bad:
                raise BadInput(f"{path}: profiles.{pname}.overrides.{trainer}.{sorted(bad)[0]}: unknown key")
    if reg.default_profile not in reg.profiles:
        raise BadInput(f"{path}: default_profile: unknown profile '{reg.default_profile}'")
    for sname, s in reg.suites.items():
        if s.reference and s.reference not in reg.models:
            raise BadInput(f"{path}: suites.{sname}.reference: unknown model '{s.reference}'")


MAX_REGISTRY_BYTES = 4 << 20  # the real registry is a few KiB


def load_config(path: str | os.PathLike = "registry.yaml") -> Registry:
    path = str(path)
    if not Path(path).is_file():
        raise BadInput(f"{path}: registry file not found (use --registry PATH)")
    if Path(path).stat().st_size > MAX_REGISTRY_BYTES:  # YAML parsing is slow: refuse before reading
        raise BadInput(f"{path}: registry file larger than {MAX_REGISTRY_BYTES >> 20} MiB")
    try:
        with open(path, "rb") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{path}:{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise BadInput(f"{path}: invalid YAML: nesting too deep") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping with profiles, models, suites, judges")
    try:
        reg = Registry(**{str(k): v for k, v in raw.items()}, path=path)
    except ValidationError as exc:
        raise BadInput(one_line(path, exc)) from None
    except RecursionError:
        raise BadInput(f"{path}: nesting too deep") from None
    _check_graph(reg, path)
    return reg


__all__ = ["Registry", "ModelEntry", "Profile", "load_config", "one_line"]
