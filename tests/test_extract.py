"""In-domain answer extraction and the rubric judge."""
from __future__ import annotations

from hypothesis import given, strategies as st

from core.extract import first_number, numeric_correct, solution_text
from judges.rubric import RubricJudge, step_share


def test_solution_text():
    assert solution_text("w<end_working_out><SOLUTION> 42 </SOLUTION>") == "42"
    assert solution_text("<SOLUTION>7") == "7"  # unclosed: runs to the end
    assert solution_text("the answer is 42") is None
    assert solution_text(None) is None


def test_numeric_correct():
    assert numeric_correct("<SOLUTION>1,234</SOLUTION>", "1234")
    assert numeric_correct("<SOLUTION>$18.00 dollars</SOLUTION>", "18")
    assert not numeric_correct("<SOLUTION>17</SOLUTION>", "18")
    assert not numeric_correct("18", "18")  # thesis protocol: the answer must be in the tags
    assert first_number("-3.5 apples") == -3.5


@given(st.text(max_size=300))
def test_extraction_total(text):
    solution_text(text)
    numeric_correct(text, "12")


def test_rubric_judge():
    j = RubricJudge()
    good = "Step 1: 2 + 3 = 5.<end_working_out><SOLUTION>5</SOLUTION>"
    score, verdict = j.rate("arithmetic", None, good, True)
    assert score == 10.0 and "steps_true=1.00" in verdict
    wrong_step = "Step 1: 2 + 3 = 6.<end_working_out><SOLUTION>6</SOLUTION>"
    assert j.rate("arithmetic", None, wrong_step, False)[0] == 2.0
    assert step_share("no steps") is None and step_share("4 * 2 = 8, 9 / 3 = 2") == 0.5
    assert j.rate("qa", None, "<SOLUTION>B</SOLUTION>", True)[0] == 8.5
