"""The schema of ``registry.yaml`` (models, profiles, suites, judges) and its loading.

This module checks what the file alone can say (types, ranges, parents, cycles, profiles);
names that refer to plugins (model kinds, trainers, suites, protocols, judge kinds) are checked
against them by ``harness.registry.load_registry``, the loader every command uses. Every problem
is one line naming the file and the key, raised as ``BadInput``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import BadInput
from .recipes import HYPER_SCHEMAS, Seed

# Model, profile, suite and judge names become folder names in the store and keys in reports:
# an identifier-like name keeps every path the store builds inside it ("../../x" escaped it).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_RULE = "letters, digits, '.', '_', '-'; starting with a letter or digit; at most 64; no '..'"
_NAME = re.compile(NAME_PATTERN)
# a registered reward, or "package.module:function" (a relative ".foo:bar" cannot be imported)
_REWARD_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*)?$")
MAX_PARENT_CHAIN = 64  # the thesis chain is 4 deep (base, sft, grpo, bfcl); a deeper one is a mistake
MAX_NEW_TOKENS = 32_768  # beyond any supported model's context: a typo (1e12) would hang generation
# The tiny base's positions (core.modeling.tiny_config builds it with this many): every token
# budget of a tiny profile must fit it, where a larger one failed inside generation or training.
TINY_CONTEXT = 1024

Pos = Annotated[int, Field(ge=1)]
# Bounds of the HTTP client settings (openai models, LLM judges). A zero, negative, infinite or
# NaN timeout made every request fail at once or never time out; negative retries skipped the
# request; concurrency 0 deadlocked the worker pool. The upper bounds are far beyond any use and
# stop a typo (1e9 threads, a day-long timeout) before it takes the machine.
MAX_TIMEOUT_S = 3600.0
MAX_RETRIES = 20
MAX_CONCURRENCY = 256
TimeoutS = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False,
                                  description=f"seconds per request, > 0 and at most {MAX_TIMEOUT_S:g}")]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES, description=f"attempts after the first, 0..{MAX_RETRIES}")]
Concurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY,
                                   description=f"requests in flight at once, 1..{MAX_CONCURRENCY}")]


def valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NAME.match(name)) and ".." not in name


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently,
    so a second ``learning_rate:`` would quietly win)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base constructor reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseSpec(_Strict):
    kind: Literal["tiny", "hub", "local"]
    id: Optional[str] = None  # hub id or local path
    revision: Optional[str] = None
    vocab_size: Pos = 384
    hidden_size: Pos = 128
    layers: Pos = 4
    heads: Pos = 4
    kv_heads: Pos = 2
    intermediate_size: Pos = 384
    pretrain_steps: int = Field(1000, ge=0)
    pretrain_batch: Pos = 32
    pretrain_lr: float = Field(3e-3, gt=0, allow_inf_nan=False)
    pretrain_corpus: Literal["math", "mixed"] = Field(
        "math", description="what the tiny base is pretrained on: plain arithmetic text (math), or arithmetic "
        "+ yes/no + multiple-choice + function-call documents (mixed, core/sources/pretraining_corpus.py)")
    pretrain_calls: Literal["made-up", "bfcl-api"] = Field(
        "made-up", description="the mixed corpus's function-call documents: over made-up names, which a request "
        "can only be answered from by copying a listed name (made-up), or over BFCL's own multi-turn API, with "
        "requests written from each function's description, as general text teaches a real base common APIs "
        "(bfcl-api, core/sources/bfcl_api_calls.py; BFCL's questions are never used)")
    pretrain_block: int = Field(128, ge=16, le=TINY_CONTEXT)  # window length; BFCL prompts need ~400 positions
    pretrain_corpus_draw: int = Field(
        0, ge=0, description="which seeded draw of the mixed corpus (0: the default); the same design drawn "
        "again, to see how much a result owes to the draw (docs/tiny-experiments.md, section 1: five draws, "
        "very different SFT transfer)")
    pretrain_windows: Literal["anywhere", "document"] = Field(
        "anywhere", description="where pretraining windows start: anywhere in the token stream, or at a "
        "document's first token, as an evaluated prompt does (long prompts: an answer's positions get trained)")
    pretrain_copy_steps: int = Field(
        0, ge=0, description="steps of synthetic copying before the corpus (trainers/copying.py): random token "
        "sequences written twice, scored on the repeats, which forms the induction head that copying a listed "
        "name or a claimed number needs; the corpus alone never formed one (docs/tiny-experiments.md, section 2)")
    pretrain_copy_rows: int = Field(
        0, ge=0, description="rows of every corpus batch replaced by such copying rows, so the corpus phase "
        "keeps the copying the warm-up formed (without them 1,200 corpus steps erase it); they take that share of the "
        "corpus's budget, which costs arithmetic unless pretrain_steps grows with it (docs/tiny-experiments.md, section 4)")
    seed: Seed = 0

    # fields added after the demo's fingerprints were published: left out of a base's recipe
    # while at these defaults, so every base built before them keeps its address
    LATER_FIELDS: ClassVar[dict] = {"pretrain_corpus_draw": 0, "pretrain_windows": "anywhere",
                                    "pretrain_copy_steps": 0, "pretrain_copy_rows": 0, "pretrain_calls": "made-up"}

    @model_validator(mode="after")
    def _shape(self):
        # attention splits hidden_size over heads, and heads over key/value heads: checked here
        # rather than as a reshape error inside torch
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of heads {self.heads}")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not a multiple of kv_heads {self.kv_heads}")
        if self.pretrain_calls != "made-up" and self.pretrain_corpus != "mixed":
            raise ValueError(f"pretrain_calls {self.pretrain_calls} needs pretrain_corpus: mixed (the arithmetic "
                             "corpus has no function-call documents)")
        if self.pretrain_copy_rows >= self.pretrain_batch:
            raise ValueError(f"pretrain_copy_rows {self.pretrain_copy_rows} leaves no corpus row in a batch of "
                             f"{self.pretrain_batch}")
        return self


class DataSpec(_Strict):
    source: Literal["synthetic", "hub", "local"]
    dir: Optional[str] = None  # for source=local; GRPO_BENCH_DATA_DIR overrides
    seed: Seed = 1234
    sft_rows: int = Field(5000, ge=1)
    grpo_rows: int = Field(1000, ge=1)
    test_rows: int = Field(500, ge=1)  # 0 evaluated nothing and exited 0 without a report


class GenerationSpec(_Strict):
    # hf_paged: transformers' continuous batching; vllm: a vLLM server in its own venv (`make vllm-env`)
    backend: Literal["hf", "hf_paged", "vllm"] = "hf"
    max_new_tokens: int = Field(256, gt=0, le=MAX_NEW_TOKENS)
    batch_size: int = Field(32, gt=0)  # 0 would fail deep inside generation (range step 0)
    temperature: float = Field(0.0, ge=0, allow_inf_nan=False)  # greedy: reproducible evaluation
    seed: Optional[Seed] = None  # RNG seed for sampled generations (bench run --seed); in the key when set
    # vllm backend only (not in any cache key: they change where generation runs, not its result)
    tensor_parallel_size: int = Field(1, ge=1, le=64, description="GPUs one vLLM server spans")
    server_url: Optional[str] = None  # attach to this running vLLM server (.../v1) instead of starting one


class Profile(_Strict):
    description: str = ""
    base: BaseSpec
    data: DataSpec
    judge: str = "rubric"
    generation: GenerationSpec = GenerationSpec()
    report_to: Optional[list[str]] = None  # trainer curves: tensorboard (default when installed), wandb, none
    jobs: Union[Literal["auto"], Annotated[int, Field(ge=1, le=64)]] = Field(1, description=(
        "worker processes `bench run` uses for independent work (sibling trainings, different models' "
        "evaluations) when --jobs is not given: a number, or auto (one per CPU core up to 4; 1 on a GPU). "
        "Worth it where each training or evaluation takes tens of seconds (tiny), not where worker "
        "start-up (~10 s of imports) is most of the work (smoke)"))
    overrides: dict[str, dict[str, Any]] = {}


class ModelEntry(_Strict):
    kind: str = Field("trained", description="a model kind: trained | base | hf | lora | openai | replay "
                                             "(models.KINDS; checked when the registry is loaded)")
    description: str = ""
    parent: Optional[str] = None
    trainer: Optional[str] = None
    rewards: list[str] = []
    hyper: dict[str, Any] = {}
    path: Optional[str] = None  # hf: hub id or local folder; lora: adapter folder; replay: JSONL file
    revision: Optional[str] = None
    base: Optional[str] = None  # lora: hub id or local folder of the base the adapter was trained on
    # thesis | native | a Jinja file; default: thesis for models trained here, native for hf/lora
    chat_template: Optional[str] = None
    base_url: Optional[str] = None  # openai: endpoint including /v1
    model: Optional[str] = None  # openai: the served model name
    api_key_env: Optional[str] = None
    timeout_s: TimeoutS = 120
    retries: Retries = 3
    concurrency: Concurrency = 8


class SuiteEntry(_Strict):
    description: str = ""
    protocols: Optional[list[str]] = Field(None, description="which of the suite's protocols to run "
                                           "(default: all it has; the suite defines them)")
    reference: Optional[str] = None  # model whose token counts define Efficiency = 1.0


class JudgeEntry(_Strict):
    kind: str = Field(..., description="a judge kind: rubric | llm (judges.JUDGE_KINDS)")
    base_url: Optional[str] = None
    model: Optional[str] = None
    api_key_env: Optional[str] = None
    timeout_s: TimeoutS = 60
    retries: Retries = 3
    concurrency: Concurrency = 8


class Registry(_Strict):
    profiles: dict[str, Profile]
    default_profile: str = "tiny"
    models: dict[str, ModelEntry]
    suites: dict[str, SuiteEntry]
    judges: dict[str, JudgeEntry]
    path: str = ""

    @field_validator("models")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for name in v:
            if name == "all" or "," in name:
                raise ValueError(f"'{name}' is reserved and cannot name a model")
        return v

    # -- queries -------------------------------------------------------------------------
    def profile(self, name: Optional[str]) -> Profile:
        name = name or self.default_profile
        if name not in self.profiles:
            raise BadInput(f"unknown profile '{name}' (known: {', '.join(self.profiles)})")
        check_model_contexts(self, name, self.profiles[name])
        return self.profiles[name]

    def model(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise BadInput(f"unknown model '{name}' (known: {', '.join(self.models)})")
        return self.models[name]

    def lineage(self, name: str) -> list[str]:
        """Ancestors first, ``name`` last."""
        chain = [name]
        while self.models[chain[-1]].parent:
            chain.append(self.models[chain[-1]].parent)
        return chain[::-1]

    def resolve_models(self, spec: str) -> list[str]:
        if spec == "all":
            return list(self.models)
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if not names:
            raise BadInput("--models is empty")
        for n in names:
            self.model(n)
        return names

    def resolve_suites(self, spec: str) -> list[str]:
        if spec == "all":
            return list(self.suites)
        names = [n.strip() for n in spec.split(",") if n.strip()]
        for n in names:
            if n not in self.suites:
                raise BadInput(f"unknown suite '{n}' (known: {', '.join(self.suites)}, all)")
        return names



def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))


def one_line(path: str, exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = prefix + _loc(err)
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    else:
        msg = err["msg"].replace("\n", " ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def _check_names(reg: Registry, path: str) -> None:
    for section in ("profiles", "models", "suites", "judges"):
        for name in getattr(reg, section):
            if not valid_name(name):
                raise BadInput(f"{path}: {section}.{name!r}: not a valid name ({NAME_RULE})")
    for name, m in reg.models.items():
        for r in m.rewards:
            if not _REWARD_NAME.match(r):
                raise BadInput(f"{path}: models.{name}.rewards: {r!r} is neither a reward name nor "
                               "'package.module:function'")


def _check_chains(reg: Registry, path: str) -> None:
    """Parents exist, no cycles, no chain deeper than MAX_PARENT_CHAIN: linear in the number of
    models (depths are memoised), where walking each chain anew took 70 s on a 1,500-deep one."""
    for name, m in reg.models.items():
        if m.parent is not None and m.parent not in reg.models:
            raise BadInput(f"{path}: models.{name}.parent: unknown model '{m.parent}'")
    depth: dict[str, int] = {}
    for name in reg.models:
        walk, cur = [], name
        while cur is not None and cur not in depth:
            if cur in walk:
                cycle = walk[walk.index(cur):] + [cur]
                raise BadInput(f"{path}: models.{cycle[0]}.parent: cycle {' -> '.join(cycle)}")
            walk.append(cur)
            if len(walk) > MAX_PARENT_CHAIN:
                break
            cur = reg.models[cur].parent
        below = 0 if cur is None else depth.get(cur, MAX_PARENT_CHAIN)
        for i, n in enumerate(reversed(walk)):
            depth[n] = below + i + 1
        if depth[name] > MAX_PARENT_CHAIN:
            raise BadInput(f"{path}: models.{name}.parent: chain deeper than {MAX_PARENT_CHAIN} models")


def _check_overrides(path: str, pname: str, trainer: str, over: dict) -> None:
    # each override is checked as the trainer's schema would check it, so `epochs: many` is one
    # line at load (it crashed even `bench models`, which never trains)
    from .recipes import hyper_error

    try:
        HYPER_SCHEMAS[trainer](**over)
    except ValidationError as exc:
        raise BadInput(hyper_error(exc, f"{path}: profiles.{pname}.overrides.{trainer}.")) from None


def _check_graph(reg: Registry, path: str) -> None:
    """What the schema alone can check: names, parents exist, no cycles or over-deep chains,
    profiles name known judges and valid overrides."""
    _check_names(reg, path)
    _check_chains(reg, path)
    for pname, prof in reg.profiles.items():
        if prof.judge not in reg.judges:
            raise BadInput(f"{path}: profiles.{pname}.judge: unknown judge '{prof.judge}'")
        for trainer, over in prof.overrides.items():
            if trainer not in HYPER_SCHEMAS:
                raise BadInput(f"{path}: profiles.{pname}.overrides.{trainer}: unknown trainer")
            bad = set(over) - set(HYPER_SCHEMAS[trainer].model_fields)
            if bad:
                raise BadInput(f"{path}: profiles.{pname}.overrides.{trainer}.{sorted(bad)[0]}: unknown key")
            _check_overrides(path, pname, trainer, over)
    if reg.default_profile not in reg.profiles:
        raise BadInput(f"{path}: default_profile: unknown profile '{reg.default_profile}'")
    for sname, s in reg.suites.items():
        if s.reference and s.reference not in reg.models:
            raise BadInput(f"{path}: suites.{sname}.reference: unknown model '{s.reference}'")
    _check_budgets(reg, path)


# -- token budgets against the base's context --------------------------------------------------
def _hub_cache() -> Path:
    """huggingface_hub's cache folder, found as it finds it (no import: `bench models` stays fast)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def local_config_file(ref: Optional[str], revision: Optional[str] = None) -> Optional[Path]:
    """The ``config.json`` of a local folder or of a hub id already in the local cache; None when
    there is none here (a hub model not downloaded yet is checked when it is loaded)."""
    if not ref:
        return None
    folder = Path(ref).expanduser()
    if (folder / "config.json").is_file():
        return folder / "config.json"
    if "/" not in ref or ref.startswith((".", "/", "~")):
        return None
    repo = _hub_cache() / ("models--" + ref.replace("/", "--"))
    rev = revision or "main"
    ref_file = repo / "refs" / rev
    try:
        commit = ref_file.read_text().strip() if ref_file.is_file() else rev
    except OSError:
        return None
    cfg = repo / "snapshots" / commit / "config.json"
    return cfg if cfg.is_file() else None


