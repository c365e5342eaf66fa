"""Content-addressed checkpoint store: ``<store>/checkpoints/<variant>-<fp12>/``.

A folder is built under a temporary name and renamed when complete, with ``manifest.json``
written last inside it; a folder without a manifest (a crash mid-write) is never taken as a
checkpoint. The manifest lists every file's size: a checkpoint whose files were later deleted or
truncated is not complete either, and is rebuilt. Two processes building the same checkpoint both
succeed (the first rename wins, the other's copy is dropped).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Callable


class CheckpointStore:
    def __init__(self, root: Path):
        self.root = Path(root) / "checkpoints"

    def path(self, name: str, fp: str) -> Path:
        return self.root / f"{name}-{fp[:12]}"

    def work_dir(self, name: str, fp: str) -> Path:
        """Where a build keeps its trainer checkpoints: kept across a crash, so training resumes."""
        return self.root / f".work-{self.path(name, fp).name}"

    @contextlib.contextmanager
    def _lock(self, final: Path):
        """One builder per checkpoint at a time; the others wait, then find it built."""
        locks = self.root.parent / ".locks"  # beside, not inside, the checkpoints folder
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{final.name}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def manifest(self, name: str, fp: str) -> dict | None:
        try:
            return json.loads((self.path(name, fp) / "manifest.json").read_text())
        except (OSError, ValueError):
            return None

    def exists(self, name: str, fp: str) -> bool:
        m = self.manifest(name, fp)
        if not m or m.get("fingerprint") != fp:
            return False
        root = self.path(name, fp)
        try:  # manifests written before sizes were recorded have no "files": trusted as they are
            return all((root / rel).stat().st_size == size for rel, size in (m.get("files") or {}).items())
        except (OSError, AttributeError, TypeError):
            return False

    def _drop_stale_tmp(self, final: Path) -> None:
        """Remove temporary folders of builds whose process is gone (killed mid-training); only this
        host's (a store on a shared file system may hold another machine's live build)."""
        for d in self.root.glob(f".tmp-{final.name}-{socket.gethostname()}-*"):
            try:
                pid = int(d.name.rsplit("-", 1)[1])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(d, ignore_errors=True)
            except (ValueError, PermissionError, OSError):
                pass

    def build(self, name: str, fp: str, produce: Callable[[Path], dict], manifest: dict) -> Path:
        """Run ``produce(tmp_dir) -> train metrics`` and publish the folder atomically."""
        from .errors import RunFailed

        final = self.path(name, fp)
        tmp = self.root / f".tmp-{final.name}-{socket.gethostname()}-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._drop_stale_tmp(final)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
        except OSError as exc:
            raise RunFailed(f"cannot write checkpoints to {self.root}: {exc}") from None
        with self._lock(final):
            if self.exists(name, fp):  # built by a concurrent process while we waited
                shutil.rmtree(tmp, ignore_errors=True)
                return final
            return self._build_locked(name, fp, final, tmp, produce, manifest)

    def _build_locked(self, name: str, fp: str, final: Path, tmp: Path, produce, manifest: dict) -> Path:
        started = time.time()
        metrics = produce(tmp)
        files = {str(f.relative_to(tmp)): f.stat().st_size for f in sorted(tmp.rglob("*")) if f.is_file()}
        full = {**manifest, "fingerprint": fp, "files": files, "name": name, "train_metrics": metrics,
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
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:  # another process published between our check and our rename
            if not self.exists(name, fp):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return final
