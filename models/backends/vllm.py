"""vLLM as the scale-out engine: an OpenAI-compatible vLLM server for the profile's base, every LoRA
variant served under its own name, evaluated through the ``openai`` backend's client path.

Why a server and not ``vllm.LLM`` in process: vLLM pins numpy 2 and an older transformers, which
cannot share a venv with bfcl-eval (numpy 1.26), so it lives in its own environment
(``make vllm-env``; ``$GRPO_BENCH_VLLM_PYTHON`` or ``.venv-vllm``). Select it per profile with
``generation: {backend: vllm}``; ``tensor_parallel_size`` and ``server_url`` (attach to a running
server instead of starting one) come from the same block.

Exactness: prompts are rendered and tokenized here exactly as ``models.backends.hf`` does
(``core.modeling.prompt_ids`` with the model's template choice, no added special tokens) and sent
as token ids to ``/v1/completions``, so the server's own chat template never enters. On CPU the server runs in float32 (vLLM's CPU default is bf16, which changes greedy
outputs). With both, greedy completions equal the hf backend's token for token
(``tests/test_vllm_backend.py``).

Adapters: at start-up the server gets ``--lora-modules`` for every variant of this base in the
checkpoint store (found through the manifests' parent chain) plus the ones selected so far; an
adapter met later is loaded at run time (``/v1/load_lora_adapter``). vLLM does not check that an
adapter fits its base (a mismatched one answers garbage with HTTP 200), so every adapter's LoRA
shapes are checked against the base's config before it is registered.

Log-likelihood protocols (``standard``) need weights in this process: ``model`` loads an hf
backend for the same base on first use (the plan runs them; they do not go through the server).
On a GPU the server is started with ``--gpu-memory-utilization 0.7`` to leave that copy room.
"""
from __future__ import annotations

import atexit
import json
import struct
from pathlib import Path
from typing import Optional

from core.endpoint import ChatClient
from core.errors import BadInput, RunFailed

from . import vllm_server
from .openai import OpenAIBackend

CONCURRENCY = 64  # requests in flight; vLLM batches them continuously


