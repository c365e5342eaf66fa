"""Intrinsic signals on a tiny random Qwen3 against an independent, unbatched computation."""

import copy
import math

import pytest
import torch

pytest.importorskip("transformers")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM  # noqa: E402

import core.rewards as R  # noqa: E402
from core.thesis_format import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START, SYSTEM_PROMPT, TAGS  # noqa: E402

CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] + eos_token }}"
    "{% elif m['role'] == 'user' %}{{ m['content'] }}{% else %}{{ m['content'] + eos_token }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '" + REASONING_START + "' }}{% endif %}"
)
CORPUS = [
    "The answer is 42 because 6 times 7 is 42. First add, then divide. So the café costs 3.50 euros. "
    "Therefore x = 12 since 5 + 7 = 12; the train goes 60 km/h. Naïve 15% of 240 is 36."
] * 10


@pytest.fixture(scope="module")
def tok():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=290,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=["<|endoftext|>"],
            show_progress=False,
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=t, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.add_tokens(list(TAGS))  # non-special added tokens, kept by skip_special_tokens decoding
    fast.chat_template = CHAT_TEMPLATE
    assert len(fast) <= 300
    return fast


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1234)
    cfg = Qwen3Config(
        vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, head_dim=8,
    )
    m = Qwen3ForCausalLM(cfg).eval()
    with torch.no_grad():  # sharpen the random model a bit so probabilities vary more
        m.lm_head.weight.mul_(20.0)
    return m


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny matmuls: thread start-up dominates, and the CI machine's cores are shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _unbind():
    yield
    R.unbind_policy()


