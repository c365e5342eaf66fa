"""Per-item records of the stored cells: `bench samples` (JSONL) and the HTML sample browser.

A record joins, for one (model, suite, protocol, item), what the store holds (completion, token
count, failure, every per-item score, the judge's verdict from the verdict cache) with what it
does not: **the prompt and the target are not stored in SQLite**, so they are rebuilt from the
suite's items under the store's profile (``Suite.items`` is seeded and deterministic; an item
the suite no longer produces, or a suite whose data is not available here, leaves them null).

The JSONL follows lm-evaluation-harness's ``--log_samples`` layout (``samples_<task>.jsonl``,
lm_eval/evaluator.py + loggers/evaluation_tracker.py in lm-eval 0.4.x), so its readers work:
``doc_id``, ``doc``, ``target`` (a string), ``arguments`` (``{"gen_args_0": {"arg_0": prompt,
"arg_1": generation kwargs}}``), ``resps`` (``[[completion]]``), ``filtered_resps`` (what the
scorer read: the text between the solution tags), ``filter``, ``metrics`` (the metric names)
with each metric's value as a top-level key, and the sha256 ``doc_hash`` / ``prompt_hash`` /
``target_hash``. One difference: ``arg_0`` is the chat messages, not the templated string —
the chat template belongs to each model's tokenizer, which an export from the store does not
load. The fields lm-eval has no name for are added: ``model``, ``model_fingerprint``,
``profile``, ``suite``, ``protocol``, ``dataset``, ``prompt``, ``completion``,
``judge_name``, ``judge_score`` (also the ``judge`` metric), ``judge_verdict``, ``failure`` and
``status`` (correct | incorrect | failed).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, Optional

from benchmarks import SUITES, get_suite
from core.context import Context
from core.errors import BadInput, BenchError
from core.extract import solution_text
from judges import get_judge, response_hash

STATUSES = ("correct", "incorrect", "failed")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _items(ctx: Context, suite: str, protocol: str, memo: dict) -> dict:
    """item id -> Item of the suite under the context's profile ({} when its data is unavailable)."""
    key = (suite, protocol)
    if key not in memo:
        try:
            memo[key] = {it.id: it for it in get_suite(suite).items(ctx.profile, protocol, None).items}
        except BenchError as exc:  # e.g. thesis data not downloaded here: export what the store has
            print(f"bench: note: {suite}/{protocol}: prompts and targets left out ({exc})", file=sys.stderr)
            memo[key] = {}
    return memo[key]


def _judge_fp(ctx: Context, name: str, memo: dict) -> Optional[str]:
    if name not in memo:
        try:
            memo[name] = get_judge(name, ctx.reg.judges[name]).fingerprint if name in ctx.reg.judges else None
        except BenchError:  # a judge that cannot be built here: its cached verdicts are unreachable
            memo[name] = None
    return memo[name]


def _status(metrics: dict, failure: Optional[str]) -> Optional[str]:
    if failure or metrics.get("failed"):
        return "failed"
    if "correct" in metrics:
        return "correct" if metrics["correct"] >= 0.5 else "incorrect"
    return None  # suites without a 0/1 metric (e.g. BFCL thesis reward)


def cell_records(ctx: Context, cells: Iterable) -> Iterator[dict]:
    """Neutral per-item records for ``cells`` (``reports.data.CellData``): what the browser shows."""
    item_memo: dict = {}
    judge_memo: dict = {}
    for cell in cells:
        items = _items(ctx, cell.suite, cell.protocol, item_memo)
        jfp = _judge_fp(ctx, cell.judge, judge_memo) if cell.judge else None
        scores: dict = {}
        for item_id, sample, metric, value in ctx.results.db.execute(
                "SELECT item_id, sample, metric, value FROM scores WHERE model_fp=? AND suite=? AND protocol=? "
                "AND gen_hash=?", (cell.model_fp, cell.suite, cell.protocol, cell.gen_hash)):
            scores.setdefault((item_id, sample), {})[metric] = value
        gens = ctx.results.generations(cell.model_fp, cell.suite, cell.protocol, cell.gen_hash)
        order = {iid: i for i, iid in enumerate(items)}  # the suite's order, as lm-eval's doc_id
        gens.sort(key=lambda g: (order.get(g["item_id"], len(order)), g["item_id"], g["sample"]))
        for g in gens:
            item = items.get(g["item_id"])
            metrics = scores.get((g["item_id"], g["sample"]), {})
            text = g["completion"] or ""
            verdict = None
            if jfp and ("judge" in metrics or "judge_missing" in metrics):
                row = ctx.results.judgment(jfp, f"{cell.suite}/{g['item_id']}", response_hash(text))
                verdict = row[1] if row else None
            yield {
                "model": cell.model, "model_fingerprint": cell.model_fp, "profile": ctx.profile_name,
                "suite": cell.suite, "protocol": cell.protocol, "dataset": g["dataset"],
                "item_id": g["item_id"], "sample": g["sample"],
                "question": item.question if item else None,
                "prompt": item.prompt if item else None,
                "target": str(item.answer) if item else None,  # what the scorer compares with
                "reference": (item.meta or {}).get("reference") if item else None,
                "completion": text, "n_tokens": g["n_tokens"], "failure": g["error"],
                "metrics": {k: v for k, v in sorted(metrics.items())},
                "judge": cell.judge or None, "judge_score": metrics.get("judge"), "judge_verdict": verdict,
                "status": _status(metrics, g["error"]),
                "generation": (cell.manifest or {}).get("generation", {}),
            }


