"""The plan: which checkpoints must be trained (parents first) and which cells evaluated.

Pure bookkeeping: builds ``TrainJob``s and cells from the registry, the model kinds, the suites
and the checkpoint store; does no work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from benchmarks import SUITES
from core.checkpoints import CheckpointStore
from core.config import Profile, Registry
from core.recipes import effective_hyper
from models import fingerprint, kind_of

from .registry import protocols


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
    skipped: list[tuple[str, str, str, str]] = field(default_factory=list)  # (model, suite, protocol, why)


def _job(reg: Registry, profile: Profile, profile_name: str, ckpts: CheckpointStore, name: str,
         memo: dict) -> TrainJob:
    m = reg.models[name]
    kind = kind_of(reg, name)
    fp = fingerprint(reg, profile, name, memo)
    parent_fp = fingerprint(reg, profile, m.parent, memo) if m.parent else None
    trainer = kind.trainer(m)
    job = TrainJob(name=name, fp=fp, trainer=trainer, rewards=list(m.rewards),
                   hyper=effective_hyper(m, profile) if trainer else {},
                   parent=m.parent, parent_fp=parent_fp, profile=profile, profile_name=profile_name)
    job.work_dir = ckpts.work_dir(name, fp)
    job.exists = ckpts.exists(name, fp)
    base = reg.lineage(name)[0]
    if profile.base.kind == "tiny":
        job.base_path = ckpts.path(base, fingerprint(reg, profile, base, memo))
    if m.parent and kind_of(reg, m.parent).trainer(reg.models[m.parent]):
        job.parent_adapter = ckpts.path(m.parent, parent_fp) / "adapter"
    return job


def make_plan(reg: Registry, profile_name: str, models: list[str], suites: list[str],
              ckpts: CheckpointStore) -> Plan:
    profile = reg.profile(profile_name)
    plan, seen, memo = Plan(), set(), {}
    for name in models:
        for anc in reg.lineage(name):
            if anc in seen:
                continue
            seen.add(anc)
            if kind_of(reg, anc).built_here(profile):
                plan.train.append(_job(reg, profile, profile_name, ckpts, anc, memo))
        kind = kind_of(reg, name)
        for suite in suites:
            for protocol in protocols(reg, suite):
                if protocol in SUITES.get(suite).needs_weights and not kind.local_weights:
                    plan.skipped.append((name, suite, protocol,
                                         f"needs local weights (log-likelihoods; a '{kind.name}' model has none)"))
                    continue
                plan.evaluate.append((name, suite, protocol))
    return plan


def grpo_steps(job: TrainJob) -> Optional[dict]:
    """A GRPO job's optimizer steps and the batch that gives them (``core.batching``: the one
    place the trainer's figure comes from too); None for other trainers. Rows are counted before
    the prompt-length cap (measuring it needs the tokenizer: the manifest has the exact count)."""
    if job.trainer != "grpo":
        return None
    from core.batching import grpo_batch, grpo_optimizer_steps, grpo_rows

    rows = grpo_rows(job.hyper, job.profile.data)
    return {"optimizer_steps": grpo_optimizer_steps(job.hyper, rows), "rows": rows,
            "prompts_per_optimizer_step": grpo_batch(job.hyper).prompts_per_optimizer_step,
            "num_generations": job.hyper["num_generations"], "batch_size_unit": job.hyper["batch_size_unit"],
            "max_steps": job.hyper["max_steps"] if job.hyper["max_steps"] > 0 else None}


def check_devices(plan: Plan) -> None:
    """One-line refusals, before any work, of recipes that cannot run on this machine's device:
    a parent's minutes of training must not be spent to find the child cannot start. (``bench
    plan`` does not call this: a GPU profile's plan is readable anywhere.)"""
    pending = [j for j in plan.train if not j.exists and j.hyper.get("use_vllm")]
    if not pending:
        return
    from core.device import device
    from trainers.grpo import check_vllm

    for job in pending:
        check_vllm(job.hyper, device(), job.name)


def check_split(plan: Plan, processes: int) -> None:
    """One-line refusal of a missing SFT/GRPO stage whose global batch does not split over
    ``processes`` (the trainers would refuse it too, once per process, after start-up)."""
    from core.batching import grpo_batch, split_over_processes

    for job in plan.train:
        if job.exists or job.trainer not in ("sft", "grpo"):  # the others train in rank 0 alone
            continue
        per_device = job.hyper["batch_size"] if job.trainer == "sft" else grpo_batch(job.hyper).completions_per_device_step
        split_over_processes(per_device, job.hyper["grad_accum"], processes, f"{job.name} ({job.trainer})")