class VLLMBackend:
    def __init__(self, base_spec, base_path: Optional[Path], tensor_parallel_size: int = 1,
                 server_url: Optional[str] = None):
        self.spec = base_spec
        self.base_path = Path(base_path).resolve() if base_path is not None else None
        self.source = str(self.base_path) if base_spec.kind == "tiny" else base_spec.id
        self.tok, self.config = _tokenizer_and_config(base_spec, self.base_path)
        self.tp, self.attach_url = tensor_parallel_size, server_url
        self.cpu = _on_cpu()
        if self.cpu and not server_url and _head_dim(self.config) not in vllm_server.CPU_HEAD_DIMS:
            raise BadInput(f"vLLM's CPU attention has no kernel for head size {_head_dim(self.config)} "
                           f"(base {self.source}); it supports {sorted(vllm_server.CPU_HEAD_DIMS)}: "
                           f"use the hf backend or a base with a supported head size")
        self.server: Optional[vllm_server.Server] = None
        self.url: Optional[str] = server_url.rstrip("/") if server_url else None
        self._names: dict[str, str] = {}  # resolved adapter path -> served name
        self._loaded: set[str] = set()  # served names the server knows
        self._current = "base"
        self._selected: tuple = (None, None)  # the last use() arguments, replayed onto the hf copy
        self._hf = None
        self._clients: dict[str, OpenAIBackend] = {}
        self.description = {"backend": "vllm", "base": self.source, "tensor_parallel_size": self.tp,
                            "dtype": "float32" if self.cpu else "auto",
                            "server": "attached" if server_url else "started"}

    @classmethod
    def for_generation(cls, gen, base_spec, base_path):
        """Built from the profile's ``generation`` block (``models.local`` calls this)."""
        return cls(base_spec, base_path, gen.tensor_parallel_size, gen.server_url)

    # -- adapters ----------------------------------------------------------------------------
    def use(self, adapter: Optional[Path], key: Optional[str] = None) -> None:
        """Select the served model for the next generations: the base, or the adapter's LoRA name."""
        self._selected = (adapter, key)
        if self._hf is not None:
            self._hf.use(adapter, key)
        if adapter is None:
            self._current = "base"
            return
        path = str(Path(adapter).resolve())
        if path not in self._names:
            _check_fits(Path(path), self.config, self.source)
            self._names[path] = self._name_for(Path(path))
        self._current = self._names[path]
        if self.url is not None and self._current not in self._loaded:
            self._load(self._current, path)

    def _name_for(self, path: Path) -> str:
        stem = path.parent.name if path.name == "adapter" else path.name  # <variant>-<fp12> in a store
        name, i = stem, 1
        while name in self._names.values() or name == "base":
            i += 1
            name = f"{stem}-{i}"
        return name

    def _load(self, name: str, path: str) -> None:
        status, body = vllm_server.post(self.url + "/load_lora_adapter", {"lora_name": name, "lora_path": path})
        if status != 200 and "already" not in body:
            raise RunFailed(f"vLLM server {self.url} could not load adapter {path} as '{name}': HTTP {status} "
                            f"{body[:200]} (a server started elsewhere needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)")
        self._loaded.add(name)

    # -- server ------------------------------------------------------------------------------
    def ensure_server(self, adapters: Optional[dict[str, Path]] = None) -> str:
        """The server's URL, starting it (once) with every known variant of this base."""
        if self.url is not None:
            if not self._loaded:
                self._attach()
            return self.url
        selected = self._selected
        for a in (adapters or {}).values():
            self.use(a)
        self.use(*selected)
        found = {str(p.resolve()): p for p in _store_variants(self.base_path)} if self.base_path else {}
        for path in found:
            if path not in self._names:
                try:
                    _check_fits(Path(path), self.config, self.source)
                except BadInput:
                    continue  # a stray adapter in the store is not this run's business
                self._names[path] = self._name_for(Path(path))
        modules = {name: Path(path) for path, name in self._names.items()}
        ranks = [_lora_rank_of(p) for p in modules.values()]
        port = vllm_server.free_port()
        cmd = vllm_server.command(vllm_server.server_python(), self.source, port, modules,
                                  vllm_server.lora_rank(ranks), self.cpu, self.tp,
                                  getattr(self.config, "max_position_embeddings", None))
        self.server = vllm_server.Server(cmd, port, self.cpu)
        atexit.register(self.close)
        try:
            self.server.wait_ready()
            self.url = self.server.url
            self._loaded = set(modules) | {"base"}
            self._health()
        except BaseException:
            self.close()
            raise
        self.description["server_log"] = str(self.server.log)
        return self.url

    def _attach(self) -> None:
        served = vllm_server.get_json(self.url + "/models").get("data") or []
        by_root = {str(Path(m["root"]).resolve()): m["id"] for m in served if m.get("parent") and m.get("root")}
        base = [m["id"] for m in served if not m.get("parent")]
        if not base:
            raise RunFailed(f"vLLM server {self.url} serves no base model")
        self._base_id = base[0]
        self._loaded = {"base"} | set(by_root.values())
        for path in list(self._names):  # adapters the server already serves keep its names
            if path in by_root:
                self._names[path] = by_root[path]
        self.use(*self._selected)

    def _health(self) -> None:
        """One real generation: /v1/models answers even when the engine dies at its first request."""
        status, body = vllm_server.post(self.url + "/completions",
                                        {"model": "base", "prompt": [self.tok.eos_token_id], "max_tokens": 1})
        if status != 200:
            raise RunFailed(f"vLLM server started but cannot generate (HTTP {status}): "
                            f"{(self.server.tail() if self.server else '') or body[:200]}")

    def close(self) -> None:
        """Stop the server this backend started (an attached one is left running)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.url = self.attach_url.rstrip("/") if self.attach_url else None
            self._loaded = set()

    # -- generation --------------------------------------------------------------------------
    def generate(self, prompts: list[list[dict]], max_new_tokens: int, batch_size: int, label: str = "generate",
                 on_batch=None, sampling: Optional[dict] = None, n: int = 1, chat_template: str = "thesis",
                 **_request) -> list:
        """Same contract as ``HFBackend.generate``: (text, completion tokens incl. EOS) per prompt."""
        self.ensure_server()
        name = self._current
        served = name if name != "base" else getattr(self, "_base_id", "base")
        if served not in self._clients:
            self._clients[served] = _ServedModel(_RenderedClient(self.url, served), CONCURRENCY)
        # rendered here, in one thread: the worker threads only send token ids
        from core.modeling import prompt_ids

        ids = [prompt_ids(self.tok, p, chat_template) for p in prompts]
        return self._clients[served].generate(ids, max_new_tokens, batch_size, label=label,
                                              on_batch=on_batch, sampling=sampling, n=n)

    # -- log-likelihoods -----------------------------------------------------------------------
    @property
    def model(self):
        """Weights in this process for log-likelihood protocols: an hf backend, loaded on first use."""
        if self._hf is None:
            import torch

            from .hf import HFBackend

            # loaded outside inference mode even when first asked for inside it: inference tensors
            # would make every later adapter load fail
            with torch.inference_mode(False):
                self._hf = HFBackend(self.spec, self.base_path)
                self._hf.use(*self._selected)
        return self._hf.model


class _RenderedClient(ChatClient):
    """The completions route; its "messages" are prompts already rendered to token ids."""

    def __init__(self, base_url: str, model: str):
        super().__init__(base_url, model, timeout_s=600, retries=2, route="completions")

    def chat(self, messages, max_tokens, params=None):
        return self.request({"prompt": messages}, max_tokens, params)


class _ServedModel(OpenAIBackend):
    def __init__(self, client: ChatClient, concurrency: int):  # noqa: super().__init__ builds its own client
        self.client, self.concurrency = client, concurrency
        self.description = {"backend": "vllm", "model": client.model}


# -- helpers -------------------------------------------------------------------------------------
def _on_cpu() -> bool:
    from core.device import device

    return not device().startswith("cuda")


def _tokenizer_and_config(spec, base_path: Optional[Path]):
    """The tokenizer as ``core.modeling.load_base`` prepares it, and the base's config, without
    loading weights (templates are applied per model by ``core.modeling.prompt_ids``)."""
    from transformers import AutoConfig, AutoTokenizer

    source = str(base_path) if spec.kind == "tiny" else spec.id
    kwargs = {} if spec.kind == "tiny" else {"revision": spec.revision}
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        config = AutoConfig.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise BadInput(f"cannot load base model '{source}': {str(exc).splitlines()[0][:200]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok, config


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _adapter_shapes(adapter: Path) -> dict:
    """Tensor shapes from the safetensors header (no torch, no weights read)."""
    f = adapter / "adapter_model.safetensors"
    try:
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        raise BadInput(f"{f}: not a readable LoRA adapter (adapter_model.safetensors)") from None
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _lora_rank_of(adapter: Path) -> int:
    try:
        return int(json.loads((adapter / "adapter_config.json").read_text())["r"])
    except (OSError, ValueError, KeyError):
        raise BadInput(f"{adapter}: adapter_config.json is missing or has no rank 'r'") from None


def _check_fits(adapter: Path, config, base: str) -> None:
    """LoRA A matrices take the layer's input width, B matrices give its output width: check the
    ones every Qwen/Llama-style layer has against the base, and the layer count."""
    import re

    hidden, layers = config.hidden_size, config.num_hidden_layers
    for key, shape in _adapter_shapes(adapter).items():
        m = re.search(r"layers\.(\d+)\..*?(q_proj|k_proj|v_proj|gate_proj|up_proj)\.lora_A", key)
        if m and (int(m.group(1)) >= layers or shape[-1] != hidden):
            raise BadInput(f"adapter {adapter} does not fit base {base}: {key} has shape {shape}, the base has "
                           f"hidden size {hidden} and {layers} layers")


def _store_variants(base_path: Path) -> list[Path]:
    """Adapters in the same checkpoint store whose manifests' parent chain leads to ``base_path``."""
    root, found = base_path.parent, []
    for d in sorted(root.glob("*/adapter")):
        folder, seen = d.parent, 0
        while folder != base_path and seen < 32:
            try:
                m = json.loads((folder / "manifest.json").read_text())
            except (OSError, ValueError):
                break
            if not m.get("parent") or not m.get("parent_fingerprint"):
                break
            folder, seen = root / f"{m['parent']}-{m['parent_fingerprint'][:12]}", seen + 1
        if folder == base_path and (d / "adapter_config.json").is_file():
            found.append(d)
    return found
