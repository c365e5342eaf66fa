"""GRPO through TRL's GRPOTrainer, continuing the parent's LoRA adapter, with registry rewards.

The batch follows ``batch_size_unit`` (core/batching.py: ``unsloth``, the thesis's effective
batch, or ``prompts``). Prompts longer than ``max_prompt_length`` tokens are dropped before
training (and counted in the manifest), never cut: TRL 1.x has no prompt truncation of its own.
Intrinsic rewards get the live policy through ``core.rewards.bind_policy`` and run on its device.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from core.batching import grpo_batch, grpo_optimizer_steps
from core.modeling import prompt_ids
from core.thesis_format import messages
from core.tracking import report_to

from .callbacks import device_args, quiet_trainer, stage_device
from .curves import plot_reward_curves


def prompts_within(tok, prompts: list[list[dict]], max_tokens: int) -> list[int]:
    """Indices of the chat prompts whose rendered generation prompt fits ``max_tokens`` tokens."""
    return [i for i, p in enumerate(prompts) if len(prompt_ids(tok, p)) <= max_tokens]


def train(job, out_dir: Path) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from core import rewards as reward_lib
    from core.device import device
    from core.sources.math import grpo_examples

    from .loading import load_for_training, resume_point

    h = job.hyper
    dev = device()
    model, tok = load_for_training(job, trainable_parent=True, device=dev)
    rows = grpo_examples(job.profile.data, h["train_rows"], seed=h["seed"])
    prompts = [messages(r["problem"]) for r in rows]
    keep = prompts_within(tok, prompts, h["max_prompt_length"])
    if not keep:
        from core.errors import RunFailed

        raise RunFailed(f"{job.name}: every GRPO prompt is longer than max_prompt_length={h['max_prompt_length']}")
    ds = Dataset.from_dict({"prompt": [prompts[i] for i in keep], "answer": [rows[i]["answer"] for i in keep]})
    work = job.work_dir or out_dir / "_trainer"
    batch = grpo_batch(h)
    args = GRPOConfig(
        output_dir=str(work), learning_rate=h["learning_rate"], lr_scheduler_type=h["lr_scheduler"],
        warmup_steps=h["warmup_ratio"], per_device_train_batch_size=batch.completions_per_device_step,
        gradient_accumulation_steps=h["grad_accum"], num_generations=h["num_generations"],
        max_completion_length=h["max_completion_length"], temperature=h["temperature"], min_p=h["min_p"],
        num_train_epochs=h["epochs"], max_steps=h["max_steps"], beta=h["beta"], loss_type=h["loss_type"],
        seed=h["seed"], save_strategy="steps" if h["save_steps"] else "no", save_steps=h["save_steps"] or 500,
        logging_steps=1, report_to=report_to(job.profile.report_to, out_dir), disable_tqdm=True, dataloader_num_workers=0,
        gradient_checkpointing=h["gradient_checkpointing"],
        **device_args(dev),
    )
    funcs = [reward_lib.get_reward(name) for name in job.rewards]
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tok)
    quiet_trainer(trainer, f"grpo {job.name}")
    reward_lib.bind_policy(trainer.model, tok, token_budget=h["intrinsic_token_budget"])
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
            "steps": trainer.state.global_step, "planned_steps": grpo_optimizer_steps(h, len(ds)),
            "rows": len(ds), "dropped_long_prompts": len(rows) - len(keep),
            "batch": {"unit": h["batch_size_unit"], "completions_per_device_step": batch.completions_per_device_step,
                      "prompts_per_optimizer_step": batch.prompts_per_optimizer_step},
            "device": stage_device(dev, trainer.model),
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
