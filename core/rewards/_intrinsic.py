"""Intrinsic signals from the current policy: answer certainty, sequence confidence, entropy
confidence — from batched no-grad forwards over prompt + completion, on the policy's device.

The forward is split into micro-batches of at most ``token_budget`` (padded) tokens: a GRPO
batch of a 4B model (96 completions × ~2k tokens) does not fit one forward. Each sequence is
scored on its own row with right padding, so the split changes no reward.

Wiring: after building the GRPO trainer, call ``bind_policy(trainer.model, tokenizer)`` (a PEFT
model is fine). The intrinsic rewards then read the bound policy on every call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ._common import completion_texts
from ._format import register_eos_token, solution_span


class _LazyTorch:
    """torch, imported on first use: the reward registry is imported to validate registry.yaml,
    and `bench models` / a fully cached `bench run` should not pay torch's ~1 s import."""

    def __getattr__(self, name):
        import torch as _torch

        return getattr(_torch, name)


torch = _LazyTorch()

DEFAULT_CHUNK_SIZE = 256
DEFAULT_TOKEN_BUDGET = 16384


@dataclass
class _Policy:
    model: Any
    tokenizer: Any
    chunk_size: int | None
    chat_template_kwargs: dict
    max_prompt_length: int | None
    token_budget: int | None = DEFAULT_TOKEN_BUDGET


_POLICY: _Policy | None = None


def bind_policy(
    model,
    tokenizer,
    *,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    chat_template_kwargs: dict | None = None,
    max_prompt_length: int | None = None,
    token_budget: int | None = DEFAULT_TOKEN_BUDGET,
) -> None:
    """Bind the policy whose token probabilities the intrinsic rewards use (the trainer's model,
    PEFT or not, and its tokenizer). chunk_size: positions per log-softmax chunk (None: all).
    chat_template_kwargs / max_prompt_length: give the trainer's own, so the re-tokenized prompt
    matches what the policy was conditioned on (prompts are truncated from the left).
    token_budget: padded tokens per forward micro-batch (None: one forward for the whole call).
    bind_policy(None, ...) unbinds."""
    global _POLICY
    if model is None:
        _POLICY = None
        return
    _POLICY = _Policy(model, tokenizer, chunk_size, dict(chat_template_kwargs or {}), max_prompt_length, token_budget)
    register_eos_token(getattr(tokenizer, "eos_token", None))


def unbind_policy() -> None:
    global _POLICY
    _POLICY = None


def bound_policy() -> _Policy:
    if _POLICY is None:
        raise RuntimeError(
            "intrinsic rewards need the current policy: call "
            "core.rewards.bind_policy(model, tokenizer) after building the trainer"
        )
    return _POLICY


@dataclass
class TokenSignals:
    answer_certainty: list[float]  # exp(mean log p) over solution-span tokens; 0 without solution
    sequence_confidence: list[float]  # exp(mean log p) over all completion tokens
    entropy_confidence: list[float]  # 1 - mean next-token entropy over the sequence / ln(vocab)


# ---------------------------------------------------------------- text <-> tokens


def decode_completion(tokenizer, ids: Sequence[int]) -> str:
    """How TRL turns completion ids into text (special tokens skipped)."""
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _first_true(pred: Callable[[int], bool], n: int) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def char_span_to_token_span(tokenizer, ids: Sequence[int], span: tuple[int, int] | None) -> tuple[int, int] | None:
    """Token span [first, stop) of the tokens overlapping char span [s, e) of
    decode_completion(tokenizer, ids). Uses prefix decodes (exact for byte-level BPE, whose single
    tokens may hold partial UTF-8 characters) located by bisection: O(log n) decodes."""
    if span is None or span[1] <= span[0] or not ids:
        return None
    ids = list(ids)
    s, e = span

    def char_end(i: int) -> int:  # chars decoded through token i
        return len(decode_completion(tokenizer, ids[: i + 1]))

    first = _first_true(lambda i: char_end(i) > s, len(ids))
    if first == len(ids):
        return None
    # the last token is the one that completes char e-1 (a char split over byte tokens decodes as
    # U+FFFD until its final byte arrives), so compare decoded text, not just lengths
    head = decode_completion(tokenizer, ids)[:e]
    last = _first_true(lambda i: decode_completion(tokenizer, ids[: i + 1])[:e] == head, len(ids))
    if last == len(ids):  # decoder not prefix-stable: fall back to lengths
        last = _first_true(lambda i: char_end(i) >= e, len(ids))
    return first, min(last, len(ids) - 1) + 1


