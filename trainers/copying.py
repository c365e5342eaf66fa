"""Synthetic copying rows for the tiny base's pretraining: random token sequences, each written twice.

Why: answering from the prompt means copying a span seen earlier in the context — the listed
function's name in BFCL, the number a yes/no question claims. A transformer does that with an
induction head (find the earlier occurrence of the current token, copy the token after it). The
tiny base's corpus never formed one in 1,200 steps, and neither did a corpus of word repeats at
random distances (docs/tiny-experiments.md, section 2). On these rows the first copy is unpredictable and
only the second is scored, at a distance that changes from segment to segment, so the only way
down the loss is content-based copying: 4 layers of 128 start forming it after ~900 steps of 16 rows
× 128 tokens at lr 1e-3 (the repeat loss falls from 6.9, chance, to 4.9 by step 1,000 and 2.8 by 3,500). It stands in for
the copying Qwen3-Base learns from web text, which a few million tokens of the corpus cannot teach.
"""
from __future__ import annotations

import contextlib
import math

WARMUP_ROWS, WARMUP_LENGTH = 16, 128  # the shape the copying formed in (docs/tiny-experiments.md, section 3)
WARMUP_LR = 1e-3  # at 3e-3 a 2-layer check still sat at loss 6.0 after 1,500 steps; at 1e-3 it formed by ~900
SEGMENT = (8, 40)  # sequence lengths drawn per segment: the copy's distance varies with them
# ids 0 and 1 are the special tokens (core.modeling.SPECIALS) and are never drawn; id 2 (a plain
# byte) was left out too when the figures of docs/tiny-experiments.md were measured, and stays out so they reproduce
FIRST_ID = 3


def copy_rows(n: int, length: int, vocab: int, generator):
    """``n`` rows of ``length`` tokens: back-to-back segments, each a random sequence then the
    same again. Returns (input ids, labels); labels are -100 except on a repeat's tokens after its
    first (the first follows the other copy's last token, which no rule predicts)."""
    import torch

    rows, labels = [], []
    for _ in range(n):
        row, label = [], []
        while len(row) < length:
            size = int(torch.randint(SEGMENT[0], SEGMENT[1] + 1, (1,), generator=generator))
            seq = torch.randint(FIRST_ID, vocab, (size,), generator=generator).tolist()
            row += seq + seq
            label += [-100] * (size + 1) + seq[1:]
        rows.append(row[:length])
        labels.append(label[:length])
    return torch.tensor(rows), torch.tensor(labels)


def warm_up(model, vocab: int, steps: int, dev: str, advance) -> float:
    """``steps`` of copying rows alone, with their own AdamW (100 warm-up steps, then constant).
    Returns the last step's repeat loss (chance: ln(vocab))."""
    import torch

    generator = torch.Generator().manual_seed(4321)
    opt = torch.optim.AdamW(model.parameters(), lr=WARMUP_LR, weight_decay=0.01)
    model.train()
    loss = math.nan
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = WARMUP_LR * min(1.0, (step + 1) / 100)
        x, y = copy_rows(WARMUP_ROWS, WARMUP_LENGTH, vocab, generator)
        loss = train_step(model, opt, x.to(dev), y.to(dev))
        advance(loss=loss)
    return loss


def train_step(model, opt, x, labels, autocast=contextlib.nullcontext) -> float:
    """One optimizer step on (ids, labels), gradients clipped at norm 1: the warm-up's and the
    corpus loop's (trainers/pretrain.py). Returns the step's loss."""
    import torch

    with autocast():
        out = model(input_ids=x, labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return out.loss.item()
