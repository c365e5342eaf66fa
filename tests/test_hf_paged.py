"""transformers' continuous batching behind the hf backend (models/backends/hf_paged.py): greedy
completions equal the padded batches' on a real tiny model, with a paged KV cache sized to the
requests (left to transformers, it took 90% of free memory: 14.5 GB of RAM on a CPU)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_the_paged_cache_holds_each_request_and_no_more():
    from models.backends.hf_paged import cache_for

    cfg = cache_for([[1] * 10, [1] * 300, [1] * 232], 24)
    assert cfg.page_size == 256 and cfg.num_blocks == 1 + 2 + 1  # 34, 324 and 256 tokens
    assert cache_for([], 24).num_blocks == 1
    assert cache_for([[1] * 10], 24).max_batch_tokens is None  # the rest stays transformers' own


def test_continuous_batching_completes_every_request_like_padded_batches(tiny_lora):
    from models.backends.hf import HFBackend
    from models.backends.hf_paged import HFPagedBackend

    spec, base, adapter = tiny_lora
    prompts = [[{"role": "user", "content": " ".join(f"{i} + {j} = ?" for j in range(1 + (i * 7) % 9))}]
               for i in range(11)]
    padded = HFBackend(spec, base, device="cpu", loop="generate")
    padded.use(adapter, key="lora")
    paged = HFPagedBackend(spec, base, device="cpu", loop="generate")
    paged.use(adapter, key="lora")
    ref = padded.generate(prompts, 20, 4)
    seen = []
    out = paged.generate(prompts, 20, 4, on_batch=lambda idx, res: seen.extend(idx))
    assert seen == list(range(len(prompts)))
    assert all(getattr(r, "error", None) is None and r[1] > 0 for r in out), out
    assert out == ref
