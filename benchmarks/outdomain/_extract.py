"""Answer extraction for the QA datasets (thesis protocol). Total: any text gives a label or None.

The text is the solution (between the solution tags), or the whole completion when the model
wrote no tags. Rules are tried from the most explicit to the least; a rule that finds two
different answers gives up rather than guess.
"""
from __future__ import annotations

import re
from typing import Optional

MAX_CHARS = 20_000  # longer texts are cut: regexes stay linear and fast

YES = {"yes", "true", "correct", "right", "yeah", "yep", "y"}
NO = {"no", "false", "incorrect", "wrong", "not", "nope", "n"}
_WORD = re.compile(r"[a-z]+")
# The phrase rules read "answer", blanks, an optional connective, blanks, opening quotes/brackets,
# blanks, the answer. Written the obvious way (\s* (is)? \s* ["(]* \s*) three blank runs are
# adjacent whenever the optional parts are absent, and the regex engine tries every split of a
# whitespace run among them: cubic ("answer" + 2,000 spaces took 32 s). Folding each blank run
# into the optional part before it matches the same texts with one way to split a run.
_CONNECTIVE = r"(?:(?:is|would be|should be|will be|:|=)\s*)?"
_ANSWER_YN = re.compile(r"answer\s*" + _CONNECTIVE + r"(?:[\"'(\[*]+\s*)?(yes|no|true|false)\b")
_AFTER_LABEL_WORD = re.compile(r"\s+[A-Za-z]")
_ARTICLE_A = re.compile(r"\s+(?!(?:or|and)\b)[a-z]")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def yes_no(text: Optional[str]) -> Optional[str]:
    """'yes', 'no' or None: "Yes.", "true", "No, because ...", "The answer is no"."""
    if not isinstance(text, str):
        return None
    words = _WORD.findall(text[:MAX_CHARS].lower())
    if not words:
        return None
    if words[0] in YES:
        return "yes"
    if words[0] in NO:
        return "no"
    found = _ANSWER_YN.findall(text[:MAX_CHARS].lower())
    if found:
        return "yes" if found[-1] in ("yes", "true") else "no"
    pos = {w for w in words if w in ("yes", "true")}
    neg = {w for w in words if w in ("no", "false")}
    if pos and not neg:
        return "yes"
    if neg and not pos:
        return "no"
    return None


def _label_alt(labels: list[str]) -> str:
    return "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))


def choice(text: Optional[str], labels: list[str], texts: list[str]) -> Optional[str]:
    """One of ``labels`` or None: "B", "(B)", "B) text", "the answer is B", the choice text itself."""
    if not isinstance(text, str) or not labels:
        return None
    text = text[:MAX_CHARS]
    s = text.strip()
    if not s:
        return None
    upper = {x.upper(): x for x in labels}
    alt = _label_alt(labels)
    # 1. only a label, maybe bracketed/quoted/bold: "B", "(b)", "**C**", "D."
    bare = s.strip(" \t\n\"'*`()[]{}.:,;!")
    if bare.upper() in upper:
        return upper[bare.upper()]
    # 2. a label leading the text, closed by a bracket, period or colon: "B) text", "(B) text", "c. text"
    m = re.match(r"[\s\"'*`]*(?:[(\[]\s*)?(" + alt + r")\s*[)\].:]", s, re.I)
    if m:
        return upper[m.group(1).upper()]
    # 3. "the answer is B", "answer: (C)", "option D", "choice 2"; the last one wins
    phrase = re.compile(r"(?:answer|option|choice)\s*" + _CONNECTIVE + r"(?:[\"'*`(\[]+\s*)?("
                        + alt + r")(?![\w])", re.I)
    # match at an offset, not on a slice: a slice per hit copies the rest of the text (quadratic)
    hits = [m for m in phrase.finditer(s)
            if m.group(1).isupper() or m.group(1).isdigit() or not _AFTER_LABEL_WORD.match(s, m.end())]
    if hits:
        return upper[hits[-1].group(1).upper()]
    # 4. the choice text itself ("get frustrated"), alone or inside a sentence
    norm, texts_n = _norm(s), [_norm(t) for t in texts]
    exact = {labels[i] for i, t in enumerate(texts_n) if t and t == norm}
    if len(exact) == 1:
        return exact.pop()
    inside = [i for i, t in enumerate(texts_n) if t and re.search(r"(?<!\w)" + re.escape(t) + r"(?!\w)", norm)]
    # "get mad" and "mad" both inside: the longer one is what was meant
    inside = [i for i in inside if not any(j != i and texts_n[i] in texts_n[j] for j in inside)]
    if len({labels[i] for i in inside}) == 1:
        return labels[inside[0]]
    if not inside and norm:  # the model shortened a choice: "12" for "12 eggs"
        part = {labels[i] for i, t in enumerate(texts_n) if re.search(r"(?<!\w)" + re.escape(norm) + r"(?!\w)", t)}
        if len(part) == 1:
            return part.pop()
    # 5. exactly one distinct letter label standing alone ("I pick C here"); "A" before a word is the article
    letters = [x for x in labels if len(x) == 1 and x.isalpha()]
    if letters:
        found = set()
        for m in re.finditer(r"(?<![\w])(" + _label_alt([x.upper() for x in letters]) + r")(?![\w])", s):
            if m.group(1) == "A" and _ARTICLE_A.match(s, m.end()):
                continue
            found.add(upper[m.group(1)])
        if len(found) == 1:
            return found.pop()
    return None
