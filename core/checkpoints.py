"""Content-addressed checkpoint store: ``<store>/checkpoints/<variant>-<fp12>/``.

A folder is built under a temporary name and renamed when complete, with ``manifest.json``
written last inside it; a folder without a manifest (a crash mid-write) is never taken as a
checkpoint. The manifest lists every file's size and sha256: a checkpoint whose files were later
deleted, truncated or overwritten (same-size garbage included) is not complete either, and is
rebuilt; so is one whose manifest does not parse or is not a JSON object. Two processes building
the same checkpoint both succeed (the first rename wins, the other's copy is dropped). Temporary
folders of builders that died are removed when the store is opened.

Every folder the store names is checked to stay inside it: the name must be an identifier
(``core.config.NAME_PATTERN``) and the fingerprint hexadecimal, so no registry entry can make
``build`` write, or its cleanup ``rmtree``, a path outside the store.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Callable

from .errors import BadInput

_HEX = re.compile(r"[0-9a-f]{12,}")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_NO_SPACE = (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
_NO_SPACE_TEXT = ("No space left on device", "StorageFull", "File too large", "FileTooLarge", "Disk quota exceeded")


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) is a full disk or a file-size limit."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        if any(t in str(exc) for t in _NO_SPACE_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


class CheckpointStore:
    def __init__(self, root: Path):
        self.root = Path(root) / "checkpoints"
        self._verified: dict[str, tuple] = {}  # folder -> file stats whose hashes were checked
        self.sweep()

    def path(self, name: str, fp: str) -> Path:
        from .config import NAME_RULE, valid_name

        if not valid_name(name):
            raise BadInput(f"'{name}' cannot name a checkpoint ({NAME_RULE})")
        if not isinstance(fp, str) or not _HEX.fullmatch(fp):
            raise BadInput(f"'{fp}' is not a fingerprint (hexadecimal)")
        final = self.root / f"{name}-{fp[:12]}"
        # belt and braces: whatever the pattern allows, the folder is a direct child of the store
        if os.path.dirname(os.path.abspath(final)) != os.path.abspath(self.root):
            raise BadInput(f"'{name}' would leave the checkpoint store {self.root}")
        return final

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
        """The manifest as a dict; None when missing, unreadable, not JSON or not an object (any of
        which means: not built, rebuild)."""
        try:
            m = json.loads((self.path(name, fp) / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        return m if isinstance(m, dict) else None

    def exists(self, name: str, fp: str) -> bool:
        m = self.manifest(name, fp)
        if not m or m.get("fingerprint") != fp:
            return False
        root = self.path(name, fp)
        files, hashes = m.get("files") or {}, m.get("sha256") or {}
        if not isinstance(files, dict) or not isinstance(hashes, dict):
            return False
        try:  # manifests written before sizes/hashes were recorded: trusted as far as they go
            stats = {rel: (root / rel).stat() for rel in files}
            if any(stats[rel].st_size != size for rel, size in files.items()):
                return False
            key = tuple((rel, s.st_size, s.st_mtime_ns, s.st_ino) for rel, s in sorted(stats.items()))
            if hashes and self._verified.get(str(root)) != key:
                # hashed once per process and file state: `bench models` on big adapters stays fast
                if any(file_sha256(root / rel) != digest for rel, digest in hashes.items()):
                    return False
                self._verified[str(root)] = key
            return True
        except (OSError, AttributeError, TypeError, ValueError):
            return False

    def sweep(self) -> None:
        """Remove the temporary folders of every dead builder on this host (a concurrent builder
        killed after its rival published leaves one nobody would rebuild)."""
        self._drop_stale_tmp("*")

    def _drop_stale_tmp(self, final: Path | str) -> None:
        """Remove temporary folders of builds whose process is gone (killed mid-training); only this
        host's (a store on a shared file system may hold another machine's live build)."""
        name = final if isinstance(final, str) else final.name
        for d in self.root.glob(f".tmp-{name}-{glob_escape(socket.gethostname())}-*"):
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
        from .errors import RunFailed

        started = time.time()
        try:
            metrics = produce(tmp)
        except Exception as exc:
            # writers below torch (safetensors, tokenizers) report a full disk as their own error
            # types, not OSError: recognised here, so it is one line like any other full disk
            if not out_of_space(exc):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise RunFailed(f"cannot write checkpoint {final.name} in {self.root}: disk full or file "
                            f"too large ({first})") from None
        paths = [f for f in sorted(tmp.rglob("*")) if f.is_file()]
        files = {str(f.relative_to(tmp)): f.stat().st_size for f in paths}
        hashes = {str(f.relative_to(tmp)): file_sha256(f) for f in paths}
        full = {**manifest, "fingerprint": fp, "files": files, "sha256": hashes, "name": name, "train_metrics": metrics,
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
