"""Fingerprints: recipe + parent, so changing a hyperparameter retrains and re-running does not."""
from __future__ import annotations

import copy

from harness.fingerprint import fingerprint
from harness.registry import load_registry


def test_fingerprint_is_stable_and_recipe_sensitive(registry_path):
    reg = load_registry(registry_path)
    prof = reg.profile("tiny")
    a = fingerprint(reg, prof, "grpo-1k-def")
    assert a == fingerprint(load_registry(registry_path), prof, "grpo-1k-def")
    changed = copy.deepcopy(reg)
    changed.models["grpo-1k-def"].hyper["temperature"] = 0.7
    assert fingerprint(changed, prof, "grpo-1k-def") != a
    assert fingerprint(changed, prof, "sft") == fingerprint(reg, prof, "sft")  # parents untouched


def test_parent_change_propagates_to_children(registry_path):
    reg = load_registry(registry_path)
    prof = reg.profile("tiny")
    before = {n: fingerprint(reg, prof, n) for n in ("sft", "grpo-1k-def", "bfcl-nohybrid")}
    changed = copy.deepcopy(reg)
    changed.models["sft"].hyper["lora_r"] = 8
    # tiny overrides lora_r for sft: change something the profile does not override
    changed.models["sft"].hyper["weight_decay"] = 0.02
    after = {n: fingerprint(changed, prof, n) for n in before}
    assert all(after[n] != before[n] for n in before)


def test_profiles_and_names_separate(registry_path):
    reg = load_registry(registry_path)
    assert fingerprint(reg, reg.profile("tiny"), "sft") != fingerprint(reg, reg.profile("smoke"), "sft")
    # grpo-1k-v2 and -v3 share hyperparameters but not rewards
    p = reg.profile("tiny")
    assert fingerprint(reg, p, "grpo-1k-v2") != fingerprint(reg, p, "grpo-1k-v3")
