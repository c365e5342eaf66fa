"""Bad input: each gives one clear line (exit 2 for input, 1 for an environment failure, never a
traceback) or a recorded per-item failure while the run goes on.

Most cases call the CLI's ``main`` in this process (an unexpected exception would surface as a
test error, exactly where a user would see a traceback); a few go through a real subprocess.
"""
from __future__ import annotations

import json
import os
import sqlite3

import pytest
import yaml

import faultkit
from harness.cli import main
from core.errors import BadInput
from harness.registry import load_registry

BAD_INPUTS: list[str] = []  # every case below registers its id: docs/reliability.md quotes the count


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line(rc: int, err: str, codes=(2,)) -> str:
    assert rc in codes, (rc, err[-2000:])
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    # progress lines may come first; the error is one line, the last one
    assert lines and lines[-1].startswith("bench: error:"), err[-2000:]
    assert sum(ln.startswith("bench: error:") for ln in lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[-1]


def replay_registry(path, replay_file, mutate=None):
    """The faults registry plus a replay model ``hostile``, and no suite references (a replay-only
    run must not train the reference model)."""
    def m(d):
        d["models"]["hostile"] = {"kind": "replay", "path": str(replay_file)}
        for s in d["suites"].values():
            s.pop("reference", None)
        if mutate:
            mutate(d)
    return faultkit.write_registry(path, m)


# -- the registry ---------------------------------------------------------------------------------
def _set(path: str, value):
    def mutate(d):
        keys = path.split(".")
        cur = d
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return mutate


WRONG_TYPES = {
    "models-string": _set("models", "notadict"),
    "models-list": _set("models", [1, 2]),
    "models-null": _set("models", None),
    "model-null": _set("models.sft", None),
    "model-int-key": lambda d: d["models"].update({1: {"kind": "base"}}),
    "profile-int": _set("profiles.smoke", 5),
    "test-rows-string": _set("profiles.smoke.data.test_rows", "many"),
    "test-rows-negative": _set("profiles.smoke.data.test_rows", -1),
    "batch-size-zero": _set("profiles.smoke.generation.batch_size", 0),
    "max-new-tokens-negative": _set("profiles.smoke.generation.max_new_tokens", -3),
    "hyper-string": _set("models.sft.hyper", "x"),
    "rewards-int": _set("models.grpo-1k.rewards", 5),
    "rewards-nested-list": _set("models.grpo-1k.rewards", [[1]]),
    "parent-list": _set("models.sft.parent", ["base"]),
    "protocols-string": _set("suites.indomain.protocols", "thesis"),
    "judge-timeout-string": _set("judges.llm.timeout_s", "slow"),
    "default-profile-int": _set("default_profile", 5),
    "data-source-unknown": _set("profiles.smoke.data.source", "ftp"),
    "kind-unknown": _set("models.sft.kind", "magic"),
    "overrides-list": _set("profiles.smoke.overrides", ["sft"]),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_registry_wrong_types(case, tmp_path):
    BAD_INPUTS.append(f"registry/{case}")
    p = faultkit.write_registry(tmp_path / "registry.yaml", WRONG_TYPES[case])
    with pytest.raises(BadInput) as exc:
        load_registry(p)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


_REAL = faultkit.REAL_REGISTRY.read_text()
HOSTILE_TEXT = {
    "flow-seq-10k-deep": "[" * 10000 + "]" * 10000,
    "flow-map-10k-deep": "{a: " * 10000 + "}" * 10000,
    "block-seq-10k-deep": "- " * 10000 + "x\n",
    "deep-in-real-registry": _REAL + "\nextra: " + "[" * 5000 + "]" * 5000 + "\n",
    "tag-apply-os-system": "!!python/object/apply:os.system ['touch PWNED']",
    "tag-name": "models: !!python/name:os.system\n",
    "tag-new-popen": "x: !!python/object/new:subprocess.Popen [['touch', 'PWNED']]\n",
    "tag-module": "x: !!python/module:os\n",
    "tag-in-valid-registry": _REAL.replace("description: the profile's base model",
                                           "description: !!python/object/apply:os.system ['touch PWNED'] #", 1),
    "tag-custom": "models: !include other.yaml\n",
    "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
        + "profiles: *i\nmodels: *i\nsuites: *i\njudges: *i\n",
    "alias-bomb-in-hyper": _REAL.replace("hyper: {epochs: 2,", "hyper: {junk: *bomb, epochs: 2,", 1).replace(
        "profiles:", "bomb: &bomb [[[[1, 1], [1, 1]], [[1, 1], [1, 1]]]]\nprofiles:", 1),
    "empty": "",
    "comment-only": "# nothing\n",
    "scalar": "42\n",
    "list": "- a\n- b\n",
    "null-bytes": "models:\x00 {}\n",
    "duplicate-huge-key": "x" * 200_000 + ": 1\n",
    "int-top-keys": "1: 2\n3: 4\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TEXT))
def test_registry_hostile_yaml(case, tmp_path, monkeypatch):
    BAD_INPUTS.append(f"registry-yaml/{case}")
    monkeypatch.chdir(tmp_path)  # a constructed os.system would touch PWNED here
    p = tmp_path / "registry.yaml"
    p.write_text(HOSTILE_TEXT[case])
    with pytest.raises(BadInput) as exc:
        load_registry(p)
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 2000
    assert not (tmp_path / "PWNED").exists()


def test_registry_not_utf8_and_huge_and_missing(tmp_path, capsys):
    cases = {"not-utf8": b"\xff\xfe\x00m\x00o\xc3\x28: 1\n", "latin1": "models: caf\xe9\n".encode("latin-1")}
    for name, data in cases.items():
        BAD_INPUTS.append(f"registry-bytes/{name}")
        p = tmp_path / f"{name}.yaml"
        p.write_bytes(data)
        with pytest.raises(BadInput):
            load_registry(p)
    BAD_INPUTS.append("registry/huge-64MiB")
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:
        fh.truncate(64 << 20)  # sparse: instant to write, refused before it is read
    rc, _, err = cli(capsys, "models", "--registry", huge, "--store", tmp_path / "s")
    assert "larger than" in assert_one_line(rc, err)
    # a big but legal file still loads (comments are cheap to parse)
    big = tmp_path / "big.yaml"
    big.write_text(_REAL + ("# " + "x" * 1000 + "\n") * 1000)
    assert "sft" in load_registry(big).models
    for name, path in {"missing": tmp_path / "nope.yaml", "directory": tmp_path}.items():
        BAD_INPUTS.append(f"registry/{name}")
        rc, _, err = cli(capsys, "models", "--registry", path, "--store", tmp_path / "s")
        assert "not found" in assert_one_line(rc, err)


def test_registry_cli_subprocess_no_traceback(tmp_path):
    BAD_INPUTS.append("registry/cli-deep-nesting")
    p = tmp_path / "registry.yaml"
    p.write_text("{a: " * 10000 + "}" * 10000)
    r = faultkit.bench("plan", "--registry", str(p), "--store", str(tmp_path / "s"))
    faultkit.one_line_error(r)


# -- names and options ----------------------------------------------------------------------------
NAMES = [
    ("run", "--models", "nope", "--suite", "indomain"),
    ("run", "--models", ",", "--suite", "indomain"),
    ("run", "--models", "sft", "--suite", "mmlu"),
    ("run", "--models", "sft", "--suite", "indomain", "--limit", "0"),
    ("run", "--models", "sft", "--suite", "indomain", "--limit", "-5"),
    ("run", "--models", "sft", "--suite", "indomain", "--profile", "nope"),
    ("train", "nope"),
    ("plan", "--models", "sft,,nope"),
    ("chat", "nope", "--once"),
    ("report", "--format", "docx"),
    ("run", "--models", "sft\x00", "--suite", "indomain"),
    ("run", "--models", "../../etc/passwd", "--suite", "indomain"),
]


@pytest.mark.parametrize("args", NAMES, ids=lambda a: "-".join(a)[:40])
def test_unknown_names_one_line(args, fault_registry, tmp_path, capsys):
    BAD_INPUTS.append("names/" + " ".join(args))
    rc, _, err = cli(capsys, *args, "--registry", fault_registry, "--store", tmp_path / "s")
    assert_one_line(rc, err)
    assert not (tmp_path / "s" / "checkpoints").exists()  # refused before any work


# -- the store ------------------------------------------------------------------------------------
@pytest.mark.parametrize("verb", ["run", "train", "report", "plan", "models"])
@pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
def test_unwritable_store(verb, where, tmp_path, capsys):
    """Tests run as root, so a read-only mode would not stop them: the store is placed where no
    directory can be created (below a regular file) or is itself a regular file."""
    BAD_INPUTS.append(f"store/{where}/{verb}")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = blocker / "store" if where == "under-a-file" else blocker
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"suite": "indomain", "item_id": "gsm8k-00000", "completion": "x"}) + "\n")
    reg = replay_registry(tmp_path / "registry.yaml", replay)
    args = {"run": ("run", "--models", "hostile", "--suite", "indomain", "--limit", "2"),
            "train": ("train", "base"), "report": ("report",), "plan": ("plan", "--models", "sft"),
            "models": ("models",)}[verb]
    rc, out, err = cli(capsys, *args, "--registry", reg, "--profile", faultkit.PROFILE, "--store", store)
    if verb in ("plan", "models") and rc == 0:  # read-only verbs: nothing stored yet is not an error
        pass
    else:
        assert_one_line(rc, err, codes=(1, 2))
    assert blocker.read_text() == "not a folder"


