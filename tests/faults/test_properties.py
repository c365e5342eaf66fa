"""Property-based tests (hypothesis): the answer extractors are total (any text gives a value of
the documented type, never an exception) and linear enough for megabyte outputs; the registry
loader turns any YAML-ish document into a registry or a ``BadInput``, never anything else."""
from __future__ import annotations

import keyword
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faultkit
from core.bfcl.parse import parse_calls, render_calls
from core.extract import first_number, numeric_correct, solution_text
from benchmarks.outdomain import _extract
from core.errors import BadInput
from judges.rubric import RubricJudge, step_share
from harness.registry import load_registry

TAGS = ["<SOLUTION>", "</SOLUTION>", "<start_working_out>", "<end_working_out>", "####", "\n", " "]
# text built from the pieces extractors look for, plus arbitrary unicode (surrogates included)
texty = st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=12), st.from_regex(r"-?\d[\d,]*(\.\d+)?", fullmatch=True),
                           st.sampled_from(["yes", "No", "true", "answer is", "(B)", "C.", "option 2", "A "])),
                 max_size=25).map("".join)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(texty)
def test_indomain_extractors_total(text):
    sol = solution_text(text)
    assert sol is None or (isinstance(sol, str) and "<SOLUTION>" in text)
    num = first_number(sol)
    assert num is None or isinstance(num, float)
    assert isinstance(numeric_correct(text, "42"), bool)
    share = step_share(text)
    assert share is None or 0.0 <= share <= 1.0


@FAST
@given(texty, st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=6, unique=True),
       st.lists(st.text(max_size=15), min_size=6, max_size=6))
def test_outdomain_extractors_total(text, labels, texts):
    assert _extract.yes_no(text) in (None, "yes", "no")
    got = _extract.choice(text, labels, texts[:len(labels)])
    assert got is None or got in labels


@FAST
@given(texty, st.sampled_from(["arithmetic", "qa"]), st.booleans())
def test_rubric_judge_total(text, kind, correct):
    from benchmarks.suite import Item

    score, verdict = RubricJudge().rate(kind, Item("i", "d", [], "1"), text, correct)
    assert 0.0 <= score <= 10.0 and isinstance(verdict, str)


_literal = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)
_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))  # a keyword is no call name
_call = st.fixed_dictionaries({"name": st.lists(_ident, min_size=1, max_size=3).map(".".join),
                               "parameters": st.dictionaries(_ident, _literal, max_size=3)})


@FAST
@given(st.lists(_call, min_size=1, max_size=4))
def test_bfcl_parse_render_round_trip(calls):
    assert parse_calls(render_calls(calls)) == calls


@FAST
@given(texty)
def test_bfcl_parser_total(text):
    calls = parse_calls(text)
    assert isinstance(calls, list) and all(isinstance(c["name"], str) and isinstance(c["parameters"], dict)
                                           for c in calls)


@pytest.mark.parametrize("text", ["9" * (1 << 20), "<SOLUTION>" + "1," * 300_000, "[" * 200_000,
                                  "<SOLUTION>" * 50_000, "answer is " * 100_000, "1+" * 300_000 + "=2"])
def test_extractors_are_fast_on_megabyte_outputs(text):
    """Quadratic regexes turn one hostile completion into minutes (the rubric's did, fixed)."""
    t0 = time.perf_counter()
    solution_text(text), numeric_correct(text, "1"), step_share(text), parse_calls(text)
    _extract.yes_no(text), _extract.choice(text, ["A", "B", "C"], ["x", "y", "z"])
    assert time.perf_counter() - t0 < 5.0


# -- the registry loader --------------------------------------------------------------------------
_yamlish = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()),
                                                                         inner, max_size=4)),
    max_leaves=20)
_REAL = faultkit.real_registry()


def _paths(d, prefix=()):
    """Every key path of the real registry (where a random value is planted)."""
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    return out


PATHS = _paths(_REAL)[1:]


def _load(tmp_path_factory, doc) -> None:
    p = tmp_path_factory.mktemp("reg") / "registry.yaml"
    try:
        p.write_text(yaml.safe_dump(doc, allow_unicode=True))
    except (yaml.YAMLError, UnicodeEncodeError):
        return
    try:
        load_registry(p)
    except BadInput as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_yamlish)
def test_registry_random_documents(tmp_path_factory, doc):
    _load(tmp_path_factory, doc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PATHS), _yamlish)
def test_registry_real_with_one_random_value(tmp_path_factory, path, value):
    doc = yaml.safe_load(yaml.safe_dump(_REAL))
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    _load(tmp_path_factory, doc)
