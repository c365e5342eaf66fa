"""BFCL: thesis reward (hand-computed), safe parser, thesis data set and prompt."""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest

from core.bfcl.data import build_thesis_dataset, thesis_prompt
from core.bfcl.parse import parse_calls, render_calls
from core.bfcl.reward import perfect_match, thesis_reward, thesis_reward_v2
from core.thesis_format import SYSTEM_PROMPT

GT = [{"name": "a", "parameters": {"x": 1}}, {"name": "b", "parameters": {}}]
AVAIL = [{"name": "a", "parameters": {}}, {"name": "b", "parameters": {}}, {"name": "c", "parameters": {}}]
QUIRK_FMT = "<start_working_out>think</end_working_out><SOLUTION>{}</SOLUTION>"
REAL_FMT = "<start_working_out>think<end_working_out><SOLUTION>{}</SOLUTION>"


def calls(*names: str) -> str:
    return json.dumps([{"name": n, "parameters": {}} for n in names])


# ------------------------------------------------------------------ thesis reward, v1
@pytest.mark.parametrize(
    "completion, expected",
    [
        (calls("a"), 0.5),  # coverage only, no tags: whole text parsed
        (REAL_FMT.format(calls("a")), 0.5),  # the real closing tag earns nothing (quirk)
        (QUIRK_FMT.format(calls("a")), 0.55),  # + 0.05 with </end_working_out>
        ("<start_working_out></end_working_out>" + calls("a"), 0.5),  # solution tags also needed
        (calls("a", "b", "x", "y", "z"), 1 + 0.1 - 0.3 - 0.09),  # +0.1 all required, 3 unavailable+unrequired
        (calls("a", "x", "y", "z"), 0.5 - 0.3 - 0.09),  # no +0.1 when b is missing
        (calls("a", "c"), 0.5 - 0.03),  # c available but not required
        (calls("a", "z"), 0.5 - 0.1 - 0.03),  # z unavailable (and unrequired)
        (calls("a", "a", "a"), 0.5 - 0.05),  # called 3 times: −0.05·(3−2)
        (calls("a", "a", "a", "a"), 0.5 - 0.10),  # called 4 times: −0.05·(4−2)
        (calls("a", "a"), 0.5),  # twice is free
        (calls("a", "a", "a", "b", "b", "b", "x"), 1 + 0.1 - 0.05 - 0.05 - 0.1 - 0.03),
        (QUIRK_FMT.format(calls("a", "b")), 1.0),  # 1.15 clipped to 1
        (calls("u", "v", "w", "x", "y"), 0.0),  # negative clipped to 0
        ("I would call a and b.", 0.0),  # no calls
        (QUIRK_FMT.format("[]"), 0.0),  # no calls despite the format
        ('<SOLUTION>[{"name": "a", "parameters": {oops}}]</SOLUTION>', 0.5),  # JSON fails: regex
        ('"name": "a" and "name":"a" and "name" : "a"', 0.45),  # regex fallback keeps repetitions
        ('<SOLUTION>{"name": "b", "parameters": {"anything": 42}}</SOLUTION>', 0.5),  # single object
        ('<SOLUTION>[{"name": "a"}, {"name": "b"}]</SOLUTION> "name": "zzz"', 1.0),  # only the SOLUTION is read
        ('<SOLUTION>[{"name": "a", "parameters": {"x": "WRONG"}}]</SOLUTION>', 0.5),  # params never checked
        ('<SOLUTION>"just a string"</SOLUTION>', 0.0),  # valid JSON but not calls
    ],
)
def test_thesis_reward_hand_computed(completion, expected):
    assert thesis_reward(completion, GT, AVAIL) == pytest.approx(max(0.0, min(1.0, expected)))


def test_thesis_reward_counts_each_required_name_once():
    gt = GT + [{"name": "a", "parameters": {"x": 2}}]  # a required twice: still one name
    assert thesis_reward(calls("a"), gt, AVAIL) == pytest.approx(0.5)


