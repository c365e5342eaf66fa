"""Out-of-domain suite, lm-eval part: the standard protocol reproduces lm-eval run directly, on the
same data, for the bare base and for base + LoRA adapter; and the suite end to end through the CLI."""
from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import replace

import pytest

from benchmarks.outdomain import SUITE, _sources, _standard, to_item
from benchkit import ROOT, SHARED, bench
from core.config import DataSpec
from harness.registry import load_registry
from core.context import Context
from harness.runner import model_handle

STOCK_ONLY = {"task", "tag", "dataset_path", "dataset_name", "dataset_kwargs",
              "training_split", "validation_split", "test_split"}


@pytest.fixture(scope="module")
def ctx(smoke_store):
    return Context(reg=load_registry(ROOT / "registry.yaml"), profile_name="smoke", store_dir=smoke_store)


@pytest.fixture(scope="module")
def twins(ctx):
    return SUITE.items(ctx.profile, "standard")


def _direct(folder, items, model_args: str) -> dict:
    """lm-eval on its own: its hf model loader, our task folder holding the same JSONL rows."""
    import lm_eval

    names = _standard.write_tasks(items, folder)
    return lm_eval.simple_evaluate(model="hf", model_args=model_args, tasks=sorted(names.values()),
                                   task_manager=_standard.task_manager(folder), device="cpu", batch_size=16,
                                   log_samples=True)


def _by_dataset(outcomes) -> dict[str, float]:
    got = defaultdict(list)
    for o in outcomes:
        got[o.dataset].append(o.metrics["correct"])
    return {ds: sum(v) / len(v) for ds, v in got.items()}


def _check_same(outcomes, direct: dict, items) -> dict[str, float]:
    assert len(outcomes) == len(items) and {o.item_id for o in outcomes} == {i.id for i in items}
    ours = _by_dataset(outcomes)
    theirs = {ds: direct["results"][t]["acc,none"] for ds, t in _standard.TASKS.items()
              if t in direct["results"]}
    assert set(ours) == set(theirs)
    for ds in ours:
        assert ours[ds] == pytest.approx(theirs[ds], abs=1e-12), (ds, ours, theirs)
    per_item = {s["doc"][_standard.ID_FIELD]: float(s["acc"])
                for t in _standard.TASKS.values() for s in direct["samples"].get(t, [])}
    assert {o.item_id: o.metrics["correct"] for o in outcomes} == per_item
    from reports.metrics import mean_stderr
    for ds, task in _standard.TASKS.items():  # the report's stderr formula is lm-eval's, to the bit
        if task in direct["results"]:
            correct = [o.metrics["correct"] for o in outcomes if o.dataset == ds]
            assert mean_stderr(correct) == direct["results"][task]["acc_stderr,none"]
    for o in outcomes:  # lm-eval's own aggregate rides along on every item
        assert o.metrics["lm_eval_acc"] == pytest.approx(ours[o.dataset])
        assert 0 <= o.metrics["lm_eval_acc_stderr"] < 0.5 and o.n_tokens == 0 and o.completion
    return ours


def test_task_configs_are_lm_evals_own(twins, tmp_path):
    from lm_eval.tasks._yaml_loader import load_yaml
    import lm_eval.tasks

    _standard.write_tasks(twins.items, tmp_path)
    stock_root = lm_eval.tasks.__path__[0]
    for ds, (stock, split) in _standard.STOCK.items():
        ours = load_yaml(tmp_path / f"{ds}.yaml", resolve_func=False)
        theirs = load_yaml(f"{stock_root}/{stock}", resolve_func=False)
        assert {k: v for k, v in ours.items() if k not in STOCK_ONLY} == \
               {k: v for k, v in theirs.items() if k not in STOCK_ONLY}, ds
        assert ours["dataset_path"] == "json" and list(ours["dataset_kwargs"]["data_files"]) == [split]
        assert ours.get(f"{split}_split") == split and ours["training_split"] is None


