"""SFT: LoRA on the base through TRL's SFTTrainer, on the thesis tag format (docs/thesis.md).

Loss is on the completion only (prompt-completion dataset): the prompt is the chat-templated
system + problem ending with the reasoning-start tag, the completion is the tagged answer + EOS.

Rows longer than ``max_seq_length`` tokens are dropped and counted, never truncated: TRL cuts
from the end, so a long OpenMathReasoning solution would lose ``<SOLUTION>`` and EOS and teach
the model to stop mid-answer. TRL is given no ``max_length`` and the rows are measured on its own
tokenization, so what is kept is exactly what trains. ``load_in_4bit`` / ``optim: adamw_8bit``
are the thesis's 4-bit base and 8-bit AdamW (bitsandbytes, GPU only).

Under ``accelerate launch`` (N processes) the global batch is kept (accumulation, else the
per-device batch, divided by N: ``core.batching.split_over_processes``); accelerate shards each
global batch across the processes in order, so every optimizer step sees the single process's rows.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from core.modeling import LORA_TARGETS, render_prompt
from core.thesis_format import REASONING_START, messages

from core.batching import split_over_processes
from core.launch import barrier, is_main, rank_device, world_size
from core.tracking import report_to

from .callbacks import device_args, quiet_trainer, stage_device


def drop_long(dataset, max_tokens: int):
    """(rows of a tokenized TRL dataset with at most ``max_tokens`` input ids, rows dropped)."""
    if dataset is None:
        return None, 0
    kept = dataset.filter(lambda row: len(row["input_ids"]) <= max_tokens)
    return kept, len(dataset) - len(kept)


def check_bitsandbytes_options(h: dict, dev: str) -> None:
    """One-line errors for the thesis's bitsandbytes options where they cannot run."""
    from core.errors import BadInput

    wanted = [k for k, on in (("load_in_4bit", h["load_in_4bit"]), ("optim: adamw_8bit", h["optim"] == "adamw_8bit")) if on]
    if not wanted:
        return
    if not dev.startswith("cuda"):
        raise BadInput(f"sft {' and '.join(wanted)} need a CUDA GPU (bitsandbytes); this run's device is {dev} "
                       "(turn them off in the profile's sft overrides)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise BadInput(f"sft {' and '.join(wanted)} need bitsandbytes: pip install -e '.[gpu]'") from None


def train(job, out_dir: Path) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from core.device import device
    from core.sources.math import sft_examples

    from .loading import load_for_training, resume_point

    h = job.hyper
    dev = rank_device(device())
    check_bitsandbytes_options(h, dev)
    model, tok = load_for_training(job, trainable_parent=False, device=dev, load_in_4bit=h["load_in_4bit"])
    rows = sft_examples(job.profile.data, h["max_rows"])
    prompts = [render_prompt(tok, messages(r["problem"])) for r in rows]
    # the generation prompt already holds the reasoning-start tag; the completion continues after it
    completions = [r["assistant"].removeprefix(REASONING_START) + tok.eos_token for r in rows]
    ds = Dataset.from_dict({"prompt": prompts, "completion": completions})
    split = ds.train_test_split(test_size=h["eval_fraction"], seed=h["seed"]) if h["eval_fraction"] > 0 else None
    work = job.work_dir or out_dir / "_trainer"
    per_device, accum = split_over_processes(h["batch_size"], h["grad_accum"], world_size(), f"{job.name} (sft)")
    args = SFTConfig(
        output_dir=str(work), num_train_epochs=h["epochs"], learning_rate=h["learning_rate"],
        lr_scheduler_type=h["lr_scheduler"], warmup_steps=h["warmup_steps"],
        per_device_train_batch_size=per_device, per_device_eval_batch_size=max(per_device, 8),
        gradient_accumulation_steps=accum, weight_decay=h["weight_decay"], seed=h["seed"],
        max_length=None, eos_token=tok.eos_token, pad_token=tok.pad_token, optim=h["optim"],
        eval_strategy="steps" if split else "no", eval_steps=h["eval_steps"],
        save_strategy="steps" if split else "no", save_steps=h["eval_steps"], save_total_limit=2,
        load_best_model_at_end=bool(split), metric_for_best_model="eval_loss", greater_is_better=False,
        logging_steps=1, report_to=report_to(job.profile.report_to, out_dir), disable_tqdm=True, dataloader_num_workers=0,
        gradient_checkpointing=h["gradient_checkpointing"],
        ddp_find_unused_parameters=False,  # every LoRA weight takes part in each step: skip DDP's search
        **device_args(dev),
    )
    lora = LoraConfig(r=h["lora_r"], lora_alpha=h["lora_alpha"], lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=LORA_TARGETS)
    trainer = SFTTrainer(model=model, args=args, processing_class=tok, peft_config=lora,
                         train_dataset=split["train"] if split else ds, eval_dataset=split["test"] if split else None)
    trainer.train_dataset, dropped_train = drop_long(trainer.train_dataset, h["max_seq_length"])
    trainer.eval_dataset, dropped_eval = drop_long(trainer.eval_dataset, h["max_seq_length"])
    quiet_trainer(trainer, f"sft {job.name}")
    if len(trainer.train_dataset) == 0:
        from core.errors import RunFailed

        raise RunFailed(f"{job.name}: every SFT example is longer than max_seq_length={h['max_seq_length']}")
    resumed = resume_point(work)
    result = trainer.train(resume_from_checkpoint=resumed)
    trainer.model.save_pretrained(out_dir / "adapter")
    tok.save_pretrained(out_dir / "adapter")
    barrier(dev)  # the work folder is shared: every process is past its last read of it
    if is_main():
        shutil.rmtree(work, ignore_errors=True)
    evals = [x["eval_loss"] for x in trainer.state.log_history if "eval_loss" in x]
    return {"resumed_from": Path(resumed).name if resumed else None, "train_loss": result.training_loss,
            "best_eval_loss": min(evals) if evals else None, "steps": trainer.state.global_step, "rows": len(rows),
            "trained_rows": len(trainer.train_dataset),
            "dropped_long_rows": {"train": dropped_train, "eval": dropped_eval, "max_seq_length": h["max_seq_length"]},
            "load_in_4bit": h["load_in_4bit"], "optim": h["optim"],
            "batch": {"processes": world_size(), "per_device_train_batch_size": per_device,
                      "gradient_accumulation_steps": accum, "global_batch": h["batch_size"] * h["grad_accum"]},
            "device": stage_device(dev, trainer.model), "log_history": trainer.state.log_history}