def test_perfect_match_threshold():
    assert perfect_match(0.95) and perfect_match(1.0)
    assert not perfect_match(0.9499)
    assert perfect_match(thesis_reward(calls("a", "b"), GT, AVAIL))
    assert not perfect_match(thesis_reward(calls("a"), GT, AVAIL))


def test_thesis_reward_extra_unavailable_call_breaks_perfect():
    # a, b, x: 1 + 0.1 − 0.1 − 0.03 = 0.97 → still "perfect" by the ≥ 0.95 rule; two extras are not.
    assert thesis_reward(calls("a", "b", "x"), GT, AVAIL) == pytest.approx(0.97)
    assert perfect_match(0.97)
    assert thesis_reward(calls("a", "b", "x", "y"), GT, AVAIL) == pytest.approx(0.84)


# ------------------------------------------------------------------ thesis reward, v2
@pytest.mark.parametrize(
    "completion, expected",
    [
        (calls("a"), 0.4),
        (QUIRK_FMT.format(calls("a")), 0.5),
        (REAL_FMT.format(calls("a", "b")), 0.8),
        (QUIRK_FMT.format(calls("a", "b")), 0.9),  # v2 tops out at 0.9
        (calls("a", "z"), 0.35),
        (calls("a", "c"), 0.4),  # unrequired but available: no penalty in v2
        (calls("a", "a", "a", "a"), 0.4),  # no repetition penalty in v2
        (calls("a", "v", "w", "x", "y", "z"), 0.2),  # penalty capped at 0.2
        (calls("v", "w", "x", "y", "z"), 0.0),
        ("nothing", 0.0),
        ('"name": "b"', 0.4),  # regex fallback
    ],
)
def test_thesis_reward_v2_hand_computed(completion, expected):
    assert thesis_reward_v2(completion, GT, AVAIL) == pytest.approx(expected)


# ------------------------------------------------------------------ parser
def test_parse_prompting_format():
    out = parse_calls("[math.factorial(n=5), g(b='x', c=[1, {'k': -2.5}], d=None, e=True)]")
    assert out == [
        {"name": "math.factorial", "parameters": {"n": 5}},
        {"name": "g", "parameters": {"b": "x", "c": [1, {"k": -2.5}], "d": None, "e": True}},
    ]
    assert parse_calls("f(a=1)") == [{"name": "f", "parameters": {"a": 1}}]
    assert parse_calls("```python\n[f(a=(1, 2))]\n```") == [{"name": "f", "parameters": {"a": (1, 2)}}]
    assert parse_calls("[sort('a.txt', lines=2)]") == [{"name": "sort", "parameters": {"lines": 2}, "args": ["a.txt"]}]


def test_parse_json_shapes():
    expected = [{"name": "f", "parameters": {"a": 1}}]
    assert parse_calls('[{"name": "f", "parameters": {"a": 1}}]') == expected
    assert parse_calls('[{"name": "f", "arguments": {"a": 1}}]') == expected
    assert parse_calls('[{"name": "f", "arguments": "{\\"a\\": 1}"}]') == expected
    assert parse_calls('{"name": "f", "parameters": {"a": 1}}') == expected
    assert parse_calls('{"f": {"a": 1}}') == expected
    assert parse_calls('[{"f": {"a": 1}}]') == expected
    assert parse_calls('[{"function": "f", "parameters": {"a": 1}}]') == expected
    assert parse_calls('<start_working_out>..<end_working_out><SOLUTION>[{"name": "f", "parameters": {"a": 1}}]</SOLUTION>') == expected
    assert parse_calls('Sure: [{"name": "f", "parameters": {"a": 1}}] done') == expected


def test_render_round_trip():
    text = "[cd(folder='a b'), mean([1, 2.5]), echo(content='it\\'s \"q\"', file_name='x')]"
    assert parse_calls(render_calls(parse_calls(text))) == parse_calls(text)


