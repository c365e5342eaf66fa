"""Run the plan: train what is missing (parents first), then evaluate each cell.

A cell's generations are stored batch by batch, so an interrupted run resumes where it stopped;
scoring and judging reuse stored generations and only fill what is missing. A generation that
failed is stored as a failure (with its reason), never scored, and generated again by the next
run; a cell with failures is *incomplete* and `bench run` exits 1.
"""
from __future__ import annotations

import json
import os
import platform
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Optional

from benchmarks import SUITES, get_suite
from core.context import Context, code_version
from core.errors import BadInput, RunFailed
from core.fingerprint import digest
from core.progress import console
from judges import get_judge, is_judge_error, response_hash
from models import fingerprint, kind_of, open_model, recipe

from .model_card import with_model_card
from .plan import Plan, TrainJob
from .registry import protocols


# -- training ------------------------------------------------------------------------------------
def train_missing(ctx: Context, plan: Plan) -> list[str]:
    """Build every checkpoint of the plan that is not in the store yet, parents first."""
    return [job.name for job in plan.train if not job.exists and train_one(ctx, job)]


def train_one(ctx: Context, job: TrainJob) -> bool:
    """Build one checkpoint (its parent must exist); False when it already did."""
    if job.exists:
        return False
    from trainers.callbacks import quiet_libraries

    quiet_libraries()
    t0 = time.time()
    console.print(f"[bold]train[/] {job.name} ({job.trainer or 'base'}) -> {ctx.ckpts.path(job.name, job.fp)}")
    manifest = {"recipe": recipe(ctx.reg, ctx.profile, job.name), "parent": job.parent,
                "parent_fingerprint": job.parent_fp, "profile": ctx.profile_name,
                "code_version": code_version(), "versions": _versions()}
    ctx.ckpts.build(job.name, job.fp, lambda out: with_model_card(ctx, job, out, manifest, _produce(job, out)), manifest)
    job.exists = True
    console.print(f"  {job.name} done in {time.time() - t0:.0f}s")
    return True


def _produce(job: TrainJob, out: Path) -> dict:
    if job.trainer is None:
        from trainers.pretrain import build_tiny

        return build_tiny(job.profile.base, job.profile.data, out)
    from trainers import TRAINERS

    return TRAINERS.get(job.trainer)(job, out)


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
def resolve(ctx: Context, models: Optional[list[str]] = None, suites: Optional[list[str]] = None) -> Context:
    """Fill ``ctx.fingerprints`` and ``ctx.gen_hashes``: the keys of the cells this run reads and
    writes (reports read them from the context, so they never recompute recipes)."""
    memo: dict = {}
    for name in models if models is not None else list(ctx.reg.models):
        ctx.fingerprints[name] = fingerprint(ctx.reg, ctx.profile, name, memo)
    for suite in suites if suites is not None else list(ctx.reg.suites):
        if suite in SUITES:
            for protocol in protocols(ctx.reg, suite):
                ctx.gen_hashes[(suite, protocol)] = digest(gen_config(ctx, suite, protocol))[:16]
    return ctx


def model_handle(ctx: Context, model: str, suite: str = ""):
    """A ModelHandle for a registry model (one loaded base is shared by its adapters)."""
    if not ctx.engines and kind_of(ctx.reg, model).local_weights:
        from trainers.callbacks import quiet_libraries

        quiet_libraries()
    return open_model(ctx, model, suite)


def gen_config(ctx: Context, suite: str, protocol: str) -> dict:
    """What a cell's generations depend on besides the model: its cache key (hashed). The suite
    contributes its version and decoding constants, so changing either re-makes its cells only."""
    g = ctx.profile.generation
    return {**get_suite(suite).generation_key(protocol), "max_new_tokens": g.max_new_tokens,
            "temperature": g.temperature, "prompt": "thesis-v1", **({"seed": g.seed} if g.seed is not None else {})}


