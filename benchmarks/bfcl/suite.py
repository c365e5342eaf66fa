"""The ``bfcl`` suite: three protocols over bfcl-eval's shipped data (docs/bfcl.md).

- ``thesis``: the thesis's own evaluation. Test split of :func:`build_thesis_dataset` (seed
  3407), the thesis prompt (functions built from the ground truth: a quirk), 6 sampled completions
  per prompt (temperature 0.8, top_p 0.95, repetition penalty 1.15, torch seed 3407), the thesis
  reward. ``reward`` = ``reward_best`` (best of the 6, as the thesis's test reward); ``reward_mean``
  is stored beside it; ``perfect`` = ``correct`` = reward_best ≥ 0.95.
- ``thesis-fair``: the same, with every function of the involved classes in the prompt.
- ``official``: bfcl-eval's categories, its prompt, greedy decoding, its own checkers; multi-turn
  entries run a real loop (calls executed against bfcl-eval's simulated classes, results fed back).

Prompts longer than the model's context (the tiny base has 1,024 positions) keep the longest
prefix of their function list that fits; the ``truncated`` metric records it per item.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterator, Optional

from benchmarks.suite import Item, ItemSet, Outcome, Suite

from core.bfcl import env  # noqa: F401  (BFCL_PROJECT_ROOT before any bfcl_eval import)
from core.bfcl.data import build_thesis_dataset, fit_functions, prompt_tokens, thesis_prompt
from ._multiturn import _decode_step, _purge_instances, allowed_functions, sandbox_cwd
from ._official import AST_CATEGORIES, CATEGORIES, official_items, official_prompt, score_official
from core.bfcl.reward import PERFECT_THRESHOLD, thesis_reward

THESIS_DATASET = "bfcl_multi_turn_first"
THESIS_SEED = 3407  # the thesis's seed everywhere else; its BFCL split was unseeded (a quirk)
THESIS_SAMPLING = {"temperature": 0.8, "top_p": 0.95, "repetition_penalty": 1.15}
THESIS_SAMPLES = 6
THESIS_MAX_NEW_TOKENS = 512  # the thesis's BFCL completion length
FULL_MAX_STEPS = 20  # bfcl-eval's MAXIMUM_STEP_LIMIT per turn
TINY_MAX_STEPS = 3  # tiny/smoke: a few steps per turn keep runs short


def per_category_cap(profile) -> Optional[int]:
    """Items per category in tiny-base profiles: test_rows/3 clamped to [4, 20] (smoke 4, tiny 20);
    None (all) for a real base model."""
    if profile.base.kind != "tiny":
        return None
    return max(4, min(20, profile.data.test_rows // 3))


def _fp(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _bfcl_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("bfcl_eval")
    except md.PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------ context budget
def context_of(model) -> Optional[tuple]:
    """(tokenizer, max positions) of a local model; None when it has no local weights (replay)."""
    backend = getattr(model, "backend", None)
    if backend is None or not hasattr(backend, "model") or not hasattr(backend, "tok"):
        return None
    ctx = getattr(getattr(backend.model, "config", None), "max_position_embeddings", None)
    return (backend.tok, int(ctx)) if ctx else None


# ------------------------------------------------------------------ the suite
class BFCLSuite(Suite):
    name = "bfcl"
    datasets = (THESIS_DATASET,) + CATEGORIES
    judge_kind = None
    protocols = ("thesis", "thesis-fair", "official")
    custom_protocols = ("thesis", "thesis-fair", "official")
    version = "1"
    decoding = {"thesis_samples": THESIS_SAMPLES, "thesis_sampling": THESIS_SAMPLING,
                "thesis_max_new_tokens": THESIS_MAX_NEW_TOKENS, "thesis_seed": THESIS_SEED,
                "max_steps": {"tiny": TINY_MAX_STEPS, "full": FULL_MAX_STEPS}}

    def __init__(self):
        self._split: dict = {}

    def split(self) -> dict:
        if not self._split:
            self._split.update(build_thesis_dataset(seed=THESIS_SEED))
        return self._split

    # -- items -------------------------------------------------------------------------------
    def items(self, profile, protocol: str, limit: Optional[int] = None) -> ItemSet:
        if protocol not in self.custom_protocols:
            from core.errors import BadInput

            raise BadInput(f"bfcl has no protocol '{protocol}' (known: {', '.join(self.custom_protocols)})")
        cap = per_category_cap(profile)
        n = min(x for x in (cap, limit) if x) if (cap or limit) else None
        run = {"batch_size": profile.generation.batch_size,
               "max_steps": TINY_MAX_STEPS if profile.base.kind == "tiny" else FULL_MAX_STEPS}
        if protocol in ("thesis", "thesis-fair"):
            split = self.split()
            rows = split["test"][:n] if n else split["test"]
            fair = protocol == "thesis-fair"
            items = [Item(id=f"{THESIS_DATASET}/{r['id']}", dataset=THESIS_DATASET, prompt=thesis_prompt(r, fair=fair),
                          answer=json.dumps(r["ground_truth"]), question=r["question"],
                          meta={"bfcl": r, "fair": fair, "run": run}) for r in rows]
            fp = _fp({"protocol": protocol, "split": split["fingerprint"], "ids": [i.id for i in items], "bfcl_eval": _bfcl_version()})
        else:
            items = []
            for cat in CATEGORIES:
                for e in official_items(cat, limit=n):
                    items.append(Item(id=f"{cat}/{e['id']}", dataset=cat, prompt=official_prompt(e),
                                      answer=json.dumps(e["ground_truth"]), question=_first_user(e),
                                      meta={"bfcl": e, "run": run}))
            fp = _fp({"entries": [i.meta["bfcl"] for i in items], "bfcl_eval": _bfcl_version()})
        return ItemSet(items=items, data_fp=fp, source=f"bfcl-eval package {_bfcl_version()}")

    def score(self, item: Item, completion: str) -> dict[str, float]:
        """Re-score one stored completion (greedy single answer; multi-turn: JSON list of turns)."""
        e = item.meta["bfcl"]
        if item.dataset == THESIS_DATASET:
            avail = e["available_fair"] if item.meta.get("fair") else e["available_thesis"]
            r = thesis_reward(completion, e["ground_truth"], avail)
            return {"reward": r, "perfect": float(r >= PERFECT_THRESHOLD), "correct": float(r >= PERFECT_THRESHOLD)}
        return {"correct": float(score_official(e, _turns_from_text(e, completion))["valid"])}

    # -- protocols ---------------------------------------------------------------------------
    def run_protocol(self, protocol: str, model, itemset: ItemSet, generation: dict) -> list[Outcome]:
        return list(self.iter_protocol(protocol, model, itemset, generation))

    def iter_protocol(self, protocol: str, model, itemset: ItemSet, generation: dict) -> Iterator[Outcome]:
        """Outcomes one item at a time, each as soon as it is scored: the harness stores each one
        at once, so a run interrupted while scoring (the thesis reward and bfcl-eval's checkers
        are the slow part on long outputs) keeps every item scored so far."""
        if not itemset.items:
            return
        if protocol in ("thesis", "thesis-fair"):
            yield from self._run_thesis(protocol, model, itemset.items, generation)
            return
        ast_items = [it for it in itemset.items if it.dataset in AST_CATEGORIES]
        mt_items = [it for it in itemset.items if it.dataset not in AST_CATEGORIES]
        if ast_items:
            yield from self._run_ast(model, ast_items, generation)
        if mt_items:
            yield from self._run_multi_turn(model, mt_items, generation)

    def _run_thesis(self, protocol: str, model, items: list[Item], generation: dict) -> Iterator[Outcome]:
        import torch

        fair = protocol == "thesis-fair"
        max_new = min(int(generation["max_new_tokens"]), THESIS_MAX_NEW_TOKENS)
        prompts, dropped = _fitted(model, items, max_new, lambda it: (
            (lambda fns: thesis_prompt({**it.meta["bfcl"], "available_fair" if fair else "available_thesis": fns}, fair=fair)),
            it.meta["bfcl"]["available_fair" if fair else "available_thesis"]))
        batch = max(1, items[0].meta["run"]["batch_size"] // THESIS_SAMPLES)
        if context_of(model) is not None:
            model.hf()  # select the adapter now: loading one draws random numbers (LoRA init)
        torch.manual_seed(THESIS_SEED)  # reproducible sampling for the same item set
        samples = model.generate(prompts, max_new, batch, label=f"{model.name} · bfcl/{protocol}",
                                 item_ids=[it.id for it in items], sampling=dict(THESIS_SAMPLING),
                                 n=THESIS_SAMPLES)
        for it, group, drop in zip(items, samples, dropped):
            e = it.meta["bfcl"]
            avail = e["available_fair"] if fair else e["available_thesis"]
            rewards = [thesis_reward(t or "", e["ground_truth"], avail) for t, _ in group]
            best = max(range(len(rewards)), key=lambda i: rewards[i])
            text, ntok = group[best]
            perfect = float(rewards[best] >= PERFECT_THRESHOLD)
            yield Outcome(
                item_id=it.id, dataset=it.dataset, completion=text or "", n_tokens=int(ntok),
                metrics={"reward": rewards[best], "reward_best": rewards[best],
                         "reward_mean": sum(rewards) / len(rewards),
                         "perfect": perfect, "correct": perfect, "truncated": float(drop > 0)},
                # one failed sample makes best-of-n and the mean meaningless: the item failed
                error=next((e for e in (getattr(r, "error", None) for r in group) if e), None))

    def _run_ast(self, model, items: list[Item], generation: dict) -> Iterator[Outcome]:
        max_new = int(generation["max_new_tokens"])
        prompts, dropped = _fitted(model, items, max_new, lambda it: (
            (lambda fns: official_prompt({**it.meta["bfcl"], "function": fns})), it.meta["bfcl"]["function"]))
        res = model.generate(prompts, max_new, items[0].meta["run"]["batch_size"],
                             label=f"{model.name} · bfcl/official", item_ids=[it.id for it in items])
        for it, result, drop in zip(items, res, dropped):
            text, ntok = result
            r = score_official(it.meta["bfcl"], text or "")
            yield Outcome(item_id=it.id, dataset=it.dataset, completion=text or "", n_tokens=int(ntok),
                          metrics=_official_metrics(bool(r["valid"]), drop), error=getattr(result, "error", None))

    def _run_multi_turn(self, model, items: list[Item], generation: dict) -> Iterator[Outcome]:
        if getattr(model.backend, "recorded", False):  # replay: the file holds the per-turn answers
            res = model.generate([it.prompt for it in items], 0, 1, item_ids=[it.id for it in items])
            for it, result in zip(items, res):
                text, ntok = result
                r = score_official(it.meta["bfcl"], _turns_from_text(it.meta["bfcl"], text or ""))
                yield Outcome(item_id=it.id, dataset=it.dataset, completion=text or "", n_tokens=int(ntok),
                              metrics=_official_metrics(bool(r["valid"]), 0), error=getattr(result, "error", None))
            return
        yield from MultiTurnLoop(model, items, int(generation["max_new_tokens"])).iter()


def _official_metrics(valid: bool, dropped: int, failure: Optional[str] = None) -> dict[str, float]:
    """The same metric set for every official item, so category tables line up."""
    return {"correct": float(valid), "truncated": float(dropped > 0),
            "context_overflow": float(failure == "context_overflow"), "force_quit": float(failure == "force_quit")}


def _first_user(entry: dict) -> str:
    return "\n".join(m["content"] for m in entry["question"][0] if m.get("role") == "user")


def _turns_from_text(entry: dict, text: str):
    """A stored multi-turn completion is a JSON list of per-turn answers; AST ones are plain text."""
    if entry["category"] in AST_CATEGORIES:
        return text
    try:
        turns = json.loads(text)
    except (ValueError, RecursionError):
        return text  # a single answer: turn 1 only (bfcl-eval: force-terminated when more turns)
    return turns if isinstance(turns, list) else text


def _fitted(model, items: list[Item], max_new: int, spec) -> tuple[list, list[int]]:
    """Prompts fitted to the model's context (prompt ≤ context − max_new tokens)."""
    ctx = context_of(model)
    prompts, dropped = [], []
    for it in items:
        build, functions = spec(it)
        if ctx is None:
            msgs, drop = it.prompt, 0
        else:
            tok, positions = ctx
            msgs, drop = fit_functions(build, list(functions), tok, positions - max_new)
        prompts.append(msgs)
        dropped.append(drop)
    return prompts, dropped


