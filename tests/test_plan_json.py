"""``bench plan --json`` carries the GRPO optimizer steps ``bench plan`` prints, from the same
function (core.batching), and the thesis's figures come out of it: 1,000 rows at 8 and 4 prompts
per optimizer step (Unsloth's batch rewrite, QUIRKS.md) are 125 and 250 steps."""
from __future__ import annotations

import json
import re

import pytest

from benchkit import ROOT, bench

REG = str(ROOT / "registry.yaml")


@pytest.mark.parametrize("profile", ["thesis", "tiny"])
def test_plan_json_has_the_printed_optimizer_steps(profile, tmp_path):
    common = ("--profile", profile, "--registry", REG, "--store", str(tmp_path / "s"), "--models", "all",
              "--suite", "indomain")
    r = bench("plan", *common, "--json")
    assert r.returncode == 0, r.stderr
    jobs = {j["name"]: j for j in json.loads(r.stdout)["train"]}
    text = bench("plan", *common, env={"COLUMNS": "400"})
    assert text.returncode == 0, text.stderr
    printed = dict(re.findall(r"(\S+) \[[0-9a-f]{12}\].*? · (\d+) optimizer steps", text.stdout))
    grpo = {n: j["grpo"] for n, j in jobs.items() if j["trainer"] == "grpo"}
    assert grpo and set(printed) == set(grpo), (printed, list(grpo))
    for name, steps in grpo.items():
        assert steps["optimizer_steps"] == int(printed[name]), name
    assert all(j["grpo"] is None for j in jobs.values() if j["trainer"] != "grpo")
    if profile == "thesis":
        assert grpo["grpo-1k"]["optimizer_steps"] == 125 and grpo["grpo-1k"]["prompts_per_optimizer_step"] == 8
        assert grpo["grpo-intuitor"]["optimizer_steps"] == 250 and grpo["grpo-intuitor"]["rows"] == 1000
    else:  # the tiny profile caps GRPO at max_steps
        assert {s["optimizer_steps"] for s in grpo.values()} == {40} and grpo["grpo-1k"]["max_steps"] == 40
