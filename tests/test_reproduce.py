"""`bench reproduce`: a report equal to its snapshot says so; a changed figure or fingerprint is listed."""
from __future__ import annotations

import copy
import json

from harness.cli import main

DOC = {"code_version": "0.2.0+abc", "profile": "tiny",
       "tables": [{"key": "indomain-thesis", "columns": [{"group": "", "label": "n"}, {"group": "", "label": "Accuracy"}],
                   "rows": [{"labels": ["sft"], "cells": [{"text": "128"}, {"text": "65.6% [57.0, 74.2]"}]}]}],
       "provenance": [{"model": "sft", "fingerprint": "f" * 64}]}


def _write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def test_reproduced_then_a_difference(tmp_path, capsys):
    store, expected = tmp_path / "runs", tmp_path / "expected.json"
    _write(store / "reports" / "report.json", DOC)
    assert main(["reproduce", str(expected), "--write", "--store", str(store)]) == 0
    assert main(["reproduce", str(expected), "--store", str(store)]) == 0
    assert "reproduced: all 2 figures and 1 fingerprints" in capsys.readouterr().out
    changed = copy.deepcopy(DOC)
    changed["tables"][0]["rows"][0]["cells"][1]["text"] = "64.8% [57.0, 72.7]"
    changed["provenance"][0]["fingerprint"] = "e" * 64
    _write(store / "reports" / "report.json", changed)
    assert main(["reproduce", str(expected), "--store", str(store)]) == 1
    out = capsys.readouterr().out
    assert "not reproduced: 2 difference(s)" in out and "fingerprint of sft" in out
    assert "indomain-thesis | sft | Accuracy: published '65.6% [57.0, 74.2]', this run '64.8% [57.0, 72.7]'" in out


def test_missing_files_are_one_line(tmp_path, capsys):
    assert main(["reproduce", str(tmp_path / "x.json"), "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no report to compare" in err and err.count("\n") == 1


def _with_accuracy(text: str, fp: str = "f" * 64) -> dict:
    doc = copy.deepcopy(DOC)
    doc["tables"][0]["rows"][0]["cells"][1]["text"] = text
    doc["provenance"][0]["fingerprint"] = fp
    return doc


def test_each_machine_type_publishes_its_own_figures(tmp_path, capsys, monkeypatch):
    """Same fingerprints, other float kernels: a second machine's figures join the snapshot,
    either machine reproduces its own, and a third is told none were published for it."""
    from core import device

    store, expected = tmp_path / "runs", tmp_path / "expected.json"
    report = store / "reports" / "report.json"
    monkeypatch.setattr(device, "machine", lambda: "Xeon, AVX512, torch 2.13.0+cpu")
    _write(report, DOC)
    assert main(["reproduce", str(expected), "--write", "--store", str(store)]) == 0
    monkeypatch.setattr(device, "machine", lambda: "AMD EPYC, AVX2, torch 2.13.0+cpu")
    _write(report, _with_accuracy("64.8% [56.2, 72.6]"))
    assert main(["reproduce", str(expected), "--store", str(store)]) == 1
    out = capsys.readouterr().out
    assert "not reproduced: 1 difference(s)" in out and "published from Xeon, AVX512" in out
    assert "no figures were published from a machine like this one (AMD EPYC, AVX2" in out
    assert main(["reproduce", str(expected), "--write", "--store", str(store)]) == 0
    assert "kept the figures published from Xeon, AVX512" in capsys.readouterr().out
    assert [s["machine"] for s in json.loads(expected.read_text())["machines"]] == [
        "Xeon, AVX512, torch 2.13.0+cpu", "AMD EPYC, AVX2, torch 2.13.0+cpu"]
    assert main(["reproduce", str(expected), "--store", str(store)]) == 0
    assert "published from AMD EPYC, AVX2" in capsys.readouterr().out
    monkeypatch.setattr(device, "machine", lambda: "Xeon, AVX512, torch 2.13.0+cpu")
    assert main(["reproduce", str(expected), "--store", str(store)]) == 0  # equal to a published set is reproduced
    assert "published from AMD EPYC, AVX2" in capsys.readouterr().out
    _write(report, _with_accuracy("66.4% [57.9, 74.0]"))
    assert main(["reproduce", str(expected), "--store", str(store)]) == 1  # compared with this machine type's own
    out = capsys.readouterr().out
    assert "published from Xeon, AVX512" in out and "like this one" not in out
    _write(report, DOC)
    assert main(["reproduce", str(expected), "--store", str(store)]) == 0
    monkeypatch.setattr(device, "machine", lambda: "ARM Neoverse, DEFAULT, torch 2.13.0")
    _write(report, _with_accuracy("60.9% [52.3, 69.0]"))
    assert main(["reproduce", str(expected), "--store", str(store)]) == 1
    assert "like this one (ARM Neoverse" in capsys.readouterr().out


def test_new_fingerprints_drop_the_other_machines_figures(tmp_path, capsys, monkeypatch):
    from core import device

    store, expected = tmp_path / "runs", tmp_path / "expected.json"
    report = store / "reports" / "report.json"
    monkeypatch.setattr(device, "machine", lambda: "A")
    _write(report, DOC)
    main(["reproduce", str(expected), "--write", "--store", str(store)])
    monkeypatch.setattr(device, "machine", lambda: "B")
    _write(report, _with_accuracy("64.8% [56.2, 72.6]", fp="e" * 64))
    assert main(["reproduce", str(expected), "--write", "--store", str(store)]) == 0
    assert "dropped the figures published from A (other fingerprints)" in capsys.readouterr().out
    assert [s["machine"] for s in json.loads(expected.read_text())["machines"]] == ["B"]


def test_the_first_snapshot_format_still_compares(tmp_path, capsys):
    """Snapshots written before machine sets: one unlabelled figure set at the top level."""
    store, expected = tmp_path / "runs", tmp_path / "expected.json"
    _write(store / "reports" / "report.json", DOC)
    from reports.reproduce import figures, fingerprints

    _write(expected, {"code_version": "0.2.0+abc", "profile": "tiny", "fingerprints": fingerprints(DOC),
                      "figures": figures(DOC)})
    assert main(["reproduce", str(expected), "--store", str(store)]) == 0
    assert "published from a machine that was not recorded at 0.2.0+abc" in capsys.readouterr().out
