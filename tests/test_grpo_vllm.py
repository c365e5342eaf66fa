"""TRL's vLLM rollouts as a GRPO recipe option: the registry's fields reach a real GRPOConfig, they
leave fingerprints alone, and a machine without CUDA refuses them in one line before any work."""
from __future__ import annotations

import pytest
import yaml

from benchkit import ROOT, bench
from core.recipes import VLLM_FIELDS, effective_hyper
from harness.registry import load_registry
from models import fingerprint

VLLM = {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": "10.1.2.3", "vllm_server_port": 8123,
        "vllm_server_timeout": 600.0, "vllm_gpu_memory_utilization": 0.55, "vllm_tensor_parallel_size": 2}


@pytest.fixture()
def registry(tmp_path):
    """The real registry plus ``grpo-vllm``: grpo-1k-def's recipe with every vLLM option set."""
    reg = yaml.safe_load((ROOT / "registry.yaml").read_text())
    entry = dict(reg["models"]["grpo-1k-def"])
    entry["hyper"] = {**entry["hyper"], **VLLM}
    reg["models"]["grpo-vllm"] = entry
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(reg, sort_keys=False))
    return path


def test_registry_fields_reach_trl_grpoconfig(registry, tmp_path):
    from trainers.grpo import grpo_config, rollout_engine

    reg = load_registry(registry)
    hyper = effective_hyper(reg.models["grpo-vllm"], reg.profile("smoke"))
    args = grpo_config(hyper, tmp_path / "work", "cpu", [])  # GRPOConfig itself builds on any machine
    for key, value in VLLM.items():
        assert getattr(args, key) == value, key
    assert set(VLLM) == set(VLLM_FIELDS)
    assert rollout_engine(hyper) == {"engine": "vllm", "mode": "server", "vllm_server_host": "10.1.2.3",
                                     "vllm_server_port": 8123}
    plain = grpo_config(effective_hyper(reg.models["grpo-1k-def"], reg.profile("smoke")), tmp_path / "w", "cpu", [])
    assert plain.use_vllm is False


def test_vllm_options_leave_the_fingerprint(registry):
    reg = load_registry(registry)
    profile = reg.profile("smoke")
    assert fingerprint(reg, profile, "grpo-vllm") == fingerprint(reg, profile, "grpo-1k-def")


@pytest.mark.parametrize("command", [("train", "grpo-vllm"), ("run", "--models", "grpo-vllm")])
def test_cpu_refuses_use_vllm_in_one_line_before_any_work(command, registry, tmp_path):
    store = tmp_path / "store"
    r = bench(*command, "--profile", "smoke", "--registry", str(registry), "--store", str(store), "--device", "cpu")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "use_vllm needs a CUDA GPU" in lines[0] and "NCCL" in lines[0], r.stderr
    assert not list(store.glob("checkpoints/*")), "nothing may be trained before the refusal"


def test_bad_vllm_mode_is_one_line(registry, tmp_path):
    text = registry.read_text().replace("vllm_mode: server", "vllm_mode: remote")
    registry.write_text(text)
    r = bench("plan", "--profile", "smoke", "--registry", str(registry), "--store", str(tmp_path / "s"))
    assert r.returncode == 2 and "vllm_mode" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
