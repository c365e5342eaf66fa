"""The hf backend's fast decode loop (core/fast_decode.py) against HF ``generate`` on a
real (tiny, randomly initialised Qwen3 + random LoRA) model built here: token-identical greedy
output, finished rows leaving the batch, one prefill per prompt for n > 1, EOS, on_batch calls,
HF's own logits processors for sampling, and the lean LoRA forward's bitwise equality."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from core.modeling import LORA_TARGETS  # noqa: E402  (tiny_lora's adapter trains these)

@pytest.fixture(scope="module")
def backend(tiny_lora):
    from models.backends.hf import HFBackend

    spec, base, adapter = tiny_lora
    be = HFBackend(spec, base, device="cpu")
    be.use(adapter, key="lora")
    return be


def _prompts(k: int = 11) -> list[list[dict]]:
    """Chat prompts of mixed lengths (a few tokens to several dozen)."""
    return [[{"role": "user", "content": " ".join(f"{i} + {j} = ?" for j in range(1 + (i * 7) % 9))}]
            for i in range(k)]


def _run(be, loop: str, prompts, **kw):
    calls = []
    be.loop = loop
    out = be.generate(prompts, kw.pop("max_new_tokens", 20), kw.pop("batch_size", 4),
                      on_batch=lambda idx, res: calls.append((list(idx), list(res))), **kw)
    return out, calls


def _batch_sizes(model):
    """Rows of each forward call of ``model`` (prefill: more than one position)."""
    seen = []

    def hook(_module, _args, kwargs):
        ids = kwargs.get("input_ids")
        seen.append((ids.shape[0], ids.shape[1]))

    return seen, model.register_forward_pre_hook(hook, with_kwargs=True)


def test_greedy_is_token_identical_to_generate_with_the_same_on_batch_calls(backend):
    prompts = _prompts()
    ref, ref_calls = _run(backend, "generate", prompts)
    out, calls = _run(backend, "fast", prompts)
    assert out == ref
    assert calls == ref_calls  # same batches, same order, same results handed to the store
    assert all(isinstance(r[0], str) and r[1] > 0 for r in out)


def test_cpu_default_is_the_fast_loop_and_a_bad_loop_is_one_line(backend, tmp_path):
    from core.config import BaseSpec
    from core.errors import BadInput
    from models.backends.hf import HFBackend

    assert HFBackend.LOOPS[0] == "fast" and backend.description["loop"] == "fast"
    with pytest.raises(BadInput, match="unknown decode loop"):
        HFBackend(BaseSpec(kind="tiny"), None, device="cpu", loop="turbo")


def _eos_candidate(model, ids, steps: int) -> int:
    """A token that HF's greedy output emits early in some rows and not at all in others, so that
    using it as EOS makes rows finish at different steps."""
    full = _hf_generate(model, ids, steps, -1, 0)
    first = {}
    for r, row in enumerate(full):
        for pos, t in enumerate(row):
            first.setdefault(t, {}).setdefault(r, pos)
    best = max(first, key=lambda t: (0 < len(first[t]) < len(full), -min(first[t].values())))
    assert 0 < len(first[best]) < len(full), "no token splits the rows; change the prompts"
    return best


def _hf_generate(model, ids, max_new, eos, pad, n=1):
    width = max(map(len, ids))
    x = torch.tensor([[pad] * (width - len(p)) + p for p in ids])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in ids])
    with torch.inference_mode():
        out = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                             eos_token_id=eos if eos >= 0 else None, pad_token_id=pad, num_return_sequences=n)
    rows = out[:, width:].tolist()
    return [r[:r.index(eos) + 1] if eos in r else r for r in rows]


@pytest.mark.parametrize("compact_every", [1, 3])
def test_eos_rows_leave_the_batch_and_the_rest_is_unchanged(backend, compact_every):
    from core.modeling import prompt_ids
    from core.fast_decode import generate_batch

    ids = [prompt_ids(backend.tok, p) for p in _prompts(8)]
    model = backend.model
    eos = _eos_candidate(model, ids, 16)
    ref = _hf_generate(model, ids, 16, eos, 0)
    seen, hook = _batch_sizes(model)
    try:
        with torch.inference_mode():
            out = generate_batch(model, ids, 16, eos, 0, {"do_sample": False}, compact_every=compact_every)
    finally:
        hook.remove()
    assert out == ref
    assert any(r[-1] == eos and len(r) < 16 for r in out) and any(eos not in r for r in out)
    rows = [b for b, width in seen if width == 1]
    assert rows[0] <= len(ids) and rows[-1] < len(ids)  # finished rows were dropped
    assert rows == sorted(rows, reverse=True)


def test_greedy_n_samples_prefill_each_prompt_once_and_equal_generate(backend):
    from core.modeling import prompt_ids
    from core.fast_decode import generate_batch

    ids = [prompt_ids(backend.tok, p) for p in _prompts(8)]
    model = backend.model
    eos = _eos_candidate(model, ids, 12)  # rows end at different steps: compaction runs too
    seen, hook = _batch_sizes(model)
    try:
        with torch.inference_mode():
            out = generate_batch(model, ids, 12, eos, backend.tok.pad_token_id, {"do_sample": False}, n=3)
    finally:
        hook.remove()
    assert seen[0][0] == len(ids) and all(w == 1 for _, w in seen[1:])  # one prefill, of unique prompts
    assert all(b <= len(ids) for b, _ in seen[1:])  # greedy copies are equal: decoded once
    # generate() refuses greedy num_return_sequences > 1; its n=1 completion is what each copy must be
    ref = _hf_generate(model, ids, 12, eos, backend.tok.pad_token_id)
    assert out == [r for r in ref for _ in range(3)]
    assert any(b < len(ids) for b, _ in seen[1:])  # finished rows left the batch


def test_sampling_prefills_once_repeats_the_cache_and_is_seeded(backend):
    prompts = _prompts(6)
    sampling = {"temperature": 1.5, "top_p": 0.95, "seed": 7}
    seen, hook = _batch_sizes(backend.model)
    try:
        a, _ = _run(backend, "fast", prompts, sampling=sampling, n=3, batch_size=6)
    finally:
        hook.remove()
    b, _ = _run(backend, "fast", prompts, sampling=sampling, n=3, batch_size=6)
    c, _ = _run(backend, "fast", prompts, sampling={**sampling, "seed": 8}, n=3, batch_size=6)
    assert a == b and a != c  # seeded: repeats; another seed: another draw
    assert all(len(samples) == 3 for samples in a)
    prefill = [rows for rows, width in seen if width > 1]
    assert prefill == [6] and seen[1][0] == 18  # 6 prompts prefilled once, decoded as 18 rows


@pytest.mark.parametrize("n", [1, 3])
def test_sampling_draws_what_generate_draws(backend, n):
    """Same seed, same processors, the multinomial over the full batch: sampled completions are
    token-identical to generate()'s, across batches (the generator's state carries over), with
    rows ending at different steps (EOS: a token this random model emits often)."""
    from collections import Counter

    from core.modeling import prompt_ids
    from core.fast_decode import generate_batch

    prompts = _prompts(9)
    ids = [prompt_ids(backend.tok, p) for p in prompts]
    with torch.inference_mode():
        greedy = generate_batch(backend.model, ids, 20, -1, backend.tok.pad_token_id, {"do_sample": False})
    frequent = Counter(t for row in greedy for t in row[2:]).most_common(1)[0][0]
    sampling = {"temperature": 0.9, "top_p": 0.95, "min_p": 0.02, "seed": 3}
    eos = backend.tok.eos_token
    backend.tok.eos_token = backend.tok.convert_ids_to_tokens(frequent)
    try:
        ref, ref_calls = _run(backend, "generate", prompts, sampling=sampling, n=n, batch_size=4)
        out, calls = _run(backend, "fast", prompts, sampling=sampling, n=n, batch_size=4)
    finally:
        backend.tok.eos_token = eos
    assert out == ref and calls == ref_calls
    flat = [s for r in out for s in (r if n > 1 else [r])]
    assert len(set(flat)) > len(flat) // 2  # really sampled: mostly distinct completions
    assert any(c < 20 for _, c in flat) and any(c == 20 for _, c in flat)  # rows ended at different steps


def test_the_models_own_generation_config_applies_as_in_generate(backend):
    """A hub model's generation_config can carry processors (repetition penalty, min_new_tokens):
    the fast loop builds them as generate() does and feeds them the rows' own history, which it
    keeps aligned while finished rows leave (EOS here: a token the model emits often)."""
    from collections import Counter

    from core.modeling import prompt_ids
    from core.fast_decode import generate_batch

    prompts = _prompts(9)
    ids = [prompt_ids(backend.tok, p) for p in prompts]
    with torch.inference_mode():
        greedy = generate_batch(backend.model, ids, 20, -1, backend.tok.pad_token_id, {"do_sample": False})
    frequent = Counter(t for row in greedy for t in row[2:]).most_common(1)[0][0]
    cfg = backend.model.get_base_model().generation_config
    eos = backend.tok.eos_token
    backend.tok.eos_token = backend.tok.convert_ids_to_tokens(frequent)
    cfg.repetition_penalty, cfg.min_new_tokens = 1.05, 3
    try:
        ref, _ = _run(backend, "generate", prompts, batch_size=5)
        out, _ = _run(backend, "fast", prompts, batch_size=5)
        cfg.repetition_penalty, cfg.min_new_tokens = 1.0, None
        plain, _ = _run(backend, "fast", prompts, batch_size=5)
    finally:
        backend.tok.eos_token = eos
        cfg.repetition_penalty, cfg.min_new_tokens = 1.0, None
    assert out == ref
    assert out != plain  # the processors did change the output
    assert min(c for _, c in out) >= 3 and any(c < 20 for _, c in out)


def test_sampling_uses_hfs_logits_processors(backend):
    """top_k=1 leaves one token to draw: sampling through HF's warpers must then equal greedy."""
    from transformers import MinPLogitsWarper, TemperatureLogitsWarper, TopPLogitsWarper

    from core.fast_decode import processors
    from models.backends.hf import decoding

    procs, do_sample = processors(backend.model, decoding({"temperature": 0.7, "top_p": 0.9, "min_p": 0.05}), 10, "cpu")
    kinds = {type(p) for p in procs}
    assert do_sample and {TemperatureLogitsWarper, TopPLogitsWarper, MinPLogitsWarper} <= kinds
    prompts = _prompts(6)
    greedy, _ = _run(backend, "fast", prompts)
    sampled, _ = _run(backend, "fast", prompts, sampling={"temperature": 1.0, "top_k": 1, "seed": 1})
    assert sampled == greedy


