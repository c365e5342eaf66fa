"""`bench init`: write the starter registry shipped inside the package.

The wheel carries ``harness/data/registry.yaml`` (package data), a copy of the repository's
``registry.yaml`` kept identical by a test, so an installed ``bench`` works outside the
checkout: ``bench init && bench models``. The file is read with ``importlib.resources``, which
works from a wheel, an editable install and a zip alike.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from core.errors import BadInput


def starter_text() -> str:
    return resources.files("harness").joinpath("data", "registry.yaml").read_text(encoding="utf-8")


def write_starter(path: Path, force: bool = False) -> Path:
    """Write the starter registry to ``path`` atomically; an existing file is kept unless ``force``."""
    if path.is_dir():
        path = path / "registry.yaml"
    if path.exists() and not force:
        raise BadInput(f"{path}: already exists (use --force to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(starter_text(), encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["starter_text", "write_starter"]
