"""Hostile registries and arguments (issue #16): names that would escape the store, parameters
that only torch/TRL/PEFT would have refused (or nobody: lr = .inf trained a NaN adapter), silent
YAML (duplicate keys), chains that took 70 s to refuse. Each is one line, exit 2, at load —
``bench models`` is enough to see it, so nothing is trained.

The case tables are counted in docs/reliability.md (test_reliability_counts.py checks it).
"""
from __future__ import annotations

import time

import pytest
import yaml

import faultkit
from core.checkpoints import CheckpointStore
from core.errors import BadInput
from harness.cli import main


def cli(capsys, *args) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    _, err = capsys.readouterr()
    return rc, err


def one_line(rc: int, err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("bench: error:") and "Traceback" not in err, (rc, err[-2000:])
    return lines[0]


def _set(path: str, value):
    def mutate(d):
        *keys, last = path.split(".")
        cur = d
        for k in keys:
            cur = cur[k]
        cur[last] = value
    return mutate


def _rename(section: str, old: str, new: str):
    def mutate(d):
        d[section][new] = d[section].pop(old)
        if section == "judges":
            for p in d["profiles"].values():
                if p.get("judge") == old:
                    p["judge"] = new
    return mutate


def _chain(depth: int):
    def mutate(d):
        parent = "sft"
        for i in range(depth):
            d["models"][f"deep{i}"] = {"parent": parent, "trainer": "grpo", "rewards": ["grpo_1k"]}
            parent = f"deep{i}"
    return mutate


# id -> (mutation, a word the one line must contain)
NAMES = {
    "model-dotdot-escape": (lambda d: d["models"].update({"../../escaped": {"kind": "base"}}), "not a valid name"),
    "model-slash": (lambda d: d["models"].update({"a/b": {"kind": "base"}}), "not a valid name"),
    "model-absolute": (lambda d: d["models"].update({"/tmp/x": {"kind": "base"}}), "not a valid name"),
    "model-leading-dot": (lambda d: d["models"].update({".hidden": {"kind": "base"}}), "not a valid name"),
    "model-inner-dotdot": (lambda d: d["models"].update({"a..b": {"kind": "base"}}), "not a valid name"),
    "model-65-chars": (lambda d: d["models"].update({"m" * 65: {"kind": "base"}}), "not a valid name"),
    "model-space": (lambda d: d["models"].update({"my model": {"kind": "base"}}), "not a valid name"),
    "model-newline": (lambda d: d["models"].update({"a\nb": {"kind": "base"}}), "not a valid name"),
    "profile-escape": (_rename("profiles", "smoke", "../smoke"), "not a valid name"),
    "judge-escape": (_rename("judges", "rubric", "../rubric"), "not a valid name"),
    "suite-slash": (_rename("suites", "indomain", "in/domain"), "not a valid name"),
    "reward-relative": (_set("models.grpo-1k.rewards", [".foo:bar"]), "reward name"),
    "reward-path": (_set("models.grpo-1k.rewards", ["../x:y"]), "reward name"),
}

PARAMETERS = {
    "override-epochs-many": (_set(f"profiles.{faultkit.PROFILE}.overrides.sft.epochs", "many"), "epochs"),
    "seed-1e30": (_set("models.sft.hyper.seed", 1e30), "seed"),
    "seed-negative": (_set(f"profiles.{faultkit.PROFILE}.base.seed", -1), "seed"),
    "lr-negative": (_set("models.sft.hyper.learning_rate", -1), "learning_rate"),
    "lr-inf": (_set("models.sft.hyper.learning_rate", float("inf")), "learning_rate"),
    "lr-nan-override": (_set(f"profiles.{faultkit.PROFILE}.overrides.grpo.learning_rate", float("nan")), "learning_rate"),
    "lora-r-zero": (_set("models.sft.hyper.lora_r", 0), "lora_r"),
    "heads-zero": (_set(f"profiles.{faultkit.PROFILE}.base.heads", 0), "heads"),
    "hidden-size-negative": (_set(f"profiles.{faultkit.PROFILE}.base.hidden_size", -32), "hidden_size"),
    "hidden-not-multiple-of-heads": (_set(f"profiles.{faultkit.PROFILE}.base.hidden_size", 33), "multiple"),
    "eval-fraction-1.5": (_set("models.sft.hyper.eval_fraction", 1.5), "eval_fraction"),
    "sft-rows-zero": (_set(f"profiles.{faultkit.PROFILE}.data.sft_rows", 0), "sft_rows"),
    "test-rows-zero": (_set(f"profiles.{faultkit.PROFILE}.data.test_rows", 0), "test_rows"),
    "temperature-nan": (_set(f"profiles.{faultkit.PROFILE}.generation.temperature", float("nan")), "temperature"),
    "temperature-negative": (_set(f"profiles.{faultkit.PROFILE}.generation.temperature", -0.5), "temperature"),
    "max-new-tokens-1e12": (_set(f"profiles.{faultkit.PROFILE}.generation.max_new_tokens", 10 ** 12), "max_new_tokens"),
    "grpo-one-generation": (_set("models.grpo-1k.hyper.num_generations", 1), "num_generations"),
    "bfcl-top-p-zero": (_set("models.bfcl-hybrid.hyper.top_p", 0), "top_p"),
    "batch-size-zero-override": (_set(f"profiles.{faultkit.PROFILE}.overrides.grpo.batch_size", 0), "batch_size"),
    "parent-chain-1500": (_chain(1500), "deeper than"),
}


@pytest.mark.parametrize("case", sorted(NAMES) + sorted(PARAMETERS))
def test_hostile_registry_is_one_line_at_load(case, tmp_path, capsys):
    mutate, word = {**NAMES, **PARAMETERS}[case]
    reg = faultkit.write_registry(tmp_path / "registry.yaml", mutate)
    t0 = time.monotonic()
    rc, err = cli(capsys, "models", "--registry", reg, "--profile", faultkit.PROFILE, "--store", tmp_path / "store")
    line = one_line(rc, err)
    assert word in line, line
    assert time.monotonic() - t0 < 20, "refused, but slowly"
    assert not (tmp_path / "store" / "checkpoints").exists() or not any((tmp_path / "store" / "checkpoints").iterdir())


def _dup_top(text: str) -> str:
    return text + "\ndefault_profile: smoke\ndefault_profile: tiny\n"


def _dup_nested(text: str) -> str:
    data = yaml.safe_load(text)
    lines = yaml.safe_dump(data, sort_keys=False).splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.strip().startswith("learning_rate:"))
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    return "\n".join(lines[: i + 1] + [f"{indent}learning_rate: 1000.0"] + lines[i + 1:]) + "\n"