def test_lean_lora_is_bitwise_equal_and_restores_peft(backend):
    from core.lean_lora import lean_lora

    model = backend.model
    x = torch.randint(0, 300, (3, 17))
    with torch.inference_mode():
        ref = model(input_ids=x).logits
        with lean_lora(model) as swapped:
            lean = model(input_ids=x).logits
        again = model(input_ids=x).logits
    assert swapped == 2 * len(LORA_TARGETS)  # every LoRA linear of both layers
    assert torch.equal(ref, lean) and torch.equal(ref, again)
    assert not any("forward" in vars(m) for m in model.modules())
    q = model.get_base_model().model.layers[0].self_attn.q_proj
    hook = q.base_layer.register_forward_hook(lambda *a: None)  # e.g. accelerate's offload hook
    try:
        with lean_lora(model) as swapped:
            assert swapped == 2 * len(LORA_TARGETS) - 1 and "forward" not in vars(q)
    finally:
        hook.remove()
    model.disable_adapter_layers()
    try:
        with lean_lora(model) as swapped:
            assert swapped == 0  # a disabled adapter keeps peft's own path
    finally:
        model.enable_adapter_layers()


@pytest.mark.parametrize("scaling", [2.0, 1.5, 0.25])
def test_lean_forward_equals_the_lora_expression(scaling):
    """Both branches (a power-of-two scaling folded into B, any other multiplied after) give
    bitwise what peft computes: base(x) + B(A(x)) * scaling."""
    from core.lean_lora import _lean_forward

    torch.manual_seed(1)
    base = torch.nn.Linear(24, 40, bias=True)
    a, b = torch.nn.Linear(24, 4, bias=False), torch.nn.Linear(4, 40, bias=False)
    x = torch.randn(7, 5, 24)
    with torch.inference_mode():
        assert torch.equal(_lean_forward(base, a, b, scaling)(x), base(x) + b(a(x)) * scaling)


