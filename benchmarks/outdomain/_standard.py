"""The standard protocol: lm-eval's own ``boolq``, ``commonsense_qa`` and ``arc_challenge`` tasks,
run through lm-eval's evaluator on the already-loaded model (base + active LoRA adapter).

Only the data source differs from the stock tasks: for each run, a folder gets one JSONL per
dataset holding exactly the items to evaluate (resume: only those not stored yet) and one task
YAML that ``include:``s the stock task file and then this package's ``lm_eval_tasks/<dataset>.yaml``
overrides (task name, ``dataset_path: json``, splits) and sets ``data_files``. Prompts, choices,
targets and metrics stay lm-eval's, so the accuracy is lm-eval's (log-likelihood ``acc``, with its
stderr). lm-eval's request cache is never used: it is not keyed by the model (lm-eval issue #4063; DEVELOPERS.md).
"""
from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from core.errors import RunFailed

from ..suite import Item, Outcome

OVERRIDES = Path(__file__).parent / "lm_eval_tasks"
# dataset -> (stock task file under lm_eval/tasks, split evaluated)
STOCK = {
    "boolq": ("super_glue/boolq/default.yaml", "validation"),
    "commonsense_qa": ("commonsense_qa/default.yaml", "validation"),
    "arc_challenge": ("arc/arc_challenge.yaml", "test"),
}
TASKS = {d: f"grpo_bench_{d}" for d in STOCK}
ID_FIELD = "grpo_bench_id"  # extra column: maps lm-eval's logged samples back to our items


def lm_eval_row(dataset: str, row: dict, index: int) -> dict:
    """A hub row in the schema lm-eval's stock task expects (see lm_eval_tasks/*.yaml)."""
    if dataset == "boolq":  # google/boolq -> super_glue/boolq: answer (bool) -> label 0 no / 1 yes
        return {"question": row["question"], "passage": row["passage"], "label": int(bool(row["answer"])),
                "idx": index}
    keep = ("id", "question", "question_concept", "choices", "answerKey") if dataset == "commonsense_qa" \
        else ("id", "question", "choices", "answerKey")
    out = {k: row.get(k) for k in keep}
    if "question_concept" in out:
        out["question_concept"] = str(out["question_concept"] or "")
    out["choices"] = {"label": list(row["choices"]["label"]), "text": list(row["choices"]["text"])}
    return out


def write_tasks(items: list[Item], folder: Path) -> dict[str, str]:
    """JSONL + task YAML per dataset present in ``items``; returns dataset -> task name."""
    import lm_eval.tasks

    stock_root = Path(lm_eval.tasks.__file__).parent
    folder.mkdir(parents=True, exist_ok=True)
    by_ds: dict[str, list[Item]] = {}
    for it in items:
        by_ds.setdefault(it.dataset, []).append(it)
    names = {}
    for ds, its in by_ds.items():
        stock, split = STOCK[ds]
        data = folder / f"{ds}.jsonl"
        with data.open("w") as fh:
            for it in its:
                fh.write(json.dumps({**it.meta["lm_eval_row"], ID_FIELD: it.id}) + "\n")
        # cache_dir inside the run folder: the datasets cache of these throwaway files goes with it
        cfg = {"include": [str(stock_root / stock), str(OVERRIDES / f"{ds}.yaml")],
               "dataset_kwargs": {"data_files": {split: str(data)}, "cache_dir": str(folder / "datasets-cache")}}
        (folder / f"{ds}.yaml").write_text(json.dumps(cfg, indent=1))  # JSON is YAML
        names[ds] = TASKS[ds]
    return names


def task_manager(folder: Path):
    """Only our task folder is indexed (the stock tasks are reached through ``include``): faster."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(folder), include_defaults=False)


# lm-eval modules whose tqdm bars a standard-protocol run reaches ("Running loglikelihood requests",
# "Building contexts ...", the base LM's request loop)
_LM_EVAL_BAR_MODULES = ("lm_eval.models.huggingface", "lm_eval.api.model", "lm_eval.api.task")


def _bars_wanted() -> bool:
    """lm-eval's own bars only on a terminal whose user has not turned library bars off
    (``bench`` sets TQDM_DISABLE: its rich bars are the progress display)."""
    import os
    import sys

    off = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")
    return sys.stderr.isatty() and not off


@contextmanager
def _silenced_lm_eval_bars():
    """lm-eval passes ``disable=`` to tqdm explicitly (``disable_tqdm or rank != 0``), which
    overrides TQDM_DISABLE (an environment *default*): its bars reached logs and CI output. Its
    modules' ``tqdm`` name is swapped, for the duration, for a subclass that is always disabled."""
    import importlib

    from tqdm import tqdm as base

    class _Off(base):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    swapped = []
    for name in _LM_EVAL_BAR_MODULES:
        mod = importlib.import_module(name)
        if getattr(mod, "tqdm", None) is not None:
            swapped.append((mod, mod.tqdm))
            mod.tqdm = _Off
    try:
        yield
    finally:
        for mod, original in swapped:
            mod.tqdm = original