def _real_items(tmp_path, n: int) -> list:
    """The first ``n`` real CommonsenseQA and ARC-Challenge rows, read through the local-folder source
    (the hub's layout); none when the public data is absent."""
    if not SHARED.is_dir():
        return []
    data = tmp_path / "data"
    for sub, split, name in [("allenai__ai2_arc__ARC-Challenge", "test", "arc_challenge_test.jsonl"),
                             ("tau__commonsense_qa", "validation", "commonsense_qa_sample200.jsonl")]:
        (data / sub).mkdir(parents=True)
        shutil.copy(SHARED / name, data / sub / f"{split}.jsonl")
    spec = DataSpec(source="local", dir=str(data), test_rows=n)
    items = []
    for ds in ("commonsense_qa", "arc_challenge"):
        recs, skipped = _sources.records(ds, spec, spec.test_rows)
        assert len(recs) == n and skipped == 0
        items += [replace(to_item(r, i), id="real-" + r.id) for i, r in enumerate(recs)]
    return items


def test_standard_equals_lm_eval_direct_base(ctx, twins, smoke_base, tmp_path):
    """Synthetic twins of all three datasets, plus real CSQA/ARC rows when the public data is there."""
    real = _real_items(tmp_path, 30)
    itemset = replace(twins, items=twins.items + real)
    outcomes = SUITE.run_protocol("standard", model_handle(ctx, "base", "outdomain"), itemset, {"batch_size": 16})
    accs = _check_same(outcomes, _direct(tmp_path / "tasks", itemset.items, f"pretrained={smoke_base}"),
                       itemset.items)
    print(f"standard acc, smoke base, {len(twins.items)} twins + {len(real)} real rows:", accs)


def test_standard_equals_lm_eval_direct_with_adapter(ctx, twins, smoke_base, tmp_path):
    """The harness's loaded base with the SFT adapter active == lm-eval loading base + peft itself."""
    handle = model_handle(ctx, "sft", "outdomain")
    outcomes = SUITE.run_protocol("standard", handle, twins, {"batch_size": 16})
    direct = _direct(tmp_path, twins.items, f"pretrained={smoke_base},peft={handle.adapter}")
    accs = _check_same(outcomes, direct, twins.items)
    base = _direct(tmp_path, twins.items, f"pretrained={smoke_base}")
    ll = lambda res: [r[0] for t in sorted(res["samples"]) for s in res["samples"][t] for r in s["filtered_resps"]]
    assert ll(direct) != ll(base)  # the adapter really changes the model that lm-eval scored
    print("standard acc, smoke sft:", accs)


def test_resume_runs_lm_eval_on_the_missing_items_only(ctx, twins):
    handle = model_handle(ctx, "base", "outdomain")
    full = {o.item_id: o for o in SUITE.run_protocol("standard", handle, twins, {"batch_size": 16})}
    part = [it for k, it in enumerate(twins.items) if k % 3 == 0]
    again = SUITE.run_protocol("standard", handle, replace(twins, items=part), {"batch_size": 16})
    assert [o.item_id for o in again] and {o.item_id for o in again} == {i.id for i in part}
    for o in again:  # per item, the same verdict as in the full run
        assert o.metrics["correct"] == full[o.item_id].metrics["correct"]
        assert o.completion == full[o.item_id].completion
    assert SUITE.run_protocol("standard", handle, replace(twins, items=[]), {}) == []


def test_bench_run_and_report_outdomain(smoke_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    r = bench("run", "--profile", "smoke", "--models", "sft", "--suite", "outdomain", "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    r = bench("report", "--profile", "smoke", "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    for needle in ("outdomain", "thesis", "standard", "boolq", "commonsense_qa", "arc_challenge"):
        assert needle in out, (needle, out[-3000:])
    # a second run finds everything stored: no model call, lm-eval not started again
    r = bench("run", "--profile", "smoke", "--models", "sft", "--suite", "outdomain", "--store", str(store))
    assert r.returncode == 0 and "0 new generations, 0 model calls" in r.stdout, r.stdout[-2000:]
