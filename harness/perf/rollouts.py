"""GRPO rollouts: the fast decode loop against HF ``generate``, as TRL's GRPOTrainer calls it."""
from __future__ import annotations

from core.context import Context
from harness.plan import make_plan
from harness.runner import model_handle

from .hardware import Hardware, against_bound
from .measure import Measurement


def rollout_paths(ctx: Context, hw: Hardware, rounds: int = 3) -> Measurement:
    """One GRPO generation batch of the profile's ``grpo-1k`` recipe (its prompts per step, each on
    ``num_generations`` rows in a row, sampled with its temperature and min_p, the policy in training
    mode), through ``generate`` and through ``core.fast_decode.rollout_generate``, from the same seed.

    The two alternate for ``rounds`` rounds, each keeping its best wall time (the machine is shared).
    The tensors must be equal: a rollout path that is faster but draws other tokens would change
    every GRPO checkpoint. The target holds where the trainers use the fast loop (a CPU)."""
    import time

    import torch
    from transformers import GenerationConfig

    from core.batching import grpo_batch
    from core.fast_decode import default_loop, rollout_generate
    from core.modeling import prompt_ids
    from core.sources.math import grpo_examples
    from core.thesis_format import messages

    h = make_plan(ctx.reg, ctx.profile_name, ["grpo-1k"], [], ctx.ckpts).train[-1].hyper
    model, tok = model_handle(ctx, "sft").hf()
    prompts = grpo_batch(h).prompts_per_optimizer_step  # TRL samples an optimizer step's rollouts in one call
    rows = grpo_examples(ctx.profile.data, prompts, seed=h["seed"])
    ids = [prompt_ids(tok, messages(r["problem"])) for r in rows for _ in range(h["num_generations"])]
    batch = {k: v.to(model.device) for k, v in tok.pad({"input_ids": ids}, padding=True, return_tensors="pt").items()}
    config = GenerationConfig(max_new_tokens=h["max_completion_length"], do_sample=True, pad_token_id=tok.pad_token_id,
                              bos_token_id=tok.bos_token_id, eos_token_id=[tok.eos_token_id],
                              temperature=h["temperature"], min_p=h["min_p"], top_k=0, disable_compile=True)
    paths = {"generate": lambda: type(model).generate(model, **batch, generation_config=config),
             "fast": lambda: rollout_generate(model, **batch, generation_config=config)}
    times: dict[str, float] = {}
    outs: dict[str, torch.Tensor] = {}
    model.train()  # as TRL samples: the policy in training mode
    try:
        for r in range(rounds):
            for name, fn in paths.items():
                torch.manual_seed(r)
                t0 = time.perf_counter()
                with torch.no_grad():
                    out = fn()
                t = time.perf_counter() - t0
                times[name] = min(t, times.get(name, t))
                if r == 0:
                    outs[name] = out
    finally:
        model.eval()
    same = outs["fast"].shape == outs["generate"].shape and bool(torch.equal(outs["fast"], outs["generate"]))
    ratio = times["generate"] / times["fast"]
    cpu = default_loop(hw.device) == "fast"
    new = int((outs["generate"][:, batch["input_ids"].shape[1]:] != tok.pad_token_id).sum())
    return Measurement("GRPO rollouts: fast loop vs generate", ratio, ">= 1.2x and identical" if cpu else "figure",
                       (ratio >= 1.2 and same) if cpu else True,
                       f"{len(ids)} rows ({prompts} prompts x {h['num_generations']}), {h['max_completion_length']} new "
                       f"tokens at most, best of {rounds}: generate {times['generate']:.2f}s, fast {times['fast']:.2f}s "
                       f"({against_bound(hw, model, len(ids), new, times['fast'])}); tensors identical: "
                       f"{'yes' if same else 'NO'}; the trainers' loop here: {default_loop(hw.device)}")
