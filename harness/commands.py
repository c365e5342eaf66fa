"""One function per CLI verb; each returns an exit code."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from core.context import Context
from core.errors import BadInput, RunFailed
from core.launch import is_main, launched
from core.progress import LazyConsole
from models import KINDS

from .distributed import relaunch, train_all_ranks as train_launched
from .plan import check_devices, make_plan
from .registry import load_registry, protocols
from .runner import plan_json, resolve, run, train_missing

out = LazyConsole(wide=True)  # made on first print: a closed stdout must not fail the import


STORE_REGISTRY = "registry.yaml"  # the registry a store was last run with (STORE/registry.yaml)
GENERATION_OVERRIDES = ("batch_size", "max_new_tokens", "seed")


def _registry_path(args) -> str:
    """--registry, else ./registry.yaml, else the copy a run left in the store: so `bench report
    --store S` works from any folder."""
    if args.registry:
        return args.registry
    if Path("registry.yaml").is_file():
        return "registry.yaml"
    stored = Path(args.store) / STORE_REGISTRY
    if stored.is_file():
        return str(stored)
    raise BadInput("registry.yaml: registry file not found here or in the store "
                   "(use --registry PATH, or `bench init` for a starter)")


def _ctx(args, profile: str | None = None) -> Context:
    args.registry = _registry_path(args)
    reg = load_registry(args.registry)
    ctx = Context(reg=reg, profile_name=profile or args.profile or reg.default_profile, store_dir=Path(args.store))
    # --batch-size / --max-new-tokens / --seed replace the profile's generation settings for this
    # run only; the generation key is computed from ctx.profile, so it records them
    over = {k: v for k in GENERATION_OVERRIDES if (v := getattr(args, k, None)) is not None}
    if over:
        ctx.profile = ctx.profile.model_copy(update={"generation": ctx.profile.generation.model_copy(update=over)})
    return ctx


def _record_registry(ctx: Context) -> None:
    """Keep a copy of the registry in the store (atomic), for reports made from elsewhere."""
    src = Path(ctx.reg.path)
    dst = ctx.store_dir / STORE_REGISTRY
    if src.resolve() == dst.resolve():
        return
    ctx.store_dir.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    tmp.write_bytes(src.read_bytes())
    tmp.replace(dst)


def store_profiles(store: Path) -> list[str]:
    """The profiles a results store holds cells for (none when it has no database)."""
    if not (store / "bench.sqlite").is_file():
        return []
    from core.results import ResultStore

    rs = ResultStore(store)
    try:
        return [r[0] for r in rs.db.execute("SELECT DISTINCT profile FROM cells ORDER BY profile") if r[0]]
    finally:
        rs.close()


def _profiles_to_read(args) -> list[str]:
    """`bench report` / `bench samples`: --profile when the store holds it, else every profile it holds."""
    store = Path(args.store)
    held = store_profiles(store)
    if not held:
        raise BadInput(f"no results in {store}: run `bench run` first")
    if args.profile:
        if args.profile not in held:
            raise BadInput(f"no results for profile '{args.profile}' in {store} (it holds: {', '.join(held)})")
        return [args.profile]
    known = _ctx(args).reg.profiles
    usable = [p for p in held if p in known]
    if not usable:
        raise BadInput(f"{store} holds results for profile(s) {', '.join(held)}, which {args.registry} does not "
                       "define (use --registry with the registry they were run with)")
    return usable


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
        # escaped: rich would read "[b88c…]" as a markup tag and drop it
        out.print(f"  {'  ' * depth}{'└─ ' if depth else ''}{escape(job.name)} {escape(f'[{job.fp[:12]}]')} {state}"
                  f" {job.trainer or 'base'}{(' ' + '+'.join(job.rewards)) if job.rewards else ''}"
                  f"{_grpo_steps(job)}")
    for m, s, p, why in plan.skipped:
        out.print(f"  [yellow]skipped[/] {m} · {s}/{p}: {why}")
    out.print("[bold]cells[/] (model × suite/protocol):")
    for m, s, p in plan.evaluate:
        fp, ghash = ctx.fingerprints[m], ctx.gen_hashes[(s, p)]
        n = len(ctx.results.done_items(fp, s, p, ghash)) if ctx.store_dir.exists() else 0
        out.print(f"  {m} · {s}/{p}: {n} items stored")
    return 0


def _grpo_steps(job) -> str:
    """A GRPO job's optimizer steps and the batch that gives them (core.batching: the one place)."""
    if job.trainer != "grpo":
        return ""
    from core.batching import grpo_batch, grpo_optimizer_steps, grpo_rows

    rows = grpo_rows(job.hyper, job.profile.data)
    b = grpo_batch(job.hyper)
    cap = f", max_steps {job.hyper['max_steps']}" if job.hyper["max_steps"] > 0 else ""
    return (f" · {grpo_optimizer_steps(job.hyper, rows)} optimizer steps ({rows} rows, "
            f"{b.prompts_per_optimizer_step} prompts × {job.hyper['num_generations']} generations per step, "
            f"batch_size_unit {job.hyper['batch_size_unit']}{cap})")


