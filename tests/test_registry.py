"""Registry validation: the real file loads; malformed ones give one line naming file and key."""
from __future__ import annotations

import textwrap

import pytest
import yaml

from core.errors import BadInput
from harness.registry import load_registry

from benchkit import bench

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _write(tmp_path, text: str):
    p = tmp_path / "registry.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def _mutated(registry_path, tmp_path, mutate):
    data = yaml.safe_load(registry_path.read_text())
    mutate(data)
    p = tmp_path / "registry.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_real_registry_has_every_thesis_variant(registry_path):
    reg = load_registry(registry_path)
    for name in ["sft", "grpo-1k", "grpo-1k-v2", "grpo-1k-v3", "grpo-1k-def", "grpo-intuitor", "grpo-hybrid",
                 "grpo-dualhead", "bfcl-hybrid", "bfcl-nohybrid", "bfcl-hybrid-v2"]:
        assert name in reg.models
    assert set(reg.profiles) >= {"tiny", "smoke", "thesis"} and reg.default_profile == "tiny"
    assert reg.lineage("bfcl-hybrid") == ["base", "sft", "grpo-hybrid", "bfcl-hybrid"]
    assert reg.models["grpo-1k-def"].rewards == ["match_format_exactly", "match_format_approximately",
                                                  "check_answer", "check_numbers"]
    assert reg.models["grpo-hybrid"].hyper["learning_rate"] == 5e-7


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: d["models"]["sft"]["hyper"].update(lr=1), "models.sft.hyper.lr: unknown key"),
    (lambda d: d["models"]["sft"].update(colour="red"), "models.sft.colour: unknown key"),
    (lambda d: d["models"]["grpo-1k"].update(parent="nope"), "models.grpo-1k.parent: unknown model 'nope'"),
    (lambda d: d["models"]["sft"].update(parent="grpo-1k"), "cycle"),
    (lambda d: d["models"]["sft"].update(trainer="dpo"), "models.sft.trainer: unknown trainer 'dpo'"),
    (lambda d: d["models"]["grpo-1k"].update(rewards=["magic"]), "unknown reward 'magic'"),
    (lambda d: d["suites"].update(mmlu={"protocols": ["x"]}), "suites.mmlu: unknown suite"),
    (lambda d: d["models"]["sft"]["hyper"].update(learning_rate="fast"), "models.sft.hyper.learning_rate"),
    (lambda d: d["profiles"]["tiny"].update(judge="oracle"), "profiles.tiny.judge: unknown judge 'oracle'"),
    (lambda d: d["profiles"]["tiny"]["overrides"]["grpo"].update(lrr=1), "overrides.grpo.lrr: unknown key"),
    (lambda d: d.pop("models"), "models: Field required"),
])
def test_malformed_registry_one_clear_line(registry_path, tmp_path, mutate, expect):
    p = _mutated(registry_path, tmp_path, mutate)
    with pytest.raises(BadInput) as exc:
        load_registry(p)
    msg = str(exc.value)
    assert expect in msg and str(p) in msg and "\n" not in msg


@pytest.mark.parametrize("text, expect", [
    ("models: [unclosed", "invalid YAML"),
    ("!!python/object/apply:os.system ['touch pwned']", "invalid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("[" * 10000 + "]" * 10000, "nesting too deep"),
])
def test_hostile_yaml(tmp_path, text, expect):
    p = _write(tmp_path, text)
    with pytest.raises(BadInput) as exc:
        load_registry(p)
    assert expect in str(exc.value)
    assert not (tmp_path / "pwned").exists()


def test_cli_bad_registry_exit_2_no_traceback(tmp_path):
    p = _write(tmp_path, "profiles: {}\nmodels: {a: {parent: b}}\nsuites: {}\njudges: {}\n")
    r = bench("models", "--registry", str(p), "--store", str(tmp_path / "s"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = bench("run", "--models", "nope", "--store", str(tmp_path / "s"))
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = bench("run", "--suite", "nope", "--store", str(tmp_path / "s"))
    assert r.returncode == 2 and "unknown suite 'nope'" in r.stderr


def test_unknown_trainer_or_kind_is_one_line_at_load(tmp_path, capsys):
    """Plugin names (trainers, model kinds, suites, protocols, judge kinds) are checked at load."""
    import yaml

    from harness.cli import main

    raw = yaml.safe_load((ROOT / "registry.yaml").read_text())
    for key, value, expected in [("trainer", "ppo", "unknown trainer 'ppo'"), ("kind", "gguf", "unknown model kind 'gguf'")]:
        bad = {**raw, "models": {**raw["models"], "x": {"parent": "sft", "trainer": "grpo", "rewards": ["hybrid"], key: value}}}
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(bad))
        assert main(["models", "--registry", str(path), "--store", str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "Traceback" not in err

