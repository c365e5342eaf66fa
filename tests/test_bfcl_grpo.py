"""BFCL GRPO trainer: loss pieces on tiny tensors, the reference refresh, the single saved adapter,
and a couple of real steps on the smoke profile."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from trainers.bfcl_grpo import (
    ReplayBuffer,
    Reference,
    Sample,
    group_advantages,
    grpo_loss,
    sequence_logprobs,
)

from benchkit import ROOT


# ------------------------------------------------------------------ pure loss pieces
def test_group_advantages_normalize_within_each_group():
    adv = group_advantages([1.0, 0.0, 0.5, 0.5, 0.2, 0.2], group_size=2)
    assert torch.allclose(adv[:2], torch.tensor([1.0, -1.0]), atol=1e-3)  # (±0.5) / (0.5 + eps)
    assert torch.equal(adv[2:], torch.zeros(4))  # a group that agrees teaches nothing
    three = group_advantages([0.0, 1.0, 2.0], group_size=3)
    std = (2 / 3) ** 0.5
    assert torch.allclose(three, torch.tensor([-1.0, 0.0, 1.0]) / (std + 1e-4))


def test_grpo_loss_value_and_gradients():
    adv = torch.tensor([1.0, -1.0])
    logp = torch.tensor([-2.0, -3.0], requires_grad=True)
    ref = torch.tensor([-2.5, -2.0])
    loss, pg, kl = grpo_loss(adv, logp, ref, kl_coef=0.1)
    assert pg.item() == pytest.approx(-(1 * -2.0 + -1 * -3.0) / 2)  # −mean(adv · logp) = −0.5
    assert kl.item() == pytest.approx(((-2.0 + 2.5) + (-3.0 + 2.0)) / 2)  # mean(logp − ref) = −0.25
    assert loss.item() == pytest.approx(pg.item() + 0.1 * kl.item())
    loss.backward()
    # d/dlogp: −adv/N + kl_coef/N: raise the log-prob of the better sample, lower the worse one's
    assert torch.allclose(logp.grad, torch.tensor([-0.5 + 0.05, 0.5 + 0.05]))


def test_replay_buffer_keeps_recent_informative_samples():
    buf = ReplayBuffer(3, seed=0)
    buf.add([Sample([1], [2], 0.0), Sample([1], [3], 1.0)])
    assert len(buf) == 1  # zero advantage: no gradient, not stored
    buf.add([Sample([1], [k], float(k)) for k in range(4, 8)])
    assert len(buf) == 3 and [s.completion for s in buf.items] == [[5], [6], [7]]
    assert len(buf.sample(10)) == 3 and ReplayBuffer(0, 0).sample(2) == []
    none = ReplayBuffer(0, 0)
    none.add([Sample([1], [2], 1.0)])
    assert len(none) == 0  # replay_size 0 turns it off


def test_reference_snapshot_swap_and_refresh():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    ref = Reference([w])
    assert ref.refreshes == 0
    with torch.no_grad():
        w.add_(1.0)  # an optimizer step
    with ref.active():
        assert torch.equal(w.detach(), torch.tensor([1.0, 2.0]))  # the frozen snapshot
    assert torch.equal(w.detach(), torch.tensor([2.0, 3.0]))  # the live weights are back
    ref.refresh()
    assert ref.refreshes == 1
    with ref.active():
        assert torch.equal(w.detach(), torch.tensor([2.0, 3.0]))


# ------------------------------------------------------------------ with the smoke model
@pytest.fixture(scope="module")
def nohybrid_job(smoke_store, tmp_path_factory):
    """The bfcl-nohybrid train job on a copy of the smoke store (parent grpo-1k-def is built)."""
    from core.checkpoints import CheckpointStore
    from harness.plan import make_plan
    from harness.registry import load_registry

    store = tmp_path_factory.mktemp("bfcl-grpo") / "store"
    shutil.copytree(smoke_store, store)
    reg = load_registry(ROOT / "registry.yaml")
    plan = make_plan(reg, "smoke", ["bfcl-nohybrid"], [], CheckpointStore(store))
    job = next(j for j in plan.train if j.name == "bfcl-nohybrid")
    assert job.parent_adapter is not None and (job.parent_adapter / "adapter_config.json").is_file()
    return job


def test_sequence_logprobs_match_unpadded_forward(nohybrid_job):
    from trainers.bfcl_grpo import _setup

    model, tok = _setup(nohybrid_job)
    model.eval()
    prompts, comps = [[5, 6, 7, 8], [9, 10]], [[11, 12, 13], [14]]
    got = sequence_logprobs(model, prompts, comps, tok.pad_token_id)
    for i, (p, c) in enumerate(zip(prompts, comps)):
        ids = torch.tensor([p + c])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        want = sum(logp[len(p) - 1 + j, t].item() for j, t in enumerate(c))
        assert got[i].item() == pytest.approx(want, abs=1e-4)


def test_saved_single_adapter_equals_parent_plus_new(nohybrid_job, tmp_path):
    """The cat-combined adapter reproduces base + parent + fresh adapter exactly."""
    from peft import PeftModel

    from core.modeling import load_base
    from trainers.bfcl_grpo import _setup, save_single_adapter

    model, tok = _setup(nohybrid_job)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:  # the fresh adapter (B starts at 0): make it matter
                p.normal_(0, 0.2)
    model.eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        want = model(input_ids=ids).logits
        with model.disable_adapter():
            bare = model(input_ids=ids).logits
    info = save_single_adapter(model, tok, tmp_path / "adapter", has_parent=True)
    parent_r = model.peft_config["parent"].r
    assert info["rank"] == parent_r + nohybrid_job.hyper["lora_r"]
    base, _ = load_base(nohybrid_job.profile.base, nohybrid_job.base_path)
    loaded = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        got = loaded(input_ids=ids).logits
    assert not torch.allclose(bare, want, atol=1e-3)  # the adapters do change the output
    assert torch.allclose(got, want, atol=1e-4)


def test_train_a_few_steps_on_smoke(nohybrid_job, tmp_path):
    from core.bfcl.data import build_thesis_dataset
    from trainers.bfcl_grpo import train

    job = dataclasses.replace(nohybrid_job, hyper={**nohybrid_job.hyper, "epochs": 2, "patience": 5, "train_rows": 2, "test_rows": 2, "num_generations": 2,
                 "ref_refresh_steps": 2, "max_completion_length": 8})
    metrics = train(job, tmp_path)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert metrics["split_fingerprint"] == build_thesis_dataset(seed=3407)["fingerprint"]
    assert metrics["split_seed"] == 3407 and metrics["train_rows"] == 2 and metrics["test_rows"] == 2
    assert metrics["optimizer_steps"] == 4  # 2 prompts × 2 epochs, batch 1, grad_accum 1
    assert metrics["ref_refreshes"] == 2  # every 2 optimizer steps
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and not metrics["stopped_early"]
    for e in metrics["epochs"]:
        assert 0.0 <= e["test_reward_mean"] <= e["test_reward_best"] <= 1.0
        assert abs(e["kl"]) < 5.0 and e["loss"] == e["loss"]  # finite
    assert metrics["best_epoch"] in (1, 2)


def _teach_half_the_answers(job, items: list[dict], dest: Path, steps: int) -> float:
    """Save at ``dest`` a copy of the smoke base that answers each prompt with the right function
    half of the time and with a name the prompt does not list the other half: trained on both
    answers for every prompt, teacher-forced, so the name token's distribution is about even."""
    from core.modeling import load_base, use_thesis_template
    from core.thesis_format import SOLUTION_END, SOLUTION_START
    from trainers.bfcl_grpo import _prompts

    model, tok = load_base(job.profile.base, job.base_path, device="cpu")
    use_thesis_template(tok)
    prompts, _ = _prompts(items, tok, None)
    rows = []
    for p, it in zip(prompts, items):
        for name in (it["ground_truth"][0]["name"], "unlisted_function"):
            answer = f'{SOLUTION_START}[{{"name": "{name}", "parameters": {{}}}}]{SOLUTION_END}'
            rows.append((p, tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        total = 0.0
        for p, a in rows:
            ids = torch.tensor([p + a])
            labels = torch.tensor([[-100] * len(p) + a])
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            total += loss.item() / len(rows)
        opt.step()
        opt.zero_grad()
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    return total


def test_advantages_are_nonzero_and_the_update_is_real_when_rewards_differ(nohybrid_job, tmp_path):
    """#17: BFCL GRPO with a real signal on the smoke profile. The smoke base (1 layer, 30 steps)
    never names a listed function, so every group agrees and the update is the KL term alone
    (docs/tiny-experiments.md, section 6). Given a base that names one of the prompt's functions
    about half the time, groups disagree: the advantages are non-zero in every step, and the
    policy-gradient term moves the fresh adapter."""
    from safetensors.torch import load_file

    from core.bfcl.data import build_thesis_dataset
    from trainers.bfcl_grpo import train

    items = build_thesis_dataset(seed=3407)["train"][:1]  # two functions: one of them scores 0.5
    assert _teach_half_the_answers(nohybrid_job, items, tmp_path / "base", steps=80) < 0.1
    hyper = {**nohybrid_job.hyper, "epochs": 2, "patience": 5, "train_rows": 1, "test_rows": 1,
             "num_generations": 16, "max_completion_length": 40, "kl_coef": 0.0, "replay_size": 0}
    job = dataclasses.replace(nohybrid_job, base_path=tmp_path / "base", hyper=hyper)
    metrics = train(job, tmp_path / "out")
    for epoch in metrics["epochs"]:
        assert epoch["nonzero_advantage_share"] == 1.0, epoch
        assert 0.05 < epoch["train_reward"] < 0.5, epoch  # both answers were sampled
    # with kl_coef 0 and no replay, only the policy-gradient term can have moved the fresh adapter
    saved = load_file(tmp_path / "out" / "adapter" / "adapter_model.safetensors")
    fresh_b = [v[:, -hyper["lora_r"]:] for k, v in saved.items() if "lora_B" in k]  # "cat": parent's columns first
    assert fresh_b and any(v.abs().sum() > 0 for v in fresh_b)  # PEFT starts every B at 0
