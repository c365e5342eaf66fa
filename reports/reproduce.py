"""Is this run the published one? Compare a report's figures with a committed snapshot.

A snapshot holds every figure of ``report.json`` as printed (``"65.6% [57.0, 74.2]"``), keyed by
table, row and column, plus each model's fingerprint and the commit that made it. The same
commit and seeds must print the same text; a different fingerprint explains a difference (the
recipe changed) and is listed first.
"""
from __future__ import annotations

import json
from pathlib import Path


def figures(doc: dict) -> dict[str, str]:
    """``"table | row | column" -> printed text`` for every figure of a ``report.json``."""
    out = {}
    for t in doc.get("tables", []):
        cols = [" / ".join(x for x in (c.get("group"), c.get("label")) if x) for c in t.get("columns", [])]
        for r in t.get("rows", []):
            row = " / ".join(str(x) for x in r.get("labels", []))
            for col, cell in zip(cols, r.get("cells", [])):
                out[f"{t.get('key')} | {row} | {col}"] = cell.get("text", "")
    return out


def fingerprints(doc: dict) -> dict[str, str]:
    return {p["model"]: p.get("model_fp") or p.get("fingerprint") or "" for p in doc.get("provenance", [])
            if isinstance(p, dict) and p.get("model")}


def snapshot(doc: dict) -> dict:
    return {"code_version": doc.get("code_version"), "profile": doc.get("profile"),
            "fingerprints": fingerprints(doc), "figures": figures(doc)}


def differences(expected: dict, doc: dict) -> list[str]:
    """Human-readable differences, fingerprints first; [] when every figure is reproduced."""
    got_fp, got = fingerprints(doc), figures(doc)
    diffs = [f"fingerprint of {m}: published {fp[:12]}, this run {got_fp.get(m, 'absent')[:12]}"
             for m, fp in expected.get("fingerprints", {}).items() if got_fp.get(m) != fp]
    for key, text in expected.get("figures", {}).items():
        if key not in got:
            diffs.append(f"{key}: published {text!r}, absent from this run")
        elif got[key] != text:
            diffs.append(f"{key}: published {text!r}, this run {got[key]!r}")
    diffs += [f"{key}: not published, this run {got[key]!r}" for key in got if key not in expected.get("figures", {})]
    return diffs


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
