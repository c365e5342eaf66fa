"""What training leaves beside each adapter: TensorBoard event files (loss, KL, rewards, learning
rate) and a model card, checked on the smoke pipeline's real checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

from benchkit import ROOT, bench

from core.tracking import report_to


def _ckpt(store: Path, name: str) -> Path:
    return next((store / "checkpoints").glob(f"{name}-*"))


def _scalars(folder: Path) -> dict[str, list]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}


def test_report_to_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    assert report_to(None, tmp_path) == ["tensorboard"]  # installed here (dev extra): the default
    assert Path(__import__("os").environ["TENSORBOARD_LOGGING_DIR"]) == tmp_path / "tensorboard"
    assert report_to(["none"], tmp_path) == "none"
    assert report_to(["wandb"], tmp_path) == ["wandb"]


def test_tensorboard_curves_per_variant(smoke_store):
    sft = _scalars(_ckpt(smoke_store, "sft") / "tensorboard")
    assert any("loss" in t for t in sft), sorted(sft)
    grpo = _scalars(_ckpt(smoke_store, "grpo-1k-def") / "tensorboard")
    tags = sorted(grpo)
    for want in ("train/loss", "train/learning_rate", "train/reward"):
        assert want in tags, (want, tags)
    # one curve per reward of the recipe (TRL logs KL only when beta > 0; the thesis recipe has none)
    import yaml

    for reward in yaml.safe_load((ROOT / "registry.yaml").read_text())["models"]["grpo-1k-def"]["rewards"]:
        assert f"train/rewards/{reward}/mean" in tags, (reward, tags)
    steps = [e.step for e in grpo[next(t for t in tags if t.endswith("learning_rate"))]]
    assert steps == sorted(steps) and all(isinstance(s, int) for s in steps) and len(steps) >= 2


def test_model_card_beside_every_adapter(smoke_store):
    for name, parent in (("sft", "base"), ("grpo-1k-def", "sft")):
        ckpt = _ckpt(smoke_store, name)
        manifest = json.loads((ckpt / "manifest.json").read_text())
        card = (ckpt / "adapter" / "README.md").read_text()
        assert card.startswith("---\nlibrary_name: peft") and f"# {name}" in card
        assert manifest["fingerprint"] in card and f"`{parent}`" in card
        assert manifest["parent_fingerprint"][:12] in card and manifest["recipe"]["data"] in card
        assert "More Information Needed" not in card  # not PEFT's blank template
        assert "train_loss" in card or "reward" in card
        cfg = json.loads((ckpt / "adapter" / "adapter_config.json").read_text())
        base = Path(cfg["base_model_name_or_path"])
        assert base.is_dir() and base.name.startswith("base-") and ".tmp" not in str(base)


def test_card_keeps_the_checkpoint_valid(smoke_store):
    """The store checks recorded file sizes: a card written after the manifest would retrain."""
    r = bench("train", "grpo-1k-def", "--profile", "smoke", "--store", str(smoke_store),
              "--registry", str(ROOT / "registry.yaml"))
    assert r.returncode == 0 and "already built" in r.stdout, r.stdout + r.stderr


def test_grpo_rollouts_record_the_fast_loop_on_a_cpu(smoke_store):
    """TRL's rollouts are sampled by core.fast_decode on a CPU (token-identical to generate():
    tests/test_fast_decode.py), and the manifest says so."""
    manifest = json.loads((_ckpt(smoke_store, "grpo-1k-def") / "manifest.json").read_text())
    assert manifest["train_metrics"]["rollouts"] == {"engine": "transformers", "loop": "fast"}
