"""One function per CLI verb; each returns an exit code."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.table import Table

from core.context import Context
from core.errors import BadInput, NotBuilt, RunFailed
from core.progress import LazyConsole
from models import KINDS

from .plan import make_plan
from .registry import load_registry, protocols
from .runner import plan_json, resolve, run, train_missing

out = LazyConsole(wide=True)  # made on first print: a closed stdout must not fail the import


def _ctx(args) -> Context:
    reg = load_registry(args.registry)
    return Context(reg=reg, profile_name=args.profile or reg.default_profile, store_dir=Path(args.store))


def _suites(ctx: Context, spec: str) -> list[str]:
    return ctx.reg.resolve_suites(spec)  # every registry suite is known (checked at load)


def _with_references(ctx: Context, models: list[str], suites: list[str]) -> list[str]:
    """Efficiency compares with the suite's reference model: evaluate it too."""
    extra = [ctx.reg.suites[s].reference for s in suites if ctx.reg.suites[s].reference]
    return models + [r for r in dict.fromkeys(extra) if r not in models]


def cmd_models(args) -> int:
    ctx = _ctx(args)
    t = Table(title=f"models (profile {ctx.profile_name})", title_justify="left")
    for col in ("name", "kind", "parent", "trainer / rewards", "fingerprint", "checkpoint"):
        t.add_column(col)
    resolve(ctx, suites=[])
    for name, m in ctx.reg.models.items():
        fp = ctx.fingerprints[name]
        status = KINDS.get(m.kind).status(ctx, name, fp)
        trainer = KINDS.get(m.kind).trainer(m)
        what = f"{trainer} {'+'.join(m.rewards)}".strip() if trainer else m.path or m.model or ""
        t.add_row(name, m.kind, m.parent or "", what, fp[:12], status)
    out.print(t)
    return 0


def cmd_suites(args) -> int:
    ctx = _ctx(args)
    t = Table(title=f"suites (profile {ctx.profile_name}, data source: {ctx.profile.data.source})",
              title_justify="left")
    for col in ("suite", "protocols", "reference", "status", "description"):
        t.add_column(col)
    for name, s in ctx.reg.suites.items():
        t.add_row(name, ", ".join(protocols(ctx.reg, name)), s.reference or "", "ready", s.description)
    out.print(t)
    return 0


def cmd_plan(args) -> int:
    ctx = _ctx(args)
    models = ctx.reg.resolve_models(args.models)
    suites = _suites(ctx, args.suite)
    plan = make_plan(ctx.reg, ctx.profile_name, _with_references(ctx, models, suites), suites, ctx.ckpts)
    resolve(ctx, [m for m, _, _ in plan.evaluate], suites)
    if args.json:
        print(plan_json(plan))
        return 0
    out.print(f"[bold]plan[/] profile={ctx.profile_name} store={ctx.store_dir}")
    out.print("[bold]checkpoints[/] (parents first):")
    for job in plan.train:
        depth = len(ctx.reg.lineage(job.name)) - 1
        state = "[green]exists[/]" if job.exists else "[yellow]would train[/]"
        out.print(f"  {'  ' * depth}{'└─ ' if depth else ''}{job.name} [{job.fp[:12]}] {state}"
                  f" {job.trainer or 'base'}{(' ' + '+'.join(job.rewards)) if job.rewards else ''}")
    for m, s, p, why in plan.skipped:
        out.print(f"  [yellow]skipped[/] {m} · {s}/{p}: {why}")
    out.print("[bold]cells[/] (model × suite/protocol):")
    for m, s, p in plan.evaluate:
        fp, ghash = ctx.fingerprints[m], ctx.gen_hashes[(s, p)]
        n = len(ctx.results.done_items(fp, s, p, ghash)) if ctx.store_dir.exists() else 0
        out.print(f"  {m} · {s}/{p}: {n} items stored")
    return 0


def cmd_train(args) -> int:
    ctx = _ctx(args)
    ctx.reg.model(args.name)
    plan = make_plan(ctx.reg, ctx.profile_name, [args.name], [], ctx.ckpts)
    built = train_missing(ctx, plan)
    job = next((j for j in plan.train if j.name == args.name), None)
    if job is None:
        out.print(f"{args.name}: nothing to train (a '{ctx.reg.models[args.name].kind}' model is not built here)")
        return 0
    out.print(f"{args.name}: {'trained' if args.name in built else 'already built'} -> "
              f"{ctx.ckpts.path(job.name, job.fp)}")
    return 0


def cmd_run(args) -> int:
    if args.limit is not None and args.limit < 1:
        raise BadInput("--limit must be a positive number")
    ctx = _ctx(args)
    models = ctx.reg.resolve_models(args.models)
    suites = _suites(ctx, args.suite)
    plan = make_plan(ctx.reg, ctx.profile_name, _with_references(ctx, models, suites), suites, ctx.ckpts)
    t0 = time.time()
    resolve(ctx, list(ctx.reg.models), suites)
    results = run(ctx, plan, args.limit, " ".join(sys.argv))
    generated = sum(r["generated"] for r in results)
    out.print(f"run: {len(results)} cells, {generated} new generations, {ctx.model_calls} model calls, "
              f"{time.time() - t0:.1f}s")
    from reports.console import print_report

    print_report(ctx, suites, ctx.store_dir / "reports")
    return 0


def cmd_report(args) -> int:
    from reports.console import parse_formats, print_report

    formats = parse_formats(args.format)  # a bad --format is a one-line error before any work
    ctx = _ctx(args)
    if not (ctx.store_dir / "bench.sqlite").exists():
        raise BadInput(f"no results in {ctx.store_dir}: run `bench run` first")
    suites = [s for s in ctx.reg.suites]
    resolve(ctx, list(ctx.reg.models), suites)
    written = print_report(ctx, suites, Path(args.out) if args.out else ctx.store_dir / "reports",
                           formats=formats, thesis=args.thesis)
    if not written:
        raise RunFailed(f"no results for profile '{ctx.profile_name}' in {ctx.store_dir}")
    return 0


def cmd_chat(args) -> int:
    from .chat import chat

    return chat(_ctx(args), args.name, once=args.once)


def cmd_perf(args) -> int:
    from .perf.suite import run_perf, to_json

    ctx = _ctx(args)
    results = run_perf(ctx, args.registry, quick=args.quick)
    if args.json:
        print(to_json(results))
        return 0
    t = Table(title=f"bench perf (profile {ctx.profile_name}{', quick' if args.quick else ''})", title_justify="left")
    for col in ("measurement", "value", "target", "result", "detail"):
        t.add_column(col)
    for m in results:
        t.add_row(m.name, f"{m.value:.2f}", m.target, "[green]PASS[/]" if m.passed else "[red]FAIL[/]", m.detail)
    out.print(t)
    return 0
