"""A decode loop around a causal LM's forward: what HF ``generate`` computes for one left-padded
batch, without the work that does not change the result. The hf backend decodes with it, and the
GRPO trainers sample their rollouts with it (``rollout_generate`` stands in for TRL's
``model.generate`` call; BFCL GRPO calls ``generate_batch``), on CPUs: ``default_loop``.

- **Finished rows leave the batch.** ``generate`` keeps computing a row that emitted EOS until the
  last row of its batch ends (in-domain completions average ~47 of 72 tokens); here finished rows
  are dropped from the inputs and from the KV cache every ``compact_every`` steps.
- **Each prompt is prefilled once.** For n > 1 samples ``generate`` repeats the inputs before the
  prefill; here the prompt is prefilled once and its cache rows repeated. Greedy n > 1 decodes each
  prompt once and repeats the completion (greedy copies are equal by definition).
- **A growing cache without quadratic copying.** ``DynamicCache`` concatenates every step (O(L^2)
  bytes copied over a completion); ``_ReservedLayer`` writes into room reserved for the whole
  completion and hands attention the filled part, the same shape and values as the concatenation.

What stays exactly as ``generate`` does it, so greedy completions are token-identical: the batch
(same rows, same left padding), position ids (``cumsum(mask) - 1``, 0 on padding; +1 per step), the
2-D attention mask (dropped when there is no padding, as ``generate`` drops it), ``logits_to_keep=1``,
fp32 logits, and the logits processors, which are HF's own (``_get_logits_processor`` on the merged
generation config), so sampling (temperature, top_k, top_p, min_p) is processed as HF processes it.
Sampling draws from torch's global generator (seeded by ``decoding()``) over the full batch, dropped
rows included, so a seeded call repeats and draws what ``generate`` draws: sampled completions are
token-identical to ``generate``'s too wherever the logits are.
"""
from __future__ import annotations

from contextlib import nullcontext


def _reserved_layer_class():
    from transformers.cache_utils import DynamicLayer

    class _ReservedLayer(DynamicLayer):
        """A DynamicLayer whose keys/values live in a buffer with room for ``reserve`` more tokens:
        ``keys``/``values`` are views of the filled part (what the concatenation would return)."""

        def __init__(self, reserve: int):
            super().__init__()
            self.reserve = reserve
            self.length = 0

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.device = key_states.device
                self.is_initialized = True
                self._k = self._v = None
            new = key_states.shape[-2]
            if self._k is None or self.length + new > self._k.shape[-2]:
                self._grow(key_states, value_states, self.length + new + self.reserve)
            self._k[..., self.length:self.length + new, :] = key_states
            self._v[..., self.length:self.length + new, :] = value_states
            self.length += new
            self.keys, self.values = self._k[..., :self.length, :], self._v[..., :self.length, :]
            return self.keys, self.values

        def _grow(self, k, v, capacity: int) -> None:
            shape = (*k.shape[:-2], capacity, k.shape[-1])
            big_k, big_v = k.new_empty(shape), v.new_empty(shape)
            if self._k is not None:
                big_k[..., :self.length, :] = self._k[..., :self.length, :]
                big_v[..., :self.length, :] = self._v[..., :self.length, :]
            self._k, self._v = big_k, big_v

        def get_seq_length(self) -> int:
            return self.length

        def batch_select_indices(self, indices) -> None:
            if self.length > 0:
                self._k, self._v = self._k[indices], self._v[indices]
                self.keys, self.values = self._k[..., :self.length, :], self._v[..., :self.length, :]

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.length > 0:
                self._k = self._k.repeat_interleave(repeats, dim=0)
                self._v = self._v.repeat_interleave(repeats, dim=0)
                self.keys, self.values = self._k[..., :self.length, :], self._v[..., :self.length, :]

    return _ReservedLayer