def context_positions(cfg_file: Path) -> Optional[int]:
    """``max_position_embeddings`` of a model config (top level, or its text model's)."""
    import json

    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, ValueError, RecursionError):
        return None  # a damaged config is reported by whatever loads the model
    for scope in (cfg, cfg.get("text_config") if isinstance(cfg, dict) else None):
        value = scope.get("max_position_embeddings") if isinstance(scope, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def base_context(base: BaseSpec) -> tuple[Optional[int], str]:
    """(positions, where they come from) of a profile's base; None when not known here."""
    if base.kind == "tiny":
        return TINY_CONTEXT, "the tiny base's max_position_embeddings"
    cfg = local_config_file(base.id, base.revision)
    if cfg is None:
        return None, ""
    return context_positions(cfg), f"max_position_embeddings in {cfg}"


def token_budgets(reg: "Registry", pname: str, prof: Profile) -> list[tuple[str, int, bool]]:
    """(key, tokens, needs room for a prompt) of everything a profile generates or trains on its
    base: the generation budget, and per trained model its trainer's sequence budget."""
    from .recipes import effective_hyper

    out = [(f"profiles.{pname}.generation.max_new_tokens", prof.generation.max_new_tokens, True)]
    for name, m in reg.models.items():
        if m.trainer not in HYPER_SCHEMAS or reg.models[reg.lineage(name)[0]].kind != "base":
            continue
        try:
            h = effective_hyper(m, prof)
        except ValidationError:
            continue  # reported by the hyperparameter check, with its own line
        key = f"models.{name}.hyper ({pname})."
        if m.trainer == "grpo":
            out.append((key + "max_prompt_length + max_completion_length",
                        h["max_prompt_length"] + h["max_completion_length"], False))
        elif m.trainer == "sft":
            out.append((key + "max_seq_length", h["max_seq_length"], False))
        elif m.trainer == "bfcl_grpo":
            out.append((key + "max_completion_length", h["max_completion_length"], True))
    return out


def check_context(path: str, budgets: list[tuple[str, int, bool]], positions: int, source: str) -> None:
    """One line naming the field, its value and the limit when a budget does not fit."""
    for key, tokens, prompt in budgets:
        limit = positions - 1 if prompt else positions  # a completion needs at least one prompt token
        if tokens > limit:
            raise BadInput(f"{path}: {key}: {tokens} tokens do not fit the base's context of {positions} "
                           f"positions ({source}; at most {limit})")


def _check_budgets(reg: "Registry", path: str) -> None:
    for pname, prof in reg.profiles.items():
        positions, source = base_context(prof.base)
        if positions:
            check_context(path, token_budgets(reg, pname, prof), positions, source)


def check_model_contexts(reg: "Registry", pname: str, prof: Profile) -> None:
    """hf and lora models bring their own base: the selected profile's generation budget must fit
    each one whose config is here. Checked for the profile in use only (when it is selected), so
    a small hub model beside the thesis profile's 1,536-token budget does not break the others."""
    for name, m in reg.models.items():
        ref = m.base if m.kind == "lora" else m.path if m.kind == "hf" else None
        cfg = local_config_file(ref, None if m.kind == "lora" else m.revision)
        positions = context_positions(cfg) if cfg else None
        if positions:
            check_context(reg.path, [(f"profiles.{pname}.generation.max_new_tokens (model {name})",
                                      prof.generation.max_new_tokens, True)],
                          positions, f"max_position_embeddings in {cfg}")


MAX_REGISTRY_BYTES = 4 << 20  # the real registry is a few KiB


def load_config(path: str | os.PathLike = "registry.yaml") -> Registry:
    path = str(path)
    if not Path(path).is_file():
        raise BadInput(f"{path}: registry file not found (use --registry PATH)")
    if Path(path).stat().st_size > MAX_REGISTRY_BYTES:  # YAML parsing is slow: refuse before reading
        raise BadInput(f"{path}: registry file larger than {MAX_REGISTRY_BYTES >> 20} MiB")
    try:
        with open(path, "rb") as fh:
            raw = yaml.load(fh, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{path}:{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise BadInput(f"{path}: invalid YAML: nesting too deep") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping with profiles, models, suites, judges")
    try:
        reg = Registry(**{str(k): v for k, v in raw.items()}, path=path)
    except ValidationError as exc:
        raise BadInput(one_line(path, exc)) from None
    except RecursionError:
        raise BadInput(f"{path}: nesting too deep") from None
    _check_graph(reg, path)
    return reg


__all__ = ["Registry", "ModelEntry", "Profile", "load_config", "one_line"]
