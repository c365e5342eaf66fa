"""The ``openai`` engine: generation through any OpenAI-compatible endpoint (vLLM, SGLang, TGI,
``transformers serve``, hosted APIs), concurrently, with per-item failures recorded."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Optional

from core.endpoint import ChatClient, Completion, EndpointError
from core.progress import progress_bar


class OpenAIBackend:
    """Generation through an OpenAI-compatible endpoint, same contract as ``HFBackend.generate``."""

    def __init__(self, base_url: str, model: str, api_key_env: Optional[str] = None, timeout_s: float = 120,
                 retries: int = 3, concurrency: int = 8, backoff_s: float = 1.0):
        self.client = ChatClient(base_url, model, api_key_env, timeout_s, retries, backoff_s)
        self.concurrency = max(1, int(concurrency))
        self.description = {"backend": "openai", "base_url": base_url, "model": model}

    def use(self, adapter, key: Optional[str] = None) -> None:
        """Nothing to select: the endpoint serves one model (an adapter is a separate model name)."""

    def generate(self, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
                 label: str = "generate", on_batch: Optional[Callable] = None, sampling: Optional[dict] = None,
                 n: int = 1, **_request) -> list:
        """``Completion(text, n_tokens)`` per prompt (a list of n per prompt when n > 1); a failed
        request gives ``Completion("", 0, error)``. Greedy (temperature 0) unless ``sampling``.

        ``on_batch(indices, results)`` receives finished prompts in groups of ``batch_size`` (or
        every few seconds), from this thread, so the caller can store them as they come."""
        params = dict(sampling) if sampling else {"temperature": 0.0}
        jobs = [(i, k) for i in range(len(prompts)) for k in range(n)]
        samples: list[list[Optional[Completion]]] = [[None] * n for _ in prompts]
        left = [n] * len(prompts)
        results: list = [None] * len(prompts)
        pending: list[int] = []
        last_flush = time.monotonic()

        def flush():
            nonlocal pending, last_flush
            if on_batch and pending:
                on_batch(pending, [results[i] for i in pending])
            pending, last_flush = [], time.monotonic()

        with progress_bar(label, len(prompts)) as advance, \
                ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(jobs)))) as pool:
            futures = {pool.submit(self._one, prompts[i], max_new_tokens, params, k): (i, k) for i, k in jobs}
            for fut in as_completed(futures):
                i, k = futures[fut]
                samples[i][k] = fut.result()
                left[i] -= 1
                if left[i]:
                    continue
                results[i] = samples[i] if n > 1 else samples[i][0]
                pending.append(i)
                advance(1, failed=self.client.stats["failures"] + self.client.stats["skipped"])
                if len(pending) >= max(1, batch_size) or time.monotonic() - last_flush > 5:
                    flush()
            flush()
        return results

    def _one(self, messages: list[dict], max_new_tokens: int, params: dict, k: int) -> Completion:
        if k and "seed" in params:  # n samples with one seed would be n copies
            params = {**params, "seed": int(params["seed"]) + k}
        try:
            text, n_tokens = self.client.chat(messages, max_new_tokens, params)
        except EndpointError as exc:
            return Completion("", 0, str(exc))
        return Completion(text, n_tokens if n_tokens is not None else len(text.split()))
