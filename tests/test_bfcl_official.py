"""BFCL official protocol: bfcl-eval's checkers on safely decoded calls."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from benchmarks.bfcl import (
    AST_CATEGORIES,
    ground_truth_completion,
    official_accuracy,
    official_items,
    official_prompt,
    score_official,
)
from core.bfcl.parse import parse_calls, render_calls
from benchmarks.bfcl import _multiturn, _official

SIZES = {"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "multi_turn_base": 200}


@pytest.mark.parametrize("category", list(SIZES))
def test_items_shape(category):
    items = official_items(category)
    assert len(items) == SIZES[category]
    assert len(official_items(category, limit=3)) == 3
    item = items[0]
    assert {"id", "category", "question", "function", "ground_truth"} <= item.keys()
    assert item["id"].startswith(category) and item["function"]
    if category == "multi_turn_base":
        assert len(item["ground_truth"]) == len(item["question"])
        assert item["involved_classes"] and "initial_config" in item


@pytest.mark.parametrize("category", list(SIZES))
def test_official_prompt(category):
    item = official_items(category, limit=1)[0]
    before = json.dumps(item, sort_keys=True, default=str)
    msgs = official_prompt(item)
    assert msgs[0]["role"] == "system" and msgs[-1]["role"] == "user"
    system = msgs[0]["content"]
    assert system.startswith("You are an expert in composing functions.")
    assert "[func_name1(params_name1=params_value1" in system
    assert json.dumps(item["function"], indent=4) in system
    assert msgs[-1]["content"] == item["question"][0][-1]["content"]
    assert json.dumps(item, sort_keys=True, default=str) == before  # the item is not mutated


def test_ast_model_name_keeps_dots():
    from core.bfcl.env import bfcl_module

    mapping = bfcl_module("constants.model_config").MODEL_CONFIG_MAPPING
    config = mapping[_official.AST_MODEL_NAME.replace("_", "/")]
    assert not config.underscore_to_dot and not config.is_fc_model


@pytest.mark.parametrize("category", AST_CATEGORIES)
def test_ast_ground_truth_scores_100_and_wrong_name_0(category):
    items = official_items(category)
    good = [score_official(it, ground_truth_completion(it)) for it in items]
    failures = [(it["id"], r["error"]) for it, r in zip(items, good) if not r["valid"]]
    assert not failures, failures[:3]
    wrong = []
    for it in items:
        calls = parse_calls(ground_truth_completion(it))
        assert calls  # the ground truth goes through the same parser as model text
        for c in calls:
            c["name"] = c["name"] + "_wrong"
        wrong.append(score_official(it, render_calls(calls)))
    assert not any(r["valid"] for r in wrong)
    acc = official_accuracy({category: good})
    assert acc[category] == 1.0
    assert official_accuracy({category: wrong})[category] == 0.0


def test_ast_decoding_rules():
    item = official_items("simple_python", limit=1)[0]
    gt = ground_truth_completion(item)
    assert score_official(item, gt)["valid"]
    assert score_official(item, f"<think>let me see</think>\n{gt}")["valid"]
    assert score_official(item, f"<start_working_out>x<end_working_out>{gt}")["valid"]
    assert score_official(item, f"```\n{gt}\n```")["valid"]
    as_json = json.dumps([{"name": c["name"], "parameters": c["parameters"]} for c in parse_calls(gt)])
    assert not score_official(item, as_json)["valid"]  # the official format is the Python call list
    for bad in ("", "I cannot help", "[__import__('os').system('touch PWNED')]", gt + gt):
        result = score_official(item, bad)
        assert result["valid"] is False and result["error"]


MT_SAMPLE = list(range(0, 200, 10))


@pytest.fixture(scope="module")
def multi_turn_items():
    return official_items("multi_turn_base")


def test_multi_turn_ground_truth_sample(multi_turn_items):
    for idx in MT_SAMPLE:
        item = multi_turn_items[idx]
        result = score_official(item, ground_truth_completion(item))
        assert result["valid"], (item["id"], result["error"])


@pytest.mark.slow
def test_multi_turn_ground_truth_all(multi_turn_items):
    results = [score_official(it, ground_truth_completion(it)) for it in multi_turn_items]
    assert official_accuracy({"multi_turn_base": results})["multi_turn_base"] == 1.0


def test_multi_turn_wrong_answers(multi_turn_items):
    item = multi_turn_items[0]
    gt = ground_truth_completion(item)
    n = len(gt)
    assert not score_official(item, gt[0])["valid"]  # a single string answers turn 1 only
    assert score_official(item, gt[0])["error_type"] == "multi_turn:force_terminated"
    assert not score_official(item, ["[]"] * n)["valid"]
    assert not score_official(item, [gt[0]] + ["I am done."] * (n - 1))["valid"]
    assert not score_official(item, [gt[1]] + gt[1:])["valid"]
    assert score_official(item, [[g] for g in gt])["valid"]  # per-turn lists of steps
    # steps split across several model messages in a turn are fine
    first = parse_calls(gt[0])
    split = [[render_calls(first[:1]), render_calls(first[1:])]] + [[g] for g in gt[1:]]
    assert score_official(item, split)["valid"]
    assert not score_official(item, 42)["valid"]


def test_multi_turn_no_state_leak_and_cwd_restored(multi_turn_items):
    from core.bfcl.env import bfcl_module

    item = multi_turn_items[1]
    gt = ground_truth_completion(item)
    cwd = os.getcwd()
    assert score_official(item, gt)["valid"]
    assert not score_official(item, ["[]"] * len(gt))["valid"]
    assert score_official(item, gt)["valid"]
    assert os.getcwd() == cwd
    mt_utils = bfcl_module("eval_checker.multi_turn_eval.multi_turn_utils")
    assert not [k for k in vars(mt_utils) if k.startswith("grpobench_")]


HOSTILE_STEPS = [
    "[__import__('os').system('touch PWNED')]",
    "[os.system('touch PWNED')]",
    "[eval(\"__import__('os').system('touch PWNED')\")]",
    "[exec(\"import os; os.system('touch PWNED')\")]",
    "[open(file='PWNED', mode='w')]",
    "[cd(folder=\"'); __import__('os').system('touch PWNED'); ('\")]",
    "[cd(folder='\\\\'), ls(a=\"\\\\'), __import__('os').system('touch PWNED')#\")]",
    "[touch(file_name='PWNED'), echo(content='x', file_name='PWNED')]",
    "[mkdir(dir_name='PWNED')]",
    "[cd(folder=().__class__.__bases__[0].__subclasses__())]",
    "[(lambda: __import__('os').system('touch PWNED'))()]",
    '[{"name": "os.system", "parameters": {"command": "touch PWNED"}}]',
    "[tail(file_name='\\tail(x)', lines=1)]",
    '{"a":' * 60 + "1" + "}" * 60,
    "[" + "cd(folder='x')," * 1000 + "]" + "y" * 1_000_000,
]


def _pwned_anywhere(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        found += glob.glob(str(root / "**" / "PWNED"), recursive=True)
    tmp = Path(tempfile.gettempdir())
    found += glob.glob(str(tmp / "PWNED")) + glob.glob(str(tmp / "*" / "PWNED"))
    return found


def test_multi_turn_hostile_output_never_executes(multi_turn_items, tmp_path, monkeypatch):
    repo = Path.cwd()
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(("system", a)) or 0)
    monkeypatch.setattr(os, "popen", lambda *a, **k: calls.append(("popen", a)))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(("Popen", a)))
    assert not _pwned_anywhere(tmp_path, repo)
    fs_items = [it for it in multi_turn_items if "GorillaFileSystem" in it["involved_classes"]][:2]
    other = [it for it in multi_turn_items if "GorillaFileSystem" not in it["involved_classes"]][:1]
    for item in fs_items + other:
        n = len(item["ground_truth"])
        result = score_official(item, [HOSTILE_STEPS] * n)
        assert result["valid"] is False
        for turn in result["decoded"]:
            for step in turn:
                for call in step:
                    assert call.split("(", 1)[0] in _multiturn.allowed_functions(item)
        for step in HOSTILE_STEPS:
            assert score_official(item, [step] * n)["valid"] is False
    assert os.getcwd() == str(tmp_path)
    assert not calls
    assert not _pwned_anywhere(tmp_path, repo)


def test_official_accuracy_aggregation():
    results = {
        "simple_python": [True, False],  # 0.5
        "multiple": [{"valid": True}],  # 1.0
        "parallel": [False, False, True, True],  # 0.5
        "parallel_multiple": [True, True, True, False],  # 0.75
        "multi_turn_base": [True, False, False, False],  # 0.25
    }
    acc = official_accuracy(results)
    assert acc["counts"]["parallel_multiple"] == [3, 4]
    assert acc["non_live_ast"] == pytest.approx((0.5 + 1 + 0.5 + 0.75) / 4)  # unweighted, not 7/11
    assert acc["non_live_ast_complete"] is True
    assert acc["multi_turn"] == 0.25
    assert acc["overall"] == pytest.approx(((0.5 + 1 + 0.5 + 0.75) / 4 + 0.25) / 2)
    partial = official_accuracy({"simple_python": [True]})
    assert partial["non_live_ast"] == 0.25 and partial["non_live_ast_complete"] is False