def cmd_train(args) -> int:
    ctx = _ctx(args)
    ctx.reg.model(args.name)
    plan = make_plan(ctx.reg, ctx.profile_name, [args.name], [], ctx.ckpts)
    check_devices(plan)
    if args.processes > 1 and not launched():
        return relaunch(args, plan)
    _record_registry(ctx)
    built = train_launched(ctx, plan) if launched() else train_missing(ctx, plan)
    if not is_main():  # one report per run, from the process that published
        return 0
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
    check_devices(plan)
    t0 = time.time()
    resolve(ctx, list(ctx.reg.models), suites)
    _record_registry(ctx)
    results = run(ctx, plan, args.limit, " ".join(sys.argv), jobs=_jobs(args, ctx.profile.jobs))
    generated = sum(r["generated"] for r in results)
    failed = sum(r["failed"] for r in results)
    out.print(f"run: {len(results)} cells, {generated} new generations, {ctx.model_calls} model calls, "
              f"{failed} failed, {time.time() - t0:.1f}s")
    from reports.console import print_report

    print_report(ctx, suites, ctx.store_dir / "reports")
    return _incomplete(results)


def _incomplete(results: list[dict]) -> int:
    """Exit 1 when a cell has failed items, ending with one line per such cell: a failure is not
    a result, and a script running `bench run` must not mistake a partial table for a finished
    one. Running the same command again retries exactly the failed items."""
    bad = [r for r in results if r["failed"]]
    if not bad:
        return 0
    out.print(f"[bold red]incomplete[/]: {len(bad)} cell(s) have failed items (not scored, not in any figure); "
              "run the same command again to retry them", highlight=False, soft_wrap=True)
    for r in bad:
        reason = " ".join(str(r["reason"]).split())
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
        out.print(f"incomplete: {r['model']} · {r['suite']}/{r['protocol']}: {r['failed']} failed "
                  f"(first: {reason})", highlight=False, soft_wrap=True, markup=False)
    return 1


def cmd_report(args) -> int:
    from reports.console import parse_formats, print_report

    from .samples import cell_records

    formats = parse_formats(args.format)  # a bad --format is a one-line error before any work
    profiles = _profiles_to_read(args)
    failed: list[dict] = []
    for profile in profiles:
        ctx = _ctx(args, profile)
        suites = [s for s in ctx.reg.suites]
        resolve(ctx, list(ctx.reg.models), suites)
        ctx.samples = lambda cells, ctx=ctx: list(cell_records(ctx, cells))  # the HTML sample browser
        base = Path(args.out) if args.out else ctx.store_dir / "reports"
        if len(profiles) > 1:
            out.print(f"[bold]profile {profile}[/]")
        written = print_report(ctx, suites, base / profile if len(profiles) > 1 else base,
                               formats=formats, thesis=args.thesis)
        if not written:
            raise RunFailed(f"no results for profile '{ctx.profile_name}' in {ctx.store_dir} "
                            "for the registry's current models")
        failed += _stored_failures(ctx)
    return _incomplete(failed)


def _stored_failures(ctx: Context) -> list[dict]:
    """The report's cells that hold failed items, in the shape ``_incomplete`` prints."""
    rows = ctx.results.frame("SELECT DISTINCT model, model_fp, suite, protocol, gen_hash FROM cells WHERE profile=?",
                             (ctx.profile_name,))
    out_ = []
    for r in rows.itertuples():
        current = ctx.fingerprints.get(r.model) == r.model_fp and ctx.gen_hashes.get((r.suite, r.protocol)) == r.gen_hash
        failures = ctx.results.failures(r.model_fp, r.suite, r.protocol, r.gen_hash) if current else {}
        if failures:
            out_.append({"model": r.model, "suite": r.suite, "protocol": r.protocol, "failed": len(failures),
                         "reason": next(iter(failures.values()))})
    return out_


def cmd_samples(args) -> int:
    from .samples import cell_records, select_cells, write_jsonl

    n = 0
    for profile in _profiles_to_read(args):
        ctx = _ctx(args, profile)
        resolve(ctx, list(ctx.reg.models), list(ctx.reg.suites))
        cells = select_cells(ctx, args.models, args.suite, args.protocol)
        records = cell_records(ctx, cells)
        if args.status:
            records = (r for r in records if r["status"] in args.status)
        n += write_jsonl(records, args.out)
    if args.out and args.out != "-":
        print(f"bench samples: {n} records -> {args.out}", file=sys.stderr)
    return 0


