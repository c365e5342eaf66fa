"""GRPO through TRL's GRPOTrainer, continuing the parent's LoRA adapter, with registry rewards.

``batch_size`` counts prompts per device step (the thesis's meaning); TRL's
per_device_train_batch_size counts completions, so it is batch_size × num_generations.
Intrinsic rewards get the live policy through ``core.rewards.bind_policy``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .callbacks import device_args, quiet_trainer
from core.thesis_format import messages
from core.tracking import report_to
from .curves import plot_reward_curves


def train(job, out_dir: Path) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from core.sources.math import grpo_examples

    from core import rewards as reward_lib
    from .loading import load_for_training, resume_point

    h = job.hyper
    model, tok = load_for_training(job, trainable_parent=True)
    rows = grpo_examples(job.profile.data, h["train_rows"], seed=h["seed"])
    prompts = [messages(r["problem"]) for r in rows]
    lengths = [len(tok.apply_chat_template(p, tokenize=True, add_generation_prompt=True)) for p in prompts]
    keep = [i for i, n in enumerate(lengths) if n <= h["max_prompt_length"]]
    ds = Dataset.from_dict({"prompt": [prompts[i] for i in keep], "answer": [rows[i]["answer"] for i in keep]})
    work = job.work_dir or out_dir / "_trainer"
    completions_per_step = h["batch_size"] * h["num_generations"]
    args = GRPOConfig(
        output_dir=str(work), learning_rate=h["learning_rate"], lr_scheduler_type=h["lr_scheduler"],
        warmup_steps=h["warmup_ratio"], per_device_train_batch_size=completions_per_step,
        gradient_accumulation_steps=h["grad_accum"], num_generations=h["num_generations"],
        max_completion_length=h["max_completion_length"], temperature=h["temperature"], min_p=h["min_p"],
        num_train_epochs=h["epochs"], max_steps=h["max_steps"], beta=h["beta"], loss_type=h["loss_type"],
        seed=h["seed"], save_strategy="steps" if h["save_steps"] else "no", save_steps=h["save_steps"] or 500,
        logging_steps=1, report_to=report_to(job.profile.report_to, out_dir), disable_tqdm=True, dataloader_num_workers=0,
        gradient_checkpointing=h["gradient_checkpointing"],
        **device_args(),
    )
    funcs = [reward_lib.get_reward(name) for name in job.rewards]
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tok)
    quiet_trainer(trainer, f"grpo {job.name}")
    reward_lib.bind_policy(trainer.model, tok)
    try:
        resumed = resume_point(work)
        result = trainer.train(resume_from_checkpoint=resumed)
    finally:
        reward_lib.bind_policy(None, None)
    trainer.model.save_pretrained(out_dir / "adapter")
    tok.save_pretrained(out_dir / "adapter")
    shutil.rmtree(work, ignore_errors=True)
    history = trainer.state.log_history
    components = reward_components(history)
    plot_reward_curves(components, f"{job.name}: reward per step ({job.profile_name})", out_dir / "reward_curves.png")
    return {"resumed_from": Path(resumed).name if resumed else None, "train_loss": result.training_loss,
            "steps": trainer.state.global_step, "rows": len(ds), "dropped_long_prompts": len(rows) - len(keep),
            "log_history": history,
            "reward_components": components, "reward_curves": "reward_curves.png"}


def reward_components(history: list[dict]) -> dict[str, list[float]]:
    """Per-reward-function mean per step, as TRL logs them (``rewards/<name>/mean``)."""
    out: dict[str, list[float]] = {}
    for entry in history:
        for key, value in entry.items():
            if key.startswith("rewards/") and key.endswith("/mean") or key == "reward":
                out.setdefault(key, []).append(value)
    return out
