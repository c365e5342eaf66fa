"""Damaged checkpoint stores (issue #16): a manifest that does not parse or is not an object, a
weights file overwritten with same-size garbage, a dead builder's temporary folder. Each means
"not built: rebuild" — never a traceback, never a wrong checkpoint taken as complete — and
``bench models`` lists such a store without failing.

A full disk (a real file-size limit) while a checkpoint is written is one line, exit 1.

The case tables are counted in docs/reliability.md (test_reliability_counts.py checks it).
"""
from __future__ import annotations

import json
import os
import socket

import pytest

import faultkit
from core.checkpoints import CheckpointStore
from harness.cli import main

FP = "0123456789ab" * 4
WEIGHTS = b"w" * 4096


def _produce(out):
    (out / "weights.bin").write_bytes(WEIGHTS)
    (out / "adapter").mkdir()
    (out / "adapter" / "config.json").write_text('{"r": 4}')
    return {"loss": 1.0}


def _built(tmp_path) -> tuple[CheckpointStore, object]:
    store = CheckpointStore(tmp_path)
    final = store.build("sft", FP, _produce, {"recipe": {}})
    assert store.exists("sft", FP)
    return store, final


MANIFESTS = {
    "json-list": b"[1, 2]",
    "json-string": b'"hello"',
    "json-null": b"null",
    "json-number": b"42",
    "truncated": b'{"fingerprint": "01',
    "empty": b"",
    "latin-1-bytes": b'{"name": "caf\xe9"}',
    "nested-100k": b"[" * 100_000 + b"]" * 100_000,
    "fingerprint-int": json.dumps({"fingerprint": 5}).encode(),
    "files-not-object": json.dumps({"fingerprint": FP, "files": "weights.bin"}).encode(),
    "sizes-not-numbers": json.dumps({"fingerprint": FP, "files": {"weights.bin": "big"}}).encode(),
    "hashes-not-object": json.dumps({"fingerprint": FP, "files": {"weights.bin": 4096}, "sha256": [1]}).encode(),
}


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_damaged_manifest_means_rebuild(case, tmp_path):
    store, final = _built(tmp_path)
    (final / "manifest.json").write_bytes(MANIFESTS[case])
    m = store.manifest("sft", FP)
    assert m is None or isinstance(m, dict)
    assert not store.exists("sft", FP)
    calls = []
    store.build("sft", FP, lambda out: (calls.append(1), _produce(out))[1], {"recipe": {}})
    assert calls and store.exists("sft", FP)  # rebuilt, and complete again


GARBAGE = {
    "weights-same-size": ("weights.bin", b"\x00" * len(WEIGHTS)),
    "weights-one-byte-flipped": ("weights.bin", b"x" + WEIGHTS[1:]),
    "config-same-size": ("adapter/config.json", b'{"r": 9}'),
    "weights-truncated": ("weights.bin", WEIGHTS[:10]),
    "weights-deleted": ("weights.bin", None),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_in_a_checkpoint_file_means_rebuild(case, tmp_path):
    store, final = _built(tmp_path)
    rel, data = GARBAGE[case]
    if data is None:
        (final / rel).unlink()
    else:
        (final / rel).write_bytes(data)
    assert not CheckpointStore(tmp_path).exists("sft", FP)  # a fresh process
    assert not store.exists("sft", FP)  # and this one, which had verified it before
    store.build("sft", FP, _produce, {"recipe": {}})
    assert store.exists("sft", FP) and (final / "weights.bin").read_bytes() == WEIGHTS


def test_manifest_without_hashes_is_still_trusted_by_size(tmp_path):
    """Checkpoints built before hashes were recorded stay valid (no retraining on upgrade)."""
    store, final = _built(tmp_path)
    m = json.loads((final / "manifest.json").read_text())
    del m["sha256"]
    (final / "manifest.json").write_text(json.dumps(m))
    assert CheckpointStore(tmp_path).exists("sft", FP)


def test_dead_builders_tmp_folders_are_swept_on_open(tmp_path):
    """A concurrent builder killed after its rival published leaves a .tmp folder no rebuild would
    ever clean (the checkpoint exists): opening the store removes it; a live one's is kept."""
    host = socket.gethostname()
    root = tmp_path / "checkpoints"
    dead = [root / f".tmp-sft-0123456789ab-{host}-{2 ** 22 + 7}", root / f".tmp-grpo-1k-abcdef012345-{host}-{2 ** 22 + 9}"]
    live = root / f".tmp-sft-0123456789ab-{host}-{os.getpid()}"
    other_host = root / f".tmp-sft-0123456789ab-otherhost-{2 ** 22 + 7}"
    for d in (*dead, live, other_host):
        d.mkdir(parents=True)
    CheckpointStore(tmp_path)
    assert not any(d.exists() for d in dead) and live.is_dir() and other_host.is_dir()


MODELS_CASES = ("json-list", "json-string", "truncated", "nested-100k")


@pytest.mark.parametrize("case", MODELS_CASES)
def test_bench_models_lists_a_store_with_a_damaged_manifest(case, tmp_path, capsys, fault_registry):
    from harness.registry import load_registry
    from models import fingerprint

    reg = load_registry(fault_registry)
    fp = fingerprint(reg, reg.profile(faultkit.PROFILE), "base")
    folder = tmp_path / "store" / "checkpoints" / f"base-{fp[:12]}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(MANIFESTS[case])
    rc = main(["models", "--registry", str(fault_registry), "--profile", faultkit.PROFILE, "--store", str(tmp_path / "store")])
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    assert "base" in out


DISK_FULL = {
    # a real writer below torch: safetensors reports EFBIG as a SafetensorError, not an OSError
    "safetensors-file-size-limit": "from safetensors.numpy import save_file; import numpy as np\n"
                                   "save_file({'w': np.zeros(1 << 18, dtype=np.float32)}, str(out / 'adapter.safetensors'))",
    "python-file-size-limit": "(out / 'weights.bin').write_bytes(bytes(1 << 20))",
}
_DISK_FULL_CHILD = """
import resource, sys
from pathlib import Path
from core.checkpoints import CheckpointStore
from core.errors import BenchError
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
def produce(out):
{body}
    return {{}}
try:
    CheckpointStore(Path(sys.argv[1])).build("sft", "{fp}", produce, {{}})
except BenchError as exc:
    print(f"bench: error: {{exc}}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


@pytest.mark.parametrize("case", sorted(DISK_FULL))
def test_disk_full_while_writing_a_checkpoint_is_one_line(case, tmp_path):
    import subprocess
    import sys
    import textwrap

    body = textwrap.indent(DISK_FULL[case], "    ")
    r = subprocess.run([sys.executable, "-c", _DISK_FULL_CHILD.format(body=body, fp=FP), str(tmp_path)],
                       cwd=faultkit.ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, **faultkit.ENV})
    line = faultkit.one_line_error(r, codes=(1,))
    assert "disk full" in line, line
    assert not CheckpointStore(tmp_path).exists("sft", FP)
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))  # the partial build is not left behind


ALL_CASES = {**{f"manifest:{k}": v for k, v in MANIFESTS.items()}, **{f"garbage:{k}": v for k, v in GARBAGE.items()},
             "legacy-manifest": 1, "dead-tmp-sweep": 1, **{f"models:{k}": 1 for k in MODELS_CASES},
             **{f"disk-full:{k}": v for k, v in DISK_FULL.items()}}
