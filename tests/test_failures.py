"""An error is never a wrong answer (issue #13): a generation that did not happen is stored as a
failure with its reason, never scored, shown as such in every report format, makes `bench run`
exit 1, and is retried — alone — by the next run.

Through the real CLI (``harness.cli.main``) against a real HTTP server on loopback and a real
replay file; the registry is the real one plus the test's model, without suite references (a run
of an API or replay model must not train the local reference model here).
"""
from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import ScriptedServer, chat_reply, refused_url

from benchkit import ROOT
from harness.cli import main
from harness.registry import load_registry

LIMIT = 4


def _registry(tmp_path, name: str = "registry.yaml", **models) -> str:
    data = yaml.safe_load((ROOT / "registry.yaml").read_text())
    data["models"].update(models)
    for s in data["suites"].values():
        s.pop("reference", None)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _items(limit=LIMIT):
    from benchmarks.indomain import SUITE

    return SUITE.items(load_registry(ROOT / "registry.yaml").profile("smoke"), "thesis", limit).items


def _answers() -> dict[str, str]:
    """What the endpoint answers per question: right, wrong, or unparsable text (the last two are
    scored wrong answers, never failures)."""
    out = {}
    for k, it in enumerate(_items(None)):
        question = it.prompt[-1]["content"]
        out[question] = [f"so <SOLUTION>{it.answer}</SOLUTION>", f"<SOLUTION>{int(it.answer) + 1}</SOLUTION>",
                         "I would rather not say."][k % 3]
    return out


def _answering(answers, fail=lambda question: False):
    def behave(body, n):
        question = body["messages"][-1]["content"]
        if fail(question):
            return 500, b'{"error": "overloaded"}', 0
        return 200, chat_reply(answers[question], completion_tokens=7), 0
    return behave


def _api(url: str) -> dict:
    return {"kind": "openai", "base_url": url, "model": "served", "retries": 0, "timeout_s": 5, "concurrency": 2}


def _run(capsys, reg: str, store, model: str = "api") -> tuple[int, str, str]:
    rc = main(["run", "--profile", "smoke", "--models", model, "--suite", "indomain", "--limit", str(LIMIT),
               "--store", str(store), "--registry", reg])
    out, err = capsys.readouterr()
    return rc, out, err


def _table(store) -> pd.DataFrame:
    return pd.read_csv(store / "reports" / "indomain-thesis.csv")


