"""The CPU thread policy: a fixed count from the core count (never the load), overridable."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core import device
from core.errors import BadInput


def test_threads_leave_one_core_and_follow_the_override(monkeypatch):
    monkeypatch.delenv(device.THREADS_ENV, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert device.cpu_threads() == max(1, cores - 1)
    monkeypatch.setenv(device.THREADS_ENV, "3")
    assert device.cpu_threads() == 3
    monkeypatch.setenv(device.THREADS_ENV, "many")
    with pytest.raises(BadInput, match="whole number"):
        device.cpu_threads()


def test_solo_threads_take_every_core_unless_pinned(monkeypatch):
    monkeypatch.delenv(device.THREADS_ENV, raising=False)
    assert device.solo_threads() == device.cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(device.THREADS_ENV, "1")
    assert device.solo_threads() == 1


def test_intra_op_threads_sets_and_restores_the_pool():
    import torch

    before = torch.get_num_threads()
    with device.intra_op_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_more_threads_train_the_same_bits():
    """Why the base may pretrain on every core: a training step at 1 and at 2 threads gives the
    same weights, byte for byte (a fresh interpreter each, so no pool state is shared)."""
    code = ("import sys, hashlib, torch; torch.set_num_threads(int(sys.argv[1])); torch.manual_seed(0); "
            "m = torch.nn.Sequential(torch.nn.Embedding(256, 64), torch.nn.Linear(64, 192), torch.nn.GELU(), "
            "torch.nn.Linear(192, 256)); opt = torch.optim.AdamW(m.parameters(), lr=1e-2); x = torch.randint(0, 256, (32, 64))\n"
            "for _ in range(5):\n"
            "    loss = torch.nn.functional.cross_entropy(m(x).flatten(0, 1), x.flatten()); loss.backward(); opt.step(); opt.zero_grad()\n"
            "print(hashlib.sha256(b''.join(p.detach().numpy().tobytes() for p in m.parameters())).hexdigest())")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    outs = [subprocess.run([sys.executable, "-c", code, n], capture_output=True, text=True, env=env, timeout=120)
            for n in ("1", "2")]
    assert all(o.returncode == 0 for o in outs), outs[0].stderr[-500:] + outs[1].stderr[-500:]
    assert outs[0].stdout == outs[1].stdout


def test_allocator_is_tuned_unless_the_user_set_it():
    """glibc's heap keeps freed memory (fewer page faults); ``system`` or any MALLOC_* of the
    user's leaves glibc's defaults, and a bad value is a one-line error."""
    def applied(**env):
        base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != device.MALLOC_ENV}
        out = subprocess.run([sys.executable, "-c", "from core import device; print(device.configure_allocator())"],
                             capture_output=True, text=True, env={**base, **env}, timeout=120)
        return out.stdout.strip() or out.stderr.strip().splitlines()[-1]

    assert applied() == "True"
    assert applied(**{device.MALLOC_ENV: "system"}) == "False"
    assert applied(MALLOC_ARENA_MAX="2") == "False"
    assert "must be tuned or system" in applied(**{device.MALLOC_ENV: "fast"})


def test_configure_process_sets_openmp_before_torch_loads():
    code = ("import os; from core import device; device.configure_process(); import torch; "
            "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    env[device.THREADS_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["PASSIVE", "1"], out.stderr[-500:]


def test_determinism_mode_reads_the_environment(monkeypatch):
    monkeypatch.delenv(device.DETERMINISTIC_ENV, raising=False)
    assert device.deterministic() == "strict"
    for raw, mode in (("warn", "warn"), ("0", "off"), ("OFF", "off"), ("1", "strict"), (" strict ", "strict")):
        monkeypatch.setenv(device.DETERMINISTIC_ENV, raw)
        assert device.deterministic() == mode
    monkeypatch.setenv(device.DETERMINISTIC_ENV, "sometimes")
    with pytest.raises(BadInput, match="strict, warn or off"):
        device.deterministic()


@pytest.mark.parametrize("mode, expect", [(None, "True False :4096:8"), ("warn", "True True :4096:8"),
                                          ("off", "False False unset")])
def test_every_stage_gets_torchs_determinism_switches(mode, expect):
    """Stages call ``device()`` before their first kernel; it turns deterministic algorithms on
    (strict: an op without a deterministic kernel stops the run) and cuBLAS gets a fixed workspace."""
    code = ("import os; from core import device; device.configure_process(); import torch; device.device('cpu'); "
            "print(torch.are_deterministic_algorithms_enabled(), "
            "torch.is_deterministic_algorithms_warn_only_enabled(), os.environ.get('CUBLAS_WORKSPACE_CONFIG', 'unset'))")
    env = {k: v for k, v in os.environ.items() if k not in ("CUBLAS_WORKSPACE_CONFIG", device.DETERMINISTIC_ENV)}
    env[device.THREADS_ENV] = "1"
    if mode:
        env[device.DETERMINISTIC_ENV] = mode
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == expect.split(), out.stderr[-500:]


def test_machine_names_the_cpu_its_instruction_set_and_torch():
    import torch

    label = device.machine()
    assert torch.backends.cpu.get_cpu_capability() in label and f"torch {torch.__version__}" in label