def lm_eval_record(r: dict) -> dict:
    """A neutral record in lm-eval's ``--log_samples`` layout (plus this harness's fields)."""
    gen = r.get("generation") or {}
    gen_kwargs = {"max_gen_toks": gen.get("max_new_tokens"), "temperature": gen.get("temperature"),
                  "do_sample": bool(gen.get("temperature"))}
    doc = {"id": r["item_id"], "dataset": r["dataset"], "question": r["question"], "answer": r["target"],
           "reference": r["reference"]}
    target = r["target"] if r["target"] is not None else ""
    filtered = solution_text(r["completion"])
    prompt_json = json.dumps(r["prompt"], ensure_ascii=False) if r["prompt"] is not None else ""
    out = {
        "doc_id": r["item_id"], "doc": doc, "target": target,
        "arguments": {"gen_args_0": {"arg_0": r["prompt"], "arg_1": gen_kwargs}},
        "resps": [[r["completion"]]], "filtered_resps": [filtered if filtered is not None else r["completion"]],
        "filter": "solution-tags", "metrics": list(r["metrics"]),
        "doc_hash": _sha(json.dumps(doc, indent=2, ensure_ascii=False)), "prompt_hash": _sha(prompt_json),
        "target_hash": _sha(str(target)),
        **r["metrics"],
    }
    extra = {k: r[k] for k in ("model", "model_fingerprint", "profile", "suite", "protocol", "dataset", "sample",
                               "prompt", "completion", "n_tokens", "judge_score", "judge_verdict",
                               "failure", "status")}
    return {**out, **extra, "judge_name": r["judge"]}  # "judge" itself is the metric (the 0-10 score)


def _split(spec: Optional[str]) -> Optional[list[str]]:
    if not spec or spec == "all":
        return None
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise BadInput("an empty filter: name at least one, or 'all'")
    return names


def select_cells(ctx: Context, models: Optional[str], suites: Optional[str], protocols: Optional[str]) -> list:
    """The report's cells (current recipes; current generation config, else the latest), filtered."""
    from reports.data import load_cells

    want_m = ctx.reg.resolve_models(models) if models and models != "all" else None
    want_s = ctx.reg.resolve_suites(suites) if suites and suites != "all" else None
    want_p = _split(protocols)
    if want_p:
        known = {p for s in (want_s or ctx.reg.suites) if s in SUITES for p in get_suite(s).protocols}
        bad = [p for p in want_p if p not in known]
        if bad:
            raise BadInput(f"unknown protocol '{bad[0]}' (known: {', '.join(sorted(known))})")
    return [c for c in load_cells(ctx) if (want_m is None or c.model in want_m)
            and (want_s is None or c.suite in want_s) and (want_p is None or c.protocol in want_p)]


def write_jsonl(records: Iterable[dict], out: Optional[str]) -> int:
    """Write lm-eval-style lines to ``out`` (atomically) or stdout; returns the number written.

    ``out`` ending in ``.jsonl`` is one file; any other path is a folder with one
    ``<model>/samples_<suite>-<protocol>.jsonl`` per cell, as lm-eval's ``--output_path``."""
    n = 0
    if out is None or out == "-":
        try:
            for r in records:
                sys.stdout.write(json.dumps(lm_eval_record(r), ensure_ascii=False) + "\n")
                n += 1
            sys.stdout.flush()
        except BrokenPipeError:  # `bench samples | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return n
    path = Path(out)
    files: dict[Path, list[str]] = {}
    for r in records:
        target = path if path.suffix == ".jsonl" else path / r["model"] / f"samples_{r['suite']}-{r['protocol']}.jsonl"
        files.setdefault(target, []).append(json.dumps(lm_eval_record(r), ensure_ascii=False))
        n += 1
    if path.suffix == ".jsonl" and not files:
        files[path] = []
    for target, lines in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(target)  # a reader never sees half a file
    return n


__all__ = ["cell_records", "lm_eval_record", "select_cells", "write_jsonl", "STATUSES"]