def _scores(store) -> dict:
    con = sqlite3.connect(store / "bench.sqlite")
    try:
        return dict(con.execute("SELECT metric, COUNT(*) FROM scores GROUP BY metric").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("down", ["500", "refused"])
def test_endpoint_down_then_up_fails_loudly_and_retries_exactly_the_failed(down, tmp_path, capsys):
    answers = _answering(_answers())
    server = ScriptedServer(answers)
    try:
        if down == "500":
            server.reset(lambda body, n: (500, b'{"error": "boom"}', 0))
            reg_down = _registry(tmp_path, "down.yaml", api=_api(server.base_url))
        else:
            reg_down = _registry(tmp_path, "down.yaml", api=_api(refused_url()))
        reg_up = _registry(tmp_path, "up.yaml", api=_api(server.base_url))
        store = tmp_path / "store"

        rc, out, err = _run(capsys, reg_down, store)
        assert rc == 1, err[-2000:]
        last = out.strip().splitlines()[-1]
        assert last.startswith("incomplete: api · indomain/thesis: 4 failed (first: "), out[-2000:]
        assert ("500" in last) if down == "500" else ("refused" in last.lower() or "connect" in last.lower())
        assert "4 (incomplete)" in out and "not scored" in out
        row = _table(store).iloc[0]
        assert row["model"] == "api" and row["n"] == 0 and row["failed"] == 4 and not row["complete"]
        assert "accuracy" not in row or pd.isna(row["accuracy"])  # nothing computed from the failures
        assert "correct" not in _scores(store)  # no failure was scored

        server.reset(answers)
        rc, out, err = _run(capsys, reg_up, store)
        assert rc == 0, out[-3000:] + err[-2000:]
        assert len(server.requests) == LIMIT  # exactly the failed items, once each
        assert "incomplete" not in out
        retried = _table(store)

        server.reset(answers)
        fresh = tmp_path / "fresh"
        rc, _, err = _run(capsys, reg_up, fresh)  # a run that never failed
        assert rc == 0, err[-2000:]
        assert len(server.requests) == LIMIT
        pd.testing.assert_frame_equal(retried, _table(fresh))
        md = [(s / "reports" / "indomain-thesis.md").read_text().replace(str(s), "STORE") for s in (store, fresh)]
        assert md[0] == md[1]
        assert retried.iloc[0]["n"] == LIMIT and retried.iloc[0]["complete"]

        server.reset(answers)
        rc, out, _ = _run(capsys, reg_up, store)  # complete: nothing left to ask
        assert rc == 0 and not server.requests and "0 new generations" in out
    finally:
        server.stop()


def test_partial_failure_scores_the_answered_and_retries_only_the_failed(tmp_path, capsys):
    """Two of four items get a 500: the other two are scored (a wrong and an unparsable answer are
    wrong answers, not failures), the table says 2 scored + 2 failed, the retry asks for 2."""
    texts = _answers()
    questions = [it.prompt[-1]["content"] for it in _items()]
    flaky = set(questions[::2])
    server = ScriptedServer(_answering(texts, fail=lambda q: q in flaky))
    try:
        reg = _registry(tmp_path, api=_api(server.base_url))
        store = tmp_path / "store"
        rc, out, _ = _run(capsys, reg, store)
        assert rc == 1 and out.strip().splitlines()[-1].startswith("incomplete: api · indomain/thesis: 2 failed")
        row = _table(store).iloc[0]
        assert (row["n"], row["failed"]) == (2, 2)
        scored = [texts[q] for q in questions if q not in flaky]
        right = sum("so <SOLUTION>" in t for t in scored)
        assert row["accuracy"] == pytest.approx(right / 2)  # on the scored items only
        assert right < 2  # the answered ones include a wrong/unparsable answer, scored as wrong
        con = sqlite3.connect(store / "bench.sqlite")
        reasons = [r[0] for r in con.execute("SELECT error FROM generations WHERE error IS NOT NULL")]
        con.close()
        assert len(reasons) == 2 and all("500" in r for r in reasons)

        server.reset(_answering(texts))
        rc, out, _ = _run(capsys, reg, store)
        assert rc == 0 and len(server.requests) == 2
        assert sorted(b["messages"][-1]["content"] for b in server.requests) == sorted(flaky)
        row = _table(store).iloc[0]
        assert row["n"] == LIMIT and row["complete"]
    finally:
        server.stop()


def test_report_formats_mark_incomplete_cells(tmp_path, capsys):
    server = ScriptedServer(lambda body, n: (500, b"{}", 0))
    try:
        answers = tmp_path / "answers.jsonl"
        answers.write_text(_replay_lines(_items()))
        reg = _registry(tmp_path, api=_api(server.base_url), rep={"kind": "replay", "path": str(answers)})
        store, out_dir = tmp_path / "store", tmp_path / "out"
        assert _run(capsys, reg, store, "api,rep")[0] == 1
        rc = main(["report", "--profile", "smoke", "--store", str(store), "--registry", reg, "--out", str(out_dir),
                   "--format", "md,latex,csv,json,html"])
        out, _ = capsys.readouterr()
        # the report shows the tables, then says which cells are incomplete, and exits 1
        assert rc == 1 and "4 (incomplete)" in out and "incomplete: api · indomain/thesis: 4 failed" in out
        for ext in ("md", "tex"):
            text = (out_dir / f"indomain-thesis.{ext}").read_text()
            assert "4 (incomplete)" in text and "not scored: 4 failed" in text and "retries them" in text
        assert "4 (incomplete)" in (out_dir / "report.html").read_text()
        doc = json.loads((out_dir / "report.json").read_text())
        api, rep = doc["tables"][0]["rows"]
        assert api["incomplete"] and "4 (incomplete)" in [c["text"] for c in api["cells"]] and not rep["incomplete"]
        assert [c["text"] for c in rep["cells"]][:3] == ["4", "0", "100.0% [51.0, 100.0]"]
        for t in doc["tables"]:  # every interval a report prints for a rate lies in [0, 1]
            kinds = [c["kind"] for c in t["columns"]]
            for r in t["rows"]:
                for kind, c in zip(kinds, r["cells"]):
                    if kind == "rate" and c["lo"] is not None:
                        assert 0 <= c["lo"] <= c["value"] <= c["hi"] <= 1
        csv = pd.read_csv(out_dir / "indomain-thesis.csv").set_index("model")
        assert csv.loc["api", "failed"] == 4 and not csv.loc["api", "complete"] and "500" in csv.loc["api", "first_failure"]
        assert pd.isna(csv.loc["api", "accuracy"]) and csv.loc["rep", "accuracy"] == 1.0 and csv.loc["rep", "complete"]
    finally:
        server.stop()


# -- replay ------------------------------------------------------------------------------------
def _replay_lines(items) -> str:
    return "".join(json.dumps({"suite": "indomain", "item_id": it.id,
                               "completion": f"<SOLUTION>{it.answer}</SOLUTION>"}) + "\n" for it in items)


def test_replay_file_filled_in_between_two_runs(tmp_path, capsys):
    items = _items()
    path = tmp_path / "answers.jsonl"
    path.write_text(_replay_lines(items[:2]))
    reg = _registry(tmp_path, rep={"kind": "replay", "path": str(path)})
    store = tmp_path / "store"
    rc, out, _ = _run(capsys, reg, store, "rep")
    assert rc == 1
    assert out.strip().splitlines()[-1] == \
        "incomplete: rep · indomain/thesis: 2 failed (first: missing from replay file)"
    row = _table(store).iloc[0]
    assert (row["n"], row["failed"], row["accuracy"]) == (2, 2, 1.0)

    rc, _, _ = _run(capsys, reg, store, "rep")  # the same file: the same items fail again
    assert rc == 1

    path.write_text(_replay_lines(items))
    rc, out, _ = _run(capsys, reg, store, "rep")
    assert rc == 0 and "incomplete" not in out
    fresh = tmp_path / "fresh"
    assert _run(capsys, reg, fresh, "rep")[0] == 0
    pd.testing.assert_frame_equal(_table(store), _table(fresh))
    assert _table(store).iloc[0]["n"] == LIMIT


def test_replay_ids_not_in_the_suite_are_one_line_bad_input(tmp_path, capsys):
    path = tmp_path / "other.jsonl"
    path.write_text(_replay_lines(_items()) + "".join(
        json.dumps({"suite": "indomain", "item_id": f"elsewhere-{i}", "completion": "x"}) + "\n" for i in range(5)))
    reg = _registry(tmp_path, rep={"kind": "replay", "path": str(path)})
    rc, _, err = _run(capsys, reg, tmp_path / "store", "rep")
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err
    assert "5 item id(s) for suite 'indomain' are not in the suite (elsewhere-0, elsewhere-1, elsewhere-2, …)" in lines[0]


def test_replay_ids_are_checked_against_this_runs_registry(tmp_path, capsys):
    """The suite's ids are the current run's, not an earlier run's in the same process: they were
    cached by ``id()`` of the registry object, which Python reuses once an object is freed, so a
    run could check a replay file against another registry's suite (seen as a flaky test)."""
    path = tmp_path / "answers.jsonl"
    path.write_text(_replay_lines(_items(None)))
    fewer = tmp_path / "fewer.yaml"
    data = yaml.safe_load(open(_registry(tmp_path, rep={"kind": "replay", "path": str(path)})))
    data["profiles"]["smoke"]["data"]["test_rows"] = len(_items(None)) // 2
    fewer.write_text(yaml.safe_dump(data))
    for _ in range(3):  # alternate, so a stale cache would show whichever registry came first
        rc, _, err = _run(capsys, str(fewer), tmp_path / "fewer-store", "rep")
        assert rc == 2 and "are not in the suite" in err
        rc, _, err = _run(capsys, str(tmp_path / "registry.yaml"), tmp_path / "store", "rep")
        assert rc == 0, err[-2000:]


# -- intervals -----------------------------------------------------------------------------------
def test_zero_of_eight_has_an_honest_interval(tmp_path):
    from test_reports_helpers import context, math_items, put_cell

    from reports.data import load_cells
    from reports.layout import cell_text
    from reports.tables import suite_table

    ctx = context(tmp_path / "store")
    put_cell(ctx, "sft", "indomain", "thesis", math_items([0.0] * 8))
    table = suite_table(ctx, load_cells(ctx), "indomain", "thesis")
    k = [i for i, (_, c) in enumerate(table.columns) if c.key == "accuracy"][0]
    fig = table.rows[0].figures[k]
    assert (fig.value, fig.lo) == (0.0, 0.0) and 0.25 < fig.hi < 0.4  # Wilson: [0, 0.324]
    assert cell_text(table.columns[k][1], fig) == "0.0% [0.0, 32.4]"
    assert "Wilson" in table.caption and "1000 item resamples" in table.caption


def test_lm_eval_interval_is_clipped():
    from reports.columns import Column, figure

    items = pd.DataFrame({"item_id": ["a", "b"], "dataset": ["boolq"] * 2, "lm_eval_acc": [0.25, 0.25],
                          "lm_eval_acc_stderr": [0.164, 0.164]})
    f = figure(Column("lm_eval_acc", "lm_eval_acc", "aggregate", "lm_eval_acc"), items, None)
    assert f.lo == 0.0 and f.hi == pytest.approx(0.25 + 1.96 * 0.164)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60),
       st.lists(st.floats(0, 1), min_size=1, max_size=60),
       st.floats(0, 1), st.floats(0, 2))
