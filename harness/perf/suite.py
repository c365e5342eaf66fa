"""The perf measurements. Each returns a Measurement(name, ratio, target, passed, detail)."""
from __future__ import annotations

import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from harness.plan import make_plan
from core.context import Context
from harness.runner import model_handle, train_missing

from .hardware import Hardware, against_bound, bound_fraction
from .measure import Measurement, _items, _timed, failed, guarded, last_line, new_tokens


def generation_batching(ctx: Context, hw: Hardware, n: int, max_new: int) -> Measurement:
    """Batched, length-bucketed generation vs. a per-item loop (the thesis's evaluation style)."""
    handle = model_handle(ctx, "sft")
    prompts = [it.prompt for it in _items(ctx, n)]
    bs = ctx.profile.generation.batch_size
    handle.generate(prompts[:2], 4, 2, label="warm-up")
    t_batch, out = _timed(lambda: handle.generate(prompts, max_new, bs, label="batched"))
    some = _loop(handle, prompts[: max(4, n // 4)], max_new)
    t_loop, loop_out = _timed(lambda: [handle.generate([p], max_new, 1, label="per-item")[0] for p in some])
    loop_rate = against_bound(hw, handle.hf()[0], 1, new_tokens(loop_out), t_loop)
    t_loop *= len(prompts) / len(some)  # the loop is linear in items: time a part of them
    ratio = t_loop / t_batch
    return Measurement("generation: batched vs per-item loop", ratio, ">= 10x", ratio >= 10,
                       f"{n} items, {max_new} new tokens, batch {bs}: {t_batch:.2f}s vs {t_loop:.2f}s (extrapolated); "
                       f"batched {against_bound(hw, handle.hf()[0], bs, new_tokens(out), t_batch)}; "
                       f"per-item {loop_rate}")


def _loop(handle, prompts: list, max_new: int, budget_s: float = 20.0) -> list:
    """The items the per-item loop times: a quarter of them, fewer where one item takes long
    (a 1.4B model at ~20 ms a token), so `bench perf --profile gpu` stays within minutes."""
    t, _ = _timed(lambda: handle.generate(prompts[:1], max_new, 1, label="per-item probe"))
    return prompts[: max(4, min(len(prompts), int(budget_s / max(t, 1e-3))))]


def decode_paths(ctx: Context, hw: Hardware, n: int, max_new: int, rounds: int = 5) -> Measurement:
    """The hf backend's decode loops side by side, same prompts (mixed lengths), greedy, same adapter:
    today's padded batches through HF ``generate`` (dynamic KV cache), the ``fast`` loop
    (``core.fast_decode``: finished rows dropped, one prefill per prompt, reserved KV
    cache), ``generate`` with a static KV cache, and transformers' continuous batching (``hf_paged``).

    Padded and fast alternate for ``rounds`` rounds and each keeps its best time (``_decode_clock``):
    the machine is shared, and the minimum is the run least disturbed by others. The ratio is padded
    over the fastest other path; the line names it, the loop the hf backend runs here by default, and how
    many completions each path has identical to padded (the default must be faster *and* identical)."""
    from models.backends.hf import HFBackend
    from models.backends.hf_paged import HFPagedBackend

    adapter = model_handle(ctx, "sft").adapter
    prompts = [it.prompt for it in _items(ctx, n)]
    bs = ctx.profile.generation.batch_size
    times: dict[str, float] = {}
    outs: dict[str, list] = {}
    hf = HFBackend(ctx.profile.base, _base_path(ctx))
    default_loop = hf.loop
    hf.use(adapter, key="sft")
    model = hf.model
    gen_cfg = (model.get_base_model() if hasattr(model, "get_base_model") else model).generation_config

    clock, clock_name = _decode_clock(hf.device)

    def timed(path: str, loop: str, cache=None) -> None:
        hf.loop, gen_cfg.cache_implementation = loop, cache
        hf.generate(prompts[:2], 4, 2, label="warm-up")
        t0 = clock()
        out = hf.generate(prompts, max_new, bs, label=path)
        t = clock() - t0
        times[path] = min(t, times.get(path, t))
        if outs.setdefault(path, out) != out:  # greedy is deterministic: a second round must repeat the first
            raise RuntimeError(f"{path}: greedy completions changed between rounds")

    for _ in range(rounds):
        timed("padded", "generate")
        timed("fast", "fast")
    timed("static cache", "generate", "static")
    gen_cfg.cache_implementation = None
    hf = model = None  # one loaded copy at a time (a 1.4B fp32 base is 5.6 GB)
    paged = HFPagedBackend(ctx.profile.base, _base_path(ctx), loop="generate")
    paged.use(adapter, key="sft")
    paged.generate(prompts[:2], 4, 2, label="warm-up")
    t0 = clock()
    outs["continuous"] = paged.generate(prompts, max_new, bs, label="continuous")
    times["continuous"] = clock() - t0
    others = {k: t for k, t in times.items() if k != "padded"}
    best = min(others, key=others.get)
    ratio = times["padded"] / others[best]
    same = {k: sum(tuple(a) == tuple(b) for a, b in zip(outs["padded"], o)) for k, o in outs.items() if k != "padded"}
    detail = "; ".join(f"{k} {t:.2f}s ({against_bound(hw, paged.model, bs, new_tokens(outs[k]), t)})"
                       for k, t in times.items())
    ran = {"fast": "fast", "generate": "padded"}[default_loop]
    paths = Measurement("generation: faster hf path vs padded batches", ratio, ">= 1.3x", ratio >= 1.3,
                        f"{n} items, {max_new} new tokens, prompts {_lengths(paged.tok, prompts)} tokens, "
                        f"{clock_name}, best of {rounds} for padded and fast: {detail}; identical to padded: "
                        f"{', '.join(f'{k} {v}/{n}' for k, v in same.items())}; fastest here: {best}; "
                        f"hf backend default here: {ran} (loop '{default_loop}')")
    return [paths, _decode_vs_bound(hw, paged.model, bs, outs, times)]


def _decode_vs_bound(hw: Hardware, model, bs: int, outs: dict, times: dict) -> Measurement:
    """The best in-process path's new tokens/s as a fraction of the device's decode bound. The 25%
    target is a GPU's: on a CPU a model this small is bound by per-step overhead, so it is a figure."""
    fracs = {k: bound_fraction(hw, model, bs, new_tokens(outs[k]), t)[2] for k, t in times.items()}
    best = max(fracs, key=fracs.get)
    gpu = hw.device.startswith("cuda")
    return Measurement("generation: best hf path vs the decode bound", 100 * fracs[best],
                       ">= 25%" if gpu else "figure", fracs[best] >= 0.25 or not gpu,
                       f"% of the bound, {best} path; "
                       + ", ".join(f"{k} {100 * f:.1f}%" for k, f in fracs.items()))


def _decode_clock(device: str):
    """(clock, its name) for decode_paths: on a CPU with one torch thread, this process's CPU time
    (what the loops cost, without the waits a shared machine adds: the paths alternate, but a
    neighbour's burst still lands on one of them); wall time otherwise (GPU work, several threads)."""
    import time

    import torch

    if str(device).startswith("cpu") and torch.get_num_threads() == 1:
        return time.process_time, "process CPU time (1 thread)"
    return time.perf_counter, "wall time"


def _lengths(tok, prompts: list) -> str:
    """'min-max' prompt lengths in tokens: how mixed the measured prompts are."""
    from core.modeling import prompt_ids

    lens = [len(prompt_ids(tok, p)) for p in prompts]
    return f"{min(lens)}-{max(lens)}" if lens else "0"


def vllm_vs_hf(ctx: Context, hw: Hardware, n: int, max_new: int) -> Measurement:
    """The vLLM server (its own venv; started here, stopped after) vs the hf backend, same prompts,
    greedy, same adapter. A figure: no target (the issue asks for it reported)."""
    from models.backends.vllm import VLLMBackend

    name = "generation: vLLM server vs hf backend"
    handle = model_handle(ctx, "sft")
    prompts = [it.prompt for it in _items(ctx, n)]
    bs = ctx.profile.generation.batch_size
    gen = ctx.profile.generation
    engine = VLLMBackend(ctx.profile.base, _base_path(ctx), gen.tensor_parallel_size, gen.server_url)
    try:
        engine.use(handle.adapter, key=handle.fingerprint)
        t_start, _ = _timed(engine.ensure_server)
        engine.generate(prompts[:2], 4, 2, label="warm-up vllm")
        t_v, out_v = _timed(lambda: engine.generate(prompts, max_new, bs, label="vllm"))
    finally:
        engine.close()
    errors = [r.error for r in out_v if getattr(r, "error", None)]
    if errors:
        return failed(name, "figure", f"{len(errors)}/{n} vLLM requests failed: {errors[0]}")
    handle.generate(prompts[:2], 4, 2, label="warm-up")
    t_h, out_h = _timed(lambda: handle.generate(prompts, max_new, bs, label="hf"))
    same = sum(tuple(a) == tuple(b) for a, b in zip(out_h, out_v))
    model = handle.hf()[0]
    return Measurement(name, t_h / t_v, "figure", True,
                       f"{n} items, {max_new} new tokens: vllm {t_v:.2f}s ({against_bound(hw, model, bs, new_tokens(out_v), t_v)}) "
                       f"vs hf {t_h:.2f}s ({against_bound(hw, model, bs, new_tokens(out_h), t_h)}); "
                       f"{same}/{n} completions identical; server start {t_start:.0f}s (not counted)")


def lora_swapping(ctx: Context, n: int, max_new: int, k: int = 4) -> Measurement:
    """K LoRA variants of one base: one loaded base + adapter switching vs. loading each from disk."""
    from models.backends.hf import HFBackend

    handle = model_handle(ctx, "sft")
    prompts = [it.prompt for it in _items(ctx, n)]
    bs = ctx.profile.generation.batch_size
    tmp = Path(tempfile.mkdtemp(prefix="perf-lora-"))
    adapters = []
    for i in range(k):  # K distinct adapters: copies of the SFT adapter (same size and shape)
        dst = tmp / f"variant{i}"
        shutil.copytree(handle.adapter, dst)
        adapters.append(dst)
    base_spec, base_path = ctx.profile.base, _base_path(ctx)

    def shared():
        backend = HFBackend(base_spec, base_path)
        for a in adapters:
            backend.use(a, key=str(a))
            backend.generate(prompts, max_new, bs, label=f"shared {a.name}")

    def from_disk():
        for a in adapters:
            backend = HFBackend(base_spec, base_path)
            backend.use(a, key=str(a))
            backend.generate(prompts, max_new, bs, label=f"disk {a.name}")
            del backend

    t_disk, _ = _timed(from_disk)
    t_shared, _ = _timed(shared)
    shutil.rmtree(tmp, ignore_errors=True)
    ratio = t_disk / t_shared
    return Measurement(f"{k} LoRA variants: shared base vs load each", ratio, ">= 1.5x", ratio >= 1.5,
                       f"{n} items each: {t_shared:.2f}s vs {t_disk:.2f}s")


def _base_path(ctx: Context):
    from models import fingerprint

    base = ctx.reg.lineage("sft")[0]
    return ctx.ckpts.path(base, fingerprint(ctx.reg, ctx.profile, base)) if ctx.profile.base.kind == "tiny" else None


def cached_run(ctx: Context, registry: str) -> Measurement:
    """A fully cached `bench run`: wall time and model calls (everything already in the store)."""
    cmd = [sys.executable, "-m", "harness.cli", "run", "--models", "sft", "--suite", "indomain", "--profile",
           ctx.profile_name, "--store", str(ctx.store_dir), "--registry", registry]
    env = {**os.environ, "BENCH_QUIET": "1"}
    subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)  # fill the cache
    t, r = _timed(lambda: subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL))
    name, target = "fully cached bench run (wall s)", "0 model calls and <= 3 s"
    if r.returncode != 0:
        return failed(name, target, f"bench run exited {r.returncode}: {last_line(r.stderr)}")
    calls = next((int(w) for line in r.stdout.splitlines() if "model calls" in line
                  for w, nxt in zip(line.split(), line.split()[1:]) if nxt == "model"), -1)
    ok = calls == 0 and t <= 3.0
    return Measurement(name, t, target, ok, f"{calls} model calls, exit {r.returncode}")


def grpo_overhead(ctx: Context, steps: int) -> Measurement:
    """GRPO step time with the Hybrid reward vs. GRPO-1K-def, same model, batch and seed."""
    from harness.plan import TrainJob

    times = {}
    for name in ("grpo-1k-def", "grpo-hybrid"):
        plan = make_plan(ctx.reg, ctx.profile_name, [name], [], ctx.ckpts)
        job: TrainJob = plan.train[-1]
        job.hyper = {**job.hyper, "max_steps": steps, "save_steps": 0}
        out = Path(tempfile.mkdtemp(prefix="perf-grpo-"))
        from trainers.grpo import train

        metrics = train(job, out)
        step_times = [h["step_time"] for h in metrics["log_history"] if "step_time" in h]
        times[name] = statistics.median(step_times[1:] or step_times)  # first step warms caches; median: noise
        shutil.rmtree(out, ignore_errors=True)
    ratio = times["grpo-hybrid"] / times["grpo-1k-def"]
    return Measurement("GRPO step time: hybrid vs 1k-def", ratio, "<= 1.15x", ratio <= 1.15,
                       f"{steps} steps: {times['grpo-hybrid']:.3f}s vs {times['grpo-1k-def']:.3f}s per step")


def memory_and_store(ctx: Context) -> Measurement:
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db = ctx.store_dir / "bench.sqlite"
    n = ctx.results.db.execute("SELECT count(*) FROM generations").fetchone()[0]
    size = sum(p.stat().st_size for p in ctx.store_dir.glob("bench.sqlite*"))
    per_item = size / max(1, n)
    return Measurement("peak RSS (MB) of this run; store bytes/item", peak_mb, "informational", True,
                       f"{per_item:.0f} bytes per stored generation ({n} generations, {db})")


#: `bench perf --only KEY,...`: each measurement's short key (in the order they run)
KEYS = ("batching", "decode", "rollouts", "lm-eval", "lm-eval-wall", "lora", "vllm", "jobs", "pretrain", "allocator",
        "cached", "grpo", "memory")


def run_perf(ctx: Context, registry: str, quick: bool, only: Optional[list[str]] = None) -> list[Measurement]:
    """Every measurement (``only``: those keys), each guarded: one that raises is its FAILED line."""
    plan = make_plan(ctx.reg, ctx.profile_name, ["sft"], [], ctx.ckpts)
    train_missing(ctx, plan)
    n, max_new = (16, 24) if quick else (128, ctx.profile.generation.max_new_tokens)
    from core.device import deterministic, device, dtype, machine

    from .hardware import probe
    from .lm_eval_compare import generation_vs_lm_eval, wall_vs_lm_eval
    from .parallel import jobs_vs_serial
    from .allocator import allocator
    from .rollouts import rollout_paths
    from .threads import pretrain_threads

    dev = device()
    hw = probe(dev, dtype(dev))
    steps = [
        ("batching", "generation: batched vs per-item loop", ">= 10x", lambda: generation_batching(ctx, hw, n, max_new)),
        ("decode", "generation: faster hf path vs padded batches", ">= 1.3x", lambda: decode_paths(ctx, hw, n, max_new)),
        ("rollouts", "GRPO rollouts: fast loop vs generate", ">= 1.2x and identical", lambda: rollout_paths(ctx, hw)),
        ("lm-eval", "generation: hf backend vs lm-eval hf", ">= 1.0x", lambda: generation_vs_lm_eval(ctx, hw, n, max_new)),
        ("lm-eval-wall", "whole command: bench run vs lm_eval", ">= 2x",
         lambda: wall_vs_lm_eval(ctx, registry, n if quick else 200, max_new)),
        ("lora", "4 LoRA variants: shared base vs load each", ">= 1.5x", lambda: lora_swapping(ctx, n if quick else 32, max_new)),
        # starting a vLLM server takes 30-60 s here; four trainings twice, minutes: the full run only
        ("vllm", "generation: vLLM server vs hf backend", "figure", lambda: vllm_vs_hf(ctx, hw, n, max_new)),
        ("jobs", "bench run: --jobs auto vs --jobs 1", ">= 1.3x", lambda: jobs_vs_serial(ctx, registry)),
        ("pretrain", "tiny base pretraining: every core vs one thread", ">= 1.1x and identical",
         lambda: pretrain_threads(ctx, 20 if quick else 100)),
        ("allocator", "evaluation: tuned heap vs glibc's defaults", ">= 1.05x", lambda: allocator(ctx, registry)),
        ("cached", "fully cached bench run (wall s)", "0 model calls and <= 3 s", lambda: cached_run(ctx, registry)),
        ("grpo", "GRPO step time: hybrid vs 1k-def", "<= 1.15x", lambda: grpo_overhead(ctx, 3 if quick else 10)),
        ("memory", "peak RSS (MB) of this run; store bytes/item", "informational", lambda: memory_and_store(ctx)),
    ]
    assert [key for key, *_ in steps] == list(KEYS), "KEYS names every step, in order"
    wanted = set(only) if only else {k for k in KEYS if not (quick and k in ("vllm", "jobs"))}
    results: list[Measurement] = []
    for key, name, target, fn in steps:
        if key in wanted:
            got = guarded(name, target, fn)
            results += got if isinstance(got, list) else [got]
    # a figure is read with the switches it ran under: strict determinism costs a GPU ~20% (docs/reproducibility.md)
    results.append(Measurement("device probes (same process)", hw.bandwidth / 1e9, "informational", True,
                               f"GB/s; {hw.describe()}; determinism {deterministic()}; {machine()}"))
    return results


def to_json(results: list[Measurement]) -> str:
    return json.dumps([m.as_dict() for m in results], indent=2)
