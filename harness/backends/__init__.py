"""Generation backends, registered by name and imported lazily (importing the package never
imports torch or an HTTP client). Suites talk to a ``ModelHandle``, whatever the backend."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

BACKENDS = {
    "hf": "harness.backends.hf:HFBackend",
    "replay": "harness.backends.replay:ReplayBackend",
    "vllm": "harness.backends.vllm_backend:VLLMBackend",
    "openai": "harness.backends.openai_compat:OpenAIBackend",
}


def get_backend(name: str):
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


@dataclass
class ModelHandle:
    """One registry model, ready to generate: a backend plus the adapter to select (if any)."""
    name: str
    fingerprint: str
    backend: Any
    adapter: Optional[Path] = None
    suite: str = ""

    @property
    def description(self) -> dict:
        return dict(self.backend.description)

    def generate(self, prompts: list[list[dict]], max_new_tokens: int, batch_size: int, label: str = "generate",
                 on_batch: Optional[Callable] = None, item_ids: Optional[list[str]] = None,
                 sampling: Optional[dict] = None, n: int = 1) -> list:
        """(text, completion tokens) per prompt; a list of ``n`` such pairs per prompt when n > 1.
        ``sampling`` (temperature, top_p, repetition_penalty, ...) switches greedy decoding off."""
        if hasattr(self.backend, "completions"):  # replay: generations made elsewhere, by item id
            from .openai_compat import Completion  # carries .error: a missing item is a recorded failure

            res = [Completion(t, k, e) for t, k, e in self.backend.completions(self.suite, item_ids or [])]
            if on_batch:
                on_batch(list(range(len(res))), res)
            return [[r] * n for r in res] if n > 1 else res
        self.backend.use(self.adapter, key=self.fingerprint)
        return self.backend.generate(prompts, max_new_tokens, batch_size, label=label, on_batch=on_batch,
                                     sampling=sampling, n=n)

    def hf(self):
        """(model, tokenizer) with this model's adapter active, for log-likelihood scoring."""
        if not hasattr(self.backend, "model"):
            from harness.errors import BadInput

            raise BadInput(f"model '{self.name}' has no local weights (backend {self.description.get('backend')})")
        self.backend.use(self.adapter, key=self.fingerprint)
        return self.backend.model, self.backend.tok
