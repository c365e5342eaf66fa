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