def test_no_interval_leaves_zero_one(binary, means, acc, stderr):
    """Rates, means of [0, 1] metrics and lm-eval aggregates: every interval lies in [0, 1] and
    holds its value."""
    from reports.columns import Column, figure

    cases = [(Column("correct", "Accuracy", "rate", "correct"), pd.DataFrame({"correct": binary})),
             (Column("reward", "reward", "mean", "reward"), pd.DataFrame({"reward": means})),
             (Column("lm_eval_acc", "acc", "aggregate", "lm_eval_acc"),
              pd.DataFrame({"lm_eval_acc": [acc] * 3, "lm_eval_acc_stderr": [stderr] * 3}))]
    for col, items in cases:
        f = figure(col, items.assign(item_id=[str(i) for i in range(len(items))], dataset="d"), None)
        if math.isnan(f.lo):
            assert len(items) < 2 and col.kind == "mean"  # a bootstrap needs two items
            continue
        assert 0.0 <= f.lo <= f.value + 1e-12 and f.value - 1e-12 <= f.hi <= 1.0, (col.key, f)


def test_wilson_matches_the_formula():
    from reports.metrics import wilson_ci

    z = 1.959963984540054
    for k, n in ((0, 8), (3, 10), (10, 10), (1, 1)):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert wilson_ci(k, n) == pytest.approx((max(0, centre - half), min(1, centre + half)))


