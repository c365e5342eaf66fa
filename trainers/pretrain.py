"""Build the tiny base: a Qwen3 from a config with a locally trained tokenizer, pretrained from scratch.

The pretraining stands in for Qwen3-Base's: LoRA cannot teach arithmetic to random weights, so
without it SFT would have nothing to format and GRPO no signal. nanoGPT-style loop: fixed-length
windows over the tokenized corpus, AdamW, cosine decay. It runs on the device policy's device
(``core.device``): a Qwen3-1.7B-shaped base did not finish 30 steps in 6.5 minutes on a CPU
beside an idle H100. Weights stay float32 (they are saved and loaded by every later stage); on
a bf16 GPU the forward runs under bf16 autocast.
"""
from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path

from core.config import BaseSpec, DataSpec
from core.modeling import build_tokenizer, tiny_config
from core.progress import progress_bar
from core.sources import pretraining_corpus, synthetic_math
from core.thesis_format import SYSTEM_PROMPT

from . import copying


def build_tiny(spec: BaseSpec, data: DataSpec, out_dir: Path, threads: int | None = None) -> dict:
    """Pretrain and save the tiny base. ``threads``: intra-op threads of the training loops on a
    CPU; by default every core (``core.device.solo_threads``), as nothing else of a run can start
    before the base exists."""
    import time

    import torch
    from transformers import Qwen3ForCausalLM

    from core.device import device, intra_op_threads, solo_threads

    from .callbacks import stage_device

    dev = device()
    n_text = spec.pretrain_steps * spec.pretrain_batch * spec.pretrain_block // 512 + 64
    if spec.pretrain_corpus == "mixed":
        texts = pretraining_corpus.texts(data, n_text, draw=spec.pretrain_corpus_draw, calls=spec.pretrain_calls)
    else:  # the arithmetic text alone, after the held-out rows: the base never sees a test problem
        texts = synthetic_math.pretraining_text(data.seed, data.sft_rows + data.grpo_rows + data.test_rows, n_text)
    tok = build_tokenizer(texts + [SYSTEM_PROMPT] * 20, spec.vocab_size)
    torch.manual_seed(spec.seed)
    model = Qwen3ForCausalLM(tiny_config(spec, tok)).to(dev)
    copy_loss = None
    started = time.perf_counter()
    with intra_op_threads(threads or solo_threads()) if dev == "cpu" else contextlib.nullcontext():
        if spec.pretrain_copy_steps:
            with progress_bar("copy warm-up (induction)", spec.pretrain_copy_steps) as advance:
                copy_loss = copying.warm_up(model, len(tok), spec.pretrain_copy_steps, dev, advance)
        loss = _pretrain(model, tok, texts, spec, dev)
        torch_threads = torch.get_num_threads()
    seconds = time.perf_counter() - started
    model.to("cpu")  # saved from the CPU: the files are the same whatever device trained them
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    extra = {"copy_warmup_final_loss": copy_loss} if copy_loss is not None else {}
    return {"pretrain_final_loss": loss, **extra, "parameters": sum(p.numel() for p in model.parameters()),
            "pretrain_texts": len(texts), "pretrain_seconds": round(seconds, 1), "pretrain_threads": torch_threads,
            "device": {**stage_device(dev), "weights_dtype": "float32"}}


def _pretrain(model, tok, texts: list[str], spec: BaseSpec, dev: str = "cpu") -> float:
    """nanoGPT-style loop: fixed-length windows over the tokenized corpus, AdamW, cosine decay;
    ``pretrain_copy_rows`` rows of each batch are copying rows (trainers/copying.py)."""
    import torch

    from core.device import dtype

    ids: list[int] = []
    doc_starts: list[int] = []
    for t in texts:
        doc_starts.append(len(ids))
        ids += tok(t)["input_ids"] + [tok.eos_token_id]
    data = torch.tensor(ids)  # stays on the CPU: windows are cut here, each batch is moved
    amp = dtype(dev)
    autocast = (lambda: torch.autocast("cuda", dtype=amp)) if amp != torch.float32 else contextlib.nullcontext
    block = spec.pretrain_block
    opt = torch.optim.AdamW(model.parameters(), lr=spec.pretrain_lr, weight_decay=0.01)
    rng = random.Random(spec.seed)
    copy_gen = torch.Generator().manual_seed(99)
    mix = spec.pretrain_copy_rows
    model.train()
    loss_val = float("nan")
    with progress_bar("pretrain tiny base", spec.pretrain_steps) as advance:
        for step in range(spec.pretrain_steps):
            lr = spec.pretrain_lr * (min(1.0, (step + 1) / 50)) * 0.5 * (1 + math.cos(math.pi * step / spec.pretrain_steps))
            for g in opt.param_groups:
                g["lr"] = lr
            if spec.pretrain_windows == "document":  # drawn from 4x as many: a start too near the end is dropped
                starts = [s for s in (rng.choice(doc_starts) for _ in range(4 * spec.pretrain_batch))
                          if s < len(data) - block - 1][:spec.pretrain_batch]
            else:
                starts = [rng.randrange(0, len(data) - block - 1) for _ in range(spec.pretrain_batch)]
            x = torch.stack([data[s:s + block] for s in starts])
            y = x
            if mix:  # the batch's last rows become copying rows
                cx, cy = copying.copy_rows(mix, block, len(tok), copy_gen)
                x, y = torch.cat([x[:-mix], cx]), torch.cat([y[:-mix], cy])
            loss_val = copying.train_step(model, opt, x.to(dev), y.to(dev), autocast)
            advance(loss=loss_val)
    model.eval()
    return loss_val