@pytest.mark.parametrize(
    "hostile",
    [
        "[__import__('os').system('touch PWNED')]",
        "__import__('os').system('touch PWNED')",
        "[f(a=__import__('os'))]",
        "[f(a=lambda: 1)]",
        "[(lambda: 1)()]",
        "().__class__.__bases__",
        "[f(a=().__class__.__bases__)]",
        "[().__class__.__bases__[0].__subclasses__()]",
        "[f(a=x[0])]",
        "[f(a=g(1))]",
        "[f(a=open('/etc/passwd').read())]",
        "[f(a=b)]",
        "[f(*a)]",
        "[f(**{'a': 1})]",
        "[f(a=set())]",
        "[f(a=1)][0]",
        "[f(a=1) if True else g()]",
        "[getattr(os, 'system')('x')]",
        "[f(a=1), 2]",
        "[f(a=1, a=2)]",
        "[f(a=[i for i in range(10)])]",
        "[f(a=f'{1}')]",
        '[{"name": "os.system(\'x\')", "parameters": {}}]',
        '[{"name": "f", "parameters": [1, 2]}]',
        '{"name": "f", "parameters": {"a b": 1}}',
        "[" * 60 + "]" * 60,
        "[f(a=" + "[" * 60 + "]" * 60 + ")]",
        '{"a":' * 60 + "1" + "}" * 60,
        '[{"name": "f", "parameters": ' + '{"a":' * 60 + "1" + "}" * 61 + "]",
        "[f(a=1)]" + " " * 1_000_000,
        "x" * 1_000_000,
    ],
)
def test_parse_rejects_hostile(hostile):
    assert parse_calls(hostile) == []


def test_parse_dotted_attribute_call_is_only_a_name():
    # Parsed as a *name* (like math.factorial); the executor only accepts involved-class methods.
    assert parse_calls("[os.system('touch x')]") == [{"name": "os.system", "parameters": {}, "args": ["touch x"]}]


def test_parse_is_bounded_in_time():
    start = time.perf_counter()
    for text in ("[" + "f(a=1)," * 12_000 + "]", '"' * 99_999, "{" * 99_999, "[f(a='" + "x" * 99_000 + "')]"):
        parse_calls(text)
    assert time.perf_counter() - start < 10


def test_parse_never_executes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for text in ("[__import__('os').system('touch PWNED')]", "[os.system('touch PWNED')]", "[f(a=open('PWNED','w'))]"):
        parse_calls(text)
    assert not (tmp_path / "PWNED").exists()


# ------------------------------------------------------------------ data set and prompt
@pytest.fixture(scope="module")
def dataset():
    return build_thesis_dataset()


def test_split_sizes_disjoint_deterministic(dataset):
    assert len(dataset["train"]) == 160 and len(dataset["test"]) == 40
    train_ids = [i["id"] for i in dataset["train"]]
    test_ids = [i["id"] for i in dataset["test"]]
    assert not set(train_ids) & set(test_ids)
    assert len(set(train_ids) | set(test_ids)) == 200
    again = build_thesis_dataset(seed=3407)
    assert [i["id"] for i in again["train"]] == train_ids and [i["id"] for i in again["test"]] == test_ids
    assert again["fingerprint"] == dataset["fingerprint"] and len(dataset["fingerprint"]) == 64
    other = build_thesis_dataset(seed=1)
    assert other["fingerprint"] != dataset["fingerprint"]
    assert [i["id"] for i in other["test"]] != test_ids
    assert dataset["seed"] == 3407 and dataset["test_fraction"] == 0.2
    assert len(build_thesis_dataset(test_fraction=0.5)["test"]) == 100


