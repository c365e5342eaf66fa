"""Training beyond one process: ``accelerate launch`` with 2 CPU processes (gloo) against 1 process.

The smoke profile's SFT and GRPO stages are trained twice from scratch into two stores, once by
``bench train`` and once by the same command under ``accelerate launch --multi_gpu
--num_processes 2`` with ``--device cpu`` (accelerate's ``--cpu`` flag alone starts ONE process
on a single machine: multi-CPU launching goes through mpirun; ``--multi_gpu`` is its local
multi-process launcher, and the trainers' ``use_cpu`` makes the group gloo). One thread per process.

What must hold, and the tolerances:
- the same optimizer steps (``steps`` and the plan's ``planned_steps``): the global batch is kept;
- the base checkpoint (built by rank 0 alone) is identical, file hash for file hash;
- SFT loss per step: accelerate shards each global batch across the processes in order, so every
  step trains on the same rows as the single process. Each step's loss is equal within 1e-4 of
  its value (only the order of the gradient sum differs; measured: equal to every printed digit),
  except the epoch's last step when its batch is incomplete (57 rows, global batch 8): accelerate
  fills the second process's share with rows from the start of the epoch (``even_batches``), so
  that step sees other rows. Its loss must lie within the single run's own spread of per-step
  losses, the scale on which rows alone move the loss.
- GRPO: its logged loss is 0 by construction in value (group-normalised advantages, beta 0, one
  iteration per generation: the gradient is not), so the curve compared is the reward per step.
  Rollouts are sampled, and each process draws its own, so the curves agree only within sampling
  noise: the two runs' mean rewards may differ by at most 4 standard errors, the per-completion
  reward spread TRL logs (``reward_std``) pooled over both runs, over sqrt(steps x prompts per
  step), counting prompts rather than completions because a group's completions share a prompt.
- exactly one published copy per checkpoint, nothing left behind (no temporary or work folders),
  and the manifests record the process count and the per-process split.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import yaml

from benchkit import ROOT, bench

ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GRPO_BENCH_THREADS": "1"}


def _registry(tmp_path):
    """The real registry with the smoke GRPO stage running to its batch-derived step count (no
    max_steps cap, 16 rows: 8 steps) and SFT at batch 4 × grad_accum 2, so each trainer splits the
    global batch its own way over 2 processes (SFT: accumulation; GRPO: the per-device batch)."""
    reg = yaml.safe_load((ROOT / "registry.yaml").read_text())
    over = reg["profiles"]["smoke"]["overrides"]
    over["sft"].update(batch_size=4, grad_accum=2)
    over["grpo"].update(max_steps=-1, train_rows=16)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(reg, sort_keys=False))
    return path


def _launch(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "harness.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
                          env={**os.environ, **ENV})


def _manifest(store, name):
    (folder,) = (store / "checkpoints").glob(f"{name}-*")
    return json.loads((folder / "manifest.json").read_text())


def _curve(metrics, key):
    return [h[key] for h in metrics["log_history"] if key in h]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaleout")
    reg = _registry(tmp)
    one, two = tmp / "one", tmp / "two"
    common = ("train", "grpo-1k-def", "--profile", "smoke", "--registry", str(reg), "--device", "cpu")
    r = bench(*common, "--store", str(one), env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _launch(*common, "--store", str(two))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert r.stdout.count("grpo-1k-def: trained ->") == 1, r.stdout  # one report, from rank 0
    return one, two


def test_same_optimizer_steps_and_split(stores):
    one, two = stores
    for name in ("sft", "grpo-1k-def"):
        a, b = _manifest(one, name)["train_metrics"], _manifest(two, name)["train_metrics"]
        assert a["steps"] == b["steps"] > 1, (name, a["steps"], b["steps"])
        assert a["batch"]["processes"] == 1 and b["batch"]["processes"] == 2
        assert b["device"]["threads"] == 1, b["device"]  # one thread per process: 2 processes, 2 cores
    sft1, sft2 = (_manifest(s, "sft")["train_metrics"]["batch"] for s in stores)
    assert (sft1["per_device_train_batch_size"], sft1["gradient_accumulation_steps"]) == (4, 2)
    assert (sft2["per_device_train_batch_size"], sft2["gradient_accumulation_steps"]) == (4, 1)
    g1, g2 = (_manifest(s, "grpo-1k-def")["train_metrics"] for s in stores)
    assert g1["planned_steps"] == g2["planned_steps"] == g1["steps"] == 8
    assert (g1["batch"]["per_device_train_batch_size"], g2["batch"]["per_device_train_batch_size"]) == (4, 2)


def test_one_published_copy_and_identical_base(stores):
    one, two = stores
    names = sorted(p.name for p in (two / "checkpoints").iterdir())
    assert names == sorted(p.name for p in (one / "checkpoints").iterdir()), names
    assert not [n for n in names if n.startswith(".")], names  # no .tmp-* / .work-* left behind
    assert _manifest(one, "base")["sha256"] == _manifest(two, "base")["sha256"]


def test_sft_loss_curve_matches(stores):
    a, b = (_curve(_manifest(s, "sft")["train_metrics"], "loss") for s in stores)
    assert len(a) == len(b) == 8
    metrics = _manifest(stores[0], "sft")["train_metrics"]
    full = len(a) - (metrics["trained_rows"] % metrics["batch"]["global_batch"] != 0)  # steps with a whole batch
    for step, (x, y) in enumerate(zip(a[:full], b[:full]), 1):
        assert abs(x - y) <= 1e-4 * abs(x), (step, x, y)
    spread = max(a) - min(a)
    for x, y in zip(a[full:], b[full:]):
        assert abs(x - y) <= spread, (x, y, spread)


def test_grpo_reward_curve_within_noise(stores):
    a, b = (_manifest(s, "grpo-1k-def")["train_metrics"] for s in stores)
    ra, rb = _curve(a, "reward"), _curve(b, "reward")
    assert len(ra) == len(rb) == a["steps"]
    assert all(math.isfinite(x) for x in ra + rb)
    stds = _curve(a, "reward_std") + _curve(b, "reward_std")
    sigma = math.sqrt(sum(s * s for s in stds) / len(stds))
    n = len(ra) * a["batch"]["prompts_per_optimizer_step"]
    se = sigma * math.sqrt(2 / n)
    diff = abs(sum(ra) / len(ra) - sum(rb) / len(rb))
    assert diff <= 4 * se, (diff, se, ra, rb)


def test_bench_train_processes_launches_accelerate(tmp_path):
    """``bench train --processes 2`` runs the same command under accelerate in 2 processes: the
    base (no trainer: rank 0 builds it alone while the other waits) is published once, reported once."""
    store = tmp_path / "store"
    r = bench("train", "base", "--processes", "2", "--profile", "smoke", "--store", str(store), "--device", "cpu",
              env=ENV)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = r.stdout + r.stderr
    assert out.count("base: trained ->") == 1 and out.count("train base (base)") == 1, out
    assert [p.name.split("-")[0] for p in (store / "checkpoints").iterdir()] == ["base"]


def test_other_commands_refuse_a_launcher(tmp_path):
    r = bench("plan", "--profile", "smoke", "--store", str(tmp_path / "s"),
              env={"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "accelerate launch" in r.stderr


def test_global_batch_that_cannot_split_is_refused():
    from core.batching import split_over_processes
    from core.errors import BadInput

    assert split_over_processes(4, 8, 2, "x") == (4, 4)  # accumulation first
    assert split_over_processes(8, 1, 2, "x") == (4, 1)
    assert split_over_processes(3, 1, 1, "x") == (3, 1)
    with pytest.raises(BadInput, match="does not split over 2 processes"):
        split_over_processes(3, 1, 2, "x")


def test_processes_refuses_an_unsplittable_batch_before_launching(tmp_path):
    """smoke SFT: batch 8 × grad_accum 1 does not split over 3 processes: one line, nothing started."""
    r = bench("train", "sft", "--processes", "3", "--profile", "smoke", "--store", str(tmp_path / "s"),
              "--device", "cpu", env=ENV)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr
    assert "does not split over 3 processes" in r.stderr and not (tmp_path / "s" / "checkpoints").exists()
