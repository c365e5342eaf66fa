"""Run the plan: train what is missing (parents first), then evaluate each cell.

A cell's generations are stored batch by batch, so an interrupted run resumes where it stopped;
scoring and judging reuse stored generations and only fill what is missing.
"""
from __future__ import annotations

import json
import platform
import subprocess
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from . import __version__
from .checkpoints import CheckpointStore
from .errors import BadInput, RunFailed
from .fingerprint import digest, fingerprint, recipe
from .judge import get_judge, is_judge_error, response_hash
from .plan import Plan, TrainJob
from .progress import console
from .registry import Registry
from .store import ResultStore


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


@dataclass
class Context:
    reg: Registry
    profile_name: str
    store_dir: Path
    ckpts: CheckpointStore = field(init=False)
    _results: Optional[ResultStore] = field(default=None, init=False)
    _backends: dict = field(default_factory=dict, init=False)
    model_calls: int = field(default=0, init=False)

    def __post_init__(self):
        self.profile = self.reg.profile(self.profile_name)
        self.ckpts = CheckpointStore(self.store_dir)
        self._judge = None

    def judge(self):
        """The profile's judge, one per run (a local judge model loads once)."""
        if self._judge is None:
            self._judge = get_judge(self.profile.judge, self.reg.judges[self.profile.judge])
        return self._judge

    @property
    def results(self) -> ResultStore:
        if self._results is None:
            self._results = ResultStore(self.store_dir)
        return self._results


# -- training ------------------------------------------------------------------------------------
def train_missing(ctx: Context, plan: Plan) -> list[str]:
    built = []
    if any(not job.exists for job in plan.train):
        from trainers.callbacks import quiet_libraries

        quiet_libraries()
    for job in plan.train:
        if job.exists:
            continue
        t0 = time.time()
        console.print(f"[bold]train[/] {job.name} ({job.trainer or 'base'}) -> {ctx.ckpts.path(job.name, job.fp)}")
        manifest = {"recipe": recipe(ctx.reg, ctx.profile, job.name), "parent": job.parent,
                    "parent_fingerprint": job.parent_fp, "profile": ctx.profile_name,
                    "code_version": code_version(), "versions": _versions()}
        ctx.ckpts.build(job.name, job.fp, lambda out, job=job: _produce(job, out), manifest)
        job.exists = True
        built.append(job.name)
        console.print(f"  done in {time.time() - t0:.0f}s")
    return built


def _produce(job: TrainJob, out: Path) -> dict:
    if job.trainer is None:
        from trainers.base_model import build_tiny

        return build_tiny(job.profile.base, job.profile.data, out)
    from trainers import get_trainer

    return get_trainer(job.trainer)(job, out)


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "datasets", "lm_eval", "bfcl_eval"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


# -- evaluation ----------------------------------------------------------------------------------
def model_handle(ctx: Context, model: str, suite: str = ""):
    """A ModelHandle for a registry model; one hf backend per base, shared by its adapters."""
    from .backends import ModelHandle

    fp = fingerprint(ctx.reg, ctx.profile, model)
    m = ctx.reg.models[model]
    if m.kind == "replay":
        from .backends.replay import ReplayBackend

        return ModelHandle(model, fp, ReplayBackend(m.path), suite=suite)
    if m.kind == "openai":
        from .backends.openai_compat import OpenAIBackend

        key = ("openai", m.base_url, m.model)
        if key not in ctx._backends:
            ctx._backends[key] = OpenAIBackend(m.base_url, m.model, m.api_key_env, timeout_s=m.timeout_s,
                                               retries=m.retries, concurrency=m.concurrency)
        return ModelHandle(model, fp, ctx._backends[key], suite=suite)
    if m.kind in ("hf", "lora"):
        from .registry import BaseSpec

        source = m.base if m.kind == "lora" else m.path
        spec, base_path, key = BaseSpec(kind="hub", id=source, revision=m.revision), None, ("hf", source)
    else:
        base = ctx.reg.lineage(model)[0]
        base_fp = fingerprint(ctx.reg, ctx.profile, base)
        spec, key = ctx.profile.base, ("base", base_fp)
        base_path = ctx.ckpts.path(base, base_fp) if ctx.profile.base.kind == "tiny" else None
    if key not in ctx._backends:
        from trainers.callbacks import quiet_libraries

        from .backends import get_backend

        quiet_libraries()
        ctx._backends[key] = get_backend(ctx.profile.generation.backend)(spec, base_path)
    adapter = Path(m.path).expanduser() if m.kind == "lora" else None
    if m.kind == "trained":
        adapter = ctx.ckpts.path(model, fp) / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            raise RunFailed(f"checkpoint of '{model}' is missing or truncated ({adapter}); delete it and re-run")
    return ModelHandle(model, fp, ctx._backends[key], adapter, suite=suite)


