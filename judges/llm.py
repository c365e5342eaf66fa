"""The LLM judge: a model rates each response 0-10 for reasoning quality and correctness.

The judge model sees the question, the reference answer and the response, and ends its verdict
with ``SCORE: <0-10>``. Parsing is lenient ("Score: 7/10", "**Score:** 7.5", "8/10", a lone
"7.5"); scores are clamped to [0, 10]. A verdict without a score is (None, verdict): missing,
never 0. An endpoint that stays down, slow or broken after the retries gives
(None, "judge error: ...") for that item and the run goes on.

Two ways to run the judge model (registry ``judges:`` entry):
  * ``base_url`` + ``model``: any OpenAI-compatible endpoint (``ChatClient``: timeout, retries
    with backoff and jitter, bounded concurrency);
  * no ``base_url`` and ``model`` a local folder: transformers ``generate`` in this process,
    with the model's own chat template (greedy, batched).
"""
from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from core.errors import BadInput
from core.fingerprint import digest, file_digest
from core.progress import progress_bar

from .verdict import JUDGE_ERROR  # verdicts starting with this are failures: never cached

PROMPT_VERSION = "llm-judge-v2"  # v2: the reference is the item's full reference (worked answer / choice text)
MAX_VERDICT_TOKENS = 512
MAX_RESPONSE_CHARS = 8000  # long rambles are cut in the middle: the question and the final answer stay

SYSTEM = ("You are a strict, fair grader of worked solutions. You compare a response with the reference "
          "answer and judge both the final answer and the reasoning that leads to it.")
USER = """Rate the RESPONSE to the QUESTION on a scale from 0 to 10.
{focus}
Scale: 10 = correct answer with clear, complete, valid reasoning; 7-9 = correct answer with minor
gaps; 4-6 = partly correct or correct answer with flawed reasoning; 1-3 = wrong answer with some
relevant reasoning; 0 = wrong, empty or irrelevant.

QUESTION:
{question}

REFERENCE ANSWER:
{answer}

RESPONSE:
{response}

Write a short justification (at most three sentences), then on the last line write exactly
SCORE: <number from 0 to 10>"""
FOCUS = {
    "arithmetic": "It is a math problem: check every calculation step and whether the final answer equals "
                  "the reference.",
    "qa": "It is a question with a short reference answer: check whether the response's final answer matches it "
          "and whether the reasoning supports that answer.",
}

_NUM = r"(-?\d+(?:\.\d+)?)"
_DENOM = r"(?:\s*(?:/|out of)\s*(\d+(?:\.\d+)?))?"
_SCORE = re.compile(r"(?:score|rating|grade)[^\d\n]{0,12}?" + _NUM + _DENOM, re.I)
# a fraction's number starts where a digit run starts (the lookbehind, after the sign): a start
# inside a run fails whenever the run's own start failed, and retrying from every digit was
# quadratic (a verdict of 20,000 digits took 28 s)
_FRACTION = re.compile(r"(-?(?<!\d)\d+(?:\.\d+)?)\s*(?:/|out of)\s*(10|100)\b", re.I)
_BARE = re.compile(r"^[^\w\n]*" + _NUM + r"[^\w\n]*$")  # a line that is only a number: "7.5", "**8**"


def parse_score(verdict: str) -> Optional[float]:
    """The 0-10 score in a verdict, or None. Priority: the last 'SCORE: x' (or rating/grade) line,
    else the last 'x/10' or 'x out of 10', else a final line that is only a number."""
    lines = [ln for ln in (verdict or "").splitlines() if ln.strip()]
    found = None
    for line in reversed(lines):
        hits = _SCORE.findall(line)
        if hits:
            found = hits[-1]
            break
    if found is None:
        hits = _FRACTION.findall(verdict or "")
        found = hits[-1] if hits else None
    if found is None and lines:
        m = _BARE.match(lines[-1])
        found = (m.group(1), "") if m else None
    if found is None:
        return None
    value, denom = float(found[0]), float(found[1]) if found[1] else 10.0
    if denom <= 0 or not math.isfinite(value):
        return None
    return round(min(10.0, max(0.0, value * 10.0 / denom)), 3)