def test_thesis_table_says_incomplete_instead_of_a_figure(tmp_path):
    """Any failed item of a thesis cell replaces its reproduced figures (no partial thesis figure,
    no best mark, Δ n/a); the suite table still shows the partial figures, marked."""
    from test_reports_helpers import binary, context, math_items, put_cell

    from core.fingerprint import digest
    from harness.runner import gen_config
    from models import fingerprint
    from reports.data import load_cells
    from reports.tables import suite_table
    from reports.thesis import SPECS, thesis_table

    ctx = context(tmp_path / "store")
    n = 200
    put_cell(ctx, "sft", "indomain", "thesis", math_items(binary(n, 0.3, 1)))
    put_cell(ctx, "grpo-1k", "indomain", "thesis", math_items(np.ones(n)))  # far better, yet incomplete
    put_cell(ctx, "grpo-1k-v2", "indomain", "thesis", math_items(binary(n, 0.6, 2)))
    put_cell(ctx, "grpo-1k-v3", "indomain", "thesis", math_items(binary(n, 0.3, 3)))
    fp, ghash = fingerprint(ctx.reg, ctx.profile, "grpo-1k"), digest(gen_config(ctx, "indomain", "thesis"))[:16]
    ctx.results.add_generations([{"model_fp": fp, "suite": "indomain", "protocol": "thesis", "item_id": f"x{i}",
                                  "gen_hash": ghash, "dataset": "gsm8k", "completion": "", "n_tokens": 0,
                                  "error": "HTTP 503"} for i in range(3)])
    cells = load_cells(ctx)
    table = thesis_table(ctx, cells, SPECS[0])
    rows = {(r.labels[0].split(" (")[1].rstrip(")"), r.style): r for r in table.rows}
    rep = rows[("grpo-1k", "reproduced")]
    assert [f.text for f in rep.figures] == ["incomplete (3 failed)"] * 4 and not any(f.best for f in rep.figures)
    assert rows[("grpo-1k", "delta")].figures[0].text == "n/a"
    assert rows[("grpo-1k-v2", "reproduced")].figures[0].best  # the best among complete cells
    assert "incomplete (k failed)" in table.caption
    std = suite_table(ctx, cells, "indomain", "thesis")
    g = {r.labels[0]: r for r in std.rows}["grpo-1k"]
    keys = [c.key for _, c in std.columns]
    assert g.figures[keys.index("failed")].value == 3 and g.figures[keys.index("accuracy")].value == 1.0
    assert g.figures[keys.index("n")].value == n