def gen_config(ctx: Context, suite: str, protocol: str) -> dict:
    """What a cell's generations depend on besides the model: its cache key (hashed)."""
    from benchmarks import SUITES

    g = ctx.profile.generation
    # a suite's own decoding constants (samples, step limits) live in its version string
    return {"suite": suite, "protocol": protocol, "max_new_tokens": g.max_new_tokens,
            "temperature": g.temperature, "prompt": "thesis-v1", "suite_version": SUITES[suite].get("version", "1")}


def evaluate_cell(ctx: Context, model: str, suite_name: str, protocol: str, limit: Optional[int],
                  run_id: str) -> dict:
    from benchmarks import get_suite

    suite = get_suite(suite_name)
    itemset = suite.items(ctx.profile, protocol, limit)
    fp = fingerprint(ctx.reg, ctx.profile, model)
    gcfg = gen_config(ctx, suite_name, protocol)
    ghash = digest(gcfg)[:16]
    done = ctx.results.done_items(fp, suite_name, protocol, ghash)
    todo = [it for it in itemset.items if it.id not in done]
    backend_desc = {}
    if todo:
        handle = model_handle(ctx, model, suite_name)
        backend_desc = handle.description
        ctx.model_calls += 1
        if protocol in getattr(suite, "custom_protocols", ()):
            run_cfg = {**gcfg, "batch_size": ctx.profile.generation.batch_size}  # not in the hash: no effect on results
            _store_outcomes(ctx, suite.run_protocol(protocol, handle, replace(itemset, items=todo), run_cfg),
                            fp, suite_name, protocol, ghash, run_id)
        else:
            def store(idx, results, items=todo):
                # a result is (text, n_tokens); a failed item carries .error (recorded, never lost)
                ctx.results.add_generations([
                    {"model_fp": fp, "suite": suite_name, "protocol": protocol, "item_id": items[i].id,
                     "gen_hash": ghash, "dataset": items[i].dataset, "completion": r[0], "n_tokens": r[1],
                     "error": getattr(r, "error", None), "run_id": run_id} for i, r in zip(idx, results)])

            handle.generate([it.prompt for it in todo], gcfg["max_new_tokens"], ctx.profile.generation.batch_size,
                            label=f"{model} · {suite_name}/{protocol}", on_batch=store,
                            item_ids=[it.id for it in todo])
    scored = score_cell(ctx, suite, itemset, fp, protocol, ghash)
    produced = {"run_id": run_id, "time": time.time()}
    if not todo:  # nothing generated now: keep the backend and run that produced the stored generations
        prev = ctx.results.cell_manifest(fp, suite_name, protocol, ghash)
        if prev:
            backend_desc = prev.get("backend", {})
            produced = {"run_id": prev.get("run_id"), "time": prev.get("time")}
    ctx.results.upsert_cell(model, fp, suite_name, protocol, ghash, ctx.profile_name,
                            ",".join(suite.datasets), itemset.data_fp, ctx.profile.judge,
                            {"generation": gcfg, "backend": backend_desc, "batch_size": ctx.profile.generation.batch_size,
                             "data_source": itemset.source,
                             "items": len(itemset.items), "skipped_rows": itemset.skipped,
                             "code_version": code_version(), **produced})
    return {"model": model, "suite": suite_name, "protocol": protocol, "generated": len(todo), "scored": scored}


def _store_outcomes(ctx: Context, outcomes, fp: str, suite: str, protocol: str, ghash: str, run_id: str) -> None:
    outcomes = list(outcomes)
    ctx.results.add_scores([(fp, suite, protocol, o.item_id, ghash, 0, k, float(v))
                            for o in outcomes for k, v in o.metrics.items()])
    ctx.results.add_generations([
        {"model_fp": fp, "suite": suite, "protocol": protocol, "item_id": o.item_id, "gen_hash": ghash,
         "dataset": o.dataset, "completion": o.completion, "n_tokens": o.n_tokens, "error": o.error,
         "run_id": run_id} for o in outcomes])