def enc(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def tid(tok, token):
    return tok.convert_tokens_to_ids(token)


def build(tok, reasoning, answer, tail=()):
    """Completion ids assembled from pieces, and the answer's token span known by construction."""
    ids = enc(tok, reasoning) + [tid(tok, REASONING_END)]
    if answer is None:
        return ids + list(tail), None
    ids += [tid(tok, SOLUTION_START)]
    a = len(ids)
    ids += enc(tok, answer)
    span = (a, len(ids))
    return ids + [tid(tok, SOLUTION_END)] + list(tail), span


def independent(model, prompt_ids, completion_ids, span):
    """Plain loop, one sequence at a time, full logits from the model's own forward."""
    ids = torch.tensor([list(prompt_ids) + list(completion_ids)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    P = len(prompt_ids)
    lp = [logp[P + k - 1, completion_ids[k]].item() for k in range(len(completion_ids))]
    ent = -(logp.exp() * logp).sum(-1)
    ans = math.exp(sum(lp[span[0] : span[1]]) / (span[1] - span[0])) if span else 0.0
    return ans, math.exp(sum(lp) / len(lp)), 1 - ent.mean().item() / math.log(logp.shape[-1])


def prompts_for(n):
    qs = ["What is 6 times 7?", "Price of a café?", "x + 5 = 12", "15% of 240"]
    return [[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": qs[i % 4]}] for i in range(n)]


@pytest.fixture(scope="module")
def batch(tok):
    eos = tid(tok, "<|endoftext|>")
    items = [
        build(tok, "café 6 times 7 is 42", "42", tail=[eos]),
        build(tok, "x", "3.50 euros"),
        build(tok, "Naïve: First add, then divide. Therefore x = 12 since 5 + 7 = 12.", "12", tail=[eos]),
        build(tok, "no solution here, so unknown", None),
    ]
    return [c for c, _ in items], [s for _, s in items]


def test_encode_prompts_uses_generation_prompt(tok):
    p = prompts_for(1)[0]
    ids = R.encode_prompts(tok, [p, "plain text prompt"])
    assert tok.decode(ids[0]).endswith(REASONING_START)
    assert ids[0][-1] == tid(tok, REASONING_START)
    assert ids[1] == enc(tok, "plain text prompt")
    assert R.encode_prompts(tok, ["plain text prompt"], max_length=2)[0] == ids[1][-2:]  # left truncation


def test_char_span_mapping_matches_construction(tok, batch):
    completions, spans = batch
    for ids, span in zip(completions, spans):
        text = R.decode_completion(tok, ids)
        got = R.char_span_to_token_span(tok, ids, R.solution_span(text))
        assert got == span, (text, got, span)


@pytest.mark.parametrize(
    "text",
    [
        "café<end_working_out><SOLUTION> 3.50 euros </SOLUTION>",
        "Naïve ×2<end_working_out><SOLUTION>naïve é</SOLUTION> tail",
        "<SOLUTION>\n  -7\n</SOLUTION>",
        "so 42<SOLUTION>42</SOLUTION>",
    ],
)
def test_char_span_mapping_matches_offsets(tok, text):
    """Tokens chosen = exactly the tokens whose byte range overlaps the solution (offset mapping)."""
    e = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offs = e["input_ids"], e["offset_mapping"]
    assert R.decode_completion(tok, ids) == text
    s, t = R.solution_span(text)
    overlapping = [i for i, (a, b) in enumerate(offs) if a < t and b > s]
    got = R.char_span_to_token_span(tok, ids, (s, t))
    assert list(range(*got)) == overlapping
    assert text[s:t].strip() in R.decode_completion(tok, ids[got[0] : got[1]])


def test_no_solution_maps_to_none(tok):
    assert R.char_span_to_token_span(tok, enc(tok, "abc"), None) is None
    assert R.solution_span("<SOLUTION>   </SOLUTION>") is None


def test_batched_matches_independent(model, tok, batch):
    completions, spans = batch
    prompts = prompts_for(len(completions))
    prompt_ids = R.encode_prompts(tok, prompts)
    assert len({len(p) + len(c) for p, c in zip(prompt_ids, completions)}) > 1  # padding exercised
    text_spans = [R.solution_span(R.decode_completion(tok, c)) for c in completions]
    sig = R.token_signals(prompt_ids, completions, text_spans, model=model, tokenizer=tok, chunk_size=5)
    for i, (p, c, s) in enumerate(zip(prompt_ids, completions, spans)):
        ans, seq, ent = independent(model, p, c, s)
        assert sig.answer_certainty[i] == pytest.approx(ans, abs=1e-5)
        assert sig.sequence_confidence[i] == pytest.approx(seq, abs=1e-5)
        assert sig.entropy_confidence[i] == pytest.approx(ent, abs=1e-5)
    assert sig.answer_certainty[3] == 0.0
    assert 0 < min(sig.answer_certainty[:3]) and max(sig.sequence_confidence) < 1


def test_chunking_is_invisible(model, tok, batch):
    completions, spans = batch
    prompt_ids = R.encode_prompts(tok, prompts_for(len(completions)))
    runs = [
        R.token_signals(prompt_ids, completions, solution_token_spans=spans, model=model, tokenizer=tok, chunk_size=cs)
        for cs in (None, 1, 7, 256)
    ]
    for other in runs[1:]:
        for field in ("answer_certainty", "sequence_confidence", "entropy_confidence"):
            assert getattr(other, field) == pytest.approx(getattr(runs[0], field), abs=1e-6)


def test_one_batched_forward_and_mode_restored(model, tok, batch):
    completions, spans = batch
    calls = []
    hook = model.model.register_forward_hook(lambda mod, args, out: calls.append(1))
    try:
        model.train()
        R.bind_policy(model, tok, chunk_size=4)
        R.policy_signals(prompts_for(len(completions)), None, completion_ids=completions)
        assert model.training is True
        model.eval()
        R.policy_signals(prompts_for(len(completions)), None, completion_ids=completions)
        assert model.training is False
    finally:
        hook.remove()
        model.eval()
    assert len(calls) == 2  # one forward per call, whole batch at once


def test_policy_signals_text_path(model, tok):
    """Without completion_ids the completion text is tokenized with the bound tokenizer."""
    texts = ["café 6 times 7<end_working_out><SOLUTION>42</SOLUTION>", "x<end_working_out><SOLUTION> 3.50 euros</SOLUTION>"]
    prompts = prompts_for(2)
    R.bind_policy(model, tok)
    sig = R.policy_signals(prompts, [[{"role": "assistant", "content": t}] for t in texts])
    for i, t in enumerate(texts):
        c = enc(tok, t)
        span = R.char_span_to_token_span(tok, c, R.solution_span(t))
        p = R.encode_prompts(tok, [prompts[i]])[0]
        ans, seq, ent = independent(model, p, c, span)
        assert sig.answer_certainty[i] == pytest.approx(ans, abs=1e-5)
        assert sig.sequence_confidence[i] == pytest.approx(seq, abs=1e-5)
        assert sig.entropy_confidence[i] == pytest.approx(ent, abs=1e-5)


def test_peft_model(model, tok, batch):
    peft = pytest.importorskip("peft")
    lora = peft.get_peft_model(copy.deepcopy(model), peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():  # make the adapter matter
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    completions, spans = batch
    prompt_ids = R.encode_prompts(tok, prompts_for(len(completions)))
    sig = R.token_signals(prompt_ids, completions, solution_token_spans=spans, model=lora, tokenizer=tok)
    base = R.token_signals(prompt_ids, completions, solution_token_spans=spans, model=model, tokenizer=tok)
    for i, (p, c, s) in enumerate(zip(prompt_ids, completions, spans)):
        ans, seq, _ = independent(lora, p, c, s)
        assert sig.answer_certainty[i] == pytest.approx(ans, abs=1e-5)
        assert sig.sequence_confidence[i] == pytest.approx(seq, abs=1e-5)
    assert sig.sequence_confidence != pytest.approx(base.sequence_confidence, abs=1e-4)


@pytest.mark.parametrize("unbind", [R.unbind_policy, lambda: R.bind_policy(None, None)])
def test_unbound_policy_raises(model, tok, unbind):
    R.bind_policy(model, tok)
    unbind()
    with pytest.raises(RuntimeError, match="bind_policy"):
        R.get_reward("intuitor")(["p"], ["<SOLUTION>1</SOLUTION>"])


def test_intrinsic_rewards_end_to_end(model, tok, batch):
    from types import SimpleNamespace

    completions, spans = batch
    prompts = prompts_for(len(completions))
    texts = [[{"role": "assistant", "content": R.decode_completion(tok, c)}] for c in completions]
    R.bind_policy(model, tok)
    sig = R.policy_signals(prompts, texts, completion_ids=completions)
    answer = ["42", "3.5", "12", "7"]
    state = SimpleNamespace(epoch=0.5, num_train_epochs=1, global_step=5, max_steps=10)
    logged = {}
    kw = dict(completion_ids=completions, answer=answer, trainer_state=state, log_metric=logged.__setitem__, extra_col=[0] * 4)
    raw = [R.intuitor_score(i != 3, a, s, e) for i, (a, s, e) in enumerate(zip(sig.answer_certainty, sig.sequence_confidence, sig.entropy_confidence))]
    assert R.intuitor_fixed(prompts, texts, **kw) == pytest.approx(raw)
    assert R.intuitor(prompts, texts, **kw) == pytest.approx(R.zscore_clip(raw, 10))
    assert logged["intrinsic/answer_certainty"] == pytest.approx(sum(sig.answer_certainty) / 4)
    plain = [t[0]["content"] for t in texts]
    fixed = [R.hybrid_score(R.extract_solution(t), R.extract_reasoning(R.with_prompt_start(t)), a, c, 0.5)
             for t, a, c in zip(plain, answer, sig.answer_certainty)]
    assert R.hybrid_fixed(prompts, texts, **kw) == pytest.approx(fixed)
    assert R.hybrid(prompts, texts, **kw) == pytest.approx(R.zscore_clip([-2.0, -2.0, -2.0, -3.0], 3))
    dual = R.dualhead_fixed(prompts, texts, **kw)
    assert dual[3] == -10.0 and all(-10 < d < 2 for d in dual[:3])
    assert len(R.dualhead(prompts, texts, **kw)) == 4


def test_without_prompt_first_token_is_unscored(model, tok, batch):
    completions, spans = batch
    sig = R.token_signals(None, completions, solution_token_spans=spans, model=model, tokenizer=tok)
    for i, c in enumerate(completions):
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([c])).logits[0], dim=-1)
        lp = [logp[k - 1, c[k]].item() for k in range(1, len(c))]
        assert sig.sequence_confidence[i] == pytest.approx(math.exp(sum(lp) / len(lp)), abs=1e-5)


def test_micro_batches_respect_the_token_budget():
    from core.rewards._intrinsic import micro_batches

    assert micro_batches([5, 5, 5, 5], None) == [[0, 1, 2, 3]]
    assert micro_batches([5, 5, 5, 5], 10) == [[0, 1], [2, 3]]  # 2 rows × 5 padded tokens
    assert micro_batches([3, 9, 2], 12) == [[0], [1], [2]]  # [3, 9] would pad to 2 × 9 = 18
    assert micro_batches([40, 1], 8) == [[0], [1]]  # longer than the budget: alone
    assert micro_batches([], 8) == []


def test_token_budget_splits_the_forward_and_changes_no_reward(model, tok, batch):
    """Intrinsic rewards under a tiny token budget (one sequence per forward) equal those from
    one forward over the whole batch, to 1e-6; the forward count shows the split happened."""
    from types import SimpleNamespace

    completions, _ = batch
    prompts = prompts_for(len(completions))
    texts = [[{"role": "assistant", "content": R.decode_completion(tok, c)}] for c in completions]
    state = SimpleNamespace(epoch=0.5, num_train_epochs=1, global_step=5, max_steps=10)
    kw = dict(completion_ids=completions, answer=["42", "3.5", "12", "7"], trainer_state=state,
              log_metric=lambda *a: None)
    out, calls = {}, []
    hook = model.model.register_forward_hook(lambda mod, args, o: calls.append(1))
    try:
        for budget in (None, 1, 10**6):
            R.bind_policy(model, tok, token_budget=budget)
            calls.clear()
            out[budget] = {name: R.get_reward(name)(prompts, texts, **kw)
                           for name in ("intuitor_fixed", "hybrid_fixed", "dualhead_fixed")}
            out[budget]["forwards"] = len(calls) // 3
    finally:
        hook.remove()
    assert out[None]["forwards"] == 1 and out[10**6]["forwards"] == 1
    assert out[1]["forwards"] == len(completions)
    for name in ("intuitor_fixed", "hybrid_fixed", "dualhead_fixed"):
        assert out[1][name] == pytest.approx(out[None][name], abs=1e-6)
        assert out[10**6][name] == pytest.approx(out[None][name], abs=1e-6)
