"""`bench chat`: the thesis test script (five fixed problems with tag checks, then a prompt loop)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from benchkit import ROOT, bench

from harness.chat import PROBLEMS, format_check, tag_check


def test_tag_check_sees_each_tag():
    full = "<start_working_out>a<end_working_out><SOLUTION>7</SOLUTION>"
    assert tag_check(full) == dict.fromkeys(tag_check(full), True)
    partial = tag_check("work<end_working_out><SOLUTION>7")
    assert list(partial.values()) == [False, True, True, False]
    assert "[2/4]" in format_check(partial) and "chat template" in format_check(partial)
    assert len(PROBLEMS) == 5 and any("15%" in q for q, _ in PROBLEMS) and any("x + 5 = 12" in q for q, _ in PROBLEMS)


@pytest.fixture
def store(smoke_store, tmp_path):
    s = tmp_path / "store"
    shutil.copytree(smoke_store, s)
    return s


def test_chat_once_answers_five_problems(store):
    r = bench("chat", "grpo-1k-def", "--once", "--profile", "smoke", "--store", str(store))
    assert r.returncode == 0, r.stderr
    for i in range(1, 6):
        assert f"Problem {i}:" in r.stdout
    assert r.stdout.count("tags: <start_working_out>") == 5
    assert "24 apples" in r.stdout and "you>" not in r.stdout


def test_chat_loop_reads_stdin_until_quit(store):
    r = subprocess.run([sys.executable, "-m", "harness.cli", "chat", "grpo-1k-def", "--profile", "smoke", "--store",
                        str(store)], cwd=ROOT, input="What is 2 + 3?\n\nq\nnever asked\n", capture_output=True,
                       text=True, timeout=600, env={**os.environ, "BENCH_QUIET": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("tags: <start_working_out>") == 6  # five fixed problems + one question
    assert "grpo-1k-def>" in r.stdout


def test_chat_unknown_model_is_one_line(store):
    r = bench("chat", "no-such-model", "--once", "--profile", "smoke", "--store", str(store))
    assert r.returncode == 2 and "unknown model 'no-such-model'" in r.stderr and "Traceback" not in r.stderr
