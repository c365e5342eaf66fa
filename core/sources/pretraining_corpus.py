"""The tiny base's pretraining corpus: a little of everything the suites ask, none of their rows.

It stands in for Qwen3-Base's general pretraining, so that what SFT (math only, as in the thesis)
transfers out of domain is a real measurement and not an artefact of a base that has never seen
a yes/no question or a function list:

- arithmetic word problems with worked steps (``synthetic_math``), as before;
- short passages with yes/no questions, and multiple-choice questions with 3-5 labelled choices,
  in the out-of-domain suite's prompt wording (``synthetic_qa``, its ``pretrain`` stream);
- function-calling text over BFCL's document shapes with made-up names (``synthetic_calls``), or,
  for a base whose ``pretrain_calls`` is ``bfcl-api``, over BFCL's own multi-turn API with requests
  written from each function's description (``bfcl_api_calls``).

Each is followed by its answer; QA documents work their fact out in the math corpus's own steps,
and a multiple-choice one answers with the correct choice's text (the thesis extractor maps it to
its label; a base this small did not learn to find the label). The delimiters vary from document
to document (``PAIRS``; the thesis tags are one pair among many), so the base learns to follow
"put your answer between X and Y", not one tag: Qwen3-Base learned the same from its own corpus.

Disjointness: math problems come after the SFT, GRPO and test problems of the same stream; QA
facts skip every fact a suite test row asks about and every held-out math problem's story; the
function names are made up, or BFCL's own with requests that are not its questions.
``tests/test_pretraining_corpus.py`` checks that no pretraining text contains a test question or
passage of any suite, or an SFT/GRPO problem.
"""
from __future__ import annotations

import json
import random

from core.config import DataSpec

from . import bfcl_api_calls, synthetic_calls, synthetic_math, synthetic_qa

VERSION = f"corpus-v3+{synthetic_math.VERSION}+{synthetic_qa.VERSION}+{synthetic_calls.VERSION}"
CALL_GENERATORS = {"made-up": synthetic_calls, "bfcl-api": bfcl_api_calls}  # BaseSpec.pretrain_calls
EOS = "<|endoftext|>"  # core.modeling.SPECIALS[0]: a preamble ends like the chat template's system turn

# shares of the corpus, in documents. Call documents are ~4x longer than math ones, QA ones ~1.5x:
# in tokens about half is arithmetic (problems, drills), a quarter QA, a quarter calls. v1 gave
# calls 20% of the documents but 45% of the tokens, and the base lost most of its arithmetic.
SHARES = {"math": 0.42, "drill": 0.16, "boolq": 0.13, "commonsense_qa": 0.09, "arc_challenge": 0.09, "calls": 0.11}
THESIS_SHARE = 0.3  # documents whose delimiters are the thesis tags, the corpus's most common pair
PLAIN_SHARE = 0.25  # QA documents as plain exam text ("Question: ... Answer: B"), without delimiters
PAIRS = [  # (start, end) answer delimiters; a reasoning pair is drawn from the same list
    ("<SOLUTION>", "</SOLUTION>"), ("<start_working_out>", "<end_working_out>"), ("<answer>", "</answer>"),
    ("<ANSWER>", "</ANSWER>"), ("[[", "]]"), ("<result>", "</result>"), ("<final>", "</final>"),
    ("<think>", "</think>"), ("<out>", "</out>"), ("{{", "}}"), ("<<", ">>"), ("<reply>", "</reply>"),
    ("<calls>", "</calls>"), ("<work>", "</work>"), ("[ANS]", "[/ANS]"), ("<BEGIN>", "<END>"),
]


