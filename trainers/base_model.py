"""The profile's base model: a hub id / local path, or the tiny Qwen3 built here.

The tiny base is built from a config with a byte-level BPE tokenizer trained locally, then fully
pretrained for a few minutes on plain question/answer text (no thesis tags). That stands in for
Qwen3-Base's pretraining: LoRA cannot teach arithmetic to random weights, so without it SFT
would have nothing to format and GRPO no signal.
"""
from __future__ import annotations

import math
import random
import re
from pathlib import Path

from harness.progress import progress_bar
from harness.registry import BaseSpec, DataSpec
from harness.thesis_format import SYSTEM_PROMPT, TAGS

from .chat import CHAT_TEMPLATE

SPECIALS = ["<|endoftext|>", "<|pad|>"]


def build_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Digits one by one (as Qwen does): arithmetic stays learnable for a tiny model.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=SPECIALS[0], pad_token=SPECIALS[1])
    fast.add_tokens(list(TAGS))  # not special: decoding keeps them
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    # `transformers serve` cuts the answer out of the rendered chat with this pattern; without it
    # it falls back to a ChatML anchor our template lacks and returns the prompt as the answer
    fast.response_template = {"start_anchor_pattern": r"\Z",
                              "fields": {"content": {"close_pattern": re.escape(SPECIALS[0]), "content": "text"}}}
    return fast


def build_tiny(spec: BaseSpec, data: DataSpec, out_dir: Path) -> dict:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from benchmarks.sources import synthetic_math

    held_out = data.sft_rows + data.grpo_rows + data.test_rows
    n_text = spec.pretrain_steps * spec.pretrain_batch // 4 + 64
    texts = synthetic_math.pretraining_text(data.seed, held_out, n_text)
    tok = build_tokenizer(texts + [SYSTEM_PROMPT] * 20, spec.vocab_size)
    torch.manual_seed(spec.seed)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=spec.hidden_size, num_hidden_layers=spec.layers,
                      num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads,
                      head_dim=spec.hidden_size // spec.heads, intermediate_size=spec.intermediate_size,
                      max_position_embeddings=1024, tie_word_embeddings=True,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    model = Qwen3ForCausalLM(cfg)
    loss = _pretrain(model, tok, texts, spec)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return {"pretrain_final_loss": loss, "parameters": sum(p.numel() for p in model.parameters()),
            "pretrain_texts": len(texts)}


def _pretrain(model, tok, texts: list[str], spec: BaseSpec) -> float:
    """nanoGPT-style loop: fixed-length windows over the tokenized corpus, AdamW, cosine decay."""
    import torch

    ids: list[int] = []
    for t in texts:
        ids += tok(t)["input_ids"] + [tok.eos_token_id]
    data = torch.tensor(ids)
    block = 128
    opt = torch.optim.AdamW(model.parameters(), lr=spec.pretrain_lr, weight_decay=0.01)
    rng = random.Random(spec.seed)
    model.train()
    loss_val = float("nan")
    with progress_bar("pretrain tiny base", spec.pretrain_steps) as advance:
        for step in range(spec.pretrain_steps):
            lr = spec.pretrain_lr * (min(1.0, (step + 1) / 50)) * 0.5 * (1 + math.cos(math.pi * step / spec.pretrain_steps))
            for g in opt.param_groups:
                g["lr"] = lr
            starts = [rng.randrange(0, len(data) - block - 1) for _ in range(spec.pretrain_batch)]
            x = torch.stack([data[s:s + block] for s in starts])
            out = model(input_ids=x, labels=x)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_val = out.loss.item()
            advance(loss=loss_val)
    model.eval()
    return loss_val


def load_base(spec: BaseSpec, path: Path | None):
    """(model, tokenizer) for the base: a built tiny checkpoint folder, or a hub id/local path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = str(path) if spec.kind == "tiny" else spec.id
    kwargs = {} if spec.kind == "tiny" else {"revision": spec.revision}
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype="auto", **kwargs)
    except OSError as exc:
        from harness.errors import BadInput

        raise BadInput(f"cannot load base model '{source}': {str(exc).splitlines()[0][:200]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.chat_template = CHAT_TEMPLATE  # the thesis SFT template, as the thesis scripts set it
    tok.padding_side = "left"
    return model, tok
