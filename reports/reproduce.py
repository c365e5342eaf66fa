"""Is this run the published one? Compare a report's figures with a committed snapshot.

A snapshot holds each model's fingerprint and, per machine type, every figure of
``report.json`` as printed (``"65.6% [57.0, 74.2]"``, keyed by table, row and column) with the
commit that made it. Fingerprints are the same everywhere. Figures are not: float kernels take
other paths on other instruction sets (an AVX2-only EPYC gave 365 of 1,248 demo figures
different from an earlier machine's, with the same fingerprints and a byte-identical base), so
each machine type that published gets its own figure set, labelled by ``core.device.machine``.
A run is reproduced when its fingerprints are the published ones and every figure equals one
published set. A different fingerprint explains a difference (the recipe changed) and is listed
first. The first snapshots had one unlabelled set at the top level; they still load.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

UNLABELLED = "a machine that was not recorded"


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


def figure_set(doc: dict, machine: str) -> dict:
    """One machine's published figures."""
    return {"machine": machine, "code_version": doc.get("code_version"), "figures": figures(doc)}


def sets(expected: dict) -> list[dict]:
    """The published figure sets, the first format's single top-level set included."""
    if "machines" in expected:
        return list(expected["machines"])
    if "figures" in expected:
        return [{"machine": UNLABELLED, "code_version": expected.get("code_version"), "figures": expected["figures"]}]
    return []


def publish(expected: dict | None, doc: dict, machine: str) -> tuple[dict, list[str], list[str]]:
    """The snapshot with this run's figures as ``machine``'s set: (snapshot, kept, dropped).

    Other machines' sets are kept when their fingerprints are this run's (same recipes,
    other kernels) and dropped otherwise: figures of other recipes are not this run's to vouch for."""
    fps = fingerprints(doc)
    same_recipes = expected is not None and expected.get("fingerprints") == fps
    others = [s for s in sets(expected or {}) if s["machine"] != machine]
    kept = [s for s in others if same_recipes]
    dropped = [s["machine"] for s in others if not same_recipes]
    snap = {"profile": doc.get("profile"), "fingerprints": fps, "machines": kept + [figure_set(doc, machine)]}
    return snap, [s["machine"] for s in kept], dropped


def _figure_differences(published: dict[str, str], got: dict[str, str]) -> list[str]:
    diffs = []
    for key, text in published.items():
        if key not in got:
            diffs.append(f"{key}: published {text!r}, absent from this run")
        elif got[key] != text:
            diffs.append(f"{key}: published {text!r}, this run {got[key]!r}")
    return diffs + [f"{key}: not published, this run {got[key]!r}" for key in got if key not in published]


@dataclass
class Verdict:
    """``reproduced`` when ``differences`` is empty; ``against`` is the set compared with (the
    one equal to this run, else this machine type's, else the closest)."""
    against: dict
    differences: list[str] = field(default_factory=list)
    machine_published: bool = True

    @property
    def reproduced(self) -> bool:
        return not self.differences


def compare(expected: dict, doc: dict, machine: str) -> Verdict:
    got_fp, got = fingerprints(doc), figures(doc)
    fp_diffs = [f"fingerprint of {m}: published {fp[:12]}, this run {got_fp.get(m, 'absent')[:12]}"
                for m, fp in expected.get("fingerprints", {}).items() if got_fp.get(m) != fp]
    candidates = sets(expected) or [{"machine": UNLABELLED, "code_version": None, "figures": {}}]
    scored = [(s, _figure_differences(s.get("figures", {}), got)) for s in candidates]
    equal = [(s, d) for s, d in scored if not d]
    mine = [(s, d) for s, d in scored if s["machine"] == machine]
    best = (equal or mine or sorted(scored, key=lambda sd: len(sd[1])))[0]
    return Verdict(best[0], fp_diffs + best[1], machine_published=bool(mine))


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