# -- corrupt dataset rows -------------------------------------------------------------------------
GOOD = {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"}
CORRUPT_LINES = {
    "missing-question": json.dumps({"answer": "#### 3"}).encode(),
    "missing-answer": json.dumps({"question": "What is 1+1?"}).encode(),
    "question-int": json.dumps({"question": 5, "answer": "#### 5"}).encode(),
    "answer-list": json.dumps({"question": "q?", "answer": ["#### 1"]}).encode(),
    "empty-strings": json.dumps({"question": "", "answer": ""}).encode(),
    "whitespace-question": json.dumps({"question": "   ", "answer": "#### 2"}).encode(),
    "no-hash-marker": json.dumps({"question": "q?", "answer": "42"}).encode(),
    "nulls": json.dumps({"question": None, "answer": None}).encode(),
    "not-json": b"this is not json",
    "json-array": b"[1, 2, 3]",
    "json-string": b'"just a string"',
    "non-utf8": b'{"question": "caf\xe9 \xff\xfe", "answer": "#### 1"}',
    "truncated-json": b'{"question": "half a li',
    "deep-json": b"[" * 5000 + b"]" * 5000,
}


@pytest.fixture
def corrupt_data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    folder = data / "openai__gsm8k__main"
    folder.mkdir(parents=True)
    lines = [json.dumps(GOOD).encode()]
    for line in CORRUPT_LINES.values():
        lines += [line, json.dumps(GOOD).encode()]
    (folder / "test.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setenv("GRPO_BENCH_DATA_DIR", str(data))
    return data


def _local_profile(d):
    prof = yaml.safe_load(yaml.safe_dump(d["profiles"][faultkit.PROFILE]))
    prof["data"]["source"] = "local"
    d["profiles"]["faults-local"] = prof


def test_corrupt_dataset_rows_are_skipped_and_counted(corrupt_data, tmp_path, capsys):
    BAD_INPUTS.extend(f"data/{k}" for k in CORRUPT_LINES)
    from benchmarks import get_suite

    reg_path = replay_registry(tmp_path / "registry.yaml", tmp_path / "r.jsonl", _local_profile)
    (tmp_path / "r.jsonl").write_text("")
    reg = load_registry(reg_path)
    itemset = get_suite("indomain").items(reg.profile("faults-local"), "thesis")
    good = len(CORRUPT_LINES) + 1 + 1  # the good rows, and the non-UTF-8 one (bytes replaced by U+FFFD)
    assert len(itemset.items) == good
    assert sorted(it.answer for it in itemset.items) == ["1"] + ["7"] * (good - 1)
    # every decodable corrupt row is counted; lines that are not JSON objects are dropped with a warning
    assert itemset.skipped >= len(CORRUPT_LINES) - 6
    # all but the first item answered: the run goes on, the missing one is a recorded failure
    (tmp_path / "r.jsonl").write_text("".join(
        json.dumps({"suite": "indomain", "item_id": it.id, "completion": "<SOLUTION>7</SOLUTION>"}) + "\n"
        for it in itemset.items[1:] if it.answer == "7"))
    store = tmp_path / "s"
    rc, _, err = cli(capsys, "run", "--models", "hostile", "--suite", "indomain", "--registry", reg_path,
                     "--profile", "faults-local", "--store", store)
    assert rc == 1, err  # two items unanswered: the cell is incomplete, and the run says so
    con = sqlite3.connect(store / "bench.sqlite")
    errors = con.execute("SELECT COUNT(*) FROM generations WHERE error IS NOT NULL").fetchone()[0]
    correct = con.execute("SELECT SUM(value) FROM scores WHERE metric='correct'").fetchone()[0]
    manifest = json.loads(con.execute("SELECT manifest FROM cells").fetchone()[0])
    con.close()
    assert errors == 2 and correct == good - 2  # the unanswered ones are recorded failures
    assert manifest["skipped_rows"] == itemset.skipped and manifest["items"] == good


@pytest.mark.parametrize("name, content", [("test.parquet", b"PAR1 garbage"), ("test.csv", b"\xff\xfe\x00\x00,,\n\"")])
def test_unreadable_local_file_is_one_line(name, content, tmp_path):
    """Through a subprocess: datasets logs its own error line first (library noise, no traceback)."""
    BAD_INPUTS.append(f"data/unreadable-{name}")
    folder = tmp_path / "data" / "openai__gsm8k__main"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(content)
    reg = replay_registry(tmp_path / "registry.yaml", tmp_path / "r.jsonl", _local_profile)
    (tmp_path / "r.jsonl").write_text("")
    r = faultkit.bench("run", "--models", "hostile", "--suite", "indomain", "--registry", str(reg),
                       "--profile", "faults-local", "--store", str(tmp_path / "s"),
                       env={"GRPO_BENCH_DATA_DIR": str(tmp_path / "data")})
    if r.returncode == 0:  # read as a (garbage) table: every row is then a skipped corrupt row
        return
    faultkit.one_line_error(r, codes=(1, 2))


def test_local_data_missing_folder_one_line(tmp_path, monkeypatch, capsys):
    BAD_INPUTS.append("data/missing-folder")
    monkeypatch.setenv("GRPO_BENCH_DATA_DIR", str(tmp_path / "nothing-here"))
    reg = replay_registry(tmp_path / "registry.yaml", tmp_path / "r.jsonl", _local_profile)
    (tmp_path / "r.jsonl").write_text("")
    rc, _, err = cli(capsys, "run", "--models", "hostile", "--suite", "indomain", "--registry", reg,
                     "--profile", "faults-local", "--store", tmp_path / "s")
    assert "not found locally" in assert_one_line(rc, err)


def test_corrupt_training_rows_are_skipped(tmp_path, monkeypatch):
    """SFT and GRPO loaders skip rows with missing or mistyped fields instead of crashing."""
    BAD_INPUTS.extend(["data/sft-corrupt-rows", "data/grpo-corrupt-rows"])
    from core.sources.math import grpo_examples, sft_examples
    from core.config import DataSpec

    data = tmp_path / "data"
    sft = data / "unsloth__OpenMathReasoning-mini"
    grpo = data / "open-r1__DAPO-Math-17k-Processed__en"
    sft.mkdir(parents=True)
    grpo.mkdir(parents=True)
    good_sft = {"problem": "1+1?", "generated_solution": "<think>1+1=2</think>", "expected_answer": "2"}
    (sft / "cot.jsonl").write_bytes(b"\n".join([json.dumps(good_sft).encode(), b'{"problem": 3, "expected_answer": "4"}',
                                                b'{"expected_answer": "4"}', b"\xff garbage", json.dumps(good_sft).encode()]))
    good_grpo = {"prompt": "2+2?", "solution": "4"}
    (grpo / "train.jsonl").write_bytes(b"\n".join([json.dumps(good_grpo).encode(), b'{"prompt": null, "solution": "1"}',
                                                   b'{"solution": "1"}', b'{"prompt": "x"}', b"[]",
                                                   json.dumps(good_grpo).encode()]))
    spec = DataSpec(source="local", dir=str(data))
    assert len(sft_examples(spec, 100)) == 2
    assert [r["answer"] for r in grpo_examples(spec, 100)] == ["4", "4"]


# -- the judge ------------------------------------------------------------------------------------
def _judge_server(kind):
    from servers import ScriptedServer, chat_reply

    replies = {
        "no-number": lambda b, n: (200, chat_reply("A fine answer, I liked it."), 0),
        "nan": lambda b, n: (200, chat_reply("SCORE: nan"), 0),
        "huge-number": lambda b, n: (200, chat_reply("SCORE: 1" + "0" * 400), 0),
        "negative": lambda b, n: (200, chat_reply("SCORE: -7"), 0),
        "500": lambda b, n: (500, b'{"error": "boom"}', 0),
        "not-json": lambda b, n: (200, b"<html>proxy error</html>", 0),
        "no-choices": lambda b, n: (200, b'{"choices": []}', 0),
        "slow": lambda b, n: (200, chat_reply("SCORE: 5"), 3.0),
        "control-chars": lambda b, n: (200, chat_reply("\x00\x1b[31m\ud800 SCORE: 6"), 0),
    }
    return ScriptedServer(replies[kind])


JUDGE_CASES = ["no-number", "nan", "huge-number", "negative", "500", "not-json", "no-choices", "slow",
               "control-chars", "refused"]


@pytest.mark.parametrize("kind", JUDGE_CASES)
def test_bad_judge_endpoint_run_goes_on(kind, tmp_path, capsys):
    BAD_INPUTS.append(f"judge/{kind}")
    from servers import refused_url

    server = None if kind == "refused" else _judge_server(kind)
    url = refused_url() if server is None else server.base_url
    replay = tmp_path / "r.jsonl"
    n = 4
    replay.write_text("".join(json.dumps({"suite": "indomain", "item_id": f"gsm8k-{i:05d}",
                                          "completion": "2 + 2 = 4 <SOLUTION>4</SOLUTION>"}) + "\n" for i in range(n)))

    def mutate(d):
        d["profiles"][faultkit.PROFILE]["judge"] = "llm"
        d["judges"]["llm"].update(base_url=url, timeout_s=1, retries=1, concurrency=4, api_key_env=None)
    reg = replay_registry(tmp_path / "registry.yaml", replay, mutate)
    try:
        rc, _, err = cli(capsys, "run", "--models", "hostile", "--suite", "indomain", "--limit", n,
                         "--registry", reg, "--profile", faultkit.PROFILE, "--store", tmp_path / "s")
    finally:
        if server:
            server.stop()
    assert rc == 0, err
    con = sqlite3.connect(tmp_path / "s" / "bench.sqlite")
    metrics = dict(con.execute("SELECT metric, SUM(value) FROM scores GROUP BY metric"))
    judged = [r[0] for r in con.execute("SELECT value FROM scores WHERE metric='judge'")]
    con.close()
    assert metrics["scored"] == n and "correct" in metrics  # the answers are scored whatever the judge does
    assert all(0 <= v <= 10 for v in judged)
    if kind in ("500", "not-json", "no-choices", "slow", "refused"):
        assert metrics["judge_error"] == n and not judged  # recorded as errors, asked again next run
    elif kind in ("no-number", "nan", "huge-number"):  # 1e400 is not a finite score
        assert metrics.get("judge_missing") == n and not judged  # missing, never 0
    else:
        assert len(judged) == n
