"""In-process vLLM generation for GPU runs (optional extra: ``pip install -e '.[vllm]'``).

Same contract as ``HFBackend`` (use / generate / description). LoRA variants of one base are
served from one engine through ``LoRARequest``s, the vLLM way of sharing a base. Selected per
profile with ``generation: {backend: vllm}``. Untested here (no GPU on the development machines);
importing this module never imports vllm.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.errors import BadInput
from core.progress import progress_bar


class VLLMBackend:
    def __init__(self, base_spec, base_path: Optional[Path], max_lora_rank: int = 64,
                 tensor_parallel_size: int = 1):
        try:
            from vllm import LLM
        except ImportError:
            raise BadInput("the vllm backend needs the optional extra: pip install -e '.[vllm]' (GPU only)") from None
        source = str(base_path) if base_spec.kind == "tiny" else base_spec.id
        self.llm = LLM(model=source, revision=None if base_spec.kind == "tiny" else base_spec.revision,
                       enable_lora=True, max_lora_rank=max_lora_rank, tensor_parallel_size=tensor_parallel_size)
        self.tok = self.llm.get_tokenizer()
        self._lora = None
        self._ids: dict[str, int] = {}
        self.description = {"backend": "vllm", "tensor_parallel_size": tensor_parallel_size,
                            "dtype": str(self.llm.llm_engine.model_config.dtype)}

    def use(self, adapter: Optional[Path], key: Optional[str] = None) -> None:
        from vllm.lora.request import LoRARequest

        if adapter is None:
            self._lora = None
            return
        key = key or str(adapter)
        self._ids.setdefault(key, len(self._ids) + 1)
        self._lora = LoRARequest(key[:32], self._ids[key], str(adapter))

    def generate(self, prompts: list[list[dict]], max_new_tokens: int, batch_size: int, label: str = "generate",
                 on_batch=None, sampling: dict | None = None, n: int = 1, **_request) -> list:
        from vllm import SamplingParams

        texts = [self.tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        params = SamplingParams(n=n, max_tokens=max_new_tokens, **(sampling or {"temperature": 0.0}))
        results: list = []
        # vLLM schedules its own continuous batches; chunks only bound what a crash can lose
        chunk = max(batch_size * 8, 1)
        with progress_bar(label, len(texts)) as advance:
            for start in range(0, len(texts), chunk):
                outs = self.llm.generate(texts[start:start + chunk], params, lora_request=self._lora, use_tqdm=False)
                done = []
                for o in outs:
                    samples = [(c.text, len(c.token_ids)) for c in o.outputs]
                    done.append(samples if n > 1 else samples[0])
                results += done
                if on_batch:
                    on_batch(list(range(start, start + len(done))), done)
                advance(len(done))
        return results
