"""``bench train`` under ``accelerate launch`` / ``torchrun``: every process trains, one publishes.

The launcher runs the same command in N processes. Each checkpoint the plan lacks is built in
order, parents first, and the processes must agree on which and when:

- a data-parallel stage (``sft``, ``grpo``: TRL trainers under accelerate) runs in every process
  at once (its collectives need them all). Rank 0 builds through the checkpoint store as a single process
  would (lock, temporary folder, manifest last, atomic rename); the others train the same steps
  into a scratch folder that is then dropped, so exactly one copy is ever published.
- a stage that is not data-parallel (the tiny base's pretraining; ``bfcl_grpo``, its own
  single-process loop) is built by rank 0 alone while the others wait for its publication: N
  independent copies would only burn N times the compute.

After each stage every process waits for rank 0's publication, so a child never starts before
its parent's adapter is in the store. Which stages are missing is decided by rank 0 and
broadcast, so all processes walk the same list even if the store changed under one of them.
Known limit: a separate ``bench`` building the same checkpoint at the same moment makes rank 0
wait on the store's lock and then skip its build, while the other ranks train on alone until the
process group's timeout: do not start a launched training beside another one on the same store.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from core.context import Context
from core.launch import is_main, rank_device, state, world_size

from .plan import Plan
from .runner import _produce, train_one


POLL_S = 2.0
DATA_PARALLEL = frozenset({"sft", "grpo"})  # trainers built on transformers' Trainer (accelerate inside)


def train_all_ranks(ctx: Context, plan: Plan) -> list[str]:
    """Build the plan's missing checkpoints with every launched process; returns the names built
    (the same list in every process)."""
    from accelerate.utils import broadcast_object_list

    from core.device import device

    from trainers.callbacks import quiet_libraries

    st = state(rank_device(device()))
    if any(not job.exists for job in plan.train):
        quiet_libraries()  # rank 0's train_one does so too; the others train through _produce
    built = []
    for job in plan.train:
        todo = [not ctx.ckpts.exists(job.name, job.fp)] if is_main() else [None]
        broadcast_object_list(todo, from_process=0)
        if not todo[0]:
            job.exists = True
            continue
        if is_main():
            train_one(ctx, job)
        elif job.trainer in DATA_PARALLEL:
            with tempfile.TemporaryDirectory(prefix=f"bench-rank{st.process_index}-") as scratch:
                _produce(job, Path(scratch))
        else:
            # polled, not a collective barrier: a long single-process stage (a real pretraining,
            # BFCL GRPO) would outlast the process group's timeout. If rank 0 dies instead, the
            # launcher stops this process.
            while not ctx.ckpts.exists(job.name, job.fp):
                time.sleep(POLL_S)
        st.wait_for_everyone()
        job.exists = True
        built.append(job.name)
    return built


def launch_command(args) -> list[str]:
    """``accelerate launch`` for ``bench train`` with ``args`` in ``args.processes`` processes.

    ``--multi_gpu`` is accelerate's local multi-process launcher (torch.distributed.run) whatever
    the device: its ``--cpu`` flag starts ONE process on a single machine (multi-CPU launching
    goes through mpirun), so it is not used; on the CPU the trainers' ``use_cpu`` makes the
    process group gloo. Mixed precision stays the trainers' choice (bf16 on GPUs that have it)."""
    import sys

    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
           str(args.processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "harness.cli", "train", args.name, "--store", args.store]
    for flag in ("registry", "profile", "device"):
        if getattr(args, flag, None):
            cmd += [f"--{flag}", getattr(args, flag)]
    return cmd


def relaunch(args, plan: Plan) -> int:
    """Run ``bench train`` again under accelerate in ``args.processes`` processes; its exit code.
    What can be refused here is refused in one line before N processes start: more processes than
    GPUs (one per GPU), a missing stage whose global batch does not split over N."""
    import os
    import subprocess

    from core.device import device
    from core.errors import BadInput

    from .plan import check_split

    check_split(plan, args.processes)
    if args.device:
        os.environ.setdefault("GRPO_BENCH_DEVICE", args.device)
    dev = device()
    if dev.startswith("cuda"):
        import torch

        if args.processes > torch.cuda.device_count():
            raise BadInput(f"--processes {args.processes}: this machine has {torch.cuda.device_count()} GPU(s), one "
                           "per process (or --device cpu)")
    # this process's thread budget (the user's OMP_NUM_THREADS, else core.device's policy) shared
    # by the N processes: N full pools on the same cores stall each other at every barrier
    threads = str(max(1, int(os.environ.get("OMP_NUM_THREADS") or 1) // args.processes))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    return subprocess.run(launch_command(args), env=env).returncode


__all__ = ["launch_command", "relaunch", "train_all_ranks", "world_size"]
