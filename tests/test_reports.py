"""Reports: published figures, paired tests, suite and thesis tables, every output format."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from benchkit import bench
from test_reports_helpers import binary, context, math_items, put_cell

from reports import published, stats
from reports.data import load_cells
from reports.metrics import final_score
from reports.tables import suite_table
from reports.thesis import SPECS, thesis_table


# -- the thesis's own numbers -------------------------------------------------------------------
def test_final_score_recomputed_from_published_components():
    finals = []
    for row in published.INDOMAIN:
        acc, judge, eff, final = (f.value for f in published.figures(row)[0])
        assert round(final_score(acc, judge, eff), 3) == final
        finals.append(round(final_score(acc, judge, eff), 3))
    assert finals == [0.838, 0.845, 0.840, 0.859]


def test_published_rows_match_the_thesis_tables():
    ood = {r.model: published.figures(r) for r in published.OUTDOMAIN}
    assert ood["grpo-intuitor"][0][0].value == 0.87 and ood["grpo-intuitor"][0][0].marked
    assert ood["grpo-hybrid"][2][1].value == 8.59 and ood["grpo-hybrid"][2][1].marked
    assert not ood["grpo-1k-def"][1][0].marked
    assert all(len(g) == 3 for groups in ood.values() for g in groups) and all(len(g) == 3 for g in ood["grpo-hybrid"])
    bfcl = {r.model: published.figures(r)[0] for r in published.BFCL}
    assert bfcl["bfcl-nohybrid"][1].value == pytest.approx(0.426) and bfcl["bfcl-hybrid"][0].value == 0.54
    assert [s.key for s in SPECS] == ["thesis-indomain", "thesis-outdomain", "thesis-bfcl"]


# -- paired tests -------------------------------------------------------------------------------
def test_mcnemar_exact_known_values():
    a = np.array([1] * 10 + [0] * 5)
    b = np.array([0] * 10 + [0] * 5)
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 0.5 ** 10)
    assert stats.mcnemar_exact(a, a) == 1.0
    # 6 vs 4 discordant pairs: far from significant
    x = np.array([1] * 6 + [0] * 4)
    assert stats.mcnemar_exact(x, 1 - x) == pytest.approx(0.7539, abs=1e-3)


def test_paired_bootstrap_separates_shift_not_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(5, 2, 300)
    assert stats.paired_bootstrap(stats.mean_stat(base + 1.0), stats.mean_stat(base), 300) < 0.01
    assert stats.paired_bootstrap(stats.mean_stat(base), stats.mean_stat(base), 300) == 1.0
    noisy = base + rng.normal(0, 2, 300)
    noisy += base.mean() - noisy.mean() + 0.01
    assert stats.paired_bootstrap(stats.mean_stat(noisy), stats.mean_stat(base), 300) > 0.05


def _synthetic(tmp_path):
    ctx = context(tmp_path / "store")
    n = 200
    sft = binary(n, 0.50, 1)
    put_cell(ctx, "sft", "indomain", "thesis", math_items(sft, tokens=[50] * n))
    # grpo-1k: clearly better than everyone (fixes 80 of sft's misses, no new errors)
    better = sft.copy()
    better[np.flatnonzero(sft == 0)[:80]] = 1
    put_cell(ctx, "grpo-1k", "indomain", "thesis", math_items(better, tokens=[40] * n))
    # v2 and v3: the same per-item results (a tie), and v3 with one extra correct item vs v2 elsewhere
    put_cell(ctx, "grpo-1k-v2", "indomain", "thesis", math_items(sft, tokens=[50] * n))
    put_cell(ctx, "grpo-1k-v3", "indomain", "thesis", math_items(sft, tokens=[50] * n))
    return ctx


def test_paired_test_marks_clear_winner(tmp_path):
    ctx = _synthetic(tmp_path)
    table = suite_table(ctx, load_cells(ctx), "indomain", "thesis")
    acc = [k for k, (_, c) in enumerate(table.columns) if c.key == "accuracy"][0]
    best = {r.labels[0]: r.figures[acc] for r in table.rows}
    assert best["grpo-1k"].best and best["grpo-1k"].p < 0.001
    assert not any(f.best for m, f in best.items() if m != "grpo-1k")
    assert best["grpo-1k"].value == pytest.approx(0.9) and best["grpo-1k"].lo < 0.9 < best["grpo-1k"].hi
    eff = [k for k, (_, c) in enumerate(table.columns) if c.key == "efficiency"][0]
    assert table.rows[[r.labels[0] for r in table.rows].index("grpo-1k")].figures[eff].value == pytest.approx(1.25)
    assert "paired test" in table.caption and "without any test" in table.caption


def test_paired_test_does_not_mark_a_tie(tmp_path):
    ctx = context(tmp_path / "store")
    n = 200
    sft = binary(n, 0.5, 1)
    put_cell(ctx, "sft", "indomain", "thesis", math_items(sft))
    put_cell(ctx, "grpo-1k-v2", "indomain", "thesis", math_items(sft))
    one_more = sft.copy()
    one_more[np.flatnonzero(sft == 0)[0]] = 1  # better by a single item: not significant
    put_cell(ctx, "grpo-1k-v3", "indomain", "thesis", math_items(one_more))
    table = suite_table(ctx, load_cells(ctx), "indomain", "thesis")
    assert not any(f.best for r in table.rows for f in r.figures)
    v3 = [r for r in table.rows if r.labels[0] == "grpo-1k-v3"][0]
    acc = [k for k, (_, c) in enumerate(table.columns) if c.key == "accuracy"][0]
    assert v3.figures[acc].p == 1.0  # exact McNemar, one discordant pair


def test_thesis_tables_read_generic_metrics_of_other_suites(tmp_path):
    """Out-of-domain (per dataset) and BFCL (reward_mean, perfect) cells fill the thesis tables."""
    ctx = _synthetic(tmp_path)
    n = 60
    for model, rate in (("sft", 0.5), ("grpo-hybrid", 0.9), ("grpo-1k-def", 0.5)):
        items = {}
        for ds in ("boolq", "commonsense_qa", "arc_challenge"):
            items.update(math_items(binary(n, rate, 3), dataset=ds, prefix=f"{ds}-"))
        put_cell(ctx, model, "outdomain", "thesis", items)
    reward = np.linspace(0, 1, n)
    put_cell(ctx, "bfcl-hybrid", "bfcl", "thesis",
             {str(i): ("bfcl_multi_turn_first", {"reward": r, "reward_best": r, "reward_mean": r / 2,
                                                 "perfect": float(r >= 0.95), "correct": float(r >= 0.95),
                                                 "truncated": 0.0})
              for i, r in enumerate(reward)})
    # a resumed cell: two lm-eval runs of 20 items, each reporting the stderr of its own 20
    put_cell(ctx, "grpo-hybrid", "outdomain", "standard",
             {f"boolq-{i}": ("boolq", {"correct": float(i % 4 != 0), "lm_eval_acc": 0.75,
                                       "lm_eval_acc_stderr": 0.0993399267798783, "n_tokens": 0.0, "scored": 1.0})
              for i in range(40)})
    cells = load_cells(ctx)
    ind, ood, bfcl = (thesis_table(ctx, cells, s) for s in SPECS)
    std = suite_table(ctx, cells, "outdomain", "standard")
    assert [c.key for _, c in std.columns] == ["n", "accuracy", "lm_eval_acc"]  # lm-eval's aggregate beside ours
    lm = std.rows[0].figures[2]
    se = (0.75 * 0.25 * 40 / 39) ** 0.5 / 40 ** 0.5  # lm-eval's formula over all 40 items, not a run's 20
    assert (lm.value, lm.lo, lm.hi) == pytest.approx((0.75, 0.75 - 1.96 * se, 0.75 + 1.96 * se))
    assert std.rows[0].figures[1].value == pytest.approx(0.75)
    keys = [c.key for _, c in suite_table(ctx, cells, "bfcl", "thesis").columns]
    # no tokens (none stored), no efficiency (bfcl has no reference), no truncated (never set: a 0% column is noise)
    assert keys == ["n", "accuracy", "reward", "reward_mean", "perfect"]
    rows = {(r.labels[0].split(" (")[1].rstrip(")"), r.style): r for r in ood.rows}
    hybrid = rows[("grpo-hybrid", "reproduced")]
    assert [f.value for f in hybrid.figures[0::3]] == pytest.approx([0.9, 0.9, 0.9])
    assert all(f.best for f in hybrid.figures[0::3])  # 90% vs 50% on 60 paired items
    assert rows[("grpo-intuitor", "reproduced")].figures[0].note.startswith(
        "not run — bench run --models grpo-intuitor --suite outdomain --profile smoke")
    assert rows[("grpo-hybrid", "delta")].figures[0].text == "+7.0 pp"  # 90% vs the thesis's 83%
    brow = {(r.labels[0].split(" (")[1].rstrip(")"), r.style): r for r in bfcl.rows}
    assert brow[("bfcl-hybrid", "reproduced")].figures[0].value == pytest.approx(0.5)
    assert brow[("bfcl-hybrid", "reproduced")].figures[1].value == pytest.approx(3 / 60)
    assert "not run" in brow[("bfcl-nohybrid", "reproduced")].figures[0].note
    irow = {(r.labels[0].split(" (")[1].rstrip(")"), r.style): r for r in ind.rows}
    final = irow[("grpo-1k", "reproduced")].figures[3]
    assert final.value == pytest.approx(0.4 * 0.9 + 0.4 * (0.9 * 8 + 0.1 * 3) / 10 + 0.2 * 1.25)
    assert irow[("grpo-1k-def", "reproduced")].figures[0].note.startswith("not run — bench run --models grpo-1k-def")


def test_missing_metric_says_not_in_store(tmp_path):
    ctx = context(tmp_path / "store")
    items = {str(i): ("gsm8k", {"correct": float(i % 2), "n_tokens": 10.0}) for i in range(20)}
    put_cell(ctx, "grpo-1k", "indomain", "thesis", items)  # no judge, and the reference sft never ran
    ind = thesis_table(ctx, load_cells(ctx), SPECS[0])
    rep = [r for r in ind.rows if r.style == "reproduced" and "(grpo-1k)" in r.labels[0]][0]
    assert rep.figures[0].value == pytest.approx(0.5)
    assert rep.figures[1].note.startswith("not in store yet — run: bench run --models grpo-1k --suite indomain")
    assert "needs the reference sft" in rep.figures[2].note and "--models sft" in rep.figures[2].note


# -- end to end through the CLI -----------------------------------------------------------------
@pytest.fixture
def store(smoke_store, tmp_path):
    s = tmp_path / "store"
    shutil.copytree(smoke_store, s)
    return s


def test_thesis_report_on_partial_store_says_not_run(store, tmp_path):
    out = tmp_path / "out"
    r = bench("report", "--thesis", "--profile", "smoke", "--store", str(store), "--out", str(out),
              "--format", "md,latex", "--format", "csv", "--format", "json,html")
    assert r.returncode == 0, r.stderr
    assert "Thesis table: in-domain" in r.stdout and "not run [1]" in r.stdout
    assert f"bench run --models grpo-1k --suite indomain --profile smoke --store {store}" in r.stdout
    for key in ("thesis-indomain", "thesis-outdomain", "thesis-bfcl"):
        assert {p.name for p in out.glob(f"{key}.*")} == {f"{key}.md", f"{key}.tex", f"{key}.csv"}
    md = (out / "thesis-indomain.md").read_text()
    assert "not run — bench run --models grpo-1k-v2 --suite indomain --profile smoke" in md
    assert "| 84% |" in md and "toy model" in md
    doc = json.loads((out / "thesis.json").read_text())
    ind = doc["tables"][0]
    rep = {r["labels"][0]: r for r in ind["rows"] if r["style"] == "reproduced"}
    assert rep["Qwen-GRPO-1k-def (grpo-1k-def)"]["cells"][0]["value"] is not None  # evaluated in the smoke store
    assert rep["Qwen-GRPO-1k (grpo-1k)"]["cells"][0]["value"] is None
    assert all(c["text"] for r in ind["rows"] for c in r["cells"])  # never blank
    tex = (out / "thesis-outdomain.tex").read_text()
    assert r"\toprule" in tex and r"\multicolumn{3}{c}{BoolQ}" in tex and r"\bottomrule" in tex
    assert "87\\%$^{*}$" in tex
    assert "data:image/png;base64," in (out / "thesis.html").read_text()
    prov = (out / "thesis-provenance.csv").read_text()
    fp = json.loads(next((store / "checkpoints").glob("grpo-1k-def-*/manifest.json")).read_text())["fingerprint"]
    assert fp in prov and "synthetic" in prov


def test_report_all_formats_and_provenance(store, tmp_path):
    out = tmp_path / "out"
    r = bench("report", "--profile", "smoke", "--store", str(store), "--out", str(out),
              "--format", "md,latex,csv,json,html")
    assert r.returncode == 0, r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"indomain-thesis.md", "indomain-thesis.tex", "indomain-thesis.csv", "provenance.md", "provenance.csv",
            "report.json", "report.html"} <= names
    assert not any(n.endswith(".part") for n in names)
    csv = (out / "indomain-thesis.csv").read_text().splitlines()
    assert csv[0].startswith("model,dataset") and len(csv) == 3 and "accuracy_lo" in csv[0]
    doc = json.loads((out / "report.json").read_text())
    assert doc["profile"] == "smoke" and {p["model"] for p in doc["provenance"]} == {"sft", "grpo-1k-def"}
    assert all(p["code_version"] and p["data_fp"] and p["judge"] == "rubric" for p in doc["provenance"])
    assert "max_new_tokens=16" in doc["provenance"][0]["generation"]


def test_report_rejects_unknown_format(store):
    r = bench("report", "--profile", "smoke", "--store", str(store), "--format", "md,docx")
    assert r.returncode == 2 and "unknown --format 'docx'" in r.stderr and "Traceback" not in r.stderr
