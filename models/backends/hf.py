"""transformers + peft generation: one loaded base shared by every LoRA variant (adapters are
loaded once and switched, not reloaded), length-bucketed left-padded batches, KV cache; greedy
unless sampling is asked for (a temperature > 0). On the device policy's device (``core.device``)
in its dtype. Prompts are rendered by ``core.modeling.render_prompt`` with the model's template.

Each batch is decoded by ``core.fast_decode`` (the CPU default) or HF ``generate``: the same batches, and
the same tokens (greedy and seeded sampling alike); ``fast`` drops finished rows, prefills each
prompt once for n > 1 and skips peft's per-call bookkeeping, ~1.5x faster on the tiny model."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.progress import progress_bar


class HFBackend:
    #: the decode loops: "fast" (``core.fast_decode``: finished rows leave the batch, one prefill per
    #: prompt, a reserved KV cache; token-identical output) or "generate" (HF ``generate`` per
    #: batch). The default is ``core.fast_decode.default_loop``: "fast" on a CPU, "generate" elsewhere.
    LOOPS = ("fast", "generate")

    def __init__(self, base_spec, base_path: Optional[Path], device: Optional[str] = None,
                 loop: Optional[str] = None):
        import torch

        from core.device import device as pick_device
        from core.fast_decode import default_loop
        from core.modeling import load_base

        self.device = device or pick_device()
        self.loop = loop or default_loop(self.device)
        if self.loop not in self.LOOPS:
            from core.errors import BadInput

            raise BadInput(f"hf backend: unknown decode loop {self.loop!r} (one of {', '.join(self.LOOPS)})")
        self.model, self.tok = load_base(base_spec, base_path, device=self.device)
        self.model.eval()
        self._adapters: dict[str, str] = {}
        self.description = {"backend": "hf", "device": self.device, "dtype": str(self.model.dtype),
                            "threads": torch.get_num_threads(), "loop": self.loop}

    def use(self, adapter: Optional[Path], key: Optional[str] = None) -> None:
        """Select the adapter for the next generations (None = the bare base)."""
        from peft import PeftModel

        if adapter is None:
            if hasattr(self.model, "disable_adapter_layers") and self._adapters:
                self.model.disable_adapter_layers()
            return
        key = key or str(adapter)
        name = f"a{len(self._adapters)}" if key not in self._adapters else self._adapters[key]
        if key not in self._adapters:
            if not isinstance(self.model, PeftModel):
                self.model = PeftModel.from_pretrained(self.model, str(adapter), adapter_name=name)
            else:
                self.model.load_adapter(str(adapter), adapter_name=name)
            self._adapters[key] = name
        self.model.enable_adapter_layers()
        self.model.set_adapter(name)
        self.model.eval()

    def generate(self, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
                 label: str = "generate", on_batch=None, sampling: dict | None = None, n: int = 1,
                 chat_template: str = "thesis", **_request) -> list:
        """Completions for chat prompts, as (text, completion tokens incl. EOS); greedy unless
        ``sampling`` asks for a temperature > 0; ``n`` > 1 returns n samples per prompt (a list
        per prompt). ``chat_template``: the model's template choice (``render_prompt``).

        ``on_batch(indices, results)`` is called after each batch so the caller can store it
        (a crash loses at most the batch in flight).
        """
        import torch

        from core.modeling import prompt_ids

        ids = [prompt_ids(self.tok, p, chat_template) for p in prompts]
        decode = decoding(sampling)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length buckets: little padding
        results: list[Optional[tuple[str, int]]] = [None] * len(ids)
        eos, pad = self.tok.eos_token_id, self.tok.pad_token_id
        with progress_bar(label, len(ids)) as advance, torch.inference_mode():
            # the fast loop drives a decoder-only forward (as generate() does for one); others keep generate()
            if self.loop == "fast" and not getattr(self.model.config, "is_encoder_decoder", False):
                from core.fast_decode import generate_all

                def store(idx, toks):
                    done = []
                    for i, samples in zip(idx, toks):
                        decoded = [self._decode(t, eos) for t in samples]
                        results[i] = decoded if n > 1 else decoded[0]
                        done.append(results[i])
                    if on_batch:
                        on_batch(idx, done)
                    advance(len(idx))

                generate_all(self.model, ids, order, batch_size, max_new_tokens, eos, pad, decode, n=n,
                             device=self.device, on_batch_ids=store)
                return results  # type: ignore[return-value]
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = self.tok.pad({"input_ids": [ids[i] for i in idx]}, padding=True, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                out = self.model.generate(**batch, max_new_tokens=max_new_tokens, eos_token_id=eos,
                                          pad_token_id=pad, use_cache=True, num_return_sequences=n, **decode)
                new = out[:, batch["input_ids"].shape[1]:].tolist()
                done = []
                for j, i in enumerate(idx):
                    samples = [self._decode(toks, eos) for toks in new[j * n:(j + 1) * n]]
                    results[i] = samples if n > 1 else samples[0]
                    done.append(results[i])
                if on_batch:
                    on_batch(idx, done)
                advance(len(idx))
        return results  # type: ignore[return-value]

    def _decode(self, toks: list[int], eos: int) -> tuple[str, int]:
        n = toks.index(eos) + 1 if eos in toks else len(toks)
        return self.tok.decode(toks[:n], skip_special_tokens=True), n


def decoding(sampling: dict | None) -> dict:
    """generate() arguments: sampling with the given settings when a temperature > 0 is asked
    for, else greedy (a temperature of 0 means greedy, as in the OpenAI and vLLM APIs). A
    ``seed`` seeds torch's generator here (generate() takes none), so a seeded cell repeats."""
    if not sampling or float(sampling.get("temperature", 1.0)) <= 0:
        return {"do_sample": False}
    settings = dict(sampling)
    seed = settings.pop("seed", None)
    if seed is not None:
        import torch

        torch.manual_seed(int(seed))
    return {"do_sample": True, **settings}