def evaluate_cell(ctx: Context, model: str, suite_name: str, protocol: str, limit: Optional[int],
                  run_id: str) -> dict:
    """Generate the cell's missing items (and its failed ones: a failure is retried, never kept as
    an answer), score what is unscored, record the cell. Returns counts, and ``failed`` /
    ``reason``: the items still without an answer and the first one's reason.

    Items are claimed before they are generated (``ResultStore.claim``: a lease per item), a few
    batches at a time, so concurrent runs on one store split a cell instead of each generating
    all of it. Items another live run holds are waited for, not reported missing: the loop ends
    once every item is settled (stored by whichever run), and a lease whose run died or expired
    is claimed here. A custom protocol (best-of-n, multi-turn, log-likelihood) runs as one unit
    over what it claims, as it did over the whole cell."""
    from core.results import CLAIM_BATCHES, LEASE_POLL_S

    suite = get_suite(suite_name)
    itemset = suite.items(ctx.profile, protocol, limit)
    fp = ctx.fingerprints.get(model) or fingerprint(ctx.reg, ctx.profile, model)
    gcfg = gen_config(ctx, suite_name, protocol)
    ghash = digest(gcfg)[:16]
    cell = (fp, suite_name, protocol, ghash)
    since = time.time()
    done = ctx.results.done_items(fp, suite_name, protocol, ghash)
    by_id = {it.id: it for it in itemset.items if it.id not in done}
    remaining = list(by_id)
    chunk = len(remaining) if protocol in suite.custom_protocols else ctx.profile.generation.batch_size * CLAIM_BATCHES
    backend_desc, handle, generated, waited = {}, None, 0, 0.0
    try:
        with ctx.results.keep_leases(run_id):
            while remaining:
                claim = ctx.results.claim(run_id, cell, remaining, chunk, since)
                if not claim.claimed:
                    remaining = [i for i in remaining if i not in claim.settled]
                    if remaining:
                        if not waited:
                            console.print(f"  {model} · {suite_name}/{protocol}: {len(claim.waiting)} items claimed "
                                          "by another run: waiting for them")
                        time.sleep(LEASE_POLL_S)
                        waited += LEASE_POLL_S
                    continue
                if handle is None:
                    handle = _open_for_cell(ctx, model, suite, gcfg)
                    backend_desc = handle.description
                    ctx.model_calls += 1
                todo = [by_id[i] for i in claim.claimed]
                retried = set(ctx.results.failures(*cell)) & set(claim.claimed)
                ctx.results.drop_scores(fp, suite_name, protocol, ghash, retried)
                _generate(ctx, handle, suite, protocol, itemset, todo, fp, gcfg, ghash, run_id,
                          f"{model} · {suite_name}/{protocol}")
                generated += len(todo)
                mine = set(claim.claimed)
                remaining = [i for i in remaining if i not in mine and i not in claim.settled]
    finally:
        try:
            ctx.results.release(run_id, cell)
        except RunFailed:  # the store cannot be written: the leases die with this run
            pass
    scored = score_cell(ctx, suite, itemset, fp, protocol, ghash)
    produced = {"run_id": run_id, "time": time.time()}
    if not generated:  # nothing generated now: keep the backend and run that produced the stored generations
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
    wanted = {it.id for it in itemset.items}
    failed = {i: why for i, why in ctx.results.failures(fp, suite_name, protocol, ghash).items() if i in wanted}
    return {"model": model, "suite": suite_name, "protocol": protocol, "generated": generated, "scored": scored,
            "failed": len(failed), "reason": next(iter(failed.values()), "")}


def _open_for_cell(ctx: Context, model: str, suite, gcfg: dict):
    """The model's handle, checked before anything is generated: a base first downloaded by this
    run was not checked at load, its context is known only now; a replay file's ids are checked
    against the suite."""
    from core.config import check_context

    handle = model_handle(ctx, model, suite.name)
    positions = getattr(getattr(getattr(handle.backend, "model", None), "config", None),
                        "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        check_context(ctx.reg.path, [(f"profiles.{ctx.profile_name}.generation.max_new_tokens "
                                      f"(model {model})", gcfg["max_new_tokens"], True)],
                      positions, f"max_position_embeddings of the loaded model {model}")
    _check_recorded_ids(ctx, handle, suite)
    return handle


