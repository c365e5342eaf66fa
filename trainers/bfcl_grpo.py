"""BFCL GRPO (docs/thesis.md, "BFCL GRPO"): the thesis's custom loop on the BFCL first-turn data.

Why not TRL's GRPOTrainer: with PEFT its reference model is the base with *all* adapters
disabled (here that would drop the parent's SFT+GRPO adapter), ``sync_ref_model`` (the periodic
refresh) is unsupported with PEFT, and it has neither the replay term nor early stopping on a
best-of-n test reward. The loop below is the smallest one that does all of it.

Per step (``batch_size`` prompts × ``num_generations`` samples, temperature/top_p/repetition
penalty as the thesis):
  advantage = (r − mean_group) / (std_group + 1e-4)            (0 when the group agrees)
  loss = −mean(adv · log π(completion)) + kl_coef · mean(log π − log π_ref)
         + replay_coef · −mean(adv_old · log π(old completion))  (replay buffer, ≤ replay_size)
with sequence log-probs (sums over completion tokens), gradient accumulation, max grad norm,
linear warmup then constant lr, π_ref a frozen snapshot refreshed to the policy every
``ref_refresh_steps`` optimizer steps. After each epoch the test reward (mean over test prompts
of the best of ``num_generations`` samples) drives early stopping (``patience``); the best
epoch's weights are kept.

Adapters: the thesis merges the parent's adapter and trains a fresh LoRA (r=16, alpha=32,
dropout 0.05). Here the parent's adapter stays loaded, frozen, and active beside the fresh one
(the same function as merging), and the two are saved as ONE adapter by PEFT's exact ``cat``
combination (rank r_parent + r): the harness keeps evaluating every variant as base + one adapter.
"""
from __future__ import annotations

import contextlib
import math
import random
import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from core.modeling import LORA_TARGETS

NEW = "bfcl"  # the fresh adapter trained here
PARENT = "parent"
COMBINED = "combined"
ADV_EPS = 1e-4


# ------------------------------------------------------------------ loss pieces (pure torch)
def group_advantages(rewards, group_size: int):
    """(r − group mean) / (group population std + eps), per consecutive group of ``group_size``."""
    import torch

    r = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
    adv = (r - r.mean(dim=1, keepdim=True)) / (r.std(dim=1, unbiased=False, keepdim=True) + ADV_EPS)
    return adv.view(-1)


def grpo_loss(adv, logp, logp_ref, kl_coef: float):
    """(loss, policy-gradient term, kl term): −mean(adv·logp) + kl_coef·mean(logp − logp_ref)."""
    pg = -(adv.detach() * logp).mean()
    kl = (logp - logp_ref.detach()).mean()
    return pg + kl_coef * kl, pg, kl


def sequence_logprobs(model, prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """Sum of log π(token) over each completion (prompt left-padded, completion right-padded)."""
    import torch

    device = next(model.parameters()).device
    P = max(len(p) for p in prompts)
    C = max(len(c) for c in completions)
    ids = torch.full((len(prompts), P + C), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    cmask = torch.zeros((len(prompts), C), dtype=torch.float32)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        ids[i, P - len(p):P] = torch.tensor(p)
        ids[i, P:P + len(c)] = torch.tensor(c)
        mask[i, P - len(p):P + len(c)] = 1
        cmask[i, :len(c)] = 1
    ids, mask, cmask = ids.to(device), mask.to(device), cmask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate() numbers left-padded positions
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=C + 1).logits[:, :-1]
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, P:].unsqueeze(-1)).squeeze(-1)
    return (logp * cmask).sum(-1)


@dataclass
class Sample:
    prompt: list[int]
    completion: list[int]
    advantage: float


class ReplayBuffer:
    """The most recent ``size`` samples with a non-zero advantage (zero ones carry no gradient)."""

    def __init__(self, size: int, seed: int):
        self.items: deque[Sample] = deque(maxlen=max(0, size))
        self.rng = random.Random(seed)

    def add(self, samples: list[Sample]) -> None:
        if self.items.maxlen:
            self.items.extend(s for s in samples if s.advantage != 0.0)

    def sample(self, k: int) -> list[Sample]:
        return self.rng.sample(list(self.items), min(k, len(self.items))) if self.items else []

    def __len__(self) -> int:
        return len(self.items)