def test_a_crash_while_generating_fails_the_unstored_items_and_the_run_goes_on(tmp_path, capsys):
    """An exception inside generation (here the one a GPU raises when a batch does not fit) is not
    a traceback and not a wrong answer: the items already stored keep their answers, the rest are
    failures carrying the exception, the next cell still runs, and the next run retries them.

    The fault is injected into a real ``OpenAIBackend`` talking to a real server (nothing on this
    machine runs out of GPU memory on demand), placed where the openai kind looks for its engine."""
    from core.context import Context
    from harness.plan import make_plan
    from harness.runner import resolve, run
    from models.backends.openai import OpenAIBackend

    texts = _answers()
    questions = [it.prompt[-1]["content"] for it in _items()]
    server = ScriptedServer(_answering(texts))

    class OutOfMemoryOnThird(OpenAIBackend):
        def _one(self, messages, max_new_tokens, params, k):
            if messages[-1]["content"] == questions[2]:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(details)")
            return super()._one(messages, max_new_tokens, params, k)

    try:
        answers = tmp_path / "answers.jsonl"
        answers.write_text(_replay_lines(_items()))
        reg_path = _registry(tmp_path, api=_api(server.base_url), rep={"kind": "replay", "path": str(answers)})
        data = yaml.safe_load(open(reg_path))
        data["profiles"]["smoke"]["generation"]["batch_size"] = 1  # stored one by one, as they come
        data["models"]["api"]["concurrency"] = 1
        open(reg_path, "w").write(yaml.safe_dump(data))

        def once(engine=None):
            ctx = Context(reg=load_registry(reg_path), profile_name="smoke", store_dir=tmp_path / "store")
            if engine is not None:
                ctx.engines[("openai", server.base_url, "served")] = engine
            plan = make_plan(ctx.reg, "smoke", ["api", "rep"], ["indomain"], ctx.ckpts)
            resolve(ctx, list(ctx.reg.models), ["indomain"])
            out = {r["model"]: r for r in run(ctx, plan, LIMIT, "test")}
            ctx.results.close()
            return out

        first = once(OutOfMemoryOnThird(server.base_url, "served", retries=0, concurrency=1))
        assert first["api"]["failed"] == 2 and first["api"]["reason"].startswith("RuntimeError: CUDA out of memory")
        assert "\n" not in first["api"]["reason"]
        assert first["rep"]["failed"] == 0 and first["rep"]["generated"] == LIMIT  # the next cell still ran

        server.reset(_answering(texts))
        second = once()
        assert second["api"]["failed"] == 0 and second["api"]["generated"] == 2
        assert sorted(b["messages"][-1]["content"] for b in server.requests) == sorted(questions[2:])
    finally:
        server.stop()


def test_a_store_that_scored_failures_as_wrong_is_repaired_by_the_next_run(tmp_path, capsys):
    """Before #13 a failure was stored with scores correct = 0, failed = 1. Such rows are read as
    failures (not as wrong answers) and the next run retries them and drops the stale scores."""
    from core.context import Context
    from core.fingerprint import digest
    from harness.runner import gen_config
    from models import fingerprint

    texts = _answers()
    server = ScriptedServer(_answering(texts))
    try:
        reg = _registry(tmp_path, api=_api(server.base_url))
        store = tmp_path / "store"
        ctx = Context(reg=load_registry(reg), profile_name="smoke", store_dir=store)
        fp, ghash = fingerprint(ctx.reg, ctx.profile, "api"), digest(gen_config(ctx, "indomain", "thesis"))[:16]
        items = _items()
        ctx.results.add_generations([{"model_fp": fp, "suite": "indomain", "protocol": "thesis", "item_id": it.id,
                                      "gen_hash": ghash, "dataset": it.dataset, "completion": "", "n_tokens": 0,
                                      "error": "connection refused"} for it in items])
        ctx.results.add_scores([(fp, "indomain", "thesis", it.id, ghash, 0, k, v) for it in items
                                for k, v in (("correct", 0.0), ("failed", 1.0), ("n_tokens", 0.0), ("scored", 1.0))])
        ctx.results.close()
        rc, out, _ = _run(capsys, reg, store)
        assert rc == 0 and len(server.requests) == LIMIT
        con = sqlite3.connect(store / "bench.sqlite")
        failed = con.execute("SELECT COUNT(*) FROM scores WHERE metric='failed'").fetchone()[0]
        con.close()
        assert failed == 0
        row = _table(store).iloc[0]
        right = sum("so <SOLUTION>" in texts[it.prompt[-1]["content"]] for it in items)
        assert row["n"] == LIMIT and row["accuracy"] == pytest.approx(right / LIMIT) and row["complete"]
    finally:
        server.stop()
