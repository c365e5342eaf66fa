"""The spine end to end on the smoke profile, through the real CLI: train, evaluate, report,
re-run with nothing new (no model call), plan."""
from __future__ import annotations

import json
import shutil

from benchkit import bench


def test_pipeline_trains_evaluates_and_reports(smoke_store):
    ckpts = sorted(p.name.rsplit("-", 1)[0] for p in (smoke_store / "checkpoints").iterdir())
    assert ckpts == ["base", "grpo-1k-def", "sft"]
    for p in (smoke_store / "checkpoints").iterdir():
        manifest = json.loads((p / "manifest.json").read_text())
        assert manifest["fingerprint"].startswith(p.name.rsplit("-", 1)[1])
        assert "recipe" in manifest and "train_metrics" in manifest
    grpo = json.loads(next((smoke_store / "checkpoints").glob("grpo-1k-def-*/manifest.json")).read_text())
    comps = grpo["train_metrics"]["reward_components"]
    assert {f"rewards/{r}/mean" for r in ("match_format_exactly", "check_answer")} <= set(comps)
    png = next((smoke_store / "checkpoints").glob("grpo-1k-def-*/reward_curves.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    md = (smoke_store / "reports" / "indomain-thesis.md").read_text()
    assert "sft" in md and "grpo-1k-def" in md
    csv = (smoke_store / "reports" / "indomain-thesis.csv").read_text().splitlines()
    assert csv[0].startswith("model,dataset") and len(csv) == 3


def test_rerun_makes_no_model_call(smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("run", "--profile", "smoke", "--models", "sft,grpo-1k-def", "--suite", "indomain", "--store", str(store))
    assert r.returncode == 0, r.stderr
    assert "0 new generations, 0 model calls" in r.stdout
    r = bench("report", "--profile", "smoke", "--store", str(store))
    assert r.returncode == 0 and "grpo-1k-def" in r.stdout


def test_plan_shows_dag_without_work(smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("plan", "--profile", "smoke", "--models", "all", "--suite", "indomain", "--store", str(store), "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    state = {j["name"]: j["exists"] for j in plan["train"]}
    assert state["sft"] and state["grpo-1k-def"] and not state["grpo-hybrid"]
    assert sorted(p.name.rsplit("-", 1)[0] for p in (store / "checkpoints").iterdir()) == ["base", "grpo-1k-def", "sft"]
    r = bench("plan", "--profile", "smoke", "--store", str(store))
    assert r.returncode == 0 and "would train" in r.stdout


def test_changed_hyperparameter_retrains(smoke_store, tmp_path, registry_path):
    import yaml

    data = yaml.safe_load(registry_path.read_text())
    data["models"]["grpo-1k-def"]["hyper"]["temperature"] = 0.9
    reg = tmp_path / "registry.yaml"
    reg.write_text(yaml.safe_dump(data))
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("plan", "--profile", "smoke", "--models", "grpo-1k-def", "--suite", "indomain", "--store", str(store),
              "--registry", str(reg), "--json")
    state = {j["name"]: j["exists"] for j in json.loads(r.stdout)["train"]}
    assert state == {"base": True, "sft": True, "grpo-1k-def": False}
