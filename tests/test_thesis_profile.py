"""The thesis profile as a user runs it (issue #14), proven on the CPU: the GRPO prompt cap and
the SFT length limit drop rows (counted), the thesis's effective GRPO batch and its step count,
the bitsandbytes options' CPU error, device and dtype in every manifest."""
from __future__ import annotations

import dataclasses
import json
import math
import shutil

import pytest

from benchkit import ROOT, bench
from core.batching import grpo_batch, grpo_optimizer_steps, grpo_rows


# ------------------------------------------------------------------ the effective batch (pure)
def _hyper(model: str, profile: str = "thesis") -> dict:
    from core.recipes import effective_hyper
    from harness.registry import load_registry

    reg = load_registry(ROOT / "registry.yaml")
    return effective_hyper(reg.models[model], reg.profile(profile))


def test_thesis_variants_make_the_thesis_step_count():
    """Unsloth trained 1 prompt × num_generations per device step: 125 steps in-domain (2×8 → 8
    prompts per step), 250 out-of-domain (4×4 → 4), for the thesis's 1,000 rows."""
    from core.config import DataSpec

    hub = DataSpec(source="hub")
    for name, steps, per_step in (("grpo-1k-def", 125, 8), ("grpo-1k", 125, 8), ("grpo-hybrid", 250, 4),
                                  ("grpo-intuitor-fixed", 250, 4)):
        h = _hyper(name)
        assert h["batch_size_unit"] == "unsloth"
        assert grpo_batch(h).completions_per_device_step == h["num_generations"]  # one prompt per device step
        assert grpo_batch(h).prompts_per_optimizer_step == per_step
        assert grpo_optimizer_steps(h, grpo_rows(h, hub)) == steps, name
        # the other reading stays available: batch_size prompts per device step
        other = {**h, "batch_size_unit": "prompts"}
        assert grpo_optimizer_steps(other, 1000) == 62


def test_unsloth_keeps_a_batch_that_is_already_a_multiple():
    h = {"batch_size": 6, "num_generations": 3, "grad_accum": 2, "epochs": 1, "max_steps": -1}
    assert grpo_batch(h).completions_per_device_step == 6  # 2 prompts: Unsloth leaves it alone
    assert grpo_optimizer_steps(h, 100) == 25
    assert grpo_optimizer_steps({**h, "max_steps": 7}, 100) == 7
    assert grpo_optimizer_steps({**h, "epochs": 0.5}, 100) == 13  # fractional epochs round up


