"""Loading a model's weights (the profile's base: a hub id / local path, or the tiny Qwen3 built
here) and the pieces of the tiny base that are not training: its tokenizer and its config.

Training the tiny base (pretraining) is a trainer: ``trainers.pretrain``.
"""
from __future__ import annotations

import re
from pathlib import Path

from .config import BaseSpec
from .thesis_format import CHAT_TEMPLATE, TAGS

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


def load_base(spec: BaseSpec, path: Path | None):
    """(model, tokenizer) for the base: a built tiny checkpoint folder, or a hub id/local path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = str(path) if spec.kind == "tiny" else spec.id
    kwargs = {} if spec.kind == "tiny" else {"revision": spec.revision}
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype="auto", **kwargs)
    except OSError as exc:
        from core.errors import BadInput

        raise BadInput(f"cannot load base model '{source}': {str(exc).splitlines()[0][:200]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.chat_template = CHAT_TEMPLATE  # the thesis SFT template, as the thesis scripts set it
    tok.padding_side = "left"
    return model, tok


def tiny_config(spec: BaseSpec, tok):
    """The tiny base's Qwen3 config: the architecture of Qwen3, scaled to the profile's spec."""
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=len(tok), hidden_size=spec.hidden_size, num_hidden_layers=spec.layers,
                       num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads,
                       head_dim=spec.hidden_size // spec.heads, intermediate_size=spec.intermediate_size,
                       max_position_embeddings=1024, tie_word_embeddings=True,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
