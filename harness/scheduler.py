"""Independent work in N worker processes (`bench run --jobs N`), on CPU machines.

Why processes: the tiny profile's models are so small that a second intra-op thread barely
speeds a step up (the work per kernel is too small to split), while two processes keep two
cores busy — on a 2-core machine the demo's sibling trainings and its per-model evaluations
run nearly twice as fast. Each worker runs single-purpose tasks:

- ``train NAME``: build one checkpoint; it starts only once its parent is in the store;
- ``eval MODEL``: every cell of one model, in plan order; it starts once the model (and hence
  its ancestors) is built.

Figures do not depend on N: every task is what the serial run does for that checkpoint or that
model, with the same per-process thread count (``threads_per_job``), and seeded sampling is
re-seeded per model (``runner.evaluate_model``). A worker keeps its loaded base between tasks,
as the serial run does. The first task that raises stops the run: nothing new is started, the
running tasks finish, and the error is raised here (as the serial run would raise it).

This module only schedules (a DAG of named tasks over a process pool); what a task does is the
runner's (``harness.runner.run_task``), which passes its own function in.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Optional

from core.progress import PROGRESS_ENV, console


def default_jobs(device: str) -> int:
    """``--jobs auto``: one process on a GPU (it is one device, and the models there are large);
    on a CPU one process per core, up to 4 (beyond that a tiny model's tasks are too few)."""
    from core.device import cores

    if not device.startswith("cpu"):
        return 1
    return max(1, min(4, cores()))


def threads_per_job(jobs: int) -> int:
    """Intra-op threads for each worker: the serial policy's count (core.device.cpu_threads)
    shared among the workers, at least one. On 2 cores both give 1 thread, so ``--jobs 2`` and
    ``--jobs 1`` compute the same floating-point reductions; pin GRPO_BENCH_THREADS to keep them
    equal on any machine."""
    from core.device import THREADS_ENV, cpu_threads

    if os.environ.get(THREADS_ENV, "").strip():
        return cpu_threads()
    return max(1, cpu_threads() // jobs)


def _init_worker(threads: int) -> None:
    from core.device import configure_allocator

    configure_allocator()
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ[PROGRESS_ENV] = "lines"  # rich bars of N processes on one terminal would interleave


@dataclass
class Task:
    """One unit of work: ``fn(*args)`` runs in a worker once the task named ``after`` is done."""
    name: str
    args: tuple
    after: Optional[str] = None


def run_dag(tasks: list[Task], fn: Callable, jobs: int) -> dict[str, object]:
    """Run ``fn(*task.args)`` for every task in ``jobs`` worker processes, each task once the one
    it waits for has finished, in list order among the ready ones. Returns each task's result by
    name. ``fn`` must be a module-level function (it is pickled by name)."""
    import multiprocessing as mp

    threads = threads_per_job(jobs)
    console.print(f"[bold]jobs[/] {jobs} worker processes × {threads} thread(s): {len(tasks)} tasks")
    results: dict[str, object] = {}
    waiting = list(tasks)
    running: dict[Future, tuple[str, float]] = {}
    error: Optional[BaseException] = None
    pool = ProcessPoolExecutor(max_workers=min(jobs, max(1, len(tasks))), mp_context=mp.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))
    try:
        while waiting or running:
            if error is None:
                for t in [t for t in waiting if t.after is None or t.after in results]:
                    if len(running) >= jobs:
                        break
                    waiting.remove(t)
                    running[pool.submit(fn, *t.args)] = (t.name, time.time())
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                name, t0 = running.pop(fut)
                try:
                    results[name] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - raised below, once the running tasks end
                    error = error or exc
                    continue
                console.print(f"  {name} finished in {time.time() - t0:.0f}s ({len(results)}/{len(tasks)} tasks)",
                              highlight=False)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if error is not None:
        raise error
    if waiting:  # only when a task waits for a name no task has: a bug in the caller
        raise RuntimeError(f"{len(waiting)} task(s) never became ready (first: {waiting[0].name})")
    return results