@contextmanager
def _quiet():
    """lm-eval and datasets log a lot at INFO/WARNING; the harness has its own progress display."""
    import contextlib

    import datasets

    loggers = [logging.getLogger(n) for n in ("lm_eval", "lm-eval", "datasets")]
    levels = [lg.level for lg in loggers]
    bars = datasets.is_progress_bar_enabled()
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    datasets.disable_progress_bar()
    try:
        with (contextlib.nullcontext() if _bars_wanted() else _silenced_lm_eval_bars()):
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
        if bars:
            datasets.enable_progress_bar()


def evaluate(lm, items: list[Item], batch_size: int = 16, workdir: Optional[Path] = None) -> dict:
    """Run lm-eval on ``items`` with the LM object ``lm``; returns lm-eval's raw result dict."""
    import lm_eval

    with tempfile.TemporaryDirectory(prefix="grpo-bench-lm-eval-") as tmp:
        folder = Path(workdir or tmp)
        names = write_tasks(items, folder)
        with _quiet():
            return lm_eval.simple_evaluate(model=lm, tasks=sorted(names.values()), task_manager=task_manager(folder),
                                           batch_size=batch_size, log_samples=True, use_cache=None,
                                           cache_requests=False, apply_chat_template=False)


def outcomes(result: dict, items: list[Item]) -> list[Outcome]:
    """One Outcome per item from lm-eval's logged samples; its aggregate acc/stderr beside each."""
    by_id = {it.id: it for it in items}
    out = []
    for ds, task in TASKS.items():
        samples = result.get("samples", {}).get(task)
        if samples is None:
            continue
        agg = result["results"][task]
        # lm-eval's aggregate over the items of this run (all of them unless the run resumed)
        common = {"lm_eval_acc": float(agg["acc,none"])}
        se = agg.get("acc_stderr,none")
        if isinstance(se, (int, float)):
            common["lm_eval_acc_stderr"] = float(se)
        for s in samples:
            item = by_id[s["doc"][ID_FIELD]]
            lls = [float(r[0]) for r in s["filtered_resps"]]
            pick = max(range(len(lls)), key=lls.__getitem__)  # lm-eval's own argmax (first on ties)
            metrics = {"correct": float(s["acc"]), "scored": 1.0, **common}
            out.append(Outcome(item_id=item.id, dataset=ds, completion=_continuation(s, pick),
                               n_tokens=0, metrics=metrics))
    missing = set(by_id) - {o.item_id for o in out}
    if missing:
        raise RunFailed(f"lm-eval returned no sample for {len(missing)} item(s), e.g. {sorted(missing)[0]}")
    return out


def _continuation(sample: dict, k: int) -> str:
    """The text of option ``k`` as lm-eval scored it (the request's continuation)."""
    args = sample.get("arguments")
    try:
        arg = args[k] if isinstance(args, list) else list(args.values())[k]
        cont = arg[1] if isinstance(arg, (list, tuple)) else list(arg.values())[1]
        return str(cont).strip()
    except (IndexError, KeyError, TypeError, AttributeError):
        return str(k)


def run(model, itemset, generation: dict) -> list[Outcome]:
    """The suite's ``run_protocol`` for "standard": ``model`` is a harness ModelHandle."""
    if not itemset.items:
        return []
    from lm_eval.models.huggingface import HFLM

    hf_model, tok = model.hf()
    side = tok.padding_side  # lm-eval pads on its own; the generation backend relies on left padding
    batch = int(generation.get("batch_size") or 16)
    try:
        with _quiet():
            lm = HFLM(pretrained=hf_model, tokenizer=tok, batch_size=batch)
        result = evaluate(lm, itemset.items, batch)
    except Exception as exc:  # lm-eval's failures are not per item: one line, nothing stored
        raise RunFailed(f"lm-eval (standard protocol) failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    finally:
        tok.padding_side = side
    return outcomes(result, itemset.items)
