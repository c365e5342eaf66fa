"""The plan: which checkpoints must be trained (parents first) and which cells evaluated.

Pure bookkeeping: builds ``TrainJob``s and ``Cell``s from the registry and the stores, does no work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from benchmarks import SUITES

from .checkpoints import CheckpointStore
from .fingerprint import effective_hyper, fingerprint
from .registry import Profile, Registry


@dataclass
class TrainJob:
    name: str
    fp: str
    trainer: Optional[str]  # None: the base model
    rewards: list[str]
    hyper: dict
    parent: Optional[str]
    parent_fp: Optional[str]
    profile: Profile
    profile_name: str
    base_path: Optional[Path] = None  # the built tiny base; None for a hub/local base
    parent_adapter: Optional[Path] = None
    exists: bool = False
    work_dir: Optional[Path] = None  # trainer checkpoints, kept across a crash so training resumes


@dataclass
class Plan:
    train: list[TrainJob] = field(default_factory=list)  # topological: parents first
    evaluate: list[tuple[str, str, str]] = field(default_factory=list)  # (model, suite, protocol)
    refused: dict[str, str] = field(default_factory=dict)  # model -> why it cannot be built
    skipped: list[tuple[str, str, str, str]] = field(default_factory=list)  # (model, suite, protocol, why)


def _job(reg: Registry, profile: Profile, profile_name: str, ckpts: CheckpointStore, name: str) -> TrainJob:
    m = reg.models[name]
    fp = fingerprint(reg, profile, name)
    parent_fp = fingerprint(reg, profile, m.parent) if m.parent else None
    job = TrainJob(name=name, fp=fp, trainer=m.trainer if m.kind == "trained" else None,
                   rewards=list(m.rewards), hyper=effective_hyper(reg, profile, name) if m.kind == "trained" else {},
                   parent=m.parent, parent_fp=parent_fp, profile=profile, profile_name=profile_name)
    job.work_dir = ckpts.work_dir(name, fp)
    built_here = m.kind == "trained" or (m.kind == "base" and profile.base.kind == "tiny")
    job.exists = ckpts.exists(name, fp) if built_here else True  # a hub base needs no build
    base = reg.lineage(name)[0]
    if profile.base.kind == "tiny":
        job.base_path = ckpts.path(base, fingerprint(reg, profile, base))
    if m.parent and reg.models[m.parent].kind == "trained":
        job.parent_adapter = ckpts.path(m.parent, parent_fp) / "adapter"
    return job


def make_plan(reg: Registry, profile_name: str, models: list[str], suites: list[str],
              ckpts: CheckpointStore) -> Plan:
    profile = reg.profile(profile_name)
    plan, seen = Plan(), set()
    for name in models:
        why = reg.buildable(name)
        if why:
            plan.refused[name] = why
            continue
        for anc in reg.lineage(name):
            if anc in seen:
                continue
            seen.add(anc)
            if reg.models[anc].kind in ("trained", "base"):
                plan.train.append(_job(reg, profile, profile_name, ckpts, anc))
        for suite in suites:
            for protocol in reg.suites[suite].protocols:
                if protocol in SUITES[suite].get("needs_weights", ()) and reg.models[name].kind in ("replay", "openai"):
                    plan.skipped.append((name, suite, protocol, f"needs local weights ({reg.models[name].kind} model)"))
                    continue
                plan.evaluate.append((name, suite, protocol))
    return plan
