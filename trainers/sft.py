"""SFT: LoRA on the base through TRL's SFTTrainer, on the thesis tag format (docs/thesis.md).

Loss is on the completion only (prompt-completion dataset): the prompt is the chat-templated
system + problem ending with the reasoning-start tag, the completion is the tagged answer + EOS.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from core.thesis_format import REASONING_START

from .callbacks import device_args, quiet_trainer
from core.thesis_format import messages
from core.tracking import report_to


def train(job, out_dir: Path) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from core.sources.math import sft_examples

    from .loading import load_for_training, resume_point

    h = job.hyper
    model, tok = load_for_training(job, trainable_parent=False)
    rows = sft_examples(job.profile.data, h["max_rows"])
    prompts = [tok.apply_chat_template(messages(r["problem"]), tokenize=False, add_generation_prompt=True)
               for r in rows]
    # the generation prompt already holds the reasoning-start tag; the completion continues after it
    completions = [r["assistant"].removeprefix(REASONING_START) + tok.eos_token for r in rows]
    ds = Dataset.from_dict({"prompt": prompts, "completion": completions})
    split = ds.train_test_split(test_size=h["eval_fraction"], seed=h["seed"]) if h["eval_fraction"] > 0 else None
    work = job.work_dir or out_dir / "_trainer"
    args = SFTConfig(
        output_dir=str(work), num_train_epochs=h["epochs"], learning_rate=h["learning_rate"],
        lr_scheduler_type=h["lr_scheduler"], warmup_steps=h["warmup_steps"],
        per_device_train_batch_size=h["batch_size"], per_device_eval_batch_size=max(h["batch_size"], 8),
        gradient_accumulation_steps=h["grad_accum"], weight_decay=h["weight_decay"], seed=h["seed"],
        max_length=h["max_seq_length"], eos_token=tok.eos_token, pad_token=tok.pad_token,
        eval_strategy="steps" if split else "no", eval_steps=h["eval_steps"],
        save_strategy="steps" if split else "no", save_steps=h["eval_steps"], save_total_limit=2,
        load_best_model_at_end=bool(split), metric_for_best_model="eval_loss", greater_is_better=False,
        logging_steps=10, report_to=report_to(job.profile.report_to, out_dir), disable_tqdm=True, dataloader_num_workers=0,
        gradient_checkpointing=h["gradient_checkpointing"],
        **device_args(),
    )
    lora = LoraConfig(r=h["lora_r"], lora_alpha=h["lora_alpha"], lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    trainer = SFTTrainer(model=model, args=args, processing_class=tok, peft_config=lora,
                         train_dataset=split["train"] if split else ds, eval_dataset=split["test"] if split else None)
    quiet_trainer(trainer, f"sft {job.name}")
    if len(trainer.train_dataset) == 0:
        from core.errors import RunFailed

        raise RunFailed(f"{job.name}: every SFT example is longer than max_seq_length={h['max_seq_length']}")
    resumed = resume_point(work)
    result = trainer.train(resume_from_checkpoint=resumed)
    trainer.model.save_pretrained(out_dir / "adapter")
    tok.save_pretrained(out_dir / "adapter")
    shutil.rmtree(work, ignore_errors=True)
    evals = [x["eval_loss"] for x in trainer.state.log_history if "eval_loss" in x]
    return {"resumed_from": Path(resumed).name if resumed else None, "train_loss": result.training_loss,
            "best_eval_loss": min(evals) if evals else None, "steps": trainer.state.global_step, "rows": len(rows), "log_history": trainer.state.log_history}