def _question(item) -> str:
    if getattr(item, "question", ""):
        return item.question
    users = [m.get("content", "") for m in getattr(item, "prompt", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def _cut(text: str, n: int = MAX_RESPONSE_CHARS) -> str:
    if len(text) <= n:
        return text
    half = n // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def judge_messages(kind: str, item, response: str) -> list[dict]:
    user = USER.format(focus=FOCUS.get(kind, FOCUS["qa"]), question=_question(item).strip(),
                       answer=str((item.meta or {}).get("reference") or item.answer).strip(), response=_cut(response.strip()) or "(empty response)")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _model_identity(model: str, local: bool) -> dict:
    """What the judge model is, for the fingerprint: the name for an endpoint; the files for a
    local folder (a retrained judge at the same path must not reuse old verdicts). Files over
    64 MiB count by size and mtime - hashing a multi-GB judge on every run is not affordable,
    and a copied file only costs a cache miss."""
    if not local:
        return {"model": model}
    root = Path(model).expanduser().resolve()
    files = {}
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        st = f.stat()
        rel = str(f.relative_to(root))
        files[rel] = file_digest(f) if st.st_size <= 64 << 20 else f"{st.st_size}:{st.st_mtime_ns}"
    return {"model_files": files}


class LLMJudge:
    def __init__(self, name: str, entry, backoff_s: float = 1.0, max_tokens: int = MAX_VERDICT_TOKENS):
        self.name, self.max_tokens = name, int(max_tokens)
        self.concurrency = max(1, int(getattr(entry, "concurrency", 8) or 1))
        model = getattr(entry, "model", None)
        if not model:
            raise BadInput(f"judge '{name}': 'model' is required")
        local = not entry.base_url
        if local and not Path(model).expanduser().is_dir():
            raise BadInput(f"judge '{name}': no base_url and '{model}' is not a local model folder")
        if local:  # loaded on first use: building a judge (e.g. for a fully cached cell) stays cheap
            self.client, self._local = None, _LocalJudgeModel(Path(model).expanduser())
        else:
            from core.endpoint import ChatClient

            self.client = ChatClient(entry.base_url, model, entry.api_key_env, entry.timeout_s, entry.retries,
                                     backoff_s=backoff_s, breaker=max(5, self.concurrency))
            self._local = None
        # base_url is left out on purpose: the same judge model behind another server or port
        # gives the same verdicts, and its cache stays valid
        self.fingerprint = "llm-" + digest({"prompt": [PROMPT_VERSION, SYSTEM, USER, FOCUS, MAX_RESPONSE_CHARS],
                                            "decoding": {"temperature": 0.0, "max_tokens": self.max_tokens},
                                            **_model_identity(model, local)})[:16]

    def rate_many(self, kind: str, requests: list[tuple]) -> list[tuple[Optional[float], str]]:
        """(item, response, correct) -> (score 0-10, verdict) or (None, verdict) when unparsable
        or (None, 'judge error: ...') when the judge could not be reached."""
        messages = [judge_messages(kind, item, response) for item, response, _ in requests]
        if not messages:
            return []
        if self._local is not None:
            texts = self._local.generate(messages, f"judge · {self.name}", self.concurrency, self.max_tokens)
            return [(None, t) if t.startswith(JUDGE_ERROR) else self._verdict(t) for t in texts]
        out: list = [None] * len(messages)
        with progress_bar(f"judge · {self.name}", len(messages)) as advance, \
                ThreadPoolExecutor(max_workers=min(self.concurrency, len(messages))) as pool:
            futures = [pool.submit(self._rate_one, m) for m in messages]
            errors = 0
            for i, fut in enumerate(futures):  # in order: the bar lags a little, results stay aligned
                out[i] = fut.result()
                errors += out[i][1].startswith(JUDGE_ERROR)
                advance(1, errors=errors)
        return out

    def _rate_one(self, messages: list[dict]) -> tuple[Optional[float], str]:
        from core.endpoint import EndpointError

        try:
            text, _ = self.client.chat(messages, self.max_tokens, {"temperature": 0.0})
        except EndpointError as exc:
            return None, JUDGE_ERROR + str(exc)
        return self._verdict(text)

    @staticmethod
    def _verdict(text: str) -> tuple[Optional[float], str]:
        return parse_score(text), text


class _LocalJudgeModel:
    """A judge model in this process: its own chat template, greedy, left-padded batches."""

    def __init__(self, path: Path):
        self.path, self.model = path, None

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = self.path
        try:
            self.tok = AutoTokenizer.from_pretrained(str(path))
            self.model = AutoModelForCausalLM.from_pretrained(str(path), dtype="auto")
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot load judge model '{path}': {str(exc).splitlines()[0][:200]}") from None
        if not self.tok.chat_template:
            raise BadInput(f"judge model '{path}' has no chat template")
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.tok.padding_side = "left"
        from core.device import device

        self.device = device()  # the one device policy (bench --device / GRPO_BENCH_DEVICE)
        self.model.to(self.device).eval()

    def generate(self, messages: list[list[dict]], label: str, batch_size: int, max_tokens: int) -> list[str]:
        """One verdict text per conversation; a batch that fails (out of memory, a prompt longer
        than the model takes) gives 'judge error: ...' texts and the others go on."""
        import torch

        if self.model is None:
            self._load()
        out: list[str] = []
        with progress_bar(label, len(messages)) as advance, torch.inference_mode():
            for start in range(0, len(messages), batch_size):
                chunk = messages[start:start + batch_size]
                texts = [self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in chunk]
                try:
                    batch = self.tok(texts, add_special_tokens=False, padding=True, return_tensors="pt").to(self.device)
                    gen = self.model.generate(**batch, max_new_tokens=max_tokens, do_sample=False,
                                              pad_token_id=self.tok.pad_token_id)
                    new = gen[:, batch["input_ids"].shape[1]:]
                    out += self.tok.batch_decode(new, skip_special_tokens=True)
                except (RuntimeError, ValueError, IndexError) as exc:
                    if self.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                    out += [f"{JUDGE_ERROR}local generation failed: {first}"] * len(chunk)
                advance(len(chunk))
        return out

