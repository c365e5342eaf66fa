"""The counts table of docs/reliability.md (issue #16 classes) equals the case tables the fault
tests run: a case added or removed without updating the document fails here."""
from __future__ import annotations

import re

import faultkit
import test_bfcl_resume as bfcl_resume
import test_bounded_scoring as scoring
import test_budgets as budgets
import test_damaged_checkpoints as damaged
import test_hostile_registry as registry
import test_leases as leases
import test_stdio as stdio

DOC = faultkit.ROOT / "docs" / "reliability.md"
COLUMNS = ("cases tried", "one-line errors", "recoveries", "tracebacks", "hangs", "escapes", "silent acceptances", "lost")


def _expected() -> dict[str, dict[str, int]]:
    def row(tried: int, errors: int) -> dict[str, int]:
        return {"cases tried": tried, "one-line errors": errors, "recoveries": tried - errors, "tracebacks": 0,
                "hangs": 0, "escapes": 0, "silent acceptances": 0, "lost": 0}

    names = len(registry.NAMES) + len(registry.ARGUMENTS) + len(registry.ESCAPES)
    params = len(registry.PARAMETERS) + len(registry.YAML_TEXTS)
    shell_errors = sum(1 for _, _, code in stdio.SHELL_CASES.values() if code != 0)
    return {
        "bounded scoring": row(len(scoring.NAMED_CASES) * len(scoring.SCORERS), 0),
        "names and store paths": row(names, names),
        "parameters at load": row(params, params),
        "damaged checkpoints": row(len(damaged.ALL_CASES), len(damaged.DISK_FULL)),
        "closed or odd stdio": row(len(stdio.ALL_CASES), shell_errors),
        "concurrent runs claim items": row(len(leases.ALL_CASES), 0),
        "BFCL scoring interrupted": row(len(bfcl_resume.CASES), 0),
        "token budgets vs the context": row(len(budgets.CONTEXT) + len(budgets.LOADED),
                                            len(budgets.CONTEXT) + len(budgets.LOADED)),
        "client settings (models, judges)": row(len(budgets.CLIENT), len(budgets.CLIENT)),
    }


def _documented() -> dict[str, dict[str, int]]:
    text = DOC.read_text()
    block = text[text.index("<!-- counts:begin -->"):text.index("<!-- counts:end -->")]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 + len(COLUMNS) and cells[2].isdigit():
            rows[cells[0]] = dict(zip(COLUMNS, map(int, cells[2:])))
    return rows


def test_documented_counts_equal_the_case_tables():
    assert _documented() == _expected()


def test_case_tables_have_unique_ids():
    for table in (scoring.NAMED_CASES, registry.ALL_CASES, damaged.ALL_CASES, stdio.ALL_CASES, leases.ALL_CASES,
                  bfcl_resume.ALL_CASES, budgets.ALL_CASES):
        assert len(table) == len(set(table)) and all(re.fullmatch(r"[\w:.+-]+", k) for k in table)
