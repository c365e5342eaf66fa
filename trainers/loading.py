"""Load a model for training: the base, plus the parent's LoRA adapter when there is one.

Variants keep training their parent's adapter (the thesis continues the SFT LoRA), so every
trained variant is base + one adapter: evaluation shares one loaded base across all of them.
"""
from __future__ import annotations

from core.modeling import load_base, use_thesis_template


def load_for_training(job, trainable_parent: bool = True, device: str | None = None, load_in_4bit: bool = False):
    """(model on ``device``, tokenizer with the thesis template): the trainers train in the thesis
    format, and TRL renders conversational prompts with the tokenizer's own template."""
    # absolute: PEFT records this path as the adapter's base, which must resolve from any folder
    model, tok = load_base(job.profile.base, job.base_path.resolve() if job.base_path else None, device=device,
                           load_in_4bit=load_in_4bit)
    use_thesis_template(tok)
    if job.parent_adapter is not None:
        from peft import PeftModel

        # is_trainable=True: the default (False) makes GRPO silently train nothing
        model = PeftModel.from_pretrained(model, str(job.parent_adapter), is_trainable=trainable_parent)
    return model, tok


def resume_point(work_dir) -> str | None:
    """The last complete trainer checkpoint a killed build left in its work folder, if any.

    transformers writes ``trainer_state.json`` after the weights and optimizer state, so a
    checkpoint without it was cut short by the kill: it is removed, and the one before it used.
    """
    import shutil
    from pathlib import Path

    if not work_dir or not Path(work_dir).is_dir():
        return None
    found = [p for p in Path(work_dir).glob("checkpoint-*") if p.name.rsplit("-", 1)[-1].isdigit()]
    for ckpt in sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]), reverse=True):
        if (ckpt / "trainer_state.json").is_file():
            return str(ckpt)
        shutil.rmtree(ckpt, ignore_errors=True)
    return None