def cmd_init(args) -> int:
    from .init import write_starter

    path = write_starter(Path(args.path), force=args.force)
    out.print(f"wrote {path} (edit it, then: bench models)", highlight=False)
    return 0


def _jobs(args, profile_jobs) -> int:
    """--jobs, else $BENCH_JOBS, else the profile's ``jobs``: a whole number >= 1, or auto
    (scheduler.default_jobs)."""
    raw = str(getattr(args, "jobs", None) or os.environ.get("BENCH_JOBS") or profile_jobs).strip().lower()
    if raw == "auto":
        from core.device import device

        from .scheduler import default_jobs

        return default_jobs(device())
    if not raw.isdigit() or int(raw) < 1:
        raise BadInput(f"--jobs must be a whole number >= 1 or 'auto' (got '{raw}')")
    return int(raw)


def cmd_chat(args) -> int:
    from .chat import chat

    return chat(_ctx(args), args.name, once=args.once)


def cmd_perf(args) -> int:
    """Exit 1 when a measurement FAILED (a side did not run): a missed target is a result, a
    measurement that did not happen is not."""
    from .perf.suite import KEYS, run_perf, to_json

    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    unknown = sorted(set(only or ()) - set(KEYS))
    if unknown:
        raise BadInput(f"bench perf --only: unknown measurement {', '.join(unknown)} (one of {', '.join(KEYS)})")
    ctx = _ctx(args)
    results = run_perf(ctx, args.registry, quick=args.quick, only=only)
    if args.json:
        print(to_json(results))
    else:
        from .perf.report import table

        from core.device import deterministic

        out.print(table(results, f"bench perf (profile {ctx.profile_name}{', quick' if args.quick else ''}, "
                                 f"determinism {deterministic()})"))
    failed = [m.name for m in results if m.status == "FAILED"]
    if failed:
        print(f"bench perf: {len(failed)} measurement(s) did not run: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_reproduce(args) -> int:
    """Exit 0 and say "reproduced" when the fingerprints and every figure equal one published
    machine's set, else list the differences and exit 1. ``--write`` publishes this run's
    figures as this machine type's set instead (``reports.reproduce``)."""
    import json

    from core.device import machine
    from reports.reproduce import compare, load, publish

    def read(path: Path, missing: str, garbled: str) -> dict:
        if not path.is_file():
            raise BadInput(f"{path}: {missing}")
        try:
            return load(path)
        except (ValueError, UnicodeDecodeError):
            raise BadInput(f"{path}: {garbled}") from None

    report = Path(args.report) if args.report else Path(args.store) / "reports" / "report.json"
    doc = read(report, "no report to compare (run `bench report --format json` first)", "not a report.json")
    expected, here = Path(args.expected), machine()
    garbled = "not a snapshot written by `bench reproduce --write`"
    if args.write:
        before = read(expected, "", garbled) if expected.is_file() else None
        snap, kept, dropped = publish(before, doc, here)
        expected.parent.mkdir(parents=True, exist_ok=True)
        tmp = expected.with_name(expected.name + ".part")
        tmp.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(expected)
        out.print(f"published {len(snap['machines'][-1]['figures'])} figures from {here} -> {expected}",
                  highlight=False)
        for m in kept:
            out.print(f"  kept the figures published from {m} (same fingerprints)", highlight=False)
        for m in dropped:
            out.print(f"  dropped the figures published from {m} (other fingerprints)", highlight=False)
        return 0
    published = read(expected, "no published snapshot (write one with --write)", garbled)
    verdict = compare(published, doc, here)
    source = f"{expected}, published from {verdict.against['machine']} at {verdict.against.get('code_version')}"
    if verdict.reproduced:
        out.print(f"reproduced: all {len(verdict.against.get('figures', {}))} figures and "
                  f"{len(published.get('fingerprints', {}))} fingerprints equal {source}", highlight=False)
        return 0
    out.print(f"[bold red]not reproduced[/]: {len(verdict.differences)} difference(s) from {source}:", highlight=False)
    for d in verdict.differences[:50]:
        out.print(f"  {d}", highlight=False, markup=False)
    if len(verdict.differences) > 50:
        out.print(f"  ... and {len(verdict.differences) - 50} more", highlight=False)
    if not verdict.machine_published:
        out.print(f"no figures were published from a machine like this one ({here}); float kernels differ "
                  "across CPU types, so figures published elsewhere need not hold here. With the same "
                  "fingerprints, `bench reproduce --write` adds this machine's", highlight=False, markup=False)
    return 1
