"""Closed or odd standard streams (issue #16): a command started with stdout, stderr or stdin
closed runs (its output goes nowhere, as with >/dev/null) or fails with its one line; chat's
prompt reader takes a missing or closed stdin as the end of input and a Latin-1 byte as U+FFFD.

The case tables are counted in docs/reliability.md (test_reliability_counts.py checks it).
"""
from __future__ import annotations

import io
import os
import shlex
import subprocess

import pytest

import faultkit
from harness.chat import read_prompt

# id -> (shell redirections, CLI arguments, expected exit code)
SHELL_CASES = {
    "models-stdout-closed": (">&-", ["models"], 0),
    "models-stderr-closed": ("2>&-", ["models"], 0),
    "models-all-closed": ("<&- >&- 2>&-", ["models"], 0),
    "plan-stdout-closed": (">&-", ["plan", "--models", "sft", "--suite", "indomain"], 0),
    "bad-input-stdout-closed": (">&-", ["models", "--profile", "nope"], 2),
    "suites-stdin-closed": ("<&-", ["suites"], 0),
}


@pytest.mark.parametrize("case", sorted(SHELL_CASES))
def test_closed_streams(case, tmp_path, fault_registry):
    redirect, args, code = SHELL_CASES[case]
    cmd = " ".join(shlex.quote(a) for a in faultkit.command(*args, "--registry", str(fault_registry),
                                                            "--store", str(tmp_path / "store")))
    log = tmp_path / "stderr.log"
    # stderr is kept (into a file) unless the case closes it, so a traceback would be seen
    shell = f"{cmd} {redirect}" if "2>&-" in redirect else f"{cmd} {redirect} 2>{shlex.quote(str(log))}"
    r = subprocess.run(["bash", "-c", shell], cwd=faultkit.ROOT, env={**os.environ, **faultkit.ENV},
                       timeout=300, capture_output=True, text=True)
    err = (log.read_text() if log.exists() else "") + r.stderr
    assert r.returncode == code, (r.returncode, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    if code == 2:
        assert err.strip().splitlines()[-1].startswith("bench: error:")


class _Closed(io.StringIO):
    def readline(self, *a):
        raise ValueError("I/O operation on closed file")


READERS = {
    "stdin-none": (lambda: None, [None]),
    "stdin-closed": (lambda: _Closed(), [None]),
    "stdin-closed-fd": (lambda: (f := open(os.devnull)).close() or f, [None]),
    "latin-1-byte": (lambda: io.TextIOWrapper(io.BytesIO(b"caf\xe9?\nq\n"), encoding="utf-8"), ["caf\ufffd?\n", "q\n", None]),
    "invalid-utf8-run": (lambda: io.TextIOWrapper(io.BytesIO(b"\xff\xfe\xfd\n"), encoding="utf-8"), ["\ufffd\ufffd\ufffd\n", None]),
    "empty": (lambda: io.StringIO(""), [None]),
}


@pytest.mark.parametrize("case", sorted(READERS))
def test_chat_prompt_reader(case):
    make, expected = READERS[case]
    stdin = make()
    assert [read_prompt(stdin) for _ in expected] == expected


ALL_CASES = {**{f"shell:{k}": v for k, v in SHELL_CASES.items()}, **{f"chat-stdin:{k}": v for k, v in READERS.items()}}
