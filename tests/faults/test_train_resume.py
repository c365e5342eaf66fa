"""kill -9 during `bench train`: the next run resumes from the last trainer checkpoint left in
the build's work folder (not from step 0), and publishes a complete checkpoint."""
from __future__ import annotations

import json
import signal
import time

import pytest

from faultkit import PROFILE, bench, start, write_registry


def _longer_sft(data: dict) -> None:
    prof = data["profiles"][PROFILE]
    prof["data"]["sft_rows"] = 800
    prof["overrides"]["sft"].update(max_rows=800, eval_steps=5, eval_fraction=0.05)


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_trainer_checkpoint(tmp_path):
    reg = write_registry(tmp_path / "registry.yaml", _longer_sft)
    store = tmp_path / "store"
    args = ("train", "sft", "--profile", PROFILE, "--store", str(store), "--registry", str(reg))
    proc = start(*args)
    deadline, work = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:
        works = list((store / "checkpoints").glob(".work-sft-*/checkpoint-*/trainer_state.json"))
        if any(int(p.parent.name.split("-")[1]) >= 10 for p in works):
            work = works[0].parents[1]
            break
        time.sleep(0.2)
    assert work is not None, "no trainer checkpoint appeared before the training ended"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not list((store / "checkpoints").glob("sft-*/manifest.json"))  # nothing half-published
    r = bench(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads(next((store / "checkpoints").glob("sft-*/manifest.json")).read_text())
    resumed = manifest["train_metrics"]["resumed_from"]
    assert resumed and int(resumed.split("-")[1]) >= 10
    assert not work.exists()  # the work folder goes once the checkpoint is published


def test_resume_point_skips_a_half_written_checkpoint(tmp_path):
    from trainers.loading import resume_point

    assert resume_point(tmp_path / "absent") is None
    for n, complete in ((5, True), (10, True), (15, False)):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        (d / "adapter_model.safetensors").write_bytes(b"x")
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert resume_point(tmp_path) == str(tmp_path / "checkpoint-10")
    assert not (tmp_path / "checkpoint-15").exists()  # cut short by the kill: removed
