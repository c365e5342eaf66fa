"""`bench samples`, the store's own profile and registry, and the HTML sample browser.

A real `bench run` (smoke profile, in-domain, two replay models: one answers right, one wrong,
one item missing so it fails) fills a real store; everything below reads it through the CLI, the
way a user would, from a folder with no registry.yaml. The browser is checked in headless
Chromium: its DOM after the script ran (--dump-dom) and a screenshot.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from benchkit import ROOT, bench

from benchmarks import get_suite
from core.thesis_format import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START
from harness.registry import load_registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
N = 6
INCOMPLETE = 1  # the store holds one deliberately failed item: reports say so and exit 1


def _answer(text: str) -> str:
    return f"{REASONING_START}I work it out.{REASONING_END}{SOLUTION_START}{text}{SOLUTION_END}"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("samples")
    items = get_suite("indomain").items(load_registry(ROOT / "registry.yaml").profile("smoke"), "thesis", N).items
    gold, wrong = tmp / "gold.jsonl", tmp / "wrong.jsonl"
    gold.write_text("".join(json.dumps({"suite": "indomain", "item_id": it.id, "completion": _answer(it.answer)}) + "\n"
                            for it in items))
    # the last item is missing from the file: that generation fails and is recorded as failed
    wrong.write_text("".join(json.dumps({"suite": "indomain", "item_id": it.id,
                                         "completion": _answer(str(int(it.answer) + 1)) + "</script><b>x</b>"}) + "\n"
                             for it in items[:-1]))
    reg = yaml.safe_load((ROOT / "registry.yaml").read_text())
    reg["models"]["gold"] = {"kind": "replay", "path": str(gold)}
    reg["models"]["wrong"] = {"kind": "replay", "path": str(wrong)}
    for s in reg["suites"].values():
        s.pop("reference", None)  # a replay-only run must not train the reference model
    (tmp / "work").mkdir()
    (tmp / "work" / "registry.yaml").write_text(yaml.safe_dump(reg, sort_keys=False))
    store = tmp / "store"
    r = bench("run", "--profile", "smoke", "--models", "gold,wrong", "--suite", "indomain", "--limit", str(N),
              "--store", str(store), cwd=tmp / "work", timeout=300)
    # the missing replay item leaves the cell incomplete: bench run says so with exit 1
    assert r.returncode == 1 and "incomplete: wrong · indomain/thesis: 1 failed" in r.stdout, r.stderr[-3000:]
    (tmp / "elsewhere").mkdir()
    return store


def _elsewhere(store: Path) -> Path:
    return store.parent / "elsewhere"  # a folder without registry.yaml


def _samples(store: Path, *args: str) -> list[dict]:
    r = bench("samples", "--store", str(store), *args, cwd=_elsewhere(store))
    assert r.returncode == 0, r.stderr[-2000:]
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_store_keeps_its_registry(store):
    assert (store / "registry.yaml").read_bytes() == (store.parent / "work" / "registry.yaml").read_bytes()


def test_samples_lm_eval_layout(store):
    recs = _samples(store)
    assert len(recs) == 2 * N
    gold = [r for r in recs if r["model"] == "gold"]
    assert [r["doc_id"] for r in gold] == sorted(r["doc_id"] for r in gold)  # the suite's order
    items = {it.id: it for it in get_suite("indomain").items(load_registry(ROOT / "registry.yaml").profile("smoke"),
                                                             "thesis", N).items}
    for r in recs:
        it = items[r["doc_id"]]
        # lm-eval's --log_samples fields
        assert r["target"] == it.answer and r["doc"]["question"] == it.question
        assert r["arguments"]["gen_args_0"]["arg_0"] == it.prompt  # rebuilt from the suite's items
        assert r["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] > 0
        assert r["resps"] == [[r["completion"]]] and len(r["filtered_resps"]) == 1
        if r["status"] == "failed":  # a failure is never scored: no metrics, only its reason
            assert not r["metrics"] and r["failure"]
        else:
            assert set(r["metrics"]) >= {"correct", "n_tokens"} and all(m in r for m in r["metrics"])
        assert r["target_hash"] == hashlib.sha256(r["target"].encode()).hexdigest()
        assert r["prompt_hash"] == hashlib.sha256(json.dumps(it.prompt, ensure_ascii=False).encode()).hexdigest()
        assert r["profile"] == "smoke" and r["suite"] == "indomain" and r["protocol"] == "thesis"
    assert all(r["status"] == "correct" and r["correct"] == 1.0 for r in gold)
    assert all(r["filtered_resps"] == [r["target"]] for r in gold)  # the text between the solution tags
    assert all(r["judge_verdict"] and r["judge"] == r["judge_score"] >= 0 for r in gold)  # the rubric's cached verdicts
    assert all(r["judge_name"] == "rubric" for r in recs)
    wrong = [r for r in recs if r["model"] == "wrong"]
    assert [r["status"] for r in wrong].count("incorrect") == N - 1
    failed = [r for r in wrong if r["status"] == "failed"]
    assert len(failed) == 1 and "missing from replay" in failed[0]["failure"]


def test_samples_filters_and_files(store, tmp_path):
    assert {r["model"] for r in _samples(store, "--models", "wrong")} == {"wrong"}
    assert len(_samples(store, "--status", "failed")) == 1
    assert len(_samples(store, "--suite", "indomain", "--protocol", "thesis", "--status", "correct")) == N
    assert _samples(store, "--suite", "outdomain") == []
    out = tmp_path / "all.jsonl"
    r = bench("samples", "--store", str(store), "--out", str(out), cwd=_elsewhere(store))
    assert r.returncode == 0 and len(out.read_text().splitlines()) == 2 * N
    r = bench("samples", "--store", str(store), "--out", str(tmp_path / "dir"), cwd=_elsewhere(store))
    assert r.returncode == 0
    assert len((tmp_path / "dir" / "gold" / "samples_indomain-thesis.jsonl").read_text().splitlines()) == N
    for bad in (("--protocol", "nope"), ("--models", "nope"), ("--profile", "tiny")):
        r = bench("samples", "--store", str(store), *bad, cwd=_elsewhere(store))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_report_reads_the_stores_profile_from_anywhere(store, tmp_path):
    r = bench("report", "--store", str(store), "--out", str(tmp_path / "rep"), cwd=_elsewhere(store))
    assert r.returncode == INCOMPLETE, r.stderr[-2000:]
    assert "gold" in r.stdout and (tmp_path / "rep" / "indomain-thesis.md").is_file()
    r = bench("report", "--store", str(store), "--profile", "tiny", cwd=_elsewhere(store))
    assert r.returncode == 2 and "it holds: smoke" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def html(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    r = bench("report", "--store", str(store), "--format", "html", "--out", str(out), cwd=_elsewhere(store))
    assert r.returncode == INCOMPLETE, r.stderr[-2000:]
    return out / "report.html"


def test_browser_is_self_contained_and_escapes_model_text(html):
    text = html.read_text()
    assert 'id="samples"' in text and "sb-model" in text
    assert not __import__("re").search(r'(src|href)="(https?:|//|file:)', text)
    data = text.split('id="samples-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data  # a completion's "</script>" cannot end the data block
    assert json.loads(data)["models"] == ["gold", "wrong"]


def _chromium(tmp_path: Path, *args: str, url: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); CI installs it")
def test_browser_filters_and_side_by_side_in_chromium(html, tmp_path):
    from html.parser import HTMLParser

    class Cards(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cards, self.cols, self.pre = [], [], []
            self._in_pre = False

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if "sb-item" in (a.get("class") or "").split():
                self.cards.append(a.get("data-status"))
            if "sb-col" in (a.get("class") or "").split():
                self.cols.append(1)
            self._in_pre = tag == "pre"

        def handle_data(self, data):
            if self._in_pre:
                self.pre.append(data)

    def view(fragment: str) -> Cards:
        r = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=3000", url=html.resolve().as_uri() + fragment)
        assert r.returncode == 0, r.stderr[-1500:]
        p = Cards()
        p.feed(r.stdout)
        return p

    alone = view("#samples?model=wrong")
    assert len(alone.cards) == N and len(alone.cols) == N  # one column per card
    assert any("</script><b>x</b>" in t for t in alone.pre)  # hostile text shown as text, not markup
    failed = view("#samples?model=wrong&status=failed")
    assert failed.cards == ["failed"]
    side = view("#samples?model=wrong&compare=gold&status=incorrect")
    assert side.cards == ["incorrect"] * (N - 1) and len(side.cols) == 2 * (N - 1)  # two models per item

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1200", "--virtual-time-budget=3000",
              url=html.resolve().as_uri() + "#samples?model=wrong&compare=gold")
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (1200, 1400) and img.std() > 10
    # the status badges' colours: the incorrect (wrong) and correct (gold) columns both rendered
    red = np.all(np.abs(img - (0xfd, 0xe2, 0xe1)) <= 3, axis=2).sum()
    green = np.all(np.abs(img - (0xdc, 0xf3, 0xe3)) <= 3, axis=2).sum()
    assert red > 200 and green > 200, (red, green)


def test_a_store_with_two_profiles(store, tmp_path):
    """Without --profile, report and samples read every profile the store holds."""
    both = tmp_path / "store"
    shutil.copytree(store, both)
    (tmp_path / "elsewhere").mkdir()
    r = bench("run", "--profile", "tiny", "--models", "gold", "--suite", "indomain", "--limit", "2",
              "--store", str(both), cwd=store.parent / "work", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = _samples(both)
    assert {r["profile"] for r in recs} == {"smoke", "tiny"} and len(recs) == 2 * N + 2
    r = bench("report", "--store", str(both), "--out", str(tmp_path / "rep"), cwd=_elsewhere(store))
    assert r.returncode == INCOMPLETE, r.stderr[-2000:]
    assert "profile smoke" in r.stdout and "profile tiny" in r.stdout
    assert (tmp_path / "rep" / "smoke" / "indomain-thesis.md").is_file()
    assert (tmp_path / "rep" / "tiny" / "indomain-thesis.md").is_file()
