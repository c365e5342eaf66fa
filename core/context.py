"""The run context: the registry, the profile and the two stores one ``bench`` command works on.

Besides the stores it carries the resolved keys of this run (each model's fingerprint, each
suite/protocol's generation-config hash), computed by the application layer, so that reports
read exactly the cells the current recipes produce without importing the packages that define
those recipes.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import __version__
from .checkpoints import CheckpointStore
from .config import Registry
from .results import ResultStore


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


@dataclass
class Context:
    reg: Registry
    profile_name: str
    store_dir: Path
    ckpts: CheckpointStore = field(init=False)
    fingerprints: dict[str, str] = field(default_factory=dict)  # model -> fingerprint (set by the app)
    gen_hashes: dict[tuple[str, str], str] = field(default_factory=dict)  # (suite, protocol) -> key
    engines: dict[Any, Any] = field(default_factory=dict, init=False)  # loaded engines, shared by models
    # (cells) -> per-item records for the HTML sample browser; set by the application, because the
    # prompts and targets come from the suites, which reports cannot import
    samples: Any = field(default=None, init=False)
    model_calls: int = field(default=0, init=False)
    # suite -> every item id it has (all protocols, no --limit): built once per run for checking
    # recorded answers (replay files); per run, because a registry edited between runs changes it
    suite_ids: dict[str, frozenset] = field(default_factory=dict, init=False)
    _results: Optional[ResultStore] = field(default=None, init=False)
    _judge: Any = field(default=None, init=False)

    def __post_init__(self):
        self.profile = self.reg.profile(self.profile_name)
        self.ckpts = CheckpointStore(self.store_dir)

    @property
    def results(self) -> ResultStore:
        if self._results is None:
            self._results = ResultStore(self.store_dir)
        return self._results
