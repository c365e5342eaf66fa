"""``ModelHandle``: one registry model, ready to generate, whatever its kind and backend.

Suites talk only to a handle (duck-typed, they never import this package): ``generate`` for
generative protocols, ``hf()`` for log-likelihood protocols that need local weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional


@dataclass
class ModelHandle:
    name: str
    fingerprint: str
    backend: Any
    adapter: Optional[Path] = None
    suite: str = ""
    # thesis | native | a Jinja file (core.modeling.render_prompt): set for local weights, whose
    # backend renders the prompt; None for endpoints and replays, which never see a template
    chat_template: Optional[str] = None

    @property
    def description(self) -> dict:
        return dict(self.backend.description)

    def generate(self, prompts: list[list[dict]], max_new_tokens: int, batch_size: int, label: str = "generate",
                 on_batch: Optional[Callable] = None, item_ids: Optional[list[str]] = None,
                 sampling: Optional[dict] = None, n: int = 1) -> list:
        """(text, completion tokens) per prompt; a list of ``n`` such pairs per prompt when n > 1.
        ``sampling`` (temperature, top_p, repetition_penalty, ...) switches greedy decoding off.
        A result may carry ``.error``: the generation failed and is recorded as a failure."""
        self.backend.use(self.adapter, key=self.fingerprint)
        return self.backend.generate(prompts, max_new_tokens, batch_size, label=label, on_batch=on_batch,
                                     sampling=sampling, n=n, item_ids=item_ids, suite=self.suite,
                                     **({"chat_template": self.chat_template} if self.chat_template else {}))

    def hf(self):
        """(model, tokenizer) with this model's adapter active, for log-likelihood scoring."""
        if not hasattr(self.backend, "model"):
            from core.errors import BadInput

            raise BadInput(f"model '{self.name}' has no local weights (backend {self.description.get('backend')})")
        self.backend.use(self.adapter, key=self.fingerprint)
        return self.backend.model, self.backend.tok
