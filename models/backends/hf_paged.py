"""transformers' continuous batching (``generate_batch``: paged KV cache, requests scheduled in and
out of the running batch) on the hf backend's loaded base and adapters, for greedy evaluation.

Same contract as ``HFBackend`` (it is one, with another generation loop); sampled or n > 1
requests take the padded path. Measured against the padded batches by `bench perf`: on the
2-core CPU machine it is ~6x slower (5.8 s vs 1.0 s for 128 tiny-model items, identical outputs),
so ``hf`` stays the default there; select it per profile with ``generation: {backend: hf_paged}``
where `bench perf` shows it faster (GPUs).
"""
from __future__ import annotations

from core.endpoint import Completion
from core.progress import progress_bar

from .hf import HFBackend


class HFPagedBackend(HFBackend):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.description = {**self.description, "backend": "hf_paged", "loop": "continuous batching"}

    def generate(self, prompts, max_new_tokens, batch_size, label="generate", on_batch=None, sampling=None, n=1,
                 chat_template="thesis", **request):
        if sampling or n > 1:
            return super().generate(prompts, max_new_tokens, batch_size, label=label, on_batch=on_batch,
                                    sampling=sampling, n=n, chat_template=chat_template, **request)
        from transformers import GenerationConfig

        from core.modeling import prompt_ids

        eos = self.tok.eos_token_id
        ids = [prompt_ids(self.tok, p, chat_template) for p in prompts]
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                               pad_token_id=self.tok.pad_token_id)
        results: list = []
        chunk = max(1, batch_size) * 8  # the scheduler batches within a chunk; chunks bound what a crash loses
        with progress_bar(label, len(ids)) as advance:
            for start in range(0, len(ids), chunk):
                part = ids[start:start + chunk]
                # LoRA layers sit inside the base's modules, so the base's loop runs the active adapter
                out = list(self.model.generate_batch(part, generation_config=cfg, progress_bar=False,
                                                     continuous_batching_config=cache_for(part, max_new_tokens)).values())
                done = [self._decode(list(r.generated_tokens), eos) for r in out]
                if len(done) != len(part):  # generate_batch logs a failure and returns what finished
                    done = [Completion("", 0, "continuous batching returned no result")] * len(part)
                results += done
                if on_batch:
                    on_batch(list(range(start, start + len(done))), done)
                advance(len(done))
        return results


def cache_for(prompts: list[list[int]], max_new_tokens: int):
    """A paged KV cache with room for every request of the chunk at once, and no more. Left to
    itself, transformers sizes the cache at 90% of the device's free memory: on a CPU that is the
    machine's RAM (`bench perf --quick` peaked at 14.5 GB of RSS for a 32-wide model).

    None (transformers' own sizing) where this transformers has no ContinuousBatchingConfig
    (before 5.8); the page size is read from the config, as it was ``block_size`` before 5.17."""
    try:
        from transformers.generation import ContinuousBatchingConfig
    except ImportError:
        return None
    cfg = ContinuousBatchingConfig()
    page = getattr(cfg, "page_size", None) or cfg.block_size
    cfg.num_blocks = max(1, sum(-(-(len(p) + max_new_tokens) // page) for p in prompts))
    return cfg
