"""Adding a baseline is one registry entry: a replay file of generations, or a LoRA adapter on a
base. `bench run --models NEW` evaluates only the new model; the report places it beside the rest."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import yaml

from benchkit import bench


def _registry_with(registry_path, tmp_path, **models) -> str:
    data = yaml.safe_load(registry_path.read_text())
    data["models"].update(models)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _replay(tmp_path, name: str, answer_of) -> str:
    from benchmarks.indomain import SUITE
    from harness.registry import load_registry

    prof = load_registry("registry.yaml").profile("smoke")
    path = tmp_path / f"{name}.jsonl"
    with open(path, "w") as fh:
        for it in SUITE.items(prof, "thesis").items:
            text = f"Step 1: it is {answer_of(it)}.<end_working_out><SOLUTION>{answer_of(it)}</SOLUTION>"
            fh.write(json.dumps({"suite": "indomain", "item_id": it.id, "completion": text}) + "\n")
    return str(path)


def _accuracy(store, model: str) -> float:
    df = pd.read_csv(store / "reports" / "indomain-thesis.csv")
    return float(df.loc[df["model"] == model, "accuracy"].iloc[0])


def test_replay_baseline_scores_exactly_its_file(smoke_store, tmp_path, registry_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    reg = _registry_with(registry_path, tmp_path,
                         gold={"kind": "replay", "path": _replay(tmp_path, "gold", lambda it: it.answer)},
                         wrong={"kind": "replay", "path": _replay(tmp_path, "wrong", lambda it: int(it.answer) + 1)})
    r = bench("run", "--profile", "smoke", "--models", "gold,wrong", "--suite", "indomain", "--store", str(store),
              "--registry", reg)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "24 new generations" in r.stdout  # only the two new models (the sft reference is stored)
    assert _accuracy(store, "gold") == 1.0 and _accuracy(store, "wrong") == 0.0
    assert {"sft", "grpo-1k-def", "gold", "wrong"} <= set(pd.read_csv(store / "reports" / "indomain-thesis.csv")["model"])


def test_lora_baseline_on_a_base_matches_the_same_weights(smoke_store, tmp_path, registry_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    adapter = next((store / "checkpoints").glob("sft-*")) / "adapter"
    base = next((store / "checkpoints").glob("base-*"))
    reg = _registry_with(registry_path, tmp_path, my_sft={"kind": "lora", "path": str(adapter), "base": str(base)})
    r = bench("run", "--profile", "smoke", "--models", "my_sft", "--suite", "indomain", "--store", str(store),
              "--registry", reg)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "12 new generations" in r.stdout
    import sqlite3

    db = sqlite3.connect(store / "bench.sqlite")
    rows = db.execute("SELECT c.model, g.item_id, g.completion FROM generations g JOIN cells c ON "
                      "c.model_fp = g.model_fp AND c.gen_hash = g.gen_hash WHERE c.model IN ('sft','my_sft')").fetchall()
    by_model: dict = {}
    for model, item, text in rows:
        by_model.setdefault(model, {})[item] = text
    assert by_model["my_sft"] == by_model["sft"]  # same base + adapter: identical greedy generations


def test_replay_file_errors_are_one_line(smoke_store, tmp_path, registry_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"suite": "indomain"}\n')
    reg = _registry_with(registry_path, tmp_path, broken={"kind": "replay", "path": str(bad)},
                         absent={"kind": "replay", "path": str(tmp_path / "nope.jsonl")})
    for name, expect in (("broken", "bad.jsonl:1"), ("absent", "replay file not found")):
        r = bench("run", "--profile", "smoke", "--models", name, "--suite", "indomain", "--store",
                  str(store), "--registry", reg)
        assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr
