"""Loading a model's weights (the profile's base: a hub id / local path, or the tiny Qwen3 built
here) and the pieces of the tiny base that are not training: its tokenizer and its config.

Training the tiny base (pretraining) is a trainer: ``trainers.pretrain``.
"""
from __future__ import annotations

import re
from pathlib import Path

from .config import TINY_CONTEXT, BaseSpec
from .thesis_format import CHAT_TEMPLATE, TAGS

SPECIALS = ["<|endoftext|>", "<|pad|>"]
# every projection of a Qwen3 block: what the thesis's LoRA adapters (SFT, BFCL GRPO) train
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Digits one by one (as Qwen does): arithmetic stays learnable for a tiny model.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=SPECIALS[0], pad_token=SPECIALS[1])
    fast.add_tokens(list(TAGS))  # not special: decoding keeps them
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    # `transformers serve` cuts the answer out of the rendered chat with this pattern; without it
    # it falls back to a ChatML anchor our template lacks and returns the prompt as the answer
    fast.response_template = {"start_anchor_pattern": r"\Z",
                              "fields": {"content": {"close_pattern": re.escape(SPECIALS[0]), "content": "text"}}}
    return fast


def load_base(spec: BaseSpec, path: Path | None, device: str | None = None, load_in_4bit: bool = False):
    """(model, tokenizer) for the base: a built tiny checkpoint folder, or a hub id/local path.

    The model is placed on ``device`` (default: the policy of ``core.device``) in that device's
    compute dtype (bf16 on a GPU that supports it, else float32): a 4B base loaded on the CPU
    and never moved is the failure this prevents. ``load_in_4bit`` quantizes the weights with
    bitsandbytes NF4 (the thesis's SFT), GPU only. The tokenizer keeps its own (native) chat
    template: prompts are rendered with ``render_prompt``, which picks the template per model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .device import device as pick_device, dtype as compute_dtype

    dev = device or pick_device()
    source = str(path) if spec.kind == "tiny" else spec.id
    kwargs = {} if spec.kind == "tiny" else {"revision": spec.revision}
    model_kwargs: dict = {"dtype": compute_dtype(dev)}
    if load_in_4bit:
        model_kwargs.update(quantization_4bit(dev))
    try:
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, **model_kwargs, **kwargs)
    except OSError as exc:
        from core.errors import BadInput

        raise BadInput(f"cannot load base model '{source}': {str(exc).splitlines()[0][:200]}") from None
    if not load_in_4bit:  # a quantized model is placed by its device_map
        model.to(dev)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model, tok


def quantization_4bit(dev: str) -> dict:
    """from_pretrained arguments for the thesis's 4-bit base (Unsloth's ``load_in_4bit``: NF4,
    double quantization, compute in the device dtype). A clear one-line error off the GPU."""
    from .device import dtype as compute_dtype
    from .errors import BadInput

    if not dev.startswith("cuda"):
        raise BadInput(f"load_in_4bit needs a CUDA GPU (bitsandbytes); this run's device is {dev} "
                       "(set load_in_4bit: false in the profile's sft overrides)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise BadInput("load_in_4bit needs bitsandbytes: pip install -e '.[gpu]'") from None
    from transformers import BitsAndBytesConfig

    cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=compute_dtype(dev))
    return {"quantization_config": cfg, "device_map": {"": dev}}


# ------------------------------------------------------------------ chat templates
THESIS = "thesis"
NATIVE = "native"
# kinds whose weights were trained elsewhere, on their own template: prompted with it by default
NATIVE_KINDS = frozenset({"hf", "lora"})


def template_choice(entry) -> str:
    """A registry model's chat template: its ``chat_template`` or its kind's default (``thesis``
    for the variants trained here and the profile's base, ``native`` for hub/LoRA baselines)."""
    value = getattr(entry, "chat_template", None)
    if value:
        return value
    return NATIVE if getattr(entry, "kind", "") in NATIVE_KINDS else THESIS


def template_text(tok, choice: str = THESIS) -> str:
    """The Jinja text of a template choice: ``thesis`` (the SFT template, docs/thesis.md),
    ``native`` (the tokenizer's own), or a path to a Jinja file."""
    from .errors import BadInput

    if choice == THESIS:
        return CHAT_TEMPLATE
    if choice == NATIVE:
        text = getattr(tok, "chat_template", None)
        if not text or not isinstance(text, str):
            raise BadInput(f"chat_template: native, but tokenizer '{getattr(tok, 'name_or_path', '?')}' "
                           "has no chat template (use thesis or a template file)")
        return text
    file = Path(choice).expanduser()
    if not file.is_file():
        raise BadInput(f"chat_template: '{choice}' is neither thesis, native, nor a readable file")
    return file.read_text(encoding="utf-8")


def template_digest(choice: str) -> str:
    """What a template choice contributes to a model's identity: the name, or a file's content."""
    if choice in (THESIS, NATIVE):
        return choice
    import hashlib

    file = Path(choice).expanduser()
    data = file.read_bytes() if file.is_file() else choice.encode()
    return "file:" + hashlib.sha256(data).hexdigest()[:16]


def render_prompt(tok, messages: list[dict], template: str = THESIS) -> str:
    """THE prompt text for chat ``messages`` under a template choice, with the generation prompt.

    Every consumer (trainers, the intrinsic rewards, the hf and vLLM backends) renders through
    this one function, so the text a server receives can be proven equal to what training saw.
    """
    return tok.apply_chat_template(messages, chat_template=template_text(tok, template), tokenize=False,
                                   add_generation_prompt=True)


def use_thesis_template(tok):
    """Make ``tok``'s own template the thesis one: for code that renders on its own (TRL's
    trainers apply ``processing_class``'s template), and so saved adapters carry it."""
    tok.chat_template = CHAT_TEMPLATE
    return tok


def prompt_ids(tok, messages: list[dict], template: str = THESIS) -> list[int]:
    """Token ids of ``render_prompt`` (no extra special tokens: the template holds them)."""
    return list(tok(render_prompt(tok, messages, template), add_special_tokens=False)["input_ids"])


def tiny_config(spec: BaseSpec, tok):
    """The tiny base's Qwen3 config: the architecture of Qwen3, scaled to the profile's spec."""
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=len(tok), hidden_size=spec.hidden_size, num_hidden_layers=spec.layers,
                       num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads,
                       head_dim=spec.hidden_size // spec.heads, intermediate_size=spec.intermediate_size,
                       max_position_embeddings=TINY_CONTEXT, tie_word_embeddings=True,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
