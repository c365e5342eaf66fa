"""BFCL stores each item's scores as it finishes (issue #16): a run interrupted while scoring a
BFCL cell (Ctrl-C, or a scorer that crashes) keeps every item scored so far, and the next run
generates and scores only the rest — where before nothing of the cell was stored until its last
item was scored, so a stall on one degenerate output lost the whole cell.

A ``replay`` model answers (deterministic, no weights); the real suite scores with the real thesis
reward and bfcl-eval's real checkers, wrapped only to count calls and to stop at the k-th item.
The case table is counted in docs/reliability.md (test_reliability_counts.py checks it).
"""
from __future__ import annotations

import json
import sqlite3

import pytest

import faultkit
from harness.cli import main
from harness.registry import load_registry

LIMIT = 6
STOP_AFTER = 3  # items scored before the interruption


class _Stop(Exception):
    """A scorer crashing mid-cell (an ordinary exception: the rest is recorded as failed)."""


# id -> (protocol, scorer name in benchmarks.bfcl.suite, what interrupts)
CASES = {
    "thesis-ctrl-c": ("thesis", "thesis_reward", KeyboardInterrupt),
    "thesis-scorer-crash": ("thesis", "thesis_reward", _Stop),
    "thesis-fair-ctrl-c": ("thesis-fair", "thesis_reward", KeyboardInterrupt),
    "official-ctrl-c": ("official", "score_official", KeyboardInterrupt),
    "official-scorer-crash": ("official", "score_official", _Stop),
}


def _setup(tmp_path, protocol):
    from benchmarks import get_suite

    replay = tmp_path / "replay.jsonl"

    def mutate(d):
        d["models"]["replayed"] = {"kind": "replay", "path": str(replay)}
        d["suites"]["bfcl"]["protocols"] = [protocol]
        for s in d["suites"].values():
            s.pop("reference", None)
    reg_path = faultkit.write_registry(tmp_path / "registry.yaml", mutate)
    profile = load_registry(reg_path).profile(faultkit.PROFILE)
    items = get_suite("bfcl").items(profile, protocol, LIMIT).items
    lines = []
    for k, it in enumerate(items):
        gt = it.meta["bfcl"]["ground_truth"]
        call = gt[0][0] if it.dataset != "bfcl_multi_turn_first" and isinstance(gt[0], list) and gt[0] else "f(x=1)"
        text = f"<SOLUTION>[{call}]</SOLUTION>" if protocol.startswith("thesis") else f"[{call}]"
        if it.dataset == "multi_turn_base":
            text = json.dumps([[f"[{call}]"]] * len(gt))
        lines.append(json.dumps({"suite": "bfcl", "item_id": it.id, "completion": text if k % 2 else "no call"}))
    replay.write_text("\n".join(lines) + "\n")
    return reg_path, items


def _run(reg_path, store) -> int:
    return main(["run", "--models", "replayed", "--suite", "bfcl", "--limit", str(LIMIT), "--registry", str(reg_path),
                 "--profile", faultkit.PROFILE, "--store", str(store)])


def _state(store) -> tuple[dict, dict, int]:
    con = sqlite3.connect(store / "bench.sqlite")
    try:
        gens = {r[0]: r[1:] for r in con.execute("SELECT item_id, completion, error FROM generations")}
        scores = {tuple(r[:2]): r[2] for r in con.execute("SELECT item_id, metric, value FROM scores")}
        scored = con.execute("SELECT COUNT(DISTINCT item_id) FROM scores").fetchone()[0]  # any metric: 'scored' comes later
    finally:
        con.close()
    return gens, scores, scored


@pytest.mark.parametrize("case", sorted(CASES))
def test_interrupted_bfcl_scoring_resumes_with_what_was_scored(case, tmp_path, capsys, monkeypatch):
    import benchmarks.bfcl.suite as bfcl_suite

    protocol, scorer, stop = CASES[case]
    reg_path, items = _setup(tmp_path, protocol)
    real = getattr(bfcl_suite, scorer)
    calls: list = []  # one entry per scored item (the thesis reward runs once per sample)

    def counting(*args, **kw):
        key = json.dumps(args[1] if scorer == "thesis_reward" else args[0]["id"], sort_keys=True, default=str)
        if not calls or calls[-1] != key:
            if stopping[0] and len(calls) == STOP_AFTER:
                raise stop("interrupted while scoring")
            calls.append(key)
        return real(*args, **kw)

    stopping = [False]
    monkeypatch.setattr(bfcl_suite, scorer, counting)

    # the uninterrupted run, for the figures the resumed store must end with
    assert _run(reg_path, tmp_path / "ref") == 0, capsys.readouterr().err[-3000:]
    ref_gens, ref_scores, ref_scored = _state(tmp_path / "ref")
    assert ref_scored == len(items) == len(calls)

    calls.clear()
    stopping[0] = True
    rc = _run(reg_path, tmp_path / "s")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    gens, scores, scored = _state(tmp_path / "s")
    assert scored == STOP_AFTER  # the items scored before the interruption are stored with their scores
    if stop is KeyboardInterrupt:
        assert rc == 130 and len(gens) == STOP_AFTER
    else:  # the rest are recorded failures (retried by the next run), never scored as wrong
        assert rc == 1 and sum(1 for g in gens.values() if g[1]) == len(items) - STOP_AFTER

    calls.clear()
    stopping[0] = False
    assert _run(reg_path, tmp_path / "s") == 0, capsys.readouterr().err[-3000:]
    assert len(calls) == len(items) - STOP_AFTER  # only the rest is scored again
    gens, scores, scored = _state(tmp_path / "s")
    assert scored == len(items) and gens == ref_gens and scores == ref_scores


ALL_CASES = CASES
