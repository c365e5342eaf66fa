"""Content-addressed checkpoint store: ``<store>/checkpoints/<variant>-<fp12>/``.

A folder is built under a temporary name and renamed when complete, with ``manifest.json``
written last inside it; a folder without a manifest (a crash mid-write) is never taken as a
checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable


class CheckpointStore:
    def __init__(self, root: Path):
        self.root = Path(root) / "checkpoints"

    def path(self, name: str, fp: str) -> Path:
        return self.root / f"{name}-{fp[:12]}"

    def manifest(self, name: str, fp: str) -> dict | None:
        try:
            return json.loads((self.path(name, fp) / "manifest.json").read_text())
        except (OSError, ValueError):
            return None

    def exists(self, name: str, fp: str) -> bool:
        m = self.manifest(name, fp)
        return bool(m) and m.get("fingerprint") == fp

    def build(self, name: str, fp: str, produce: Callable[[Path], dict], manifest: dict) -> Path:
        """Run ``produce(tmp_dir) -> train metrics`` and publish the folder atomically."""
        final = self.path(name, fp)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        started = time.time()
        metrics = produce(tmp)
        full = {**manifest, "fingerprint": fp, "name": name, "train_metrics": metrics,
                "train_seconds": round(time.time() - started, 1), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with open(tmp / "manifest.json.part", "w") as fh:
            json.dump(full, fh, indent=2, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp / "manifest.json.part", tmp / "manifest.json")
        if final.exists():  # an incomplete leftover, or a concurrent build that finished first
            if self.exists(name, fp):
                shutil.rmtree(tmp, ignore_errors=True)
                return final
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final