def _pair(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.25:  # a tag never seen before: only the instruction says what it is
        w = rng.choice(["ans", "res", "sol", "pick", "box", "key", "val", "tag", "zz", "qq"]) + str(rng.randint(0, 9))
        w = w.upper() if rng.random() < 0.5 else w
        return f"<{w}>", f"</{w}>"
    return rng.choice(PAIRS[2:])  # the thesis tags only ever in their own roles (``_delimiters``)


def _delimiters(rng: random.Random) -> tuple[tuple[str, str], tuple[str, str]]:
    """(reasoning pair, answer pair): the thesis tags for ``THESIS_SHARE`` of the documents,
    else two different pairs drawn from ``PAIRS`` or made up."""
    if rng.random() < THESIS_SHARE:
        return PAIRS[1], PAIRS[0]
    sol, work = _pair(rng), _pair(rng)
    while work == sol:
        work = _pair(rng)
    return work, sol


def _preamble(rng: random.Random, work: tuple[str, str], sol: tuple[str, str]) -> str:
    """A system-style instruction, as the thesis prompt's system turn gives one."""
    return rng.choice([
        f"You are given a problem. Think about the problem and provide your working out. Place it between "
        f"{work[0]} and {work[1]}. Then, provide your solution between {sol[0]}{sol[1]}",
        f"Work through the problem between {work[0]} and {work[1]}, then give the final answer between "
        f"{sol[0]} and {sol[1]}.",
        f"Show your reasoning inside {work[0]} {work[1]} and your answer inside {sol[0]} {sol[1]}.",
    ]) + EOS


def _document(rng: random.Random, user: str, reasoning: str, answer: str,
              work: tuple[str, str], sol: tuple[str, str]) -> str:
    """The user text, then the reasoning and the delimited answer, in one of three layouts."""
    form = rng.random()
    if form < 0.5:  # system-style instruction first, as in the thesis chat template
        return _preamble(rng, work, sol) + user + f"{work[0]}{reasoning}{work[1]}{sol[0]}{answer}{sol[1]}"
    if form < 0.8:
        return f"{user}\n{reasoning} {sol[0]}{answer}{sol[1]}"
    return f"{user}\nAnswer: {sol[0]}{answer}{sol[1]}"


# -- the suites' wording (benchmarks.outdomain.user_message with the delimiters as parameters; a
#    test checks the two agree for the thesis tags) --------------------------------------------
def _asked(question: str) -> str:
    return question if question.endswith("?") else question + "?"  # BoolQ's questions have no "?"


def _choice_lines(labels: list[str], texts: list[str]) -> str:
    return "\n".join(f"{lab}. {txt}" for lab, txt in zip(labels, texts))


def boolq_user(passage: str, question: str, sol: tuple[str, str]) -> str:
    return (f"{passage}\n\nQuestion: {_asked(question)}\n"
            f"Answer yes or no. Put your answer (yes or no) between {sol[0]} and {sol[1]}.")


def choice_user(question: str, labels: list[str], texts: list[str], sol: tuple[str, str]) -> str:
    lines = _choice_lines(labels, texts)
    which = ", ".join(labels[:-1]) + f" or {labels[-1]}"
    return (f"Question: {question}\nChoices:\n{lines}\n\n"
            f"Answer with the label of the correct choice ({which}) between {sol[0]} and {sol[1]}.")


def calls_user(request: str, docs: list[dict], work: tuple[str, str], sol: tuple[str, str]) -> str:
    """The thesis BFCL prompt's user turn (core.bfcl.data.thesis_prompt) with other delimiters."""
    return (f"{request}\n\nAvailable functions:\n{json.dumps(docs, indent=2)}\n\n"
            f"Think about which functions to call and put your working out between {work[0]} "
            f"and {work[1]}. Then give the function calls as a JSON array of objects with "
            f'"name" and "parameters", e.g. [{{"name": "func", "parameters": {{"arg": "value"}}}}], '
            f"between {sol[0]} and {sol[1]}.")


def _arith(f: dict) -> str:
    return f"{f['a']} {synthetic_qa.SYMBOL[f['op']]} {f['b']} = {f['c']}."


def _boolq_doc(rng, row: dict, f: dict) -> str:
    if rng.random() < PLAIN_SHARE:  # exam-style text: "passage / Question: ...? / Answer: yes"
        return f"{row['passage']}\nQuestion: {_asked(row['question'])}\nAnswer: {'yes' if row['answer'] else 'no'}"
    work, sol = _delimiters(rng)
    claim = [w for w in row["question"].split() if w.isdigit()][-1]
    verdict = f"{f['c']} is {claim}, so yes." if row["answer"] else f"{f['c']} is not {claim}, so no."
    return _document(rng, boolq_user(row["passage"], row["question"], sol), f"{_worked(f)} {verdict}",
                     "yes" if row["answer"] else "no", work, sol)


def _worked(f: dict) -> str:
    """The fact worked out in the math corpus's own steps (``synthetic_math.worked_solution``), so
    the reading that SFT sharpens on math is the reading these prompts need."""
    first = synthetic_math.first_step(f["name"], f["obj"], f["op"], f["a"], f["b"])
    return synthetic_math.worked_solution([first, _arith(f)], f["c"])


def _choice_doc(rng, row: dict, f: dict) -> str:
    labels, texts, key = row["choices"]["label"], row["choices"]["text"], row["answerKey"]
    if rng.random() < PLAIN_SHARE:  # exam-style text, with the choices listed or not
        if rng.random() < 0.5:
            return f"Question: {row['question']}\n{_choice_lines(labels, texts)}\nAnswer: {key}"
        return f"Question: {row['question']}\nAnswer: {texts[labels.index(key)]}"
    # answered with the choice's text, which the thesis extractor maps to its label: finding the
    # label among the choices is a lookup this base did not learn (corpus v2, ten variants: SFT
    # near chance at best on CSQA and ARC)
    work, sol = _delimiters(rng)
    answer = texts[labels.index(key)]
    return _document(rng, choice_user(row["question"], labels, texts, sol), _worked(f), answer, work, sol)


def _calls_doc(rng, ex: dict) -> str:
    work, sol = _delimiters(rng)
    user = calls_user(ex["request"], ex["docs"], work, sol)
    answer = f"{sol[0]}{json.dumps(ex['calls'])}{sol[1]}"
    body = f"{work[0]}{ex['why']}{work[1]}{answer}"
    return (_preamble(rng, work, sol) + user + body) if rng.random() < 0.5 else f"{user}\n{body}"


def _math_doc(rng, text: str) -> str:
    """Plain "Question/Answer" text (the former corpus) or the same problem with an instruction."""
    if rng.random() < 0.5:
        return text
    q, a = text.removeprefix("Question: ").split("\nAnswer: ")
    steps, final = a.rsplit(" So the answer is ", 1)
    work, sol = _delimiters(rng)
    user = f"{q}\nPut the final number between {sol[0]} and {sol[1]}."
    return _document(rng, user, f"{steps} So the answer is {final.rstrip('.')}.", final.rstrip("."), work, sol)


def _drill_doc(rng: random.Random) -> str:
    """Twelve bare arithmetic facts over the suites' operand ranges: the densest arithmetic text
    there is (a times table, as general text has them); no story, so no test row. With them the
    mixed base's SFT went from 31% to 56% in-domain at the same budget (README)."""
    return " ".join(_arith(synthetic_qa.draw_fact(rng)) for _ in range(12))


def _qa_text(row: dict) -> str:
    """What a suite test row is identified by: BoolQ's passage, the others' question."""
    return row.get("passage") or row["question"]


def _qa_rows(data: DataSpec, dataset: str, n: int, held_stories: set[str]) -> list:
    """Pretraining rows: no test fact, no held-out math story, and (bare sums such as "Which
    number is 5 + 3?" name no fact) no test row's text."""
    excluded = synthetic_qa.test_facts(data.seed, data.test_rows)
    test_texts = {_qa_text(r) for r in synthetic_qa.GENERATORS[dataset](data.seed, data.test_rows)}
    got = synthetic_qa.WITH_FACTS[dataset](data.seed, n + n // 2 + 16, "pretrain", excluded)
    keep = [(row, f) for row, f in got if f["story"] not in held_stories and _qa_text(row) not in test_texts]
    return keep[:n]


def version(corpus: str, calls: str = "made-up") -> str:
    """The generators behind a base's pretraining text: a change to the mixed corpus re-addresses
    mixed-corpus bases only, not the arithmetic-corpus ones (nor what is trained from them)."""
    if corpus != "mixed":
        return synthetic_math.VERSION
    return VERSION if calls == "made-up" else f"{VERSION}+{CALL_GENERATORS[calls].VERSION}"


def texts(data: DataSpec, n: int, draw: int = 0, calls: str = "made-up") -> list[str]:
    """``n`` pretraining documents, shuffled; the same (data spec, n, draw, calls) gives the same corpus.
    Another ``draw`` is the same design with other random choices (layouts, delimiters, drills, order).
    ``calls``: the function-call documents' names, made up (``synthetic_calls``) or BFCL's own
    multi-turn API (``bfcl_api_calls``)."""
    held_out = data.sft_rows + data.grpo_rows + data.test_rows
    counts = {k: max(1, round(n * s)) for k, s in SHARES.items()}
    rng = random.Random(f"{data.seed}:pretraining-corpus:{VERSION}" + (f":draw-{draw}" if draw else ""))
    splits = synthetic_math.splits(data.seed, data.sft_rows, data.grpo_rows, data.test_rows)
    held = [r["problem"] for r in splits["sft"]] + [r["prompt"] for r in splits["grpo"]] + \
           [r["question"] for r in splits["test"]]
    held_stories = {q.split(" How many")[0] for q in held}
    docs = [_math_doc(rng, t) for t in synthetic_math.pretraining_text(data.seed, held_out, counts["math"])]
    docs += [_boolq_doc(rng, row, f) for row, f in _qa_rows(data, "boolq", counts["boolq"], held_stories)]
    for ds in ("commonsense_qa", "arc_challenge"):
        docs += [_choice_doc(rng, row, f) for row, f in _qa_rows(data, ds, counts[ds], held_stories)]
    docs += [_drill_doc(rng) for _ in range(counts["drill"])]
    docs += [_calls_doc(rng, ex) for ex in CALL_GENERATORS[calls].examples(data.seed, counts["calls"])]
    rng.shuffle(docs)
    return docs
