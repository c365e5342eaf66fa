"""Hyperparameter schemas per trainer (no torch import: the registry validates with these).

Field defaults are the thesis values; a profile's ``overrides`` scale them down for tiny/smoke.
Unknown keys are errors, so a typo never silently trains with a default.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

# Every numeric field is constrained here, at load: torch, TRL and PEFT otherwise find the
# mistake deep inside training (a traceback) or not at all (lr = .inf trained an all-NaN adapter
# and exited 0). Floats must be finite; counts at least 1 where 0 means nothing would happen.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # numpy's and torch's seed range
Count = Annotated[int, Field(ge=1)]
Steps = Annotated[int, Field(ge=0)]
MaxSteps = Annotated[int, Field(ge=-1)]  # -1: as many as the epochs give
Rate = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Tokens = Annotated[int, Field(ge=1, le=32_768)]


class _Hyper(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: Seed = 3407


class SFTHyper(_Hyper):
    epochs: Rate = 2
    learning_rate: Rate = 2e-4
    lr_scheduler: str = "linear"
    warmup_steps: Steps = 5
    batch_size: Count = 1
    grad_accum: Count = 4
    max_seq_length: Tokens = 2048
    lora_r: Count = 32
    lora_alpha: Count = 64
    weight_decay: NonNeg = 0.01
    eval_fraction: Fraction = 0.1
    eval_steps: Count = 250
    max_rows: Count = 5000
    gradient_checkpointing: bool = True  # memory for a 4B model; pure recompute cost on a tiny one
    load_in_4bit: bool = False  # the thesis's 4-bit (NF4) base: GPU + bitsandbytes; on in the thesis profile
    optim: Literal["adamw_torch", "adamw_8bit"] = "adamw_torch"  # adamw_8bit: the thesis's (bitsandbytes, GPU)


class GRPOHyper(_Hyper):
    learning_rate: Rate = 1e-6
    lr_scheduler: str = "cosine"
    warmup_ratio: Fraction = 0.05
    batch_size: Count = 2  # read per batch_size_unit (core/batching.py)
    # unsloth: batch_size counts completions and is raised to num_generations when not a multiple
    # of it, as Unsloth did in the thesis (one prompt per device step); prompts: batch_size counts
    # prompts (batch_size x num_generations completions per device step). QUIRKS.md.
    batch_size_unit: Literal["unsloth", "prompts"] = "unsloth"
    grad_accum: Count = 8
    num_generations: int = Field(3, ge=2)  # GRPO's advantage is relative to the group: one is nothing
    max_prompt_length: Tokens = 512
    max_completion_length: Tokens = 1536
    temperature: Rate = 1.0
    min_p: Optional[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = 0.1
    epochs: Rate = 1
    train_rows: Count = 1000
    max_steps: MaxSteps = -1
    save_steps: Steps = 0
    beta: NonNeg = 0.0  # TRL's default: no KL term (the thesis scripts set none)
    gradient_checkpointing: bool = True
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "grpo"
    intrinsic_token_budget: Count = 16384  # tokens per no-grad forward of the intrinsic rewards
    # TRL's vLLM rollouts (GPU only: TRL syncs the policy's weights into vLLM over NCCL). Names and
    # defaults are GRPOConfig's own, so TRL's documentation reads as-is. DEVELOPERS.md shows both modes.
    use_vllm: bool = Field(False, description="generate GRPO rollouts with vLLM instead of model.generate "
                           "(TRL GRPOConfig.use_vllm; needs CUDA and the vllm package)")
    vllm_mode: Literal["server", "colocate"] = Field(
        "colocate", description="server: a separate `trl vllm-serve --model BASE` process on its own GPU(s) "
        "generates; colocate: vLLM runs inside each training process and shares its GPU")
    vllm_server_host: str = Field("0.0.0.0", min_length=1, description="host of the `trl vllm-serve` server "
                                  "(server mode)")
    vllm_server_port: int = Field(8000, ge=1, le=65535, description="port of the `trl vllm-serve` server "
                                  "(server mode)")
    vllm_server_timeout: float = Field(240.0, gt=0, allow_inf_nan=False, description="seconds to wait for the "
                                       "server to answer before training fails (server mode)")
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0, le=1, allow_inf_nan=False, description="fraction of each GPU's memory vLLM may take beside "
        "the trainer (colocate mode; a server takes `--gpu_memory_utilization` on its command line)")
    vllm_tensor_parallel_size: Count = Field(1, description="GPUs one vLLM engine spans (colocate mode; the "
                                             "training processes must be a multiple of it; a server takes "
                                             "`--tensor_parallel_size`)")


class BFCLHyper(_Hyper):
    learning_rate: Rate = 5e-7
    warmup_steps: Steps = 50
    batch_size: Count = 1
    grad_accum: Count = 4
    num_generations: Count = 6
    temperature: Rate = 0.8
    top_p: float = Field(0.95, gt=0, le=1, allow_inf_nan=False)
    repetition_penalty: Rate = 1.15
    max_completion_length: Tokens = 512
    lora_r: Count = 16
    lora_alpha: Count = 32
    lora_dropout: Fraction = 0.05
    kl_coef: NonNeg = 0.001
    max_grad_norm: Rate = 0.3
    ref_refresh_steps: Count = 500
    replay_size: Steps = 2000
    epochs: Count = 100
    patience: Count = 5
    max_steps: MaxSteps = -1
    replay_coef: NonNeg = 0.1  # weight of the replay buffer's off-policy term (not published)
    train_rows: Steps = 0  # 0 = the whole thesis train split (160 entries)
    test_rows: Steps = 0  # 0 = the whole test split (40 entries)


# settings that change how a run is carried out, not the weights it produces: not fingerprinted.
# The vLLM options choose the engine that samples rollouts from the same policy (TRL corrects the
# engines' numeric mismatch by importance sampling), as the process count chooses how the same
# global batch is split: both are recorded in the manifest's train metrics instead, and adding
# them left every existing fingerprint as it was.
VLLM_FIELDS = ("use_vllm", "vllm_mode", "vllm_server_host", "vllm_server_port", "vllm_server_timeout",
               "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size")
NOT_WEIGHTS = frozenset({"save_steps", "gradient_checkpointing", "intrinsic_token_budget", *VLLM_FIELDS})

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
