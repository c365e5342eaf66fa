"""`make gpu-check` stays alive on the CPU: its reduced form runs end to end, prints the device and
dtype of every stage, and fails when a stage ran off the expected device."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from benchkit import ROOT


def test_gpu_check_reduced_runs_on_this_device(smoke_store, tmp_path):
    from core.device import device

    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)  # sft and grpo-1k-def are built: the rest trains here
    r = subprocess.run([sys.executable, "-m", "harness.gpu_check", "--reduced", "--no-perf", "--store", str(store)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    dev = device()
    assert f"gpu-check: device {dev}" in r.stdout and f"gpu-check passed on {dev}" in r.stdout
    stages = r.stdout.split("stages (checkpoint manifests)")[1].split("cells (")[0]
    for name, trainer in (("base", "pretrain"), ("sft", "sft"), ("grpo-intuitor", "grpo"), ("bfcl-nohybrid", "bfcl_grpo")):
        line = next(ln for ln in stages.splitlines() if ln.split()[:2] == [name, trainer])
        assert f" {dev} " in line and ("float32" in line or "bfloat16" in line), line
    cells = r.stdout.split("cells (backend of each evaluation, per model)")[1]
    line = next(ln for ln in cells.splitlines() if ln.split()[:1] == ["bfcl-nohybrid"])
    assert " 6 " in line and "bfcl,indomain,outdomain" in line and f"hf {dev} " in line, line  # every suite/protocol
    again = r.stdout.split("trained again in a second store")[1].split("\n\n")[0]
    rows = [ln.split() for ln in again.splitlines()[2:] if ln.strip()]
    assert {row[0].rsplit("-", 1)[0] for row in rows} == {"base", "sft", "grpo-1k-def"}, again
    assert all(row[1:] == ["yes"] for row in rows), again  # byte-identical weights, trained twice


def test_gpu_check_fails_on_a_stage_off_the_device(smoke_store, tmp_path):
    from core.device import device
    from harness.gpu_check import check

    store = tmp_path / "store"
    shutil.copytree(smoke_store / "checkpoints", store / "checkpoints")
    assert check(store, device()) == []
    manifest = next((store / "checkpoints").glob("sft-*/manifest.json"))
    m = json.loads(manifest.read_text())
    m["train_metrics"]["device"]["device"] = "elsewhere"
    manifest.write_text(json.dumps(m))
    problems = check(store, device())
    assert len(problems) == 1 and problems[0].startswith("sft: trained on elsewhere")
    del m["train_metrics"]["device"]
    manifest.write_text(json.dumps(m))
    assert check(store, device()) == ["sft: no device in its manifest"]


def test_weight_hashes_see_a_changed_weight_and_ignore_the_rest(smoke_store, tmp_path):
    from harness.gpu_check import weight_hashes

    store = tmp_path / "store"
    shutil.copytree(smoke_store / "checkpoints", store / "checkpoints")
    before = weight_hashes(store)
    sft = next((store / "checkpoints").glob("sft-*"))
    (sft / "manifest.json").write_text("{}")  # timings and paths are not weights
    assert weight_hashes(store) == before
    weights = next(sft.rglob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    after = weight_hashes(store)
    assert [k for k in before if before[k] != after[k]] == [sft.name]
