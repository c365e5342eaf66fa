"""Fingerprints: recipe + parent, so changing a hyperparameter retrains and re-running does not."""
from __future__ import annotations

import copy

from models import fingerprint
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


def _fps(reg, profile="tiny"):
    return {n: fingerprint(reg, reg.profile(profile), n) for n in reg.models}


def test_editing_a_reward_changes_exactly_its_variants_and_descendants(registry_path, monkeypatch):
    """A new body for `hybrid` retrains grpo-hybrid and its BFCL children, nothing else."""
    from core import rewards

    reg = load_registry(registry_path)
    before = _fps(reg)

    def hybrid(prompts, completions, **kwargs):  # same name, another body
        return [0.0 for _ in completions]

    monkeypatch.setitem(rewards.REWARDS, "hybrid", hybrid)
    after = _fps(reg)
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"grpo-hybrid", "bfcl-hybrid", "bfcl-hybrid-v2"}


def test_editing_a_helper_a_reward_calls_changes_its_users(registry_path, monkeypatch):
    """check_answer calls exact_format_answer: editing the helper retrains every check_answer user."""
    from core.rewards import _answer

    reg = load_registry(registry_path)
    before = _fps(reg)
    original = _answer.exact_format_answer
    monkeypatch.setattr(_answer, "exact_format_answer", lambda text: original(text))
    after = _fps(reg)
    changed = {n for n in before if before[n] != after[n]}
    users = {"grpo-1k", "grpo-1k-v2", "grpo-1k-v3", "grpo-1k-def", "grpo-1k-def-fixed", "bfcl-nohybrid"}
    assert users <= changed
    assert not changed & {"base", "sft", "grpo-intuitor", "grpo-hybrid", "grpo-dualhead", "bfcl-hybrid"}


def test_a_user_reward_file_edit_changes_the_fingerprint(tmp_path, monkeypatch, registry_path):
    """A reward named `module:function` in the registry: its file's body is what counts."""
    import importlib
    import sys

    import yaml

    mod = tmp_path / "my_reward_mod.py"
    mod.write_text("def r(prompts, completions, **kw):\n    return [1.0 for _ in completions]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    raw = yaml.safe_load(open(registry_path))
    raw["models"]["mine"] = {"parent": "sft", "trainer": "grpo", "rewards": ["my_reward_mod:r"]}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw))
    a = fingerprint(load_registry(path), load_registry(path).profile("tiny"), "mine")
    mod.write_text("def r(prompts, completions, **kw):\n    return [2.0 for _ in completions]\n")
    sys.modules.pop("my_reward_mod", None)
    importlib.invalidate_caches()
    reg = load_registry(path)
    assert fingerprint(reg, reg.profile("tiny"), "mine") != a


def test_generation_key_follows_suite_version_and_decoding(registry_path, tmp_path, monkeypatch):
    """Bumping one suite's version (or a decoding constant) changes that suite's keys only."""
    from benchmarks import get_suite
    from core.context import Context
    from harness.runner import resolve

    def keys():
        return dict(resolve(Context(load_registry(registry_path), "smoke", tmp_path), suites=None).gen_hashes)

    before = keys()
    monkeypatch.setattr(type(get_suite("bfcl")), "version", "2")
    bumped = keys()
    assert {k for k in before if before[k] != bumped[k]} == {k for k in before if k[0] == "bfcl"}
    monkeypatch.setattr(type(get_suite("bfcl")), "version", "1")
    monkeypatch.setattr(type(get_suite("bfcl")), "decoding", {**get_suite("bfcl").decoding, "thesis_samples": 4})
    assert {k for k, v in keys().items() if v != before[k]} == {k for k in before if k[0] == "bfcl"}