def new_cache(model, reserve: int, reserved: bool = True):
    """A DynamicCache for ``model``; its plain (full-attention) layers reserve room for ``reserve``
    tokens past the prefill. Sliding-window or other special layers stay HF's own."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    cache = DynamicCache(config=model.config)
    if reserved and cache.layers:
        cls = _reserved_layer_class()
        cache.layers = [cls(reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def default_loop(device) -> str:
    """``"fast"`` on a CPU, where `bench perf` (decode_paths) measured it faster with identical
    completions; ``"generate"`` elsewhere (on an H100 it was slower) until a GPU run shows otherwise."""
    return "fast" if str(device).startswith("cpu") else "generate"


def processors(model, decode: dict, prompt_len: int, device, config=None):
    """HF's logits processors for these generate() arguments (``config``: a GenerationConfig passed
    as ``generate(generation_config=...)``), merged with the model's generation config exactly as
    ``generate`` merges them."""
    config, _ = model._prepare_generation_config(config, **decode)
    # as generate() does before building them: EOS-aware processors (min_length, ...) read tensors
    model._prepare_special_tokens(config, True, device=device)
    procs = model._get_logits_processor(generation_config=config, input_ids_seq_length=prompt_len,
                                        encoder_input_ids=None, prefix_allowed_tokens_fn=None,
                                        logits_processor=None, device=device, model_kwargs={})
    return procs, bool(config.do_sample)


def generate_batch(model, prompts: list[list[int]], max_new_tokens: int, eos, pad: int, decode: dict,
                   n: int = 1, device="cpu", compact_every: int = 4, reserved: bool = True,
                   config=None) -> list[list[int]]:
    """Completion token ids for one batch of prompt ids (as generate() returns them after the prompt,
    cut after EOS), ``n`` per prompt in prompt order (len(prompts) * n lists). ``eos``: one id or
    several (any of them ends a row, as generate() stops on any of a config's EOS ids);
    ``config``: a GenerationConfig that ``decode`` is merged into, as generate() merges it."""
    import torch

    stops = {int(eos)} if isinstance(eos, int) else {int(e) for e in eos}
    stop_ids = torch.tensor(sorted(stops), dtype=torch.long, device=device)
    do_sample = bool(decode.get("do_sample"))
    rows = len(prompts)
    width = max(len(p) for p in prompts)
    ids = torch.full((rows, width), pad, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for r, p in enumerate(prompts):  # left padding, as tok.pad(padding_side="left") lays it out
        ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[r, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    padded = not bool((mask == 1).all())  # generate() drops an all-ones mask (faster mask creation)
    procs, do_sample = processors(model, {**decode, "eos_token_id": eos, "pad_token_id": pad,
                                          "max_new_tokens": max_new_tokens}, width, device, config)
    cache = new_cache(model, max_new_tokens, reserved)
    keep = {"logits_to_keep": 1} if model._supports_logits_to_keep() else {}  # as generate() decides
    out = model(input_ids=ids, attention_mask=mask if padded else None, position_ids=positions, cache=cache,
                use_cache=True, return_dict=True, **keep)
    logits = out.logits[:, -1].to(dtype=torch.float32, copy=True)
    del out
    copies = n if do_sample else 1  # greedy copies are equal: decode once, repeat the completion
    if copies > 1:
        cache.batch_repeat_interleave(copies)
        logits = logits.repeat_interleave(copies, dim=0)
        mask, positions, ids = (t.repeat_interleave(copies, dim=0) for t in (mask, positions, ids))
    total = rows * copies
    seqs = ids  # what the processors see (prompt + generated so far), per live row
    live = torch.arange(total, device=device)  # which original row each batch row is
    done = torch.zeros(total, dtype=torch.bool, device=device)
    tokens: list[list[int]] = [[] for _ in range(total)]
    next_pos = positions[:, -1:]
    step_mask = mask
    everyone = None  # sampling: the probabilities of all ``total`` rows
    for step in range(max_new_tokens):
        scores = procs(seqs, logits) if len(procs) else logits
        if do_sample:
            # drawn over every row generate() would still hold, dropped ones included (their last
            # distribution stands in): multinomial takes one uniform per row whatever the values,
            # so each live row gets the very draw it gets in generate() with the same seed
            probs = torch.softmax(scores, dim=-1)
            if everyone is None:
                everyone = probs.new_zeros((total, probs.shape[-1]))
            everyone[live] = probs
            nxt = torch.multinomial(everyone, num_samples=1).squeeze(1)[live]
        else:
            nxt = torch.argmax(scores, dim=-1)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)  # as generate(): finished rows get pad
        for r, t in zip(live.tolist(), nxt.tolist()):
            if not tokens[r] or tokens[r][-1] not in stops:
                tokens[r].append(t)
        done = done | torch.isin(nxt, stop_ids)
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        if len(procs):  # only processors read the sequence so far
            seqs = torch.cat([seqs, nxt[:, None]], dim=-1)
        next_pos = next_pos + 1
        if padded:
            step_mask = torch.cat([step_mask, step_mask.new_ones((step_mask.shape[0], 1))], dim=-1)
        if (step + 1) % compact_every == 0 and bool(done.any()):
            alive = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(alive)
            seqs, nxt, next_pos, live, done = seqs[alive], nxt[alive], next_pos[alive], live[alive], done[alive]
            if padded:
                step_mask = step_mask[alive]
        out = model(input_ids=nxt[:, None], attention_mask=step_mask if padded else None, position_ids=next_pos,
                    cache=cache, use_cache=True, return_dict=True, **keep)
        logits = out.logits[:, -1].to(dtype=torch.float32, copy=True)
        del out
    if copies == 1 and n > 1:
        return [list(tokens[r]) for r in range(rows) for _ in range(n)]
    return tokens


def generate_all(model, ids: list[list[int]], order: list[int], batch_size: int, max_new_tokens: int, eos: int,
                 pad: int, decode: dict, n: int = 1, device="cpu", on_batch_ids=None,
                 reserved: bool = True, lean: bool = True) -> dict[int, list[list[int]]]:
    """Every prompt in ``order``, batched ``batch_size`` prompts at a time as the padded path batches
    them; ``on_batch_ids(idx, completions)`` after each batch. Returns prompt index -> n token lists."""
    from .lean_lora import lean_lora

    result: dict[int, list[list[int]]] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        with lean_lora(model) if lean else nullcontext():  # not around on_batch: the caller's code runs peft's own
            toks = generate_batch(model, [ids[i] for i in idx], max_new_tokens, eos, pad, decode, n=n,
                                  device=device, reserved=reserved)
        part = {i: toks[j * n:(j + 1) * n] for j, i in enumerate(idx)}
        result.update(part)
        if on_batch_ids:
            on_batch_ids(idx, [part[i] for i in idx])
    return result


def rollout_generate(model, input_ids=None, attention_mask=None, generation_config=None, **kwargs):
    """``model.generate(input_ids, attention_mask=..., generation_config=...)`` by the fast loop:
    the same tensor generate() returns (the prompts, then each row's completion, ``pad`` after its
    EOS), the same tokens. TRL's GRPOTrainer calls ``generate`` this way for its rollouts.

    It covers a left-padded batch of plain sampling or greedy search with ``max_new_tokens`` (what
    GRPO asks for); beam search, assistant models, streamers, stop strings, ``return_dict_in_generate``
    or any other argument go to generate() itself."""
    import torch
    from transformers import GenerationConfig

    from .lean_lora import lean_lora

    def fallback():
        return type(model).generate(model, input_ids=input_ids, attention_mask=attention_mask,
                                    generation_config=generation_config, **kwargs)

    if kwargs or input_ids is None or input_ids.dim() != 2:
        return fallback()
    config, _ = model._prepare_generation_config(
        generation_config if generation_config is not None else GenerationConfig())
    plain = (config.num_beams == 1 and config.max_new_tokens and config.eos_token_id is not None
             and config.pad_token_id is not None and not config.stop_strings and not config.return_dict_in_generate
             and config.cache_implementation is None and getattr(config, "assistant_model", None) is None
             and not getattr(config, "prompt_lookup_num_tokens", None))
    mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
    filled = mask.sum(-1)
    left_padded = bool((mask.flip(-1).cumprod(-1).sum(-1) == filled).all()) and bool((filled > 0).all())
    if not plain or not left_padded:
        return fallback()
    width = input_ids.shape[1]
    prompts = [row[width - int(k):].tolist() for row, k in zip(input_ids, filled)]
    n = config.num_return_sequences or 1
    # TRL repeats each prompt num_generations times in a row: prefill it once (generate_batch's n)
    k = _runs(prompts)
    # as generate() runs: without autograd. The lean LoRA forward reads the weights as they are now.
    with torch.no_grad(), lean_lora(model):
        # the caller's config, not the merged one: generate_batch merges it as generate() does
        tokens = generate_batch(model, prompts[::k], config.max_new_tokens, config.eos_token_id, config.pad_token_id,
                                {}, n=n * k, device=input_ids.device, config=generation_config)
    longest = max((len(t) for t in tokens), default=0)
    completion = torch.full((len(tokens), longest), config.pad_token_id, dtype=input_ids.dtype, device=input_ids.device)
    for r, t in enumerate(tokens):
        completion[r, :len(t)] = torch.tensor(t, dtype=input_ids.dtype)
    return torch.cat([input_ids.repeat_interleave(n, dim=0), completion], dim=-1)


def _runs(rows: list[list[int]]) -> int:
    """The largest k such that the rows are runs of k equal rows (1 when there are none)."""
    for k in range(len(rows), 1, -1):
        if len(rows) % k == 0 and all(rows[i] == rows[i - i % k] for i in range(len(rows))):
            return k
    return 1


def use_fast_rollouts(model, device) -> bool:
    """Make ``model.generate`` (an attribute of this instance only) the fast loop where
    ``default_loop(device)`` picks it. True when it did."""
    import functools

    if default_loop(device) != "fast" or getattr(model.config, "is_encoder_decoder", False):
        return False
    model.generate = functools.partial(rollout_generate, model)
    return True