def encode_prompts(tokenizer, prompts: Sequence[Any], max_length: int | None = None, **chat_template_kwargs) -> list[list[int]]:
    """Prompt ids as TRL builds them: chat template with add_generation_prompt=True for message
    lists, plain strings as-is; no extra special tokens; optional left truncation to max_length.
    TRL renders with the tokenizer's own template (the trainers set it to the thesis one with
    ``core.modeling.use_thesis_template``), so this mirrors TRL rather than taking a choice."""
    cache: dict[str, list[int]] = {}
    out = []
    for p in prompts:
        text = (
            p
            if isinstance(p, str)
            else tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True, **chat_template_kwargs)
        )
        if text not in cache:
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            cache[text] = ids[-max_length:] if max_length else ids
        out.append(cache[text])
    return out


# ---------------------------------------------------------------- the forward


def _hidden_and_head(model, input_ids, attention_mask):
    """Last hidden states + output head, so the vocabulary projection can be chunked. Falls back
    to full logits (head = identity) when the model does not expose its decoder and head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if head is not None and decoder is not None and decoder is not model:
        out = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        if hidden.shape[-1] == getattr(head, "in_features", hidden.shape[-1]):
            cap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
            if cap:
                return hidden, lambda h: torch.tanh(head(h) / cap) * cap
            return hidden, head
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.logits, lambda x: x


def _model_device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def micro_batches(lengths: Sequence[int], token_budget: int | None) -> list[list[int]]:
    """Consecutive groups of sequence indices whose padded size (rows × longest) stays within
    ``token_budget``; a sequence longer than the budget forms its own group. None: one group."""
    if not token_budget:
        return [list(range(len(lengths)))] if lengths else []
    groups: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i, n in enumerate(lengths):
        if cur and (len(cur) + 1) * max(longest, n) > token_budget:
            groups.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        groups.append(cur)
    return groups


def token_signals(
    prompt_ids: Sequence[Sequence[int]] | None,
    completion_ids: Sequence[Sequence[int]],
    solution_char_spans: Sequence[tuple[int, int] | None] | None = None,
    *,
    solution_token_spans: Sequence[tuple[int, int] | None] | None = None,
    model=None,
    tokenizer=None,
    chunk_size: int | None | str = "bound",
    token_budget: int | None | str = "bound",
) -> TokenSignals:
    """The three intrinsic signals for a batch, from no-grad forwards of at most
    ``token_budget`` padded tokens each (see ``micro_batches``).

    solution_char_spans are char spans in decode_completion(tokenizer, completion_ids[i]) (see
    solution_span); alternatively give solution_token_spans [first, stop) in completion tokens.
    Without prompt ids the first completion token has no context and is not scored.
    model/tokenizer/chunk_size/token_budget default to the bound policy's."""
    if model is None:
        policy = bound_policy()
        model = policy.model
        tokenizer = tokenizer if tokenizer is not None else policy.tokenizer
        chunk_size = policy.chunk_size if chunk_size == "bound" else chunk_size
        token_budget = policy.token_budget if token_budget == "bound" else token_budget
    else:
        chunk_size = DEFAULT_CHUNK_SIZE if chunk_size == "bound" else chunk_size
        token_budget = DEFAULT_TOKEN_BUDGET if token_budget == "bound" else token_budget
    if tokenizer is None and solution_token_spans is None and solution_char_spans is not None:
        raise ValueError("mapping solution_char_spans to tokens needs the tokenizer")
    n = len(completion_ids)
    prompt_ids = [[] for _ in range(n)] if prompt_ids is None else prompt_ids
    if solution_token_spans is None:
        spans = solution_char_spans if solution_char_spans is not None else [None] * n
        solution_token_spans = [char_span_to_token_span(tokenizer, ids, sp) for ids, sp in zip(completion_ids, spans)]
    if n == 0:
        return TokenSignals([], [], [])

    seqs = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids)]
    lengths = [len(s) for s in seqs]
    pad_id = getattr(tokenizer, "pad_token_id", None)
    pad_id = pad_id if pad_id is not None else (getattr(tokenizer, "eos_token_id", None) or 0)

    # flat row r = real position; target[r] = the next token when it is a completion token
    offsets = [0]
    for length in lengths:
        offsets.append(offsets[-1] + length)
    target_list = [-1] * offsets[-1]
    for b, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        start = 1 if len(p) == 0 else 0
        first_row = offsets[b] + len(p) + start - 1
        target_list[first_row : first_row + len(c) - start] = [int(t) for t in c[start:]]
    targets = torch.tensor(target_list, dtype=torch.long)
    token_logp = torch.zeros(offsets[-1], dtype=torch.float32)
    entropy = torch.zeros(offsets[-1], dtype=torch.float32)

    was_training = model.training
    model.eval()
    vocab = None
    try:
        with torch.no_grad():
            for group in micro_batches(lengths, token_budget):
                # the group's sequences are consecutive, so their flat rows are one slice
                lo, hi = offsets[group[0]], offsets[group[-1] + 1]
                vocab = _forward_group(model, [seqs[b] for b in group], pad_id, chunk_size,
                                       targets[lo:hi], token_logp[lo:hi], entropy[lo:hi])
    finally:
        model.train(was_training)

    def geo_mean(rows: list[int]) -> float:
        return math.exp(token_logp[rows].mean().item()) if rows else 0.0

    answer, sequence, ent_conf = [], [], []
    log_vocab = math.log(vocab) if vocab and vocab > 1 else 1.0
    for b, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        start = 1 if len(p) == 0 else 0
        row = lambda k: offsets[b] + len(p) + k - 1  # noqa: E731  row scoring completion token k
        sequence.append(geo_mean([row(k) for k in range(start, len(c))]))
        span = solution_token_spans[b]
        answer.append(geo_mean([row(k) for k in range(max(span[0], start), span[1])]) if span else 0.0)
        ent_rows = entropy[offsets[b] : offsets[b + 1]]
        ent_conf.append(1.0 - ent_rows.mean().item() / log_vocab if len(ent_rows) else 0.0)
    return TokenSignals(answer, sequence, ent_conf)


