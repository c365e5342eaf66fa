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
