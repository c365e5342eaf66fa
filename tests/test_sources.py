"""The thesis profile's data path (hub ids through `datasets`), exercised on local files in the
hub schemas: real GSM8K rows from ../shared, and hub-layout folders for the training sets."""
from __future__ import annotations

import json
import shutil

import pytest

from core.sources import math as math_data
from core.sources import synthetic_math
from core.errors import BadInput
from core.config import DataSpec


def _local(tmp_path) -> DataSpec:
    return DataSpec(source="local", dir=str(tmp_path))


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_real_gsm8k_through_the_local_source(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("GRPO_BENCH_DATA_DIR", raising=False)
    shutil.copy(shared_data / "gsm8k_test.jsonl", tmp_path / "gsm8k_main_test.jsonl")
    items = math_data.indomain_items(_local(tmp_path))
    assert len(items) == 1319
    assert items[0]["answer"] == "18" and "Janet" in items[0]["question"]


def test_training_sets_in_hub_layout(tmp_path, monkeypatch):
    monkeypatch.delenv("GRPO_BENCH_DATA_DIR", raising=False)
    rows = synthetic_math.splits(5, 20, 10, 5)
    sft = rows["sft"] + [{"problem": "p", "generated_solution": "<think>x</think>", "expected_answer": "x + 1"}]
    _write(tmp_path / "unsloth__OpenMathReasoning-mini" / "cot.jsonl", sft)
    _write(tmp_path / "open-r1__DAPO-Math-17k-Processed__en" / "train.jsonl", rows["grpo"])
    ex = math_data.sft_examples(_local(tmp_path), 100)
    assert len(ex) == 20  # the non-numeric expected answer is dropped, as in the thesis
    assert ex[0]["assistant"].startswith("<start_working_out>") and ex[0]["assistant"].endswith("</SOLUTION>")
    assert "<think>" not in ex[0]["assistant"]
    grpo = math_data.grpo_examples(_local(tmp_path), 7)
    assert len(grpo) == 7 and {r["answer"] for r in grpo} <= {r["solution"] for r in rows["grpo"]}


def test_missing_offline_data_names_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.delenv("GRPO_BENCH_DATA_DIR", raising=False)
    with pytest.raises(BadInput) as exc:
        math_data.indomain_items(_local(tmp_path))
    assert "openai/gsm8k" in str(exc.value) and "openai__gsm8k__main/test.jsonl" in str(exc.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BadInput) as exc:
        math_data.indomain_items(DataSpec(source="hub"))
    assert "offline" in str(exc.value) and "GRPO_BENCH_DATA_DIR" in str(exc.value)


def test_synthetic_splits_are_disjoint_and_seeded():
    a = synthetic_math.splits(1, 200, 50, 50)
    qs = [r["problem"] for r in a["sft"]] + [r["prompt"] for r in a["grpo"]] + [r["question"] for r in a["test"]]
    assert len(set(qs)) == 300
    assert synthetic_math.splits(1, 200, 50, 50) == a != synthetic_math.splits(2, 200, 50, 50)
    held = set(qs)
    assert not held & {t.split("\n")[0].removeprefix("Question: ") for t in synthetic_math.pretraining_text(1, 300, 100)}
