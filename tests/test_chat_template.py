"""Per-model chat templates (``chat_template: thesis | native | <file>``) rendered by one function,
and the profile's temperature reaching the sampler."""
from __future__ import annotations

import shutil
import sqlite3

import pytest
import yaml

from benchkit import ROOT, bench
from core.thesis_format import CHAT_TEMPLATE, REASONING_START, messages

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def native_folder(smoke_base, tmp_path_factory):
    """The smoke base saved as a hub-style folder whose own template is ChatML, not the thesis's."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("native") / "model"
    shutil.copytree(smoke_base, folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    tok.chat_template = CHATML
    tok.save_pretrained(str(folder))
    return folder


def test_render_prompt_per_choice(native_folder, tmp_path):
    from transformers import AutoTokenizer

    from core.errors import BadInput
    from core.modeling import render_prompt

    tok = AutoTokenizer.from_pretrained(str(native_folder))
    msgs = messages("What is 2 + 2?")
    thesis = render_prompt(tok, msgs, "thesis")
    assert thesis.endswith(REASONING_START) and "<|im_start|>" not in thesis
    assert thesis == tok.apply_chat_template(msgs, chat_template=CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True)
    native = render_prompt(tok, msgs, "native")
    assert native.startswith("<|im_start|>system") and native.endswith("<|im_start|>assistant\n")
    f = tmp_path / "t.jinja"
    f.write_text("{% for m in messages %}[{{ m['content'] }}]{% endfor %}>>")
    assert render_prompt(tok, msgs, str(f)).endswith("[What is 2 + 2?]>>")
    with pytest.raises(BadInput, match="neither thesis, native"):
        render_prompt(tok, msgs, str(tmp_path / "missing.jinja"))


def test_load_base_keeps_the_native_template(native_folder):
    """Before: load_base overwrote every tokenizer's template with the thesis one, so a hub
    baseline was evaluated with a template it never saw."""
    from core.config import BaseSpec
    from core.modeling import load_base

    _, tok = load_base(BaseSpec(kind="local", id=str(native_folder)), None)
    assert tok.chat_template == CHATML


def test_defaults_per_kind_and_fingerprints(tmp_path, native_folder):
    from core.modeling import template_choice
    from harness.registry import load_registry
    from models import fingerprint

    raw = yaml.safe_load((ROOT / "registry.yaml").read_text())
    raw["models"]["hub-baseline"] = {"kind": "hf", "path": str(native_folder)}
    raw["models"]["hub-baseline-thesis"] = {"kind": "hf", "path": str(native_folder), "chat_template": "thesis"}
    raw["models"]["sft-native"] = {**raw["models"]["sft"], "chat_template": "native"}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw))
    reg = load_registry(path)
    prof = reg.profile("smoke")
    assert template_choice(reg.models["hub-baseline"]) == "native"
    assert template_choice(reg.models["sft"]) == "thesis" and template_choice(reg.models["base"]) == "thesis"
    assert template_choice(reg.models["grpo-hybrid"]) == "thesis"
    # a different template is a different model: its cells are never mixed up
    assert fingerprint(reg, prof, "hub-baseline") != fingerprint(reg, prof, "hub-baseline-thesis")
    assert fingerprint(reg, prof, "sft-native") != fingerprint(reg, prof, "sft")


def test_hf_backend_generates_from_the_models_template(native_folder):
    """The hf backend renders with the template it is given (the handle passes the model's), and
    its greedy output equals a generation from the text ``render_prompt`` makes."""
    import torch

    from core.config import BaseSpec
    from core.modeling import prompt_ids
    from models.backends.hf import HFBackend

    be = HFBackend(BaseSpec(kind="local", id=str(native_folder)), None)
    prompts = [messages("Tom has 3 apples and buys 4 more. How many apples?"), messages("What is 9 - 2?")]

    def direct(template):
        out = []
        for p in prompts:
            ids = torch.tensor([prompt_ids(be.tok, p, template)], device=be.device)
            with torch.inference_mode():
                gen = be.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                        do_sample=False, eos_token_id=be.tok.eos_token_id, pad_token_id=be.tok.pad_token_id)
            out.append(be._decode(gen[0, ids.shape[1]:].tolist(), be.tok.eos_token_id)[0])
        return out

    native, thesis = direct("native"), direct("thesis")
    assert native != thesis  # the templates matter for this model
    assert [t for t, _ in be.generate(prompts, 8, 1, chat_template="native")] == native
    assert [t for t, _ in be.generate(prompts, 8, 1, chat_template="thesis")] == thesis
    assert [t for t, _ in be.generate(prompts, 8, 1)] == thesis  # the default: the thesis template


def test_open_model_gives_hf_baselines_the_native_template(tmp_path, native_folder, smoke_store):
    from core.context import Context
    from harness.registry import load_registry
    from models import open_model

    raw = yaml.safe_load((ROOT / "registry.yaml").read_text())
    raw["models"]["hub-baseline"] = {"kind": "hf", "path": str(native_folder)}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw))
    ctx = Context(reg=load_registry(path), profile_name="smoke", store_dir=smoke_store)
    assert open_model(ctx, "hub-baseline").chat_template == "native"
    assert open_model(ctx, "sft").chat_template == "thesis"


def test_sampling_settings_reach_generate():
    from models.backends.hf import decoding

    assert decoding(None) == {"do_sample": False}
    assert decoding({"temperature": 0.0}) == {"do_sample": False}  # 0 means greedy, as in the APIs
    assert decoding({"temperature": 0.7, "top_p": 0.9}) == {"do_sample": True, "temperature": 0.7, "top_p": 0.9}
    assert decoding({"temperature": 0.7, "seed": 3}) == {"do_sample": True, "temperature": 0.7}  # seeds torch instead


def test_profile_sampling_carries_temperature_and_seed():
    from core.config import GenerationSpec
    from harness.runner import profile_sampling

    assert profile_sampling(GenerationSpec()) is None
    assert profile_sampling(GenerationSpec(temperature=0.6)) == {"temperature": 0.6}
    assert profile_sampling(GenerationSpec(temperature=0.6, seed=7)) == {"temperature": 0.6, "seed": 7}


def test_profile_temperature_reaches_the_sampler(smoke_store, tmp_path):
    """``generation.temperature`` is in the cache key; before the fix it never reached the sampler,
    so a "temperature 5" cell held the greedy completions. Now they differ."""
    store = tmp_path / "store"
    shutil.copytree(smoke_store, store)
    raw = yaml.safe_load((ROOT / "registry.yaml").read_text())
    raw["profiles"]["smoke"]["generation"]["temperature"] = 5.0
    hot = tmp_path / "registry.yaml"
    hot.write_text(yaml.safe_dump(raw))
    r = bench("run", "--profile", "smoke", "--models", "sft", "--suite", "indomain", "--store", str(store),
              "--registry", str(hot))
    assert r.returncode == 0, r.stderr[-2000:]
    with sqlite3.connect(store / "bench.sqlite") as db:
        fp = db.execute("SELECT model_fp FROM cells WHERE model='sft' AND suite='indomain'").fetchone()[0]
        rows = db.execute("SELECT gen_hash, item_id, completion FROM generations WHERE model_fp=? AND suite='indomain'",
                          (fp,)).fetchall()
    by_hash: dict = {}
    for h, item, text in rows:
        by_hash.setdefault(h, {})[item] = text
    assert len(by_hash) == 2  # the greedy cell (from the fixture) and the temperature-5 cell
    greedy, hot_cell = by_hash.values()
    assert greedy.keys() == hot_cell.keys()
    differ = sum(greedy[i] != hot_cell[i] for i in greedy)
    assert differ >= len(greedy) // 2, differ
