"""A model card (README.md) beside every adapter this harness saves, in place of PEFT's blank one.

Written inside the checkpoint build, before ``manifest.json`` records the files' sizes: the card
is part of the published checkpoint (the store checks sizes, so a card rewritten afterwards
would make the checkpoint look corrupt and retrain it). It therefore carries what is known at
training time — base model, recipe, fingerprint, parent, data, training metrics — and says where
evaluation results live (`bench report`, `bench samples --models NAME`), which are made later.

``adapter_config.json``'s ``base_model_name_or_path`` is set to what the adapter was trained on:
the hub id of a hub base, else the base checkpoint folder (PEFT records whatever path the base
was loaded from, e.g. a temporary build folder).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.context import Context

CARD = "README.md"


def _adapter_dirs(out_dir: Path) -> list[Path]:
    root = Path(out_dir)
    return sorted(p.parent for p in root.rglob("adapter_config.json")  # not the trainer's own checkpoints
                  if not any(part.startswith(("_", "checkpoint-")) for part in p.relative_to(root).parts))


def _base_id(ctx: Context, job) -> str:
    base = job.profile.base
    if base.kind == "hub" and base.id:
        return base.id if not base.revision else f"{base.id}@{base.revision}"
    if base.kind == "local" and base.id:
        return str(Path(base.id).expanduser().resolve())
    return str(Path(job.base_path).resolve()) if job.base_path else "tiny base built by grpo-bench"


def _scalars(metrics: Any) -> dict:
    if not isinstance(metrics, dict):
        return {}
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def card_text(ctx: Context, job, manifest: dict, metrics: Any) -> str:
    recipe = manifest.get("recipe") or {}
    entry = ctx.reg.models.get(job.name)
    base = _base_id(ctx, job)
    hub_base = job.profile.base.kind == "hub" and job.profile.base.id
    rewards = ", ".join(f"`{r['name']}` (code {r['code']})" if isinstance(r, dict) else f"`{r}`"
                        for r in recipe.get("rewards") or []) or "—"
    front = ["---", "library_name: peft", "pipeline_tag: text-generation"]
    if hub_base:
        front.append(f"base_model: {job.profile.base.id}")
    front += ["tags:", "- grpo-bench", "- lora", f"- {job.trainer}", "- trl", "---", ""]
    rows = [("fingerprint", f"`{job.fp}`"), ("trainer", f"`{job.trainer}`"), ("rewards", rewards),
            ("parent", f"`{job.parent}` (`{job.parent_fp[:12]}`)" if job.parent else "—"),
            ("base model", f"`{base}`"), ("profile", f"`{job.profile_name}`"),
            ("data", f"{job.profile.data.source}, fingerprint `{recipe.get('data', '')}`"),
            ("code version", f"`{manifest.get('code_version', '')}`")]
    lines = front + [f"# {job.name}", "", (entry.description if entry and entry.description else
                                          f"A LoRA adapter trained by grpo-bench with the `{job.trainer}` trainer."),
                     "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    hyper = recipe.get("hyper") or job.hyper or {}
    if hyper:
        lines += ["", "## Hyperparameters (effective, after the profile's overrides)", "", "| name | value |",
                  "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in sorted(hyper.items())]
    train = _scalars(metrics)
    lines += ["", "## Training metrics", ""]
    lines += (["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in train.items()]
              if train else ["(none recorded)"])
    versions = manifest.get("versions") or {}
    if versions:
        lines += ["", "Libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."]
    lines += ["", "## Evaluation", "",
              "Evaluation results are kept in the grpo-bench results store, keyed by this fingerprint:",
              f"`bench report --profile {job.profile_name}` (tables, with 95% CIs and provenance) and",
              f"`bench samples --models {job.name}` (every item, lm-eval `--log_samples` layout).",
              "", "## Use", "", "```python",
              "from peft import PeftModel",
              "from transformers import AutoModelForCausalLM, AutoTokenizer",
              "",
              f'base = AutoModelForCausalLM.from_pretrained("{base}")',
              'model = PeftModel.from_pretrained(base, "PATH/TO/THIS/FOLDER")',
              'tokenizer = AutoTokenizer.from_pretrained("PATH/TO/THIS/FOLDER")  # holds the thesis chat template',
              "```", "", "Reproduce: `bench train " + job.name + f" --profile {job.profile_name}` with the registry "
              "this store was run with (`STORE/registry.yaml`).", ""]
    return "\n".join(lines)


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def with_model_card(ctx: Context, job, out_dir: Path, manifest: dict, metrics: Any) -> Any:
    """Write the card into every adapter folder under ``out_dir``; returns ``metrics`` unchanged
    (so it wraps a trainer's ``produce`` in one expression)."""
    if job.trainer is None:
        return metrics  # the tiny base is a full model, not an adapter
    text = card_text(ctx, job, manifest, metrics)
    base = _base_id(ctx, job)
    for folder in _adapter_dirs(Path(out_dir)):
        _atomic(folder / CARD, text)
        cfg_path = folder / "adapter_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["base_model_name_or_path"] = base
        _atomic(cfg_path, json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return metrics


__all__ = ["card_text", "with_model_card", "CARD"]
