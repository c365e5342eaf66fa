"""Hyperparameter schemas per trainer (no torch import: the registry validates with these).

Field defaults are the thesis values; a profile's ``overrides`` scale them down for tiny/smoke.
Unknown keys are errors, so a typo never silently trains with a default.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict


class _Hyper(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 3407


class SFTHyper(_Hyper):
    epochs: float = 2
    learning_rate: float = 2e-4
    lr_scheduler: str = "linear"
    warmup_steps: int = 5
    batch_size: int = 1
    grad_accum: int = 4
    max_seq_length: int = 2048
    lora_r: int = 32
    lora_alpha: int = 64
    weight_decay: float = 0.01
    eval_fraction: float = 0.1
    eval_steps: int = 250
    max_rows: int = 5000
    gradient_checkpointing: bool = True  # memory for a 4B model; pure recompute cost on a tiny one


class GRPOHyper(_Hyper):
    learning_rate: float = 1e-6
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    batch_size: int = 2  # prompts per device step
    grad_accum: int = 8
    num_generations: int = 3
    max_prompt_length: int = 512
    max_completion_length: int = 1536
    temperature: float = 1.0
    min_p: Optional[float] = 0.1
    epochs: float = 1
    train_rows: int = 1000
    max_steps: int = -1
    save_steps: int = 0
    beta: float = 0.0  # TRL's default: no KL term (the thesis scripts set none)
    gradient_checkpointing: bool = True
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "grpo"


class BFCLHyper(_Hyper):
    learning_rate: float = 5e-7
    warmup_steps: int = 50
    batch_size: int = 1
    grad_accum: int = 4
    num_generations: int = 6
    temperature: float = 0.8
    top_p: float = 0.95
    repetition_penalty: float = 1.15
    max_completion_length: int = 512
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    kl_coef: float = 0.001
    max_grad_norm: float = 0.3
    ref_refresh_steps: int = 500
    replay_size: int = 2000
    epochs: int = 100
    patience: int = 5
    max_steps: int = -1
    replay_coef: float = 0.1  # weight of the replay buffer's off-policy term (not published)
    train_rows: int = 0  # 0 = the whole thesis train split (160 entries)
    test_rows: int = 0  # 0 = the whole test split (40 entries)


# settings that change how a run is carried out, not the weights it produces: not fingerprinted
NOT_WEIGHTS = frozenset({"save_steps", "gradient_checkpointing"})

HYPER_SCHEMAS: dict[str, type[_Hyper]] = {"sft": SFTHyper, "grpo": GRPOHyper, "bfcl_grpo": BFCLHyper}


def effective_hyper(entry, profile) -> dict:
    """A trained variant's hyperparameters with the profile's overrides for its trainer applied."""
    merged = {**entry.hyper, **profile.overrides.get(entry.trainer, {})}
    return HYPER_SCHEMAS[entry.trainer](**merged).model_dump()


def hyper_error(exc, prefix: str) -> str:
    """A pydantic error on hyperparameters as one line: ``<prefix><field>: <message>``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].replace("\n", " ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{prefix}{loc}: {msg}{more}"
