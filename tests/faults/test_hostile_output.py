"""Hostile model output, fed through a ``replay`` model (kind: replay, a JSONL of completions):
huge texts, control characters, invalid UTF-8 and lone surrogates, deep nesting, and function
calls that try to reach Python. Guarantee: the run completes, every item gets recorded scores,
and nothing outside the simulation happens (the sentinel file never appears)."""
from __future__ import annotations

import json
import sqlite3

import pytest

import faultkit
from harness.cli import main
from harness.registry import load_registry

LIMIT = 6


def generic_outputs() -> dict[str, str]:
    return {
        "huge-1MB-in-tags": "<SOLUTION>" + "9" * (1 << 20) + "</SOLUTION>",
        "huge-1MB-no-tags": "yes " * (1 << 18),
        "control-chars": "".join(chr(i) for i in range(32)) + "\x7f<SOLUTION>4</SOLUTION>\x00\x1b[2J\u202e\ufeff",
        "lone-surrogates": "\ud800<SOLUTION>\udfff4\ud83d</SOLUTION>\udc00",
        "invalid-utf8": None,  # raw bytes, written below
        "nested-json-100k": "[" * 100_000 + "]" * 100_000,
        "nested-tags-10k": "<SOLUTION>" * 10_000 + "yes" + "</SOLUTION>" * 10_000,
        "number-run": "<SOLUTION>" + "1," * 200_000 + "x",
        "empty": "",
    }


def code_outputs(sentinel: str) -> dict[str, str]:
    s = sentinel
    return {
        "import-os-system": f"[__import__('os').system('touch {s}')]",
        "os-system-dotted": f"[os.system('touch {s}')]",
        "lambda": f"[(lambda: __import__('os').system('touch {s}'))()]",
        "call-in-argument": f"[cd(folder=__import__('os').system('touch {s}'))]",
        "subclasses-walk": "[ls(a=().__class__.__bases__[0].__subclasses__())]",
        "globals-walk": f"[GorillaFileSystem.__init__.__globals__['os'].system('touch {s}')]",
        "eval-by-name": f"[eval(\"__import__('os').system('touch {s}')\")]",
        "exec-by-name": f"[exec(source=\"import os; os.system('touch {s}')\")]",
        "string-breakout": f"[cd(folder=\"'); __import__('os').system('touch {s}'); ('\")]",
        "backslash-breakout": f"[echo(content='\\\\', file_name=\"x'); __import__('os').system('touch {s}') #\")]",
        "fstring": f"[cd(folder=f\"{{__import__('os').system('touch {s}')}}\")]",
        "json-import": json.dumps([{"name": "__import__", "parameters": {"name": "os"}}]),
        "simulated-touch": f"[touch(file_name='{s}')]",  # a real simulated method: must stay simulated
        "path-escape": f"[mkdir(dir_name='../../../../..{s}')]",
        "in-solution-tags": f"<SOLUTION>[__import__('os').system('touch {s}')]</SOLUTION>",
    }


def test_hostile_outputs_are_scored_and_contained(tmp_path, capsys, monkeypatch):
    from benchmarks import get_suite

    sentinel = tmp_path / "PWNED"
    generic, code = generic_outputs(), code_outputs(str(sentinel))
    replay = tmp_path / "hostile.jsonl"

    def mutate(d):
        d["models"]["hostile"] = {"kind": "replay", "path": str(replay)}
        for s in d["suites"].values():
            s.pop("reference", None)
    reg_path = faultkit.write_registry(tmp_path / "registry.yaml", mutate)
    reg = load_registry(reg_path)
    profile = reg.profile(faultkit.PROFILE)

    lines: list[bytes] = []
    expected: dict[tuple[str, str], int] = {}
    seen_ids: set = set()
    plain = [k for k in generic if generic[k] is not None]
    k = 0
    for suite in ("indomain", "outdomain", "bfcl"):
        for protocol in reg.suites[suite].protocols:
            if protocol == "standard":  # log-likelihood: skipped for replay models
                continue
            items = get_suite(suite).items(profile, protocol, LIMIT).items
            expected[(suite, protocol)] = len(items)
            for it in items:
                if (suite, it.id) in seen_ids:  # thesis and thesis-fair share ids: one line
                    continue
                seen_ids.add((suite, it.id))
                if suite == "bfcl":
                    payload = list(code.values())[k % len(code)]
                    if it.dataset == "multi_turn_base":  # executed turn by turn: one hostile answer per turn
                        payload = json.dumps([[payload]] * len(it.meta["bfcl"]["ground_truth"]))
                    line = json.dumps({"suite": suite, "item_id": it.id, "completion": payload}).encode()
                elif k % (len(plain) + 1) == len(plain):  # invalid UTF-8 bytes inside the JSON string
                    line = b'{"suite": "' + suite.encode() + b'", "item_id": "' + it.id.encode() + \
                        b'", "completion": "\xff\xfe<SOLUTION>\xc3\x28 4</SOLUTION>\xed\xa0\x80"}'
                else:
                    text = generic[plain[k % (len(plain) + 1)]]
                    line = json.dumps({"suite": suite, "item_id": it.id, "completion": text}).encode()
                lines.append(line)
                k += 1
    replay.write_bytes(b"\n".join(lines) + b"\n")

    monkeypatch.chdir(tmp_path)  # a relative 'touch' would land here
    store = tmp_path / "s"
    rc = main(["run", "--models", "hostile", "--suite", "indomain,outdomain,bfcl", "--limit", str(LIMIT),
               "--registry", str(reg_path), "--profile", faultkit.PROFILE, "--store", str(store)])
    out, err = capsys.readouterr()
    assert rc == 0, err[-3000:]
    assert not sentinel.exists() and not (tmp_path / "PWNED").exists()

    con = sqlite3.connect(store / "bench.sqlite")
    try:
        gens = dict(((s, p), n) for s, p, n in con.execute(
            "SELECT suite, protocol, COUNT(*) FROM generations GROUP BY suite, protocol"))
        scored = dict(((s, p), n) for s, p, n in con.execute(
            "SELECT suite, protocol, COUNT(DISTINCT item_id) FROM scores GROUP BY suite, protocol"))
        longest = con.execute("SELECT MAX(LENGTH(completion)) FROM generations").fetchone()[0]
        errors = con.execute("SELECT COUNT(*) FROM generations WHERE error IS NOT NULL").fetchone()[0]
        bad_values = con.execute("SELECT COUNT(*) FROM scores WHERE value IS NULL OR value != value").fetchone()[0]
    finally:
        con.close()
    assert gens == expected and scored == expected  # every item generated and scored, none lost
    assert longest >= 1 << 20  # stored whole, not cut
    assert errors == 0 and bad_values == 0
    test_hostile_outputs_are_scored_and_contained.tried = len(generic) + len(code)  # for the docs' count


@pytest.mark.parametrize("name", sorted(code_outputs("/nonexistent/PWNED")))
def test_hostile_calls_in_official_multi_turn_scoring(name, tmp_path, monkeypatch):
    """The same payloads straight into bfcl-eval's executing checker (through the safe front end)."""
    from benchmarks.bfcl import official_items, score_official

    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "PWNED"
    payload = code_outputs(str(sentinel))[name]
    entry = official_items("multi_turn_base", limit=1)[0]
    r = score_official(entry, [[payload]] * len(entry["ground_truth"]))
    assert r["valid"] is False and not sentinel.exists()
    for cat in ("simple_python", "parallel_multiple"):
        assert score_official(official_items(cat, limit=1)[0], payload)["valid"] is False
    assert not sentinel.exists()
