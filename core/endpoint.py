"""Any OpenAI-compatible chat endpoint (vLLM, SGLang, TGI, ``transformers serve``, hosted APIs).

``ChatClient`` is the one HTTP path (standard library only): ``POST {base_url}/chat/completions``
with a timeout, retries with exponential backoff and jitter, and a circuit breaker so a dead
endpoint fails the remaining requests at once instead of each one waiting out its retries.
It lives in the ground layer because two packages use it: the ``openai`` model engine
(``models.backends.openai``) and the LLM judge (``judges.llm``).

Every failure becomes an ``EndpointError`` with a one-line message; the backend records it per
item (empty completion, ``Completion.error``) and the run goes on.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from .errors import BadInput

# Request keys the OpenAI schema defines; anything else in ``sampling`` (top_k, min_p,
# repetition_penalty) is passed through too: vLLM and SGLang accept it, strict servers answer
# 4xx, which is recorded per item as a failure with the server's own message.
_DROP = {"do_sample", "max_new_tokens", "num_return_sequences"}  # HF-only switches, meaningless here
_RETRY_STATUS = {408, 409, 425, 429}


class EndpointError(Exception):
    """A request that failed for good (after retries, or at once for a client error)."""


class Completion(tuple):
    """``(text, n_tokens)`` as every backend returns, plus ``error`` (None when it succeeded).

    A tuple subclass so every caller that unpacks ``text, n = result`` keeps working; the
    runner reads ``getattr(result, "error", None)`` to store the failure with the item."""

    error: Optional[str]

    def __new__(cls, text: str, n_tokens: int, error: Optional[str] = None):
        obj = super().__new__(cls, (text, n_tokens))
        obj.error = error
        return obj


class ChatClient:
    def __init__(self, base_url: str, model: str, api_key_env: Optional[str] = None, timeout_s: float = 60,
                 retries: int = 3, backoff_s: float = 1.0, max_backoff_s: float = 30.0, breaker: int = 5,
                 cooldown_s: float = 30.0, route: str = "chat/completions"):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise BadInput(f"endpoint base_url must start with http:// or https:// (got '{base_url}')")
        if not model:
            raise BadInput(f"endpoint {base_url}: 'model' is required")
        # base_url follows the OpenAI client's convention: it includes the /v1 prefix
        # route: "completions" sends pre-rendered prompts (the vllm backend renders them itself)
        self.url = base_url.rstrip("/") + "/" + route
        # a loopback server is never behind the cluster's HTTP proxy (http_proxy is often set
        # without no_proxy on compute nodes); remote endpoints follow the environment as usual
        host = urllib.parse.urlsplit(self.url).hostname or ""
        loopback = host == "localhost" or host.startswith("127.") or host == "::1"
        self._opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if loopback else []))
        self.model, self.api_key_env = model, api_key_env
        self.timeout_s, self.retries = float(timeout_s), max(0, int(retries))
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        # circuit breaker: after ``breaker`` requests in a row failed for good, the next ones fail at
        # once for ``cooldown_s`` (then one is let through to probe) - a dead endpoint costs seconds,
        # not items x retries x backoff
        self.breaker, self.cooldown_s = breaker, cooldown_s
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._open: Optional[tuple[str, float]] = None  # (why the endpoint is considered dead, since)
        self.stats = {"requests": 0, "attempts": 0, "retries": 0, "failures": 0, "skipped": 0}

    # -- one request ------------------------------------------------------------------------
    def chat(self, messages: list[dict], max_tokens: int, params: Optional[dict] = None) -> tuple[str, Optional[int]]:
        """(assistant text, completion tokens or None when the server reports no usage)."""
        return self.request({"messages": messages}, max_tokens, params)

    def request(self, payload: dict, max_tokens: int, params: Optional[dict] = None) -> tuple[str, Optional[int]]:
        """One request with ``payload`` (``messages``, or ``prompt`` on the completions route)."""
        body = {"model": self.model, **payload, "max_tokens": int(max_tokens), "stream": False,
                **{k: v for k, v in (params or {}).items() if v is not None and k not in _DROP}}
        data = json.dumps(body).encode()
        with self._lock:
            self.stats["requests"] += 1
            if self._open and time.monotonic() - self._open[1] < self.cooldown_s:
                self.stats["skipped"] += 1
                raise EndpointError(f"skipped: endpoint is failing ({self._open[0]})")
        attempts, last = 0, "no attempt"
        while True:
            attempts += 1
            with self._lock:
                self.stats["attempts"] += 1
            try:
                result = self._post(data)
            except _Retryable as exc:
                last = str(exc)
                if attempts > self.retries:
                    break
                with self._lock:
                    self.stats["retries"] += 1
                time.sleep(self._delay(attempts, exc.retry_after))
                continue
            except EndpointError as exc:  # client error (4xx): retrying cannot help
                with self._lock:
                    self.stats["failures"] += 1
                raise EndpointError(f"{exc} ({self.url})") from None
            with self._lock:
                self._consecutive_failures, self._open = 0, None
            return result
        msg = f"{last} after {attempts} attempt{'s' * (attempts > 1)} ({self.url})"
        with self._lock:
            self.stats["failures"] += 1
            self._consecutive_failures += 1
            if self.breaker and self._consecutive_failures >= self.breaker:
                self._open = (msg, time.monotonic())
        raise EndpointError(msg)

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        # jitter (x0.5-1.5) around the exponential step, so concurrent workers do not retry in lockstep
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s) * random.uniform(0.5, 1.5)

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:  # local servers need no key: send none rather than fail
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, data: bytes) -> tuple[str, Optional[int]]:
        req = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = _short(exc.read().decode("utf-8", "replace") if exc.fp else "")
            if exc.code >= 500 or exc.code in _RETRY_STATUS:
                raise _Retryable(f"HTTP {exc.code} {detail}", _retry_after(exc.headers)) from None
            hint = f" (is ${self.api_key_env} set?)" if exc.code in (401, 403) and self.api_key_env else ""
            raise EndpointError(f"HTTP {exc.code} {detail}{hint}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise _Retryable(f"timed out after {self.timeout_s:g}s") from None
            if isinstance(reason, ConnectionRefusedError):
                raise _Retryable("connection refused") from None
            raise _Retryable(f"cannot connect: {_short(str(reason))}") from None
        except (TimeoutError, socket.timeout):
            raise _Retryable(f"timed out after {self.timeout_s:g}s") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise _Retryable(f"connection failed: {_short(type(exc).__name__ + ' ' + str(exc))}") from None
        return _parse(raw)


class _Retryable(Exception):
    def __init__(self, msg: str, retry_after: Optional[float] = None):
        super().__init__(msg)
        self.retry_after = retry_after


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def _retry_after(headers) -> Optional[float]:
    try:
        return float(headers.get("Retry-After")) if headers and headers.get("Retry-After") else None
    except ValueError:
        return None


def _parse(raw: bytes) -> tuple[str, Optional[int]]:
    """The first choice's text and usage.completion_tokens; a malformed body is retryable (a proxy
    error page or a truncated answer usually is transient)."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Retryable(f"response is not JSON: {_short(raw.decode('utf-8', 'replace'), 80)!r}") from None
    if not isinstance(body, dict):
        raise _Retryable("response is not a JSON object")
    if body.get("error"):
        raise _Retryable(f"server error: {_short(json.dumps(body['error']))}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Retryable("response has no choices")
    msg = choices[0].get("message") or {}
    # chat: message.content; the completions route: text
    text = msg.get("content") if isinstance(msg, dict) and msg else choices[0].get("text")
    if not isinstance(text, str):
        raise _Retryable("response has no message content")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    n = usage.get("completion_tokens")
    return text, n if isinstance(n, int) and n >= 0 else None
