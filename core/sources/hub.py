"""Rows from the hub or from a local folder of files in the hub's schema.

Local layout (offline runs, air-gapped clusters): ``DIR/<owner>__<name>[__<config>]/<split>.jsonl``
(or ``.parquet`` / ``.json``), or a flat ``DIR/<name>_<split>.jsonl``. Both go through
``datasets.load_dataset`` exactly like the hub files do.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from core.errors import BadInput

DATA_DIR_ENV = "GRPO_BENCH_DATA_DIR"
_EXTS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def local_candidates(data_dir: str, hub_id: str, config: Optional[str], split: str) -> list[Path]:
    owner_name = hub_id.replace("/", "__")
    folders = [f"{owner_name}__{config}", owner_name] if config else [owner_name]
    base = hub_id.split("/")[-1]
    out = []
    for ext in _EXTS:
        out += [Path(data_dir) / f / f"{split}{ext}" for f in folders]
        out += [Path(data_dir) / f"{base}_{split}{ext}"]
        if config:
            out += [Path(data_dir) / f"{base}_{config}_{split}{ext}"]
    return out


def load_rows(hub_id: str, config: Optional[str], split: str, source: str,
              data_dir: Optional[str] = None, revision: Optional[str] = None) -> list[dict]:
    import datasets

    datasets.logging.set_verbosity_error()
    data_dir = os.environ.get(DATA_DIR_ENV) or data_dir
    if source == "local" or data_dir:
        if not data_dir:
            raise BadInput(f"data source 'local' needs a folder: set {DATA_DIR_ENV} or --data-dir")
        for path in local_candidates(data_dir, hub_id, config, split):
            if path.is_file():
                return _load_local(datasets, path)
        want = local_candidates(data_dir, hub_id, config, split)[0]
        raise BadInput(f"{hub_id} ({split}) not found locally: put the hub's rows in {want}")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise BadInput(f"offline and {hub_id} is not local: download it, save {split} as JSONL under "
                       f"$GRPO_BENCH_DATA_DIR/{hub_id.replace('/', '__')}/{split}.jsonl")
    try:
        ds = datasets.load_dataset(hub_id, config, split=split, revision=revision)
    except Exception as exc:  # network, auth, missing split: one line, with the way out
        raise BadInput(f"cannot load {hub_id} ({split}) from the hub: {str(exc).splitlines()[0][:200]}; "
                       f"or set {DATA_DIR_ENV} to a folder holding "
                       f"{hub_id.replace('/', '__')}/{split}.jsonl") from None
    return [dict(r) for r in ds]


def _load_local(datasets, path: Path) -> list[dict]:
    """A local file through ``datasets``; a JSONL file it cannot read (a line that is not JSON,
    bytes that are not UTF-8, a column whose type changes between rows) is read line by line
    instead: lines that are JSON objects are kept (the suites skip and count rows with missing or
    mistyped fields), the others are dropped with one warning line."""
    try:
        ds = datasets.load_dataset(_EXTS[path.suffix], data_files=str(path), split="train")
        return [dict(r) for r in ds]
    except Exception as exc:  # datasets/pyarrow raise many types; the fallback or one line follows
        if path.suffix != ".jsonl":
            raise BadInput(f"cannot read {path}: {(str(exc).splitlines() or [type(exc).__name__])[0][:200]}") from None
    import json
    import sys

    rows, bad = [], 0
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError):
                    row = None
                if isinstance(row, dict):
                    rows.append(row)
                else:
                    bad += 1
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    if bad:
        print(f"bench: warning: {path}: {bad} unreadable line(s) skipped", file=sys.stderr)
    return rows
