"""Load a model for training: the base, plus the parent's LoRA adapter when there is one.

Variants keep training their parent's adapter (the thesis continues the SFT LoRA), so every
trained variant is base + one adapter: evaluation shares one loaded base across all of them.
"""
from __future__ import annotations

from .base_model import load_base


def load_for_training(job, trainable_parent: bool = True):
    model, tok = load_base(job.profile.base, job.base_path)
    if job.parent_adapter is not None:
        from peft import PeftModel

        # is_trainable=True: the default (False) makes GRPO silently train nothing
        model = PeftModel.from_pretrained(model, str(job.parent_adapter), is_trainable=trainable_parent)
    return model, tok


def resume_point(work_dir) -> str | None:
    """The last trainer checkpoint a killed build left in its work folder, if any."""
    from pathlib import Path

    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(work_dir)) if work_dir and Path(work_dir).is_dir() else None
