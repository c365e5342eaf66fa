"""The bfcl suite: three protocols through the real runner, replay files, a real tiny model."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from benchmarks.bfcl import ground_truth_completion
from benchmarks.bfcl.suite import (
    SUITE,
    THESIS_DATASET,
    MultiTurnLoop,
    per_category_cap,
)
from core.bfcl.data import fit_functions, prompt_tokens
from benchmarks.suite import Item
from models import ModelHandle
from models.backends.replay import ReplayBackend
from core.errors import BadInput
from harness.registry import load_registry

from benchkit import ROOT, bench

PROTOCOLS = ("thesis", "thesis-fair", "official")


@pytest.fixture(scope="module")
def smoke_profile():
    return load_registry(ROOT / "registry.yaml").profile("smoke")


@pytest.fixture(scope="module")
def itemsets(smoke_profile):
    return {p: SUITE.items(smoke_profile, p, None) for p in PROTOCOLS}


def _truth(item: Item) -> str:
    e = item.meta["bfcl"]
    if item.dataset == THESIS_DATASET:
        return "<SOLUTION>" + json.dumps(e["ground_truth"]) + "</SOLUTION>"
    if item.dataset == "multi_turn_base":
        return json.dumps(ground_truth_completion(e))
    return ground_truth_completion(e)


def _replay_file(path: Path, itemsets, answer) -> Path:
    rows = {it.id: {"suite": "bfcl", "item_id": it.id, "completion": answer(it)}
            for s in itemsets.values() for it in s.items}
    path.write_text("\n".join(json.dumps(r) for r in rows.values()))
    return path


# ------------------------------------------------------------------ items
def test_items_ids_caps_and_fingerprints(smoke_profile, itemsets):
    assert per_category_cap(smoke_profile) == 4
    thesis, official = itemsets["thesis"], itemsets["official"]
    assert len(thesis.items) == 4 and all(i.id.startswith(f"{THESIS_DATASET}/multi_turn_base_") for i in thesis.items)
    assert [i.id for i in thesis.items] == [i.id for i in itemsets["thesis-fair"].items]
    assert thesis.data_fp != itemsets["thesis-fair"].data_fp  # different prompts, different data
    cats = [i.dataset for i in official.items]
    assert {c: cats.count(c) for c in set(cats)} == dict.fromkeys(
        ("simple_python", "multiple", "parallel", "parallel_multiple", "multi_turn_base"), 4)
    assert all(i.id == f"{i.dataset}/{i.meta['bfcl']['id']}" for i in official.items)
    assert official.source.startswith("bfcl-eval package")
    again = SUITE.items(smoke_profile, "official", None)
    assert again.data_fp == official.data_fp and [i.id for i in again.items] == [i.id for i in official.items]
    limited = SUITE.items(smoke_profile, "official", 2)
    assert len(limited.items) == 10 and limited.data_fp != official.data_fp
    with pytest.raises(BadInput):
        SUITE.items(smoke_profile, "standard", None)


# ------------------------------------------------------------------ replay through the real runner
def _registry_with(tmp_path: Path, models: dict) -> Path:
    raw = yaml.safe_load((ROOT / "registry.yaml").read_text())
    raw["models"].update(models)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _scores(store: Path) -> dict:
    """{(model, protocol): {item_id: {metric: value}}} from the results store."""
    db = sqlite3.connect(store / "bench.sqlite")
    cells = db.execute("SELECT DISTINCT model, model_fp, protocol FROM cells WHERE suite='bfcl'").fetchall()
    out: dict = {}
    for model, fp, protocol in cells:
        rows = db.execute("SELECT item_id, metric, value FROM scores WHERE model_fp=? AND suite='bfcl' AND protocol=?",
                          (fp, protocol)).fetchall()
        per = out.setdefault((model, protocol), {})
        for item, metric, value in rows:
            per.setdefault(item, {})[metric] = value
    return out


def test_replay_truth_scores_100_and_garbage_0(tmp_path, itemsets):
    truth = _replay_file(tmp_path / "truth.jsonl", itemsets, _truth)
    garbage = _replay_file(tmp_path / "garbage.jsonl", itemsets, lambda it: "I cannot help with that. [[[(")
    reg = _registry_with(tmp_path, {"gt-replay": {"kind": "replay", "path": str(truth)},
                                    "junk-replay": {"kind": "replay", "path": str(garbage)}})
    store = tmp_path / "store"
    r = bench("run", "--profile", "smoke", "--models", "gt-replay,junk-replay", "--suite", "bfcl",
              "--store", str(store), "--registry", str(reg), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    scores = _scores(store)
    for protocol in PROTOCOLS:
        gt, junk = scores[("gt-replay", protocol)], scores[("junk-replay", protocol)]
        n = len(itemsets[protocol].items)
        assert len(gt) == len(junk) == n
        assert all(m["correct"] == 1.0 for m in gt.values()), protocol
        assert all(m["correct"] == 0.0 for m in junk.values()), protocol
        if protocol != "official":
            assert all(m["perfect"] == 1.0 and m["reward_best"] == 1.0 == m["reward_mean"] for m in gt.values())
            assert all(m["reward"] == 0.0 for m in junk.values())
    mt = [k for k in scores[("gt-replay", "official")] if k.startswith("multi_turn_base/")]
    assert len(mt) == 4  # the state checker passed the ground truth of every multi-turn entry


def test_replay_missing_items_are_failures_not_inventions(tmp_path, itemsets):
    partial = tmp_path / "partial.jsonl"
    first = itemsets["thesis"].items[0]
    partial.write_text(json.dumps({"suite": "bfcl", "item_id": first.id, "completion": _truth(first)}))
    handle = ModelHandle("partial", "fp", ReplayBackend(str(partial)), suite="bfcl")
    out = SUITE.run_protocol("thesis", handle, itemsets["thesis"], {"max_new_tokens": 16})
    assert out[0].metrics["perfect"] == 1.0 and out[0].error is None
    assert all(o.error == "missing from replay file" and o.metrics["correct"] == 0.0 for o in out[1:])


# ------------------------------------------------------------------ context fitting
def test_fit_functions_keeps_longest_fitting_prefix(smoke_base, itemsets):
    from transformers import AutoTokenizer

    from core.bfcl.data import thesis_prompt

    tok = AutoTokenizer.from_pretrained(smoke_base)
    row = itemsets["thesis-fair"].items[0].meta["bfcl"]
    fns = row["available_fair"]

    def build(f):
        return thesis_prompt({**row, "available_fair": f}, fair=True)

    assert prompt_tokens(tok, build(fns)) > 1024 - 16  # the tiny context cannot hold every function
    msgs, dropped = fit_functions(build, fns, tok, 1024 - 16)
    kept = len(fns) - dropped
    assert 0 < dropped <= len(fns)
    assert prompt_tokens(tok, msgs) <= 1008 and msgs == build(fns[:kept])
    if kept < len(fns):
        assert prompt_tokens(tok, build(fns[:kept + 1])) > 1008  # the longest prefix that fits
    assert fit_functions(build, fns, tok, 1024 - 16) == (msgs, dropped)  # deterministic
    assert fit_functions(build, fns, tok, None) == (build(fns), 0)


# ------------------------------------------------------------------ multi-turn loop (scripted model)
class Scripted:
    """A stand-in model for the loop: per entry, the ground-truth calls of each turn, then an
    empty answer to end the turn (what a perfect prompting model does)."""

    name = "scripted"

    def __init__(self, items: list[Item], wrong: bool = False):
        self.by_question = {it.meta["bfcl"]["question"][0][-1]["content"]: it for it in items}
        self.wrong = wrong
        self.seen: list[list[dict]] = []

    def generate(self, prompts, max_new_tokens, batch_size, label="", **kw):
        out = []
        for msgs in prompts:
            self.seen.append(msgs)
            first_user = next(m["content"] for m in msgs if m["role"] == "user")
            item = self.by_question[first_user]
            turn = sum(1 for m in msgs if m["role"] == "user" and not m["content"].startswith("Execution results:")) - 1
            if msgs[-1]["role"] == "user" and not msgs[-1]["content"].startswith("Execution results:"):
                calls = item.meta["bfcl"]["ground_truth"][turn]
                if self.wrong:
                    calls = ["ls(a=True)"] if calls else []
                out.append(("[" + ", ".join(calls) + "]" if calls else "done", 5))
            else:
                out.append(("done", 1))  # after the results: nothing more to call
        return out


def test_multi_turn_loop_executes_and_feeds_back(itemsets):
    items = [it for it in itemsets["official"].items if it.dataset == "multi_turn_base"]
    model = Scripted(items)
    outcomes = MultiTurnLoop(model, items, 16).run()
    assert [o.metrics["correct"] for o in outcomes] == [1.0] * len(items)
    for o, it in zip(outcomes, items):
        turns = json.loads(o.completion)
        assert len(turns) == len(it.meta["bfcl"]["question"])
    results = [m["content"] for msgs in model.seen for m in msgs if m["content"].startswith("Execution results:")]
    assert results and any("->" in r and "Error" not in r for r in results)  # real executions came back
    wrong = MultiTurnLoop(Scripted(items, wrong=True), items, 16).run()
    assert [o.metrics["correct"] for o in wrong] == [0.0] * len(items)


# ------------------------------------------------------------------ a real tiny model
def test_hf_model_all_protocols(smoke_store, smoke_profile, itemsets):
    from core.context import Context
    from harness.runner import model_handle

    ctx = Context(load_registry(ROOT / "registry.yaml"), "smoke", smoke_store)
    handle = model_handle(ctx, "grpo-1k-def", "bfcl")
    gen = {"max_new_tokens": 16}
    two = {p: type(s)(items=s.items[:2], data_fp=s.data_fp, source=s.source) for p, s in itemsets.items()}
    thesis = SUITE.run_protocol("thesis", handle, two["thesis"], gen)
    again = SUITE.run_protocol("thesis", handle, two["thesis"], gen)
    assert [o.completion for o in thesis] == [o.completion for o in again]  # seeded sampling
    for o in thesis:
        assert 0 <= o.metrics["reward_mean"] <= o.metrics["reward_best"] == o.metrics["reward"] <= 1
        assert o.metrics["correct"] == o.metrics["perfect"] and 0 < o.n_tokens <= 16
    fair = SUITE.run_protocol("thesis-fair", handle, two["thesis-fair"], gen)
    assert all(o.metrics["truncated"] == 1.0 for o in fair)  # 14k+ token prompts vs 1,024 positions
    mixed = [it for it in itemsets["official"].items if it.dataset in ("simple_python", "multi_turn_base")][:6]
    official = SUITE.run_protocol("official", handle, type(itemsets["official"])(mixed, "x", "y"), gen)
    assert len(official) == len(mixed) and {o.item_id for o in official} == {it.id for it in mixed}
    for o in official:
        assert set(o.metrics) == {"correct", "truncated", "context_overflow", "force_quit"}
        if o.dataset == "multi_turn_base":
            assert isinstance(json.loads(o.completion), list)


def test_bench_run_trains_and_fills_three_protocols(smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("run", "--profile", "smoke", "--models", "bfcl-nohybrid", "--suite", "bfcl", "--limit", "1",
              "--store", str(store), "--registry", str(ROOT / "registry.yaml"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads(next((store / "checkpoints").glob("bfcl-nohybrid-*/manifest.json")).read_text())
    metrics = manifest["train_metrics"]
    assert metrics["split_seed"] == 3407 and len(metrics["split_fingerprint"]) == 64
    assert metrics["epochs"] and {"train_reward", "test_reward_best", "kl"} <= metrics["epochs"][0].keys()
    scores = _scores(store)
    assert len(scores[("bfcl-nohybrid", "thesis")]) == 1 == len(scores[("bfcl-nohybrid", "thesis-fair")])
    assert len(scores[("bfcl-nohybrid", "official")]) == 5  # one per category
