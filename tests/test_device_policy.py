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
