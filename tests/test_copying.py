"""The tiny base's copying warm-up (trainers/copying.py) and the pretraining fields that use it."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from core.config import BaseSpec, DataSpec
from trainers import copying


def _segments(row: list[int], label: list[int]):
    """Walk a row as the generator wrote it: (start, size) of each segment, checking its labels."""
    i, out = 0, []
    while i < len(row):
        j = i
        while j < len(row) and label[j] == -100:
            j += 1
        size = j - i - 1  # the first copy and the repeat's first token are unscored
        out.append((i, size))
        if j == len(row):  # cut by the row's end inside its first copy
            break
        i += 2 * size
    return out


def test_rows_write_each_sequence_twice_and_score_only_the_repeat():
    x, y = copying.copy_rows(6, 128, 300, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 128)
    assert ((x >= copying.FIRST_ID) & (x < 300)).all()
    scored = y != -100
    assert (y[scored] == x[scored]).all() and 0.3 < scored.float().mean() < 0.5
    for row, label in zip(x.tolist(), y.tolist()):
        segments = _segments(row, label)
        assert len(segments) >= 2
        for start, size in segments[:-1]:  # the last one may be cut by the row's end
            assert copying.SEGMENT[0] <= size <= copying.SEGMENT[1]
            assert row[start + size:start + 2 * size] == row[start:start + size]
            assert label[start + size + 1:start + 2 * size] == row[start + 1:start + size]
    again = copying.copy_rows(6, 128, 300, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], x) and torch.equal(again[1], y)


def test_copy_rows_must_leave_corpus_rows_in_a_batch():
    with pytest.raises(ValidationError, match="leaves no corpus row"):
        BaseSpec(kind="tiny", pretrain_batch=4, pretrain_copy_rows=4)
    assert BaseSpec(kind="tiny", pretrain_batch=4, pretrain_copy_rows=3).pretrain_copy_rows == 3


def test_each_later_field_readdresses_the_base_only_away_from_its_default(registry_path):
    from harness.registry import load_registry
    from models import fingerprint

    reg = load_registry(registry_path)
    tiny = reg.profile("tiny")
    published = fingerprint(reg, tiny, "base")
    changed = {"pretrain_corpus_draw": 1, "pretrain_windows": "document", "pretrain_copy_steps": 10,
               "pretrain_copy_rows": 1, "pretrain_calls": "bfcl-api"}
    assert set(changed) == set(BaseSpec.LATER_FIELDS)
    seen = {published}
    for field, value in changed.items():
        same = tiny.model_copy(update={"base": tiny.base.model_copy(update={field: BaseSpec.LATER_FIELDS[field]})})
        assert fingerprint(reg, same, "base") == published
        other = tiny.model_copy(update={"base": tiny.base.model_copy(update={field: value})})
        seen.add(fingerprint(reg, other, "base"))
    assert len(seen) == 1 + len(changed)


def _build(out):
    from trainers.pretrain import build_tiny

    spec = BaseSpec(kind="tiny", vocab_size=320, hidden_size=32, layers=1, heads=2, kv_heads=1,
                    intermediate_size=64, pretrain_steps=4, pretrain_batch=4, pretrain_block=64,
                    pretrain_windows="document", pretrain_copy_steps=3, pretrain_copy_rows=1)
    data = DataSpec(source="synthetic", seed=3, sft_rows=50, grpo_rows=10, test_rows=20)
    return build_tiny(spec, data, out)


def test_a_base_with_the_warm_up_builds_the_same_twice(tmp_path):
    """Warm-up, copying rows in the corpus batches and document windows, end to end: the losses are
    reported and the weights are bit-identical from run to run (a base is addressed by its recipe)."""
    first, second = _build(tmp_path / "a"), _build(tmp_path / "b")
    assert 0 < first["copy_warmup_final_loss"] < 20 and 0 < first["pretrain_final_loss"] < 20
    assert first["copy_warmup_final_loss"] == second["copy_warmup_final_loss"]
    weights = "model.safetensors"
    assert (tmp_path / "a" / weights).read_bytes() == (tmp_path / "b" / weights).read_bytes()