def profile_sampling(g) -> Optional[dict]:
    """The profile's temperature (and seed) are in the generation cache key, so they must reach
    the sampler: None (greedy) at temperature 0."""
    if g.temperature <= 0:
        return None
    return {"temperature": g.temperature, **({"seed": g.seed} if g.seed is not None else {})}


def _generate(ctx: Context, handle, suite, protocol: str, itemset, todo: list, fp: str, gcfg: dict, ghash: str,
              run_id: str, label: str) -> None:
    """Generate ``todo`` and store each result as it comes: an answer, or a failure with its reason.

    A crash while generating (out of memory for a batch, an lm-eval request that raised, an
    exception inside a suite's protocol) becomes a failure of every item not stored yet, so the
    run goes on with the next cell and the next run retries them; bad input and a results store
    that cannot be written still stop the run."""
    stored: set[str] = set()
    store_error: list[BaseException] = []

    def store(idx, results, items=todo):
        # a result is (text, n_tokens); a failed item carries .error (recorded, never lost)
        rows = [{"model_fp": fp, "suite": suite.name, "protocol": protocol, "item_id": items[i].id,
                 "gen_hash": ghash, "dataset": items[i].dataset, "completion": r[0], "n_tokens": r[1],
                 "error": getattr(r, "error", None), "run_id": run_id} for i, r in zip(idx, results)]
        try:
            ctx.results.add_generations(rows)
        except RunFailed as exc:
            store_error.append(exc)
            raise
        stored.update(r["item_id"] for r in rows)

    try:
        if protocol in suite.custom_protocols:
            run_cfg = {**gcfg, "batch_size": ctx.profile.generation.batch_size}  # not in the hash: no effect on results
            # a suite that yields outcomes one by one (bfcl: each as soon as it is scored) has
            # each stored at once; a list is stored in one transaction
            source = getattr(suite, "iter_protocol", suite.run_protocol)
            outcomes = source(protocol, handle, replace(itemset, items=todo), run_cfg)
            for group in ([outcomes] if isinstance(outcomes, list) else ([o] for o in outcomes)):
                try:
                    _store_outcomes(ctx, group, fp, suite.name, protocol, ghash, run_id)
                except RunFailed as exc:
                    store_error.append(exc)
                    raise
                stored.update(o.item_id for o in group)
            if len(stored) < len(todo):  # never silently missing: recorded as failures below
                raise RuntimeError(f"the protocol gave no outcome for {len(todo) - len(stored)} items")
        else:
            handle.generate([it.prompt for it in todo], gcfg["max_new_tokens"], ctx.profile.generation.batch_size,
                            label=label, on_batch=store, item_ids=[it.id for it in todo],
                            sampling=profile_sampling(ctx.profile.generation))
    except (BadInput, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 (recorded per item with its reason, see the docstring)
        if store_error and exc is store_error[0]:
            raise
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
        from rich.markup import escape

        console.print(f"[red]{escape(label)}: {escape(reason)}[/] ({len(todo) - len(stored)} items recorded as failed)")
        ctx.results.add_generations([
            {"model_fp": fp, "suite": suite.name, "protocol": protocol, "item_id": it.id, "gen_hash": ghash,
             "dataset": it.dataset, "completion": "", "n_tokens": 0, "error": reason, "run_id": run_id}
            for it in todo if it.id not in stored])


def _check_recorded_ids(ctx: Context, handle, suite) -> None:
    """A backend that answers from a file (replay) checks the file against the suite's item ids,
    every protocol's and not just this run's ``--limit``: an id the suite does not have means the
    file was made for another suite, profile or data source, which is bad input, not a failure."""
    check = getattr(handle.backend, "check_ids", None)
    if check is None:
        return
    if suite.name not in ctx.suite_ids:
        ids: set[str] = set()
        for p in protocols(ctx.reg, suite.name):
            if p in suite.needs_weights:
                continue  # a log-likelihood protocol: never answered from a file
            ids |= {it.id for it in suite.items(ctx.profile, p, None).items}
        ctx.suite_ids[suite.name] = frozenset(ids)
    check(suite.name, ctx.suite_ids[suite.name])


def _store_outcomes(ctx: Context, outcomes, fp: str, suite: str, protocol: str, ghash: str, run_id: str) -> None:
    """A custom protocol's outcomes: every generation (failures with their reason), and the
    scores of the answered ones only (a failure is never scored), in one transaction."""
    outcomes = list(outcomes)
    ctx.results.add_generations(
        [{"model_fp": fp, "suite": suite, "protocol": protocol, "item_id": o.item_id, "gen_hash": ghash,
          "dataset": o.dataset, "completion": o.completion, "n_tokens": o.n_tokens, "error": o.error,
          "run_id": run_id} for o in outcomes],
        scores=[(fp, suite, protocol, o.item_id, ghash, 0, k, float(v))
                for o in outcomes if not o.error for k, v in o.metrics.items()])


def score_cell(ctx: Context, suite, itemset, fp: str, protocol: str, ghash: str) -> int:
    """Score and judge stored answers that lack scores (re-scoring never regenerates). A failed
    generation is not scored: it has no answer to be right or wrong about."""
    gens = {g["item_id"]: g for g in ctx.results.generations(fp, suite.name, protocol, ghash)}
    have = ctx.results.scored_items(fp, suite.name, protocol, ghash, "scored")
    have -= ctx.results.flagged_items(fp, suite.name, protocol, ghash, "judge_error")  # ask the judge again
    todo = [(it, gens[it.id]) for it in itemset.items
            if it.id in gens and not gens[it.id]["error"] and it.id not in have]
    if not todo:
        return 0
    custom = protocol in suite.custom_protocols
    rows, to_judge = [], []
    for item, g in todo:
        text = g["completion"] or ""
        metrics = {} if custom else suite.score(item, text)  # custom: stored with the outcome by run_protocol
        metrics["n_tokens"] = float(g["n_tokens"] or 0)
        metrics["scored"] = 1.0
        rows += [(fp, suite.name, protocol, item.id, ghash, 0, k, v) for k, v in metrics.items()]
        if suite.judge_kind and not custom:
            to_judge.append((item, text, bool(metrics.get("correct"))))
    rows += judge_rows(ctx, suite, to_judge, fp, protocol, ghash)
    ctx.results.add_scores(rows)
    return len(todo)


def profile_judge(ctx: Context):
    """The profile's judge, one per run (a local judge model loads once)."""
    if ctx._judge is None:
        ctx._judge = get_judge(ctx.profile.judge, ctx.reg.judges[ctx.profile.judge])
    return ctx._judge


def judge_rows(ctx: Context, suite, requests: list[tuple], fp: str, protocol: str, ghash: str) -> list[tuple]:
    """Judge scores for (item, response, correct), from the verdict cache or the profile's judge."""
    if not requests:
        return []
    judge = profile_judge(ctx)
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


def evaluate_model(ctx: Context, model: str, cells: list[tuple[str, str]], limit: Optional[int],
                   run_id: str) -> list[dict]:
    """Every (suite, protocol) cell of one model, in order. Seeded runs re-seed here, per model,
    so a model's sampled generations do not depend on which models ran before it (or beside it,
    under ``--jobs``)."""
    seed = ctx.profile.generation.seed
    if seed is not None:
        seed_everything(seed)
    return [evaluate_cell(ctx, model, s, p, limit, run_id) for s, p in cells]


def seed_everything(seed: int) -> None:
    """Every RNG a run samples from (BFCL's best-of-n, temperature > 0)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def by_model(plan: Plan) -> dict[str, list[tuple[str, str]]]:
    """The plan's cells grouped by model, models and cells in plan order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for m, s, p in plan.evaluate:
        out.setdefault(m, []).append((s, p))
    return out


def run(ctx: Context, plan: Plan, limit: Optional[int], command: str, jobs: int = 1) -> list[dict]:
    """Train what is missing, then evaluate every cell. ``jobs`` > 1 runs independent work (sibling
    trainings, different models' cells) in that many worker processes (harness.scheduler)."""
    run_id = uuid.uuid4().hex[:12]
    ctx.results.start_run(run_id, command, ctx.profile_name, code_version(),
                          {"models": sorted({m for m, _, _ in plan.evaluate}), "limit": limit, "jobs": jobs})
    status = "failed"
    try:
        out = _run_parallel(ctx, plan, limit, run_id, jobs) if jobs > 1 else _run_serial(ctx, plan, limit, run_id)
        status = "incomplete" if any(r["failed"] for r in out) else "ok"
        return out
    finally:
        try:
            ctx.results.finish_run(run_id, status)
        except RunFailed:  # e.g. the disk filled up: the next run marks this one interrupted
            pass


def _run_serial(ctx: Context, plan: Plan, limit: Optional[int], run_id: str) -> list[dict]:
    train_missing(ctx, plan)
    return [r for m, cells in by_model(plan).items() for r in evaluate_model(ctx, m, cells, limit, run_id)]


# -- parallel: the same tasks in worker processes (harness.scheduler) ------------------------------
def _run_parallel(ctx: Context, plan: Plan, limit: Optional[int], run_id: str, jobs: int) -> list[dict]:
    from .scheduler import Task, run_dag

    spec = {"reg": ctx.reg, "profile_name": ctx.profile_name, "profile": ctx.profile, "store_dir": ctx.store_dir,
            "fingerprints": dict(ctx.fingerprints), "gen_hashes": dict(ctx.gen_hashes), "limit": limit,
            "run_id": run_id}
    pending = {j.name for j in plan.train if not j.exists}
    tasks = [Task(f"train {j.name}", (spec, "train", j), f"train {j.parent}" if j.parent in pending else None)
             for j in plan.train if j.name in pending]
    cells = by_model(plan)
    tasks += [Task(f"eval {m}", (spec, "eval", (m, c)), f"train {m}" if m in pending else None) for m, c in cells.items()]
    if len(tasks) < 2:  # nothing runs beside anything: a worker would only add its start-up
        return _run_serial(ctx, plan, limit, run_id)
    done = run_dag(tasks, run_task, jobs)
    for job in plan.train:
        job.exists = job.exists or f"train {job.name}" in done
    ctx.model_calls += sum(r["model_calls"] for r in done.values())
    return [r for m in cells for r in done[f"eval {m}"]["results"]]


_WORKER_CTX: dict = {}  # a worker's Context per (store, profile): its loaded base is reused across tasks


def run_task(spec: dict, kind: str, payload) -> dict:
    """One scheduler task, in a worker process: ``train`` a TrainJob, or ``eval`` (model, cells)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    key = (str(spec["store_dir"]), spec["profile_name"])
    ctx = _WORKER_CTX.get(key)
    if ctx is None:
        ctx = _WORKER_CTX[key] = Context(reg=spec["reg"], profile_name=spec["profile_name"], store_dir=spec["store_dir"])
        ctx.profile = spec["profile"]  # carries --batch-size / --max-new-tokens / --seed
        ctx.fingerprints.update(spec["fingerprints"])
        ctx.gen_hashes.update(spec["gen_hashes"])
    if kind == "train":
        train_one(ctx, payload)
        return {"results": [], "model_calls": 0}
    calls = ctx.model_calls
    model, cells = payload
    results = evaluate_model(ctx, model, cells, spec["limit"], spec["run_id"])
    return {"results": results, "model_calls": ctx.model_calls - calls}


def plan_json(plan: Plan) -> str:
    """``bench plan --json``: what ``bench plan`` prints, GRPO optimizer steps included (``train[].grpo``)."""
    from .plan import grpo_steps

    return json.dumps({"train": [{"name": j.name, "fingerprint": j.fp[:12], "exists": j.exists,
                                  "trainer": j.trainer, "grpo": grpo_steps(j)} for j in plan.train],
                       "evaluate": plan.evaluate}, indent=2)


__all__ = ["Context", "code_version", "resolve", "run", "train_missing", "evaluate_cell", "BadInput"]
