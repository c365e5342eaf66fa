"""CLI conventions users of lm-eval / TRL expect: --version, --device, generation overrides that
reach the generation key, the hub's download bars left alone, every fingerprint in `bench plan`."""
from __future__ import annotations

import json
import os

import pytest

from benchkit import ROOT, bench

import core
from core.device import ENV
from harness import cli, commands
from harness.runner import gen_config, resolve

REG = str(ROOT / "registry.yaml")


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parser().parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"bench {core.__version__}"


def test_device_sets_the_process_policy(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ENV, raising=False)
    assert cli.main(["suites", "--registry", REG, "--store", str(tmp_path / "s"), "--device", "cpu"]) == 0
    assert os.environ[ENV] == "cpu"
    from core.device import device

    assert device() == "cpu"


def test_hub_download_bars_are_not_suppressed(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert cli.main(["suites", "--registry", REG, "--store", str(tmp_path / "s")]) == 0
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    assert os.environ["TQDM_DISABLE"] == "1"  # library bars (lm-eval, datasets) stay quiet


def _ctx(*extra: str):
    args = cli.parser().parse_args(["run", "--registry", REG, "--profile", "smoke", *extra])
    return resolve(commands._ctx(args), [], ["indomain"])


def test_generation_overrides_reach_the_key():
    plain = _ctx()
    over = _ctx("--max-new-tokens", "7", "--batch-size", "3", "--seed", "5")
    g = over.profile.generation
    assert (g.max_new_tokens, g.batch_size, g.seed) == (7, 3, 5)
    assert plain.reg.profiles["smoke"].generation.max_new_tokens != 7  # the registry itself is untouched
    cfg = gen_config(over, "indomain", "thesis")
    assert cfg["max_new_tokens"] == 7 and cfg["seed"] == 5
    assert "seed" not in gen_config(plain, "indomain", "thesis")  # existing keys (and stored cells) unchanged
    assert over.gen_hashes[("indomain", "thesis")] != plain.gen_hashes[("indomain", "thesis")]
    # batch size changes speed, not results: same key
    assert _ctx("--batch-size", "3").gen_hashes == plain.gen_hashes


@pytest.mark.parametrize("bad", [("--batch-size", "0"), ("--max-new-tokens", "-1"), ("--seed", "x")])
def test_bad_overrides_one_line(bad, tmp_path):
    r = bench("run", "--registry", REG, "--store", str(tmp_path / "s"), *bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "s").exists()


def test_plan_prints_every_fingerprint(tmp_path):
    common = ("--registry", REG, "--store", str(tmp_path / "s"), "--models", "all", "--suite", "indomain")
    r = bench("plan", *common, "--json")
    assert r.returncode == 0, r.stderr
    fps = [j["fingerprint"] for j in json.loads(r.stdout)["train"]]
    assert any(fp[0].isalpha() for fp in fps) or len(fps) > 5
    r = bench("plan", *common, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    for fp in fps:
        assert f"[{fp}]" in r.stdout, fp
