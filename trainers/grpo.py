"""GRPO through TRL's GRPOTrainer, continuing the parent's LoRA adapter, with registry rewards.

The batch follows ``batch_size_unit`` (core/batching.py: ``unsloth``, the thesis's effective
batch, or ``prompts``). Prompts longer than ``max_prompt_length`` tokens are dropped before
training (and counted in the manifest), never cut: TRL 1.x has no prompt truncation of its own.
Intrinsic rewards get the live policy through ``core.rewards.bind_policy`` and run on its device.
On a CPU the rollouts are sampled by ``core.fast_decode`` in place of HF ``generate`` (token-identical,
~1.5x faster on the tiny model; ``rollouts.loop`` in the manifest).

Under ``accelerate launch`` (N processes) the recipe's global batch is kept: gradient accumulation
(else the per-device batch) is divided by N (``core.batching.split_over_processes``), so TRL's
generation batch, its prompts per optimizer step and the step count are the single process's.
``use_vllm`` hands rollouts to TRL's vLLM integration (server or colocate), GPU only.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from core.batching import grpo_batch, grpo_optimizer_steps, split_over_processes
from core.launch import barrier, is_main, rank_device, world_size
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
    from trl import GRPOTrainer

    from core import rewards as reward_lib
    from core.device import device
    from core.fast_decode import use_fast_rollouts
    from core.sources.math import grpo_examples

    from .loading import load_for_training, resume_point

    h = job.hyper
    dev = rank_device(device())
    check_vllm(h, dev, job.name)
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
    args = grpo_config(h, work, dev, report_to(job.profile.report_to, out_dir), job.name)
    funcs = [reward_lib.get_reward(name) for name in job.rewards]
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tok)
    quiet_trainer(trainer, f"grpo {job.name}")
    # TRL samples rollouts with model.generate: on a CPU the fast loop draws the same tokens, faster
    loop = "fast" if not h["use_vllm"] and use_fast_rollouts(trainer.model, dev) else "generate"
    reward_lib.bind_policy(trainer.model, tok, token_budget=h["intrinsic_token_budget"])
    try:
        resumed = resume_point(work)
        result = trainer.train(resume_from_checkpoint=resumed)
    finally:
        reward_lib.bind_policy(None, None)
    trainer.model.save_pretrained(out_dir / "adapter")
    tok.save_pretrained(out_dir / "adapter")
    barrier(dev)  # the work folder is shared: every process is past its last read of it
    if is_main():
        shutil.rmtree(work, ignore_errors=True)
    history = trainer.state.log_history
    components = reward_components(history)
    plot_reward_curves(components, f"{job.name}: reward per step ({job.profile_name})", out_dir / "reward_curves.png")
    return {"resumed_from": Path(resumed).name if resumed else None, "train_loss": result.training_loss,
            "steps": trainer.state.global_step, "planned_steps": grpo_optimizer_steps(h, len(ds)),
            "rows": len(ds), "dropped_long_prompts": len(rows) - len(keep),
            "batch": {"unit": h["batch_size_unit"], "completions_per_device_step": batch.completions_per_device_step,
                      "prompts_per_optimizer_step": batch.prompts_per_optimizer_step,
                      "processes": world_size(), "per_device_train_batch_size": args.per_device_train_batch_size,
                      "gradient_accumulation_steps": args.gradient_accumulation_steps},
            "rollouts": rollout_engine(h, loop),
            "device": stage_device(dev, trainer.model),
            "log_history": history,
            "reward_components": components, "reward_curves": "reward_curves.png"}


def check_vllm(h: dict, dev: str, name: str) -> None:
    """``use_vllm`` where it cannot run, as one line before any work: TRL moves the policy's
    weights into vLLM over NCCL (server mode) or CUDA memory (colocate), so it needs a CUDA GPU."""
    from core.errors import BadInput

    if not h["use_vllm"]:
        return
    if not dev.startswith("cuda"):
        raise BadInput(f"{name}: use_vllm needs a CUDA GPU (TRL syncs the policy's weights into vLLM over "
                       f"NCCL/CUDA); this run's device is {dev} (set use_vllm: false in the profile's grpo overrides)")
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise BadInput(f"{name}: use_vllm needs the vllm package in the training environment "
                       "(pip install 'trl[vllm]'; DEVELOPERS.md, 'vLLM rollouts')") from None


def grpo_config(h: dict, work, dev: str, report, name: str = "grpo"):
    """TRL's GRPOConfig for recipe ``h`` on ``dev`` in this process (of ``world_size()``)."""
    from trl import GRPOConfig

    from core.recipes import VLLM_FIELDS

    batch = grpo_batch(h)
    per_device, accum = split_over_processes(batch.completions_per_device_step, h["grad_accum"], world_size(),
                                             f"{name} (grpo)")
    vllm = {k: h[k] for k in VLLM_FIELDS} if h["use_vllm"] else {}
    return GRPOConfig(
        output_dir=str(work), learning_rate=h["learning_rate"], lr_scheduler_type=h["lr_scheduler"],
        warmup_steps=h["warmup_ratio"], per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accum, num_generations=h["num_generations"],
        max_completion_length=h["max_completion_length"], temperature=h["temperature"], min_p=h["min_p"],
        num_train_epochs=h["epochs"], max_steps=h["max_steps"], beta=h["beta"], loss_type=h["loss_type"],
        seed=h["seed"], save_strategy="steps" if h["save_steps"] else "no", save_steps=h["save_steps"] or 500,
        logging_steps=1, report_to=report, disable_tqdm=True, dataloader_num_workers=0,
        gradient_checkpointing=h["gradient_checkpointing"], **vllm,
        ddp_find_unused_parameters=False,  # every LoRA weight takes part in each step: skip DDP's search
        **device_args(dev),
    )


def rollout_engine(h: dict, loop: str = "generate") -> dict:
    """What the manifest records about who generated the rollouts (``loop``: ``core.fast_decode``'s
    or HF ``generate``; the same tokens either way)."""
    if not h["use_vllm"]:
        return {"engine": "transformers", "loop": loop}
    keys = (("vllm_server_host", "vllm_server_port") if h["vllm_mode"] == "server"
            else ("vllm_gpu_memory_utilization", "vllm_tensor_parallel_size"))
    return {"engine": "vllm", "mode": h["vllm_mode"], **{k: h[k] for k in keys}}


def reward_components(history: list[dict]) -> dict[str, list[float]]:
    """Per-reward-function mean per step, as TRL logs them (``rewards/<name>/mean``)."""
    out: dict[str, list[float]] = {}
    for entry in history:
        for key, value in entry.items():
            if key.startswith("rewards/") and key.endswith("/mean") or key == "reward":
                out.setdefault(key, []).append(value)
    return out