YAML_TEXTS = {"duplicate-top-level-key": _dup_top, "duplicate-nested-key": _dup_nested}


@pytest.mark.parametrize("case", sorted(YAML_TEXTS))
def test_duplicate_yaml_keys_are_refused(case, tmp_path, capsys):
    path = tmp_path / "registry.yaml"
    path.write_text(YAML_TEXTS[case](faultkit.write_registry(tmp_path / "base.yaml").read_text()))
    rc, err = cli(capsys, "models", "--registry", path, "--store", tmp_path / "store")
    assert "duplicate key" in one_line(rc, err)


ARGUMENTS = {
    "store-empty": ["models", "--store", ""],
    "store-blank": ["plan", "--store", "  "],
    "train-escape-name": ["train", "../../escaped", "--store", "{store}"],
}


@pytest.mark.parametrize("case", sorted(ARGUMENTS))
def test_hostile_arguments_are_one_line(case, tmp_path, capsys, fault_registry):
    args = [a.replace("{store}", str(tmp_path / "store")) for a in ARGUMENTS[case]]
    rc, err = cli(capsys, *args, "--registry", fault_registry)
    one_line(rc, err)
    assert not (tmp_path.parent / "escaped").exists()


ESCAPES = {"dotdot": ("../../escaped", "0" * 64), "slash": ("a/b", "0" * 64), "absolute": ("/etc", "0" * 64),
           "fp-traversal": ("sft", "../../" + "0" * 58), "fp-empty": ("sft", "")}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_checkpoint_paths_stay_inside_the_store(case, tmp_path):
    """Even a caller that skips the registry cannot make the store build or delete outside itself."""
    name, fp = ESCAPES[case]
    store = CheckpointStore(tmp_path / "store")
    with pytest.raises(BadInput):
        store.path(name, fp)
    with pytest.raises(BadInput):
        store.build(name, fp, lambda out: {}, {})
    assert {p.name for p in tmp_path.iterdir()} <= {"store"} and not list(tmp_path.parent.glob("escaped*"))


ALL_CASES = {**{f"registry:{k}": v for k, v in {**NAMES, **PARAMETERS}.items()},
             **{f"yaml:{k}": v for k, v in YAML_TEXTS.items()}, **{f"args:{k}": v for k, v in ARGUMENTS.items()},
             **{f"store-path:{k}": v for k, v in ESCAPES.items()}}