def test_corpus_version_readdresses_only_bases_pretrained_on_it(registry_path, monkeypatch):
    """Editing the mixed pretraining corpus retrains mixed-corpus bases (and their children), and
    leaves the arithmetic-corpus demo's checkpoints where they are."""
    from core.sources import pretraining_corpus

    reg = load_registry(registry_path)
    math = reg.profile("tiny")
    mixed = math.model_copy(update={"base": math.base.model_copy(update={"pretrain_corpus": "mixed"})})
    before = {p: fingerprint(reg, prof, "sft") for p, prof in (("math", math), ("mixed", mixed))}
    assert before["math"] != before["mixed"]
    monkeypatch.setattr(pretraining_corpus, "VERSION", pretraining_corpus.VERSION + "-edited")
    assert fingerprint(reg, math, "sft") == before["math"]
    assert fingerprint(reg, mixed, "sft") != before["mixed"]


def test_a_corpus_draw_readdresses_its_base_and_draw_0_is_the_published_one(registry_path):
    """Another draw of the mixed corpus is another base; draw 0 leaves the recipe as it was before
    the field existed, so the demo's published fingerprints (docs/demo/expected.json) still hold."""
    import json

    from benchkit import ROOT
    from core.config import DataSpec
    from core.sources import pretraining_corpus

    reg = load_registry(registry_path)
    mixed = reg.profile("tiny-mixed")
    draw = mixed.model_copy(update={"base": mixed.base.model_copy(update={"pretrain_corpus_draw": 1})})
    assert fingerprint(reg, draw, "base") != fingerprint(reg, mixed, "base")
    published = json.loads((ROOT / "docs/demo/expected.json").read_text())["fingerprints"]
    assert fingerprint(reg, reg.profile("tiny"), "base") == published["base"]
    data = DataSpec(source="synthetic", seed=3, sft_rows=50, grpo_rows=10, test_rows=20)
    assert pretraining_corpus.texts(data, 200, draw=1) != pretraining_corpus.texts(data, 200) \
        == pretraining_corpus.texts(data, 200, draw=0)


def test_bfcl_api_calls_readdress_the_base_and_their_generator_version_too(registry_path, monkeypatch):
    """A base whose call documents are over BFCL's API is another base; editing that generator
    re-addresses it and leaves the made-up-name bases (tiny-mixed's) where they are."""
    from core.sources import bfcl_api_calls

    reg = load_registry(registry_path)
    mixed, api = reg.profile("tiny-mixed"), reg.profile("tiny-mixed")
    api = api.model_copy(update={"base": api.base.model_copy(update={"pretrain_calls": "bfcl-api"})})
    before = {"mixed": fingerprint(reg, mixed, "base"), "api": fingerprint(reg, api, "base")}
    assert before["mixed"] != before["api"]
    monkeypatch.setattr(bfcl_api_calls, "VERSION", bfcl_api_calls.VERSION + "-edited")
    assert fingerprint(reg, mixed, "base") == before["mixed"]
    assert fingerprint(reg, api, "base") != before["api"]


def test_every_published_demo_snapshot_names_the_registrys_recipes(registry_path):
    """`make demo [PROFILE=…]` ends with `bench reproduce docs/demo/expected[-<profile>].json`. A
    recipe edit that re-addresses a model must come with a re-published snapshot, or every
    reader's demo would end "not reproduced" for a reason no figure explains."""
    import json

    from benchkit import ROOT

    reg = load_registry(registry_path)
    snapshots = sorted((ROOT / "docs/demo").glob("expected*.json"))
    assert snapshots, "no published demo snapshot"
    for path in snapshots:
        snap = json.loads(path.read_text())
        profile = reg.profile(snap["profile"])
        assert path.name == ("expected.json" if snap["profile"] == "tiny" else f"expected-{snap['profile']}.json")
        assert set(snap["fingerprints"]) == set(reg.models), path.name
        memo: dict = {}
        now = {m: fingerprint(reg, profile, m, memo) for m in snap["fingerprints"]}
        assert now == snap["fingerprints"], path.name