def policy_signals(prompts, completions, completion_ids=None) -> TokenSignals:
    """Signals for a TRL reward call: uses TRL's completion_ids when given, else tokenizes the
    completion text; prompts are re-tokenized (chat template + generation prompt for messages).
    The solution span is located in the decoded completion ids."""
    policy = bound_policy()
    tok = policy.tokenizer
    if completion_ids is None:
        completion_ids = [list(tok(t, add_special_tokens=False)["input_ids"]) for t in completion_texts(completions)]
    prompt_ids = (
        encode_prompts(tok, prompts, policy.max_prompt_length, **policy.chat_template_kwargs)
        if prompts is not None
        else None
    )
    spans = [solution_span(decode_completion(tok, ids)) for ids in completion_ids]
    return token_signals(prompt_ids, completion_ids, spans, model=policy.model, tokenizer=tok, chunk_size=policy.chunk_size,
                         token_budget=policy.token_budget)


def _forward_group(model, seqs: list[list[int]], pad_id: int, chunk_size, targets, token_logp, entropy):
    """One no-grad forward over ``seqs`` (right-padded: default position ids stay correct);
    fills ``token_logp`` / ``entropy`` (views over the group's flat rows). Returns the vocab size."""
    device = _model_device(model)
    width = max(max(len(s) for s in seqs), 1)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for b, s in enumerate(seqs):
        input_ids[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        attention_mask[b, : len(s)] = 1
    mask = attention_mask.to(device)
    hidden, head = _hidden_and_head(model, input_ids.to(device), mask)
    flat = hidden[mask.bool()]  # (N, H) in b-major order
    total = flat.shape[0]
    step = max(total if not chunk_size else int(chunk_size), 1)
    vocab = None
    for s in range(0, total, step):
        logits = head(flat[s : s + step]).float()
        vocab = logits.shape[-1]
        logp = torch.log_softmax(logits, dim=-1)
        p = logp.exp()
        entropy[s : s + step] = -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1).cpu()
        tgt = targets[s : s + step]
        valid = tgt >= 0
        if valid.any():
            rows = valid.nonzero().squeeze(-1)
            token_logp[s + rows] = logp[rows.to(logp.device), tgt[rows].to(logp.device)].cpu()
    return vocab