def score_cell(ctx: Context, suite, itemset, fp: str, protocol: str, ghash: str) -> int:
    """Score and judge stored generations that lack scores (re-scoring never regenerates)."""
    gens = {g["item_id"]: g for g in ctx.results.generations(fp, suite.name, protocol, ghash)}
    have = ctx.results.scored_items(fp, suite.name, protocol, ghash, "scored")
    have -= ctx.results.flagged_items(fp, suite.name, protocol, ghash, "judge_error")  # ask the judge again
    todo = [(it, gens[it.id]) for it in itemset.items if it.id in gens and it.id not in have]
    if not todo:
        return 0
    custom = protocol in getattr(suite, "custom_protocols", ())
    rows, to_judge = [], []
    for item, g in todo:
        text = g["completion"] or ""
        if g["error"]:
            metrics = {"correct": 0.0, "failed": 1.0}
        elif custom:
            metrics = {}  # stored with the outcome by run_protocol
        else:
            metrics = suite.score(item, text)
        metrics["n_tokens"] = float(g["n_tokens"] or 0)
        metrics["scored"] = 1.0
        rows += [(fp, suite.name, protocol, item.id, ghash, 0, k, v) for k, v in metrics.items()]
        if suite.judge_kind and not custom and not g["error"]:
            to_judge.append((item, text, bool(metrics.get("correct"))))
    rows += judge_rows(ctx, suite, to_judge, fp, protocol, ghash)
    ctx.results.add_scores(rows)
    return len(todo)


def judge_rows(ctx: Context, suite, requests: list[tuple], fp: str, protocol: str, ghash: str) -> list[tuple]:
    """Judge scores for (item, response, correct), from the verdict cache or the profile's judge."""
    if not requests:
        return []
    judge = ctx.judge()
    keys = [(f"{suite.name}/{item.id}", response_hash(text)) for item, text, _ in requests]
    cached = [ctx.results.judgment(judge.fingerprint, k, h) for k, h in keys]
    missing = [i for i, c in enumerate(cached) if c is None]
    if missing:
        fresh = judge.rate_many(suite.judge_kind, [requests[i] for i in missing])
        ctx.results.add_judgments([(judge.fingerprint, *keys[i], score, verdict)  # errors are retried later
                                   for i, (score, verdict) in zip(missing, fresh) if not is_judge_error(verdict)])
        for i, (score, verdict) in zip(missing, fresh):
            cached[i] = (score, verdict)
    rows = []
    for (item, _, _), (score, verdict) in zip(requests, cached):
        # an unparsable verdict stays missing (counted in the report), never 0; a judge that could
        # not be reached is recorded as judge_error and asked again by the next run
        error = score is None and is_judge_error(verdict)
        rows.append((fp, suite.name, protocol, item.id, ghash, 0, "judge_error", float(error)))
        rows.append((fp, suite.name, protocol, item.id, ghash, 0, "judge_missing", float(score is None and not error)))
        if score is not None:
            rows.append((fp, suite.name, protocol, item.id, ghash, 0, "judge", float(score)))
    return rows


def run(ctx: Context, plan: Plan, limit: Optional[int], command: str) -> list[dict]:
    run_id = uuid.uuid4().hex[:12]
    ctx.results.start_run(run_id, command, ctx.profile_name, code_version(),
                          {"models": sorted({m for m, _, _ in plan.evaluate}), "limit": limit})
    status = "failed"
    try:
        train_missing(ctx, plan)
        out = [evaluate_cell(ctx, m, s, p, limit, run_id) for m, s, p in plan.evaluate]
        status = "ok"
        return out
    finally:
        ctx.results.finish_run(run_id, status)


def plan_json(plan: Plan) -> str:
    return json.dumps({"train": [{"name": j.name, "fingerprint": j.fp[:12], "exists": j.exists} for j in plan.train],
                       "evaluate": plan.evaluate, "refused": plan.refused}, indent=2)


__all__ = ["Context", "run", "train_missing", "evaluate_cell", "BadInput"]