def _trl_config(tok, eos_ids, **over):
    """A GenerationConfig as TRL's GRPOTrainer builds it for its rollouts."""
    from transformers import GenerationConfig

    kw = dict(max_new_tokens=18, do_sample=True, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
              eos_token_id=eos_ids, temperature=0.9, top_p=0.95, top_k=0, min_p=0.02, repetition_penalty=1.05,
              cache_implementation=None, disable_compile=True)
    return GenerationConfig(**{**kw, **over})


@pytest.mark.parametrize("n,repeats", [(1, 1), (2, 1), (1, 3)])
def test_rollout_generate_returns_what_generate_returns(backend, n, repeats):
    """TRL's rollout call, ``model.generate(input_ids, attention_mask, generation_config=...)``, on a
    left-padded batch with the policy in training mode, two EOS ids (one the model emits often, so
    rows end at different steps) and seeded sampling: the fast loop's tensor equals generate()'s.
    ``repeats``: each prompt on that many rows in a row, as TRL lays out a group (prefilled once)."""
    from collections import Counter

    from core.fast_decode import rollout_generate
    from core.modeling import prompt_ids

    model, tok = backend.model, backend.tok
    ids = [prompt_ids(tok, p) for p in _prompts(7) for _ in range(repeats)]
    batch = tok.pad({"input_ids": ids}, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()  # really padded
    with torch.inference_mode():
        greedy = type(model).generate(model, **batch, max_new_tokens=18, do_sample=False, pad_token_id=tok.pad_token_id)
    frequent = Counter(greedy[:, batch["input_ids"].shape[1] + 2:].flatten().tolist()).most_common(1)[0][0]
    config = _trl_config(tok, [tok.eos_token_id, frequent], num_return_sequences=n)
    model.train()
    try:
        outs = []
        for run in (lambda: type(model).generate(model, **batch, generation_config=config),
                    lambda: rollout_generate(model, **batch, generation_config=config)):
            torch.manual_seed(11)
            outs.append(run())
    finally:
        model.eval()
    ref, out = outs
    assert out.shape == ref.shape and torch.equal(out, ref)
    new = ref[:, batch["input_ids"].shape[1]:]
    assert (new == tok.pad_token_id).any(dim=1).any() and not (new == tok.pad_token_id).any(dim=1).all()


def test_rollout_generate_hands_what_it_does_not_cover_to_generate(backend):
    """Beam search is not the fast loop's: the stand-in passes the call on, and the result is generate()'s."""
    from core.fast_decode import rollout_generate
    from core.modeling import prompt_ids

    model, tok = backend.model, backend.tok
    batch = tok.pad({"input_ids": [prompt_ids(tok, p) for p in _prompts(3)]}, padding=True, return_tensors="pt")
    config = _trl_config(tok, [tok.eos_token_id], do_sample=False, num_beams=2)
    ref = type(model).generate(model, **batch, generation_config=config)
    assert torch.equal(rollout_generate(model, **batch, generation_config=config), ref)


def test_use_fast_rollouts_only_on_a_cpu(backend):
    import functools

    from core.fast_decode import default_loop, use_fast_rollouts

    assert default_loop("cpu") == "fast" and default_loop("cuda:0") == "generate"
    model = backend.model
    try:
        assert not use_fast_rollouts(model, "cuda") and "generate" not in vars(model)
        assert use_fast_rollouts(model, "cpu") and isinstance(model.generate, functools.partial)
    finally:
        vars(model).pop("generate", None)
