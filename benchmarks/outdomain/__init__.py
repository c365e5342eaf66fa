"""Out-of-domain suite: BoolQ, CommonsenseQA, ARC-Challenge, under two protocols.

- ``thesis``: the thesis system prompt, the question (+ passage, + lettered choices) and a request
  for the answer inside the solution tags; one greedy completion per item (by the runner), scored
  by ``score`` (label / yes-no extraction, ``_extract.py``).
- ``standard``: lm-eval's own task definitions on the same rows, log-likelihood accuracy with
  lm-eval's stderr (``_standard.py``); a custom protocol run by ``run_protocol``.

Data (``_sources.py``): synthetic twins in the real schemas (tiny/smoke), the hub, or a local
folder; at most ``profile.data.test_rows`` items per dataset, ``limit`` caps each dataset too.
"""
from __future__ import annotations

from typing import Optional

from core.thesis_format import SOLUTION_END, SOLUTION_START
from core.thesis_format import messages

from core.extract import solution_text
from ..suite import Item, ItemSet, Suite
from . import _extract, _sources, _standard
from ._sources import DATASETS, Record


def user_message(rec: Record) -> str:
    if rec.dataset == "boolq":
        q = rec.question if rec.question.endswith("?") else rec.question + "?"
        return (f"{rec.passage}\n\nQuestion: {q}\n"
                f"Answer yes or no. Put your answer (yes or no) between {SOLUTION_START} and {SOLUTION_END}.")
    lines = "\n".join(f"{lab}. {txt}" for lab, txt in zip(rec.labels, rec.texts))
    which = ", ".join(rec.labels[:-1]) + f" or {rec.labels[-1]}"
    return (f"Question: {rec.question}\nChoices:\n{lines}\n\n"
            f"Answer with the label of the correct choice ({which}) between {SOLUTION_START} and {SOLUTION_END}.")


def to_item(rec: Record, index: int) -> Item:
    text = user_message(rec)
    reference = rec.answer if rec.dataset == "boolq" else f"{rec.answer}. {rec.texts[rec.labels.index(rec.answer)]}"
    return Item(id=rec.id, dataset=rec.dataset, prompt=messages(text), answer=rec.answer, question=text,
                meta={"labels": rec.labels, "texts": rec.texts, "reference": reference,
                      "lm_eval_row": _standard.lm_eval_row(rec.dataset, rec.row or {}, index)})


def predict(item: Item, completion: str) -> Optional[str]:
    """The extracted answer: the solution, or the whole completion when there are no tags."""
    sol = solution_text(completion)
    text = sol if sol is not None else completion
    if item.dataset == "boolq":
        return _extract.yes_no(text)
    return _extract.choice(text, item.meta["labels"], item.meta["texts"])


class OutDomain(Suite):
    name = "outdomain"
    datasets = DATASETS
    judge_kind = "qa"
    protocols = ("thesis", "standard")
    custom_protocols = ("standard",)
    needs_weights = ("standard",)  # log-likelihoods: impossible for API and replay models
    version = "1"

    def items(self, profile, protocol: str, limit: Optional[int] = None) -> ItemSet:
        spec = profile.data
        cap = min(spec.test_rows, limit) if limit else spec.test_rows
        recs, skipped = [], 0
        for ds in DATASETS:
            got, bad = _sources.records(ds, spec, cap)
            recs += got
            skipped += bad
        items = [to_item(r, i) for i, r in enumerate(recs)]
        return ItemSet(items=items, data_fp=_sources.fingerprint(spec, recs), source=spec.source, skipped=skipped)

    def score(self, item: Item, completion: str) -> dict[str, float]:
        if not isinstance(completion, str):
            completion = ""
        return {"correct": float(predict(item, completion) == item.answer),
                "has_solution": float(solution_text(completion) is not None)}

    def run_protocol(self, protocol: str, model, itemset: ItemSet, generation: dict) -> list:
        if protocol != "standard":
            from core.errors import BadInput

            raise BadInput(f"outdomain has no custom protocol '{protocol}' (custom: standard)")
        return _standard.run(model, itemset, generation)


SUITE = OutDomain()
