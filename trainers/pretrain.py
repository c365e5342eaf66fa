"""Build the tiny base: a Qwen3 from a config with a locally trained tokenizer, pretrained from scratch.

The pretraining stands in for Qwen3-Base's: LoRA cannot teach arithmetic to random weights, so
without it SFT would have nothing to format and GRPO no signal. nanoGPT-style loop: fixed-length
windows over the tokenized corpus, AdamW, cosine decay.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

from core.config import BaseSpec, DataSpec
from core.modeling import build_tokenizer, tiny_config
from core.progress import progress_bar
from core.sources import synthetic_math
from core.thesis_format import SYSTEM_PROMPT


def build_tiny(spec: BaseSpec, data: DataSpec, out_dir: Path) -> dict:
    import torch
    from transformers import Qwen3ForCausalLM

    held_out = data.sft_rows + data.grpo_rows + data.test_rows
    n_text = spec.pretrain_steps * spec.pretrain_batch // 4 + 64
    texts = synthetic_math.pretraining_text(data.seed, held_out, n_text)
    tok = build_tokenizer(texts + [SYSTEM_PROMPT] * 20, spec.vocab_size)
    torch.manual_seed(spec.seed)
    model = Qwen3ForCausalLM(tiny_config(spec, tok))
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
