"""One function per CLI verb; each returns an exit code."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .errors import BadInput, NotBuilt, RunFailed
from .fingerprint import fingerprint
from .plan import make_plan
from .registry import load_registry
from .runner import Context, plan_json, run, train_missing

out = Console(width=None if sys.stdout.isatty() else 200)


def _ctx(args) -> Context:
    reg = load_registry(args.registry)
    return Context(reg=reg, profile_name=args.profile or reg.default_profile, store_dir=Path(args.store))


def _suites(ctx: Context, spec: str, explicit_error: bool = True) -> list[str]:
    from benchmarks import SUITES

    names = ctx.reg.resolve_suites(spec)
    ready = [n for n in names if SUITES[n]["module"] is not None]
    for n in set(names) - set(ready):
        if spec != "all":
            raise NotBuilt(f"suite '{n}' is listed in the registry but not built in this version")
        out.print(f"[yellow]skip[/] suite {n}: not built in this version")
    return ready


def _with_references(ctx: Context, models: list[str], suites: list[str]) -> list[str]:
    """Efficiency compares with the suite's reference model: evaluate it too."""
    extra = [ctx.reg.suites[s].reference for s in suites if ctx.reg.suites[s].reference]
    return models + [r for r in dict.fromkeys(extra) if r not in models]


def cmd_models(args) -> int:
    ctx = _ctx(args)
    t = Table(title=f"models (profile {ctx.profile_name})", title_justify="left")
    for col in ("name", "kind", "parent", "trainer / rewards", "fingerprint", "checkpoint"):
        t.add_column(col)
    for name, m in ctx.reg.models.items():
        fp = fingerprint(ctx.reg, ctx.profile, name)
        why = ctx.reg.buildable(name)
        if why:
            status = f"[red]refused[/] ({why})"
        elif m.kind in ("hf", "replay") or (m.kind == "base" and ctx.profile.base.kind != "tiny"):
            status = "external"
        else:
            status = "[green]built[/]" if ctx.ckpts.exists(name, fp) else "missing (trained on demand)"
        what = f"{m.trainer or ''} {'+'.join(m.rewards)}".strip() if m.kind == "trained" else m.path or ""
        t.add_row(name, m.kind, m.parent or "", what, fp[:12], status)
    out.print(t)
    return 0


def cmd_suites(args) -> int:
    from benchmarks import SUITES

    ctx = _ctx(args)
    t = Table(title=f"suites (profile {ctx.profile_name}, data source: {ctx.profile.data.source})",
              title_justify="left")
    for col in ("suite", "protocols", "reference", "status", "description"):
        t.add_column(col)
    for name, s in ctx.reg.suites.items():
        status = "ready" if SUITES[name]["module"] else "[red]not built in this version[/]"
        t.add_row(name, ", ".join(s.protocols), s.reference or "", status, s.description)
    out.print(t)
    return 0


def cmd_plan(args) -> int:
    ctx = _ctx(args)
    models = ctx.reg.resolve_models(args.models)
    suites = _suites(ctx, args.suite)
    plan = make_plan(ctx.reg, ctx.profile_name, _with_references(ctx, models, suites), suites, ctx.ckpts)
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
    for name, why in plan.refused.items():
        out.print(f"  [red]refused[/] {name}: {why}")
    for m, s, p, why in plan.skipped:
        out.print(f"  [yellow]skipped[/] {m} · {s}/{p}: {why}")
    out.print("[bold]cells[/] (model × suite/protocol):")
    for m, s, p in plan.evaluate:
        fp = fingerprint(ctx.reg, ctx.profile, m)
        n = sum(1 for _ in ctx.results.done_items(fp, s, p, _ghash(ctx, s, p))) if ctx.store_dir.exists() else 0
        out.print(f"  {m} · {s}/{p}: {n} items stored")
    return 0


def _ghash(ctx, suite, protocol):
    from .fingerprint import digest
    from .runner import gen_config

    return digest(gen_config(ctx, suite, protocol))[:16]


def cmd_train(args) -> int:
    ctx = _ctx(args)
    ctx.reg.model(args.name)
    plan = make_plan(ctx.reg, ctx.profile_name, [args.name], [], ctx.ckpts)
    if args.name in plan.refused:
        raise NotBuilt(f"cannot train '{args.name}': {plan.refused[args.name]}")
    built = train_missing(ctx, plan)
    job = plan.train[-1]
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
    for name, why in plan.refused.items():
        if args.models != "all":
            raise NotBuilt(f"cannot run '{name}': {why}")
        out.print(f"[yellow]skip[/] {name}: {why}")
    t0 = time.time()
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