def test_items_content(dataset):
    first = {i["id"]: i for i in dataset["train"] + dataset["test"]}["multi_turn_base_0"]
    assert first["question"].startswith("Move 'final_report.pdf' within document directory")
    assert first["ground_truth_calls"] == ["cd(folder='document')", "mkdir(dir_name='temp')", "mv(source='final_report.pdf', destination='temp')"]
    assert first["ground_truth"][2] == {"name": "mv", "parameters": {"source": "final_report.pdf", "destination": "temp"}}
    assert sorted(first["involved_classes"]) == ["GorillaFileSystem", "TwitterAPI"]
    assert "GorillaFileSystem" in first["initial_config"]
    assert [f["name"] for f in first["available_thesis"]] == ["cd", "mkdir", "mv"]
    fair = {f["name"] for f in first["available_fair"]}
    assert {"cd", "mkdir", "mv", "ls", "post_tweet"} <= fair
    for item in dataset["train"] + dataset["test"]:
        names = {c["name"] for c in item["ground_truth"]}
        assert {f["name"] for f in item["available_thesis"]} == names  # the quirk
        assert names <= {f["name"] for f in item["available_fair"]}
        assert len(item["ground_truth"]) == len(item["ground_truth_calls"]) > 0
        assert all("args" not in c for c in item["ground_truth"])  # positional args got names


def test_positional_ground_truth_gets_parameter_names(dataset):
    by_id = {i["id"]: i for i in dataset["train"] + dataset["test"]}
    zips = [c for i in by_id.values() for s, c in zip(i["ground_truth_calls"], i["ground_truth"]) if s.startswith("get_zipcode_based_on_city('")]
    assert zips and all(list(c["parameters"]) == ["city"] for c in zips)


def test_thesis_prompt(dataset):
    item = dataset["test"][0]
    msgs = thesis_prompt(item)
    assert [m["role"] for m in msgs] == ["system", "user"] and msgs[0]["content"] == SYSTEM_PROMPT
    user = msgs[1]["content"]
    assert item["question"] in user and "<SOLUTION>" in user and "<start_working_out>" in user
    assert json.dumps(item["available_thesis"], indent=2) in user
    fair = thesis_prompt(item, fair=True)[1]["content"]
    assert json.dumps(item["available_fair"], indent=2) in fair and len(fair) > len(user)


def test_ground_truth_answer_is_perfect(dataset):
    for item in dataset["test"]:
        answer = QUIRK_FMT.format(json.dumps(item["ground_truth"]))
        for avail in (item["available_thesis"], item["available_fair"]):
            assert thesis_reward(answer, item["ground_truth"], avail) == 1.0
            assert thesis_reward_v2(answer, item["ground_truth"], avail) == pytest.approx(0.9)
        assert parse_calls(answer) == item["ground_truth"]


def test_scratch_project_root():
    from core.bfcl import env as _env

    root = _env.scratch_root()
    assert root == os.environ["BFCL_PROJECT_ROOT"]
    assert os.path.realpath(root).startswith(os.path.realpath(tempfile.gettempdir()))
    assert os.path.isdir(os.path.join(root, "result")) and os.path.isdir(os.path.join(root, ".file_locks"))


def test_positional_names_match_python_signatures():
    import inspect

    from core.bfcl.data import _named_call
    from core.bfcl.env import bfcl_module
    from benchmarks.bfcl._official import official_items

    backend = bfcl_module("constants.executable_backend_config")
    checked = 0
    for item in official_items("multi_turn_base"):
        docs = {d["name"]: d for d in item["function"]}
        sigs = {}
        for cls_name in item["involved_classes"]:
            module = bfcl_module(backend.CLASS_FILE_PATH_MAPPING[cls_name].removeprefix("bfcl_eval."))
            for name, fn in inspect.getmembers(getattr(module, cls_name), inspect.isfunction):
                sigs[name] = list(inspect.signature(fn).parameters)[1:]
        for turn in item["ground_truth"]:
            for text in turn:
                (call,) = parse_calls(text)
                if "args" in call:
                    expected = dict(zip(sigs[call["name"]], call["args"]), **call["parameters"])
                    assert _named_call(text, docs)["parameters"] == expected
                    checked += 1
    assert checked == 40