# ------------------------------------------------------------------ the multi-turn loop
@dataclass
class _Episode:
    item: Item
    messages: list = field(default_factory=list)
    turns: list = field(default_factory=list)  # per turn: the raw text of each step
    tokens: int = 0
    steps: int = 0
    functions_dropped: int = 0
    failure: Optional[str] = None  # "context_overflow" | "force_quit"
    model_name: str = ""


class MultiTurnLoop:
    """bfcl-eval's prompting multi-turn loop, batched across entries.

    Per turn: the user's messages are appended; the model answers; decodable calls (safe parser,
    public documented methods only) run against the entry's simulated classes and the results come
    back as a user message (the thesis chat template has no tool role); a step without decodable
    calls ends the turn. More than ``max_steps`` steps in a turn force-quits the entry, as does a
    conversation that outgrows the model's context; both count as failures, as in bfcl-eval.
    The turns' raw answers are then scored by ``score_official`` (bfcl-eval's state checker).
    """

    def __init__(self, model, items: list[Item], max_new_tokens: int):
        import uuid

        self.model, self.items, self.max_new = model, items, max_new_tokens
        self.max_steps = items[0].meta["run"]["max_steps"]
        self.batch = items[0].meta["run"]["batch_size"]
        self.ctx = context_of(model)
        self.run_id = uuid.uuid4().hex[:10]

    def run(self) -> list[Outcome]:
        return list(self.iter())

    def iter(self) -> Iterator[Outcome]:
        """Play every episode, then score them one by one (each outcome as soon as it is scored)."""
        eps = [_Episode(item=it, model_name=f"grpobench_loop_{self.run_id}_{k}") for k, it in enumerate(self.items)]
        try:
            for turn in range(max(len(it.meta["bfcl"]["question"]) for it in self.items)):
                live = [ep for ep in eps if ep.failure is None and turn < len(ep.item.meta["bfcl"]["question"])]
                for ep in live:
                    self._open_turn(ep, turn)
                active = [ep for ep in live if ep.failure is None]
                step = 0
                while active:
                    if step > self.max_steps:
                        for ep in active:
                            ep.failure = "force_quit"
                        break
                    active = [ep for ep in active if self._fits(ep)]
                    if not active:
                        break
                    res = self.model.generate([ep.messages for ep in active], self.max_new, self.batch,
                                              label=f"{self.model.name} · bfcl/official multi-turn t{turn} s{step}")
                    active = [ep for ep, (text, ntok) in zip(active, res) if self._step(ep, text or "", int(ntok))]
                    step += 1
        finally:
            for ep in eps:
                _purge_instances(ep.model_name)
        for ep in eps:
            yield self._outcome(ep)

    def _open_turn(self, ep: _Episode, turn: int) -> None:
        e = ep.item.meta["bfcl"]
        ep.turns.append([])
        if turn == 0:
            if self.ctx is None:
                ep.messages = official_prompt(e)
            else:
                tok, positions = self.ctx
                ep.messages, ep.functions_dropped = fit_functions(
                    lambda fns: official_prompt({**e, "function": fns}), list(e["function"]), tok,
                    positions - self.max_new)
        else:
            ep.messages += official_prompt(e, turn)

    def _fits(self, ep: _Episode) -> bool:
        if self.ctx is None:
            return True
        tok, positions = self.ctx
        if prompt_tokens(tok, ep.messages) + self.max_new > positions:
            ep.failure = "context_overflow"
            return False
        return True

    def _step(self, ep: _Episode, text: str, ntok: int) -> bool:
        """Record one answer; run its calls. True when the turn continues."""
        ep.turns[-1].append(text)
        ep.tokens += ntok
        ep.steps += 1
        ep.messages.append({"role": "assistant", "content": text})
        e = ep.item.meta["bfcl"]
        calls = _decode_step(text, allowed_functions(e))
        if not calls:
            return False
        results = execute_calls(e, calls, ep.model_name)
        ep.messages.append({"role": "user", "content": "Execution results:\n" + "\n".join(
            f"{c} -> {r}" for c, r in zip(calls, results))})
        return True

    def _outcome(self, ep: _Episode) -> Outcome:
        e = ep.item.meta["bfcl"]
        if ep.failure is None:
            r = score_official(e, ep.turns)
            valid, err = bool(r["valid"]), None
        else:
            valid, err = False, ep.failure
        return Outcome(item_id=ep.item.id, dataset=ep.item.dataset, completion=json.dumps(ep.turns), n_tokens=ep.tokens,
                       metrics=_official_metrics(valid, ep.functions_dropped, err))


def execute_calls(entry: dict, calls: list[str], model_name: str) -> list[str]:
    """Run already-validated call strings (re-rendered literals, public documented methods of the
    entry's classes) through bfcl-eval's executor; instances persist per ``model_name`` + entry
    across steps and turns (purged by the caller), inside a temporary working folder."""
    import warnings

    from core.bfcl.env import bfcl_module

    mt_utils = bfcl_module("eval_checker.multi_turn_eval.multi_turn_utils")
    with sandbox_cwd(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            results, _ = mt_utils.execute_multi_turn_func_call(
                calls, copy.deepcopy(entry["initial_config"]), list(entry["involved_classes"]), model_name, entry["id"])
        except Exception as exc:  # a simulated class raising outside bfcl-eval's own try
            results = [f"Error during execution: {type(exc).__name__}: {exc}"] * len(calls)
    return [str(r)[:2000] for r in results]  # bounded: a huge listing must not flood the context


SUITE = BFCLSuite()

__all__ = ["SUITE", "BFCLSuite", "MultiTurnLoop", "execute_calls", "fit_functions", "per_category_cap",
           "THESIS_SAMPLING", "THESIS_SAMPLES", "THESIS_SEED"]
