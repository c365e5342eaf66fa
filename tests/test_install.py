"""Installable and publishable: the starter registry ships inside the package (`bench init`), the
wheel carries it and the LICENSE, and bfcl-eval is an extra whose absence is a one-line error."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from benchkit import ROOT, bench

from core.errors import BadInput


def test_packaged_registry_equals_the_repositorys():
    assert (ROOT / "harness" / "data" / "registry.yaml").read_bytes() == (ROOT / "registry.yaml").read_bytes()


def test_init_then_models_outside_the_checkout(tmp_path):
    r = bench("init", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "registry.yaml").read_bytes() == (ROOT / "registry.yaml").read_bytes()
    r = bench("models", "--store", str(tmp_path / "runs"), cwd=tmp_path)
    assert r.returncode == 0 and "grpo-hybrid" in r.stdout, r.stderr
    r = bench("init", cwd=tmp_path)  # never overwrites an edited registry by accident
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert bench("init", "--force", str(tmp_path / "sub" / "my.yaml"), cwd=tmp_path).returncode == 0
    assert (tmp_path / "sub" / "my.yaml").is_file()


def test_no_registry_anywhere_is_one_line(tmp_path):
    r = bench("models", "--store", str(tmp_path / "runs"), cwd=tmp_path)
    assert r.returncode == 2 and "bench init" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_bfcl_extra_names_it(monkeypatch):
    from core.bfcl import env

    for name in [m for m in sys.modules if m.startswith("bfcl_eval")] + ["bfcl_eval", "bfcl_eval.utils"]:
        monkeypatch.setitem(sys.modules, name, None)  # what an install without the extra sees
    with pytest.raises(BadInput, match=r"pip install 'grpo-bench\[bfcl\]'"):
        env.bfcl_module("utils")


@pytest.mark.slow
def test_wheel_ships_registry_and_license(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("grpo_bench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/data/registry.yaml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Provides-Extra: bfcl" in meta and "License-Expression: MIT" in meta
    assert not any(line.startswith("Requires-Dist: bfcl-eval") and "extra" not in line for line in meta.splitlines())
