"""Replay: generations made elsewhere, one JSON object per line {"suite", "item_id", "completion"}.

Items the file lacks are recorded as failures (with their reason), never invented, so a file
filled in between two runs completes the cell on the next run. Ids the suite does not have are
bad input (``check_ids``): the file was made for another suite, profile or data source, and
silently ignoring its lines would leave every item failed for a reason nobody sees.
"""
from __future__ import annotations

import json
from pathlib import Path

from core.endpoint import Completion
from core.errors import BadInput


class ReplayBackend:
    def __init__(self, path: str):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise BadInput(f"replay file not found: {self.path}")
        self.rows: dict[tuple[str, str], str] = {}
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    self.rows[(str(row["suite"]), str(row["item_id"]))] = str(row["completion"])
                except (ValueError, KeyError, TypeError):
                    raise BadInput(f"{self.path}:{n}: expected {{\"suite\", \"item_id\", \"completion\"}}") from None
        self.description = {"backend": "replay", "file": str(self.path)}

    recorded = True  # answers come whole from a file (a multi-turn item: one JSON list of turns)

    def use(self, adapter, key=None) -> None:
        """Nothing to select: the file is one model's answers."""

    def check_ids(self, suite: str, known) -> None:
        """One-line BadInput when the file has ids for ``suite`` that ``known`` (the suite's item
        ids) lacks: how many, and the first few."""
        extra = sorted(i for s, i in self.rows if s == suite and i not in known)
        if extra:
            shown = ", ".join(extra[:3]) + (", …" if len(extra) > 3 else "")
            raise BadInput(f"{self.path}: {len(extra)} item id(s) for suite '{suite}' are not in the suite "
                           f"({shown}): was the file made for another profile or data source?")

    def generate(self, prompts: list, max_new_tokens: int, batch_size: int, label: str = "replay",
                 on_batch=None, sampling=None, n: int = 1, item_ids=None, suite: str = "") -> list:
        """The stored completion of each item (by suite and item id); a missing one is a failure."""
        res = []
        for i in item_ids or []:
            text = self.rows.get((suite, i))
            res.append(Completion(text, len(text.split())) if text is not None
                       else Completion("", 0, "missing from replay file"))
        if on_batch:
            on_batch(list(range(len(res))), res)
        return [[r] * n for r in res] if n > 1 else res