def test_plan_shows_the_optimizer_steps_per_grpo_variant(tmp_path):
    r = bench("plan", "--profile", "thesis", "--models", "all", "--suite", "all", "--store", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr[-2000:]
    lines = {ln.split("[")[0].strip(" └─"): ln for ln in r.stdout.splitlines() if "would train grpo" in ln}
    assert "125 optimizer steps" in lines["grpo-1k-def"] and "8 prompts × 3 generations" in lines["grpo-1k-def"]
    assert "250 optimizer steps" in lines["grpo-hybrid"] and "4 prompts × 6 generations" in lines["grpo-hybrid"]
    from harness.registry import load_registry

    grpo = {n for n, m in load_registry(ROOT / "registry.yaml").models.items() if m.trainer == "grpo"}
    assert set(lines) == grpo  # every GRPO variant, each with its fingerprint (rich markup escaped)
    assert all("optimizer steps" in ln for ln in lines.values())


def test_sft_bitsandbytes_options_refuse_the_cpu_in_one_line(tmp_path):
    """The thesis profile's SFT asks for a 4-bit base and 8-bit AdamW: on a CPU a clear error,
    exit 2, before any data or weights are fetched."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the options are valid here")
    assert _hyper("sft")["load_in_4bit"] is True and _hyper("sft")["optim"] == "adamw_8bit"
    assert _hyper("sft", "smoke")["load_in_4bit"] is False
    r = bench("train", "sft", "--profile", "thesis", "--store", str(tmp_path / "s"))
    assert r.returncode == 2, (r.stdout[-1000:], r.stderr[-1000:])
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("bench: error:")]
    assert len(errors) == 1 and "load_in_4bit" in errors[0] and "CUDA" in errors[0]
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ trainers on the smoke model
@pytest.fixture(scope="module")
def smoke_copy(smoke_store, tmp_path_factory):
    store = tmp_path_factory.mktemp("thesis-profile") / "store"
    shutil.copytree(smoke_store, store)
    return store


def _job(store, name: str, **hyper):
    from core.checkpoints import CheckpointStore
    from harness.plan import make_plan
    from harness.registry import load_registry

    reg = load_registry(ROOT / "registry.yaml")
    plan = make_plan(reg, "smoke", [name], [], CheckpointStore(store))
    job = next(j for j in plan.train if j.name == name)
    return dataclasses.replace(job, hyper={**job.hyper, **hyper}, work_dir=None)


def _smoke_tokenizer(store):
    from core.modeling import use_thesis_template
    from transformers import AutoTokenizer

    base = next((store / "checkpoints").glob("base-*"))
    return use_thesis_template(AutoTokenizer.from_pretrained(str(base)))


@pytest.mark.parametrize("unit", ["unsloth", "prompts"])
def test_grpo_drops_over_long_prompts_and_makes_the_planned_steps(smoke_copy, tmp_path, unit):
    """Before the fix the cap compared ``len()`` of a dict (2) and kept every prompt. Now the
    prompts longer than the cap are dropped and counted, and TRL makes exactly the optimizer
    steps ``core.batching`` computes for the rows kept, under either batch reading."""
    from core.modeling import prompt_ids
    from core.sources.math import grpo_examples
    from core.thesis_format import messages
    from trainers.grpo import train

    job = _job(smoke_copy, "grpo-1k-def", batch_size=2, num_generations=2, grad_accum=2, max_steps=-1,
               train_rows=16, batch_size_unit=unit)
    tok = _smoke_tokenizer(smoke_copy)
    rows = grpo_examples(job.profile.data, 16, seed=job.hyper["seed"])
    lengths = sorted(len(prompt_ids(tok, messages(r["problem"]))) for r in rows)
    cap = lengths[len(lengths) // 2]
    over = sum(n > cap for n in lengths)
    assert 0 < over < len(rows)
    out = tmp_path / "out"
    out.mkdir()
    m = train(dataclasses.replace(job, hyper={**job.hyper, "max_prompt_length": cap}), out)
    assert m["dropped_long_prompts"] == over and m["rows"] == len(rows) - over
    want = grpo_optimizer_steps(job.hyper, m["rows"])
    assert want == m["rows"] // (2 if unit == "unsloth" else 4)
    assert m["steps"] == m["planned_steps"] == want
    assert m["batch"]["completions_per_device_step"] == (2 if unit == "unsloth" else 4)
    assert m["device"]["device"] == "cpu" or m["device"]["device"].startswith("cuda")


def test_sft_drops_over_long_rows_and_never_truncates(smoke_copy, tmp_path):
    """Rows longer than max_seq_length are dropped and counted (TRL would cut them from the end,
    losing <SOLUTION> and EOS); the count equals an independent measurement of the rows."""
    from core.modeling import render_prompt
    from core.sources.math import sft_examples
    from core.thesis_format import REASONING_START, messages
    from trainers.sft import drop_long, train

    job = _job(smoke_copy, "sft")
    tok = _smoke_tokenizer(smoke_copy)
    rows = sft_examples(job.profile.data, job.hyper["max_rows"])
    lengths = [len(tok(render_prompt(tok, messages(r["problem"])) + r["assistant"].removeprefix(REASONING_START)
                       + tok.eos_token, add_special_tokens=False)["input_ids"]) for r in rows]
    cap = sorted(lengths)[len(lengths) // 2]
    over = sum(n > cap for n in lengths)
    assert 0 < over < len(rows)
    out = tmp_path / "out"
    out.mkdir()
    m = train(dataclasses.replace(job, hyper={**job.hyper, "max_seq_length": cap}), out)
    dropped = m["dropped_long_rows"]
    assert dropped["train"] + dropped["eval"] == over and dropped["max_seq_length"] == cap
    assert m["trained_rows"] + dropped["train"] + math.ceil(len(rows) * 0.1) == len(rows)
    assert m["device"]["dtype"] in ("float32", "bfloat16")

    from datasets import Dataset

    kept, n = drop_long(Dataset.from_dict({"input_ids": [[1] * 3, [1] * 5, [1] * 4]}), 4)
    assert n == 1 and [len(x) for x in kept["input_ids"]] == [3, 4]  # kept rows are untouched


def test_every_stage_records_device_and_dtype(smoke_store):
    from core.device import device, dtype

    dev = device()
    seen = set()
    for manifest in (smoke_store / "checkpoints").glob("*/manifest.json"):
        m = json.loads(manifest.read_text())
        d = m["train_metrics"]["device"]
        assert d["device"] == dev and d["dtype"] == str(dtype(dev)).replace("torch.", "")
        assert d["weights_dtype"] in ("float32", "bfloat16")
        seen.add(m["name"])
    assert {"base", "sft", "grpo-1k-def"} <= seen