class Reference:
    """π_ref as a snapshot of the trainable tensors; ``active()`` swaps it in for a no-grad pass."""

    def __init__(self, params: list):
        self.params = params
        self.refreshes = -1  # the first snapshot is not a refresh
        self.refresh()

    def refresh(self) -> None:
        import torch

        with torch.no_grad():
            self.state = [p.detach().clone() for p in self.params]
        self.refreshes += 1

    @contextlib.contextmanager
    def active(self):
        import torch

        with torch.no_grad():
            live = [p.detach().clone() for p in self.params]
            for p, s in zip(self.params, self.state):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, live):
                    p.copy_(s)


# ------------------------------------------------------------------ model setup and saving
def _setup(job, device: str | None = None):
    """(peft model on ``device`` with the fresh adapter trainable and the parent's frozen,
    tokenizer with the thesis template). The base loads straight onto the device in its compute
    dtype (bf16 on a GPU); the trainable adapter is kept in float32, since a 5e-7 step vanishes
    in bf16 rounding."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    from core.modeling import load_base, use_thesis_template

    h = job.hyper
    # absolute: PEFT records this path as the adapter's base, which must resolve from any folder
    model, tok = load_base(job.profile.base, job.base_path.resolve() if job.base_path else None, device=device)
    use_thesis_template(tok)
    if job.parent_adapter is not None:
        model = PeftModel.from_pretrained(model, str(job.parent_adapter), adapter_name=PARENT, is_trainable=False)
        targets = sorted(model.peft_config[PARENT].target_modules)
        model.add_adapter(NEW, _lora(LoraConfig, h, targets))
        model.base_model.set_adapter([PARENT, NEW])
    else:
        model = get_peft_model(model, _lora(LoraConfig, h, LORA_TARGETS), adapter_name=NEW)
    for name, p in model.named_parameters():  # only the fresh adapter learns
        p.requires_grad = f".{NEW}." in name
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    model.to(next(model.base_model.parameters()).device)  # the fresh adapter joins the base's device
    return model, tok


def _lora(LoraConfig, h: dict, targets: list[str]):
    return LoraConfig(r=h["lora_r"], lora_alpha=h["lora_alpha"], lora_dropout=h["lora_dropout"],
                      task_type="CAUSAL_LM", target_modules=list(targets))


def save_single_adapter(model, tok, dest: Path, has_parent: bool) -> dict:
    """Save parent+fresh as one adapter (exact ``cat`` combination) or the fresh one alone."""
    tmp = dest.parent / "_adapters"
    name = NEW
    if has_parent:
        model.add_weighted_adapter([PARENT, NEW], [1.0, 1.0], COMBINED, combination_type="cat")
        name = COMBINED
    model.save_pretrained(tmp, selected_adapters=[name])
    src = tmp / name if (tmp / name).is_dir() else tmp  # PEFT writes non-"default" adapters to a subfolder
    shutil.move(str(src), str(dest))
    shutil.rmtree(tmp, ignore_errors=True)
    tok.save_pretrained(dest)
    return {"adapter": name, "rank": int(model.peft_config[name].r)}


# ------------------------------------------------------------------ data
def _prompts(items: list[dict], tok, max_prompt_tokens: int) -> tuple[list[list[int]], int]:
    """Token ids of the thesis prompts, function list cut to fit the context (count returned)."""
    from core.bfcl.data import fit_functions, thesis_prompt
    from core.modeling import prompt_ids

    out, dropped = [], 0
    for it in items:
        msgs, d = fit_functions(lambda fns, it=it: thesis_prompt({**it, "available_thesis": fns}),
                                list(it["available_thesis"]), tok, max_prompt_tokens)
        dropped += d
        out.append(prompt_ids(tok, msgs))
    return out, dropped


class Sampler:
    def __init__(self, model, tok, h: dict):
        self.model, self.tok, self.h = model, tok, h

    def __call__(self, prompts: list[list[int]], n: int) -> list[list[int]]:
        """``n`` sampled completions per prompt (token ids, cut after EOS), grouped per prompt."""
        import torch

        from core.fast_decode import default_loop, generate_batch

        dev = next(self.model.parameters()).device
        eos = self.tok.eos_token_id
        self.model.eval()
        if default_loop(dev) == "fast":  # the same tokens as generate() below (tests/test_fast_decode.py)
            decode = {"do_sample": True, "temperature": self.h["temperature"], "top_p": self.h["top_p"],
                      "repetition_penalty": self.h["repetition_penalty"]}
            with torch.no_grad():
                return generate_batch(self.model, prompts, self.h["max_completion_length"], eos, self.tok.pad_token_id,
                                      decode, n=n, device=dev)
        batch = self.tok.pad({"input_ids": prompts}, padding=True, return_tensors="pt")
        batch = {k: v.to(dev) for k, v in batch.items()}
        with torch.no_grad():
            out = self.model.generate(**batch, do_sample=True, temperature=self.h["temperature"], top_p=self.h["top_p"],
                                      repetition_penalty=self.h["repetition_penalty"],
                                      max_new_tokens=self.h["max_completion_length"], num_return_sequences=n,
                                      eos_token_id=eos, pad_token_id=self.tok.pad_token_id, use_cache=True)
        new = out[:, batch["input_ids"].shape[1]:].tolist()
        return [toks[:toks.index(eos) + 1] if eos in toks else toks for toks in new]


def _rewards(fns, texts: list[str], items: list[dict]) -> list[float]:
    kw = {"ground_truth": [it["ground_truth"] for it in items], "available": [it["available_thesis"] for it in items]}
    per_fn = [f([None] * len(texts), texts, **kw) for f in fns]
    return [float(sum(vals)) for vals in zip(*per_fn)]


# ------------------------------------------------------------------ training
def train(job, out_dir: Path) -> dict:
    import torch

    from core.bfcl.data import build_thesis_dataset
    from core.progress import progress_bar

    from core import rewards as reward_lib

    from core.device import device

    from .callbacks import stage_device

    h = job.hyper
    dev = device()
    torch.manual_seed(h["seed"])
    rng = random.Random(h["seed"])
    model, tok = _setup(job, dev)
    fns = [reward_lib.get_reward(name) for name in job.rewards]
    data = build_thesis_dataset(seed=h["seed"])
    train_items = data["train"][:h["train_rows"] or None]
    test_items = data["test"][:h["test_rows"] or None]
    ctx = int(getattr(model.config, "max_position_embeddings", 0) or 0) or 10**9
    budget = ctx - h["max_completion_length"]
    train_prompts, dropped_train = _prompts(train_items, tok, budget)
    test_prompts, dropped_test = _prompts(test_items, tok, budget)

    G = h["num_generations"]
    sample = Sampler(model, tok, h)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=h["learning_rate"], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, h["warmup_steps"])))
    ref = Reference(params)
    replay = ReplayBuffer(h["replay_size"], h["seed"])
    pad = tok.pad_token_id

    def evaluate() -> tuple[float, float]:
        best, mean = [], []
        for start in range(0, len(test_items), 8):
            its, ps = test_items[start:start + 8], test_prompts[start:start + 8]
            comps = sample(ps, G)
            texts = tok.batch_decode(comps, skip_special_tokens=True)
            r = _rewards(fns, texts, [it for it in its for _ in range(G)])
            for i in range(len(its)):
                group = r[i * G:(i + 1) * G]
                best.append(max(group))
                mean.append(sum(group) / G)
        return sum(best) / len(best), sum(mean) / len(mean)

    epochs_log, best_reward, best_state, best_epoch, bad = [], -math.inf, None, -1, 0
    step, micro, stopped_early, done = 0, 0, False, False
    per_epoch = math.ceil(len(train_items) / h["batch_size"])
    total = per_epoch * h["epochs"] if h["max_steps"] <= 0 else min(per_epoch * h["epochs"], h["max_steps"] * h["grad_accum"])
    with progress_bar(f"bfcl-grpo {job.name}", total) as advance:
        for epoch in range(h["epochs"]):
            order = list(range(len(train_items)))
            rng.shuffle(order)
            ep_rewards, ep_loss, ep_kl, ep_adv = [], [], [], []
            for start in range(0, len(order), h["batch_size"]):
                idx = order[start:start + h["batch_size"]]
                prompts = [train_prompts[i] for i in idx for _ in range(G)]
                comps = sample([train_prompts[i] for i in idx], G)
                texts = tok.batch_decode(comps, skip_special_tokens=True)
                r = _rewards(fns, texts, [train_items[i] for i in idx for _ in range(G)])
                adv = group_advantages(r, G)
                # the reference pass first (no dropout): swapping its weights in after the policy
                # pass would change tensors the backward pass still needs
                model.eval()
                with ref.active():
                    logp_ref = sequence_logprobs(model, prompts, comps, pad)
                model.train()
                logp = sequence_logprobs(model, prompts, comps, pad)
                loss, _, kl = grpo_loss(adv.to(logp.device), logp, logp_ref, h["kl_coef"])
                old = replay.sample(len(comps))
                if old and h["replay_coef"]:
                    old_logp = sequence_logprobs(model, [s.prompt for s in old], [s.completion for s in old], pad)
                    old_adv = torch.tensor([s.advantage for s in old], device=old_logp.device)
                    loss = loss + h["replay_coef"] * -(old_adv * old_logp).mean()
                (loss / h["grad_accum"]).backward()
                replay.add([Sample(p, c, float(a)) for p, c, a in zip(prompts, comps, adv.tolist())])
                micro += 1
                ep_rewards += r
                ep_loss.append(float(loss.detach()))
                ep_kl.append(float(kl.detach()))
                ep_adv.append(float(bool((adv != 0).any())))  # all-zero: this batch taught nothing
                if micro % h["grad_accum"] == 0:
                    step += 1
                    _optimizer_step(params, opt, sched, h["max_grad_norm"])
                    if step % h["ref_refresh_steps"] == 0:
                        ref.refresh()
                    done = 0 < h["max_steps"] <= step
                advance(1, reward=sum(r) / len(r), loss=ep_loss[-1])
                if done:
                    break
            if micro % h["grad_accum"]:  # the epoch's leftover accumulated gradient
                micro = 0
                step += 1
                _optimizer_step(params, opt, sched, h["max_grad_norm"])
                if step % h["ref_refresh_steps"] == 0:
                    ref.refresh()
            test_best, test_mean = evaluate()
            epochs_log.append({"epoch": epoch + 1, "train_reward": sum(ep_rewards) / max(1, len(ep_rewards)),
                               "loss": sum(ep_loss) / max(1, len(ep_loss)), "kl": sum(ep_kl) / max(1, len(ep_kl)),
                               "test_reward_best": test_best, "test_reward_mean": test_mean, "steps": step,
                               "nonzero_advantage_share": sum(ep_adv) / max(1, len(ep_adv))})
            if test_best > best_reward:
                best_reward, best_epoch, bad = test_best, epoch + 1, 0
                best_state = [p.detach().clone() for p in params]
            else:
                bad += 1
            if done:
                break
            if bad >= h["patience"]:
                stopped_early = epoch + 1 < h["epochs"]
                break
    if best_state is not None:
        with torch.no_grad():
            for p, s in zip(params, best_state):
                p.copy_(s)
    saved = save_single_adapter(model, tok, out_dir / "adapter", job.parent_adapter is not None)
    return {"split_fingerprint": data["fingerprint"], "split_seed": data["seed"], "train_rows": len(train_items),
            "test_rows": len(test_items), "functions_dropped": {"train": dropped_train, "test": dropped_test},
            "epochs": epochs_log, "best_epoch": best_epoch, "best_test_reward": best_reward,
            "optimizer_steps": step, "ref_refreshes": ref.refreshes, "replay_buffer": len(replay),
            "stopped_early": stopped_early, "rewards": list(job.rewards), "device": stage_device(dev, model), **saved}


def _optimizer_step(params, opt, sched, max_norm: float) -> None:
    import torch

    torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
