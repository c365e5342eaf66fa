"""grpo-bench's hf backend vs. lm-eval's own `hf` model on the same prompts, token budget and
greedy decoding: generation alone (in process) and whole-command wall time (subprocesses)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from core.context import Context
from harness.runner import model_handle

from .hardware import Hardware, against_bound
from .measure import Measurement, _items, failed, last_line, new_tokens


def generation_vs_lm_eval(ctx: Context, hw: Hardware, n: int, max_new: int) -> Measurement:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    handle = model_handle(ctx, "sft")
    model, tok = handle.hf()
    prompts = [it.prompt for it in _items(ctx, n)]
    bs = ctx.profile.generation.batch_size
    from core.modeling import render_prompt

    contexts = [render_prompt(tok, p, handle.chat_template or "thesis") for p in prompts]  # as our backend
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=bs, max_length=1024, device=str(model.device))
    reqs = [Instance("generate_until", {}, (c, {"until": [tok.eos_token], "max_gen_toks": max_new, "do_sample": False}),
                     i) for i, c in enumerate(contexts)]
    t0 = time.perf_counter()
    texts = lm.generate_until(reqs, disable_tqdm=True)
    t_lm = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = handle.generate(prompts, max_new, bs, label="bench hf")
    t_ours = time.perf_counter() - t0
    ratio = t_lm / t_ours
    lm_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)  # lm-eval returns text only
    return Measurement("generation: hf backend vs lm-eval hf", ratio, ">= 1.0x", ratio >= 1.0,
                       f"{n} items, {max_new} tokens, batch {bs}: {t_ours:.2f}s vs {t_lm:.2f}s; "
                       f"ours {against_bound(hw, model, bs, new_tokens(ours), t_ours)}; "
                       f"lm-eval ~{lm_tokens / t_lm:,.0f} new tok/s (EOS not counted)")


def wall_vs_lm_eval(ctx: Context, registry: str, n: int, max_new: int) -> Measurement:
    """`bench run` (cold store, trained checkpoints) vs. `lm_eval` CLI on a generate_until task
    over the same chat-templated prompts; both are whole processes, start-up included."""
    from models import fingerprint

    from core.modeling import render_prompt

    handle = model_handle(ctx, "sft")
    _, tok = handle.hf()
    tmp = Path(tempfile.mkdtemp(prefix="perf-lmeval-"))
    items = _items(ctx, n)
    with open(tmp / "items.jsonl", "w") as fh:
        for it in items:
            fh.write(json.dumps({"prompt": render_prompt(tok, it.prompt, handle.chat_template or "thesis"),
                                 "answer": it.answer}) + "\n")
    (tmp / "tasks").mkdir()
    (tmp / "tasks" / "perf_gen.yaml").write_text(textwrap.dedent(f"""\
        task: perf_gen
        dataset_path: json
        dataset_kwargs: {{data_files: {{test: {tmp / 'items.jsonl'}}}}}
        test_split: test
        output_type: generate_until
        doc_to_text: "{{{{prompt}}}}"
        doc_to_target: "{{{{answer}}}}"
        generation_kwargs: {{until: ["{tok.eos_token}"], max_gen_toks: {max_new}, do_sample: false}}
        metric_list: [{{metric: exact_match}}]
        """))
    base = ctx.reg.lineage("sft")[0]
    # absolute: lm_eval runs in a temporary folder, where a store-relative path does not resolve
    base_path = ctx.ckpts.path(base, fingerprint(ctx.reg, ctx.profile, base)).resolve()
    adapter = Path(handle.adapter).resolve()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1", "BENCH_QUIET": "1"}
    lm_cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
              f"pretrained={base_path},peft={adapter}", "--tasks", "perf_gen", "--include_path",
              str(tmp / "tasks"), "--batch_size", str(ctx.profile.generation.batch_size), "--device", "cpu"]
    store = tmp / "store"
    shutil.copytree(ctx.store_dir / "checkpoints", store / "checkpoints",
                    ignore=lambda d, names: [x for x in names if x.startswith(".tmp")])
    bench_cmd = [sys.executable, "-m", "harness.cli", "run", "--models", "sft", "--suite", "indomain", "--limit",
                 str(n), "--profile", ctx.profile_name, "--store", str(store), "--registry", registry]
    t0 = time.perf_counter()
    r_lm = subprocess.run(lm_cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, cwd=tmp)
    t_lm = time.perf_counter() - t0
    t0 = time.perf_counter()
    r_b = subprocess.run(bench_cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    t_b = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    name, target = "whole command: bench run vs lm_eval", ">= 2x"
    detail = f"{len(items)} items: bench {t_b:.1f}s vs lm_eval {t_lm:.1f}s"
    if r_lm.returncode != 0:  # a ratio against a run that failed measures nothing
        return failed(name, target, f"lm_eval exited {r_lm.returncode}: {last_line(r_lm.stderr)}", detail)
    if r_b.returncode != 0:
        return failed(name, target, f"bench run exited {r_b.returncode}: {last_line(r_b.stderr)}", detail)
    ratio = t_lm / t_b
    return Measurement(name, ratio, target, ratio >= 2, detail)
