"""`bench chat NAME`: the thesis's test script. Five fixed word problems answered greedily, each
with a check of which of the four thesis tags the answer contains, then an interactive prompt
loop on stdin (quit / exit / q or end of input stops it)."""
from __future__ import annotations

import contextlib
import sys
from typing import Optional, TextIO

from rich.console import Console
from rich.markup import escape

from core.context import Context
from core.errors import BadInput
from core.progress import LazyConsole
from core.thesis_format import REASONING_START, TAGS
from models import kind_of

from .plan import make_plan
from .runner import model_handle, train_missing

# (question, expected answer): the thesis script's five problems, written out as full sentences
PROBLEMS = (
    ("A train travels 180 miles in 3 hours at a constant speed. What is its speed in miles per hour?", "60"),
    ("What is 15% of 240?", "36"),
    ("A rectangle is 12 meters long and 5 meters wide. What is its area in square meters?", "60"),
    ("Solve for x: x + 5 = 12. What is the value of x?", "7"),
    ("Apples cost $0.50 each. How much do 24 apples cost, in dollars?", "12"),
)
QUIT = {"quit", "exit", "q"}


def tag_check(text: str) -> dict[str, bool]:
    """Which of the four thesis tags occur in the answer."""
    return {tag: tag in text for tag in TAGS}


def format_check(checks: dict[str, bool]) -> str:
    marks = "  ".join(f"{tag} {'✓' if ok else '✗'}" for tag, ok in checks.items())
    note = "" if checks[REASONING_START] else f" ({REASONING_START} is added by the chat template, in the prompt)"
    return f"tags: {marks}  [{sum(checks.values())}/4]{note}"


def _handle(ctx: Context, name: str):
    ctx.reg.model(name)  # unknown name: one-line error listing the registry's models
    kind = kind_of(ctx.reg, name)
    if not kind.answers_new_prompts:
        raise BadInput(f"'{name}' is a {kind.name} model (stored generations): it cannot answer new prompts")
    plan = make_plan(ctx.reg, ctx.profile_name, [name], [], ctx.ckpts)
    train_missing(ctx, plan)
    return model_handle(ctx, name)


def read_prompt(stdin: Optional[TextIO]) -> Optional[str]:
    """The next line of input; None at end of input. A missing (``sys.stdin`` is None when the
    process starts with it closed) or closed stdin is the end of input too; bytes that are not
    UTF-8 (a Latin-1 'é') become U+FFFD instead of a UnicodeDecodeError."""
    if stdin is None:
        return None
    if hasattr(stdin, "reconfigure") and getattr(stdin, "errors", "replace") == "strict":
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            stdin.reconfigure(errors="replace")
    try:
        line = stdin.readline()
    except (OSError, ValueError):  # closed stream or descriptor
        return None
    except UnicodeDecodeError:  # a stream that cannot be reconfigured: skip the undecodable line
        return ""
    return line or None


def _answer(ctx: Context, handle, question: str) -> str:
    from core.thesis_format import messages

    g = ctx.profile.generation
    text, _ = handle.generate([messages(question)], g.max_new_tokens, 1, label="answer")[0]
    return text


def chat(ctx: Context, name: str, once: bool = False, stdin: Optional[TextIO] = None,
         console: Optional[Console] = None) -> int:
    from core.extract import numeric_correct, solution_text

    out = console or LazyConsole(wide=True, highlight=False)
    stdin = stdin if stdin is not None else sys.stdin
    handle = _handle(ctx, name)
    out.print(f"[bold]{name}[/] [{handle.fingerprint[:12]}], profile {ctx.profile_name}, greedy, "
              f"≤ {ctx.profile.generation.max_new_tokens} new tokens")
    for i, (question, expected) in enumerate(PROBLEMS, 1):
        text = _answer(ctx, handle, question)
        solution = solution_text(text)
        verdict = "correct" if numeric_correct(text, expected) else "not correct"
        out.print(f"\n[bold]Problem {i}:[/] {escape(question)}")
        out.print(f"[bold]Answer:[/] {escape(text.strip()) or '(empty)'}")
        out.print(f"{format_check(tag_check(text))}")
        out.print(f"solution: {escape(solution) if solution is not None else '(none)'}; "
                  f"expected {expected}: {verdict}")
    if once:
        return 0
    out.print("\nAsk your own question (quit, exit or q to stop).")
    while True:
        out.print("[bold]you>[/] ", end="")
        line = read_prompt(stdin)
        if line is None:  # end of input
            out.print()
            break
        line = line.strip()
        if not line:
            continue
        if line.lower() in QUIT:
            out.print()
            break
        text = _answer(ctx, handle, line)
        out.print(f"[bold]{name}>[/] {escape(text.strip()) or '(empty)'}")
        out.print(format_check(tag_check(text)))
    return 0
