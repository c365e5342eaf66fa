"""Real HTTP servers on loopback for the endpoint tests.

* ``TransformersServe``: the real ``transformers serve`` (FastAPI + uvicorn) serving a local
  model folder offline, started as a subprocess.
* ``ScriptedServer``: a real ``http.server`` in a thread whose answers a test chooses - a slow
  server, a 500, non-JSON, JSON without choices, a fixed verdict - the failure modes a real
  endpoint shows and a healthy tiny model cannot be made to show.
* ``refused_url()``: a loopback port that is bound but not listening, so connecting is refused
  at once (and nothing else can take the port while the test runs).
"""
from __future__ import annotations

import atexit
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_HELD: list[socket.socket] = []


def refused_url() -> str:
    """A base_url whose connections are refused: the socket is bound (so the port stays ours) but
    never listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def add_response_template(model_dir: Path) -> None:
    """Declare a ``response_template`` in a local model's tokenizer so ``transformers serve``
    returns exactly the completion.

    Why: for Qwen-family models without one, ``transformers serve`` falls back to a ChatML
    response template (start anchor ``<|im_start|>assistant``); with the thesis chat template
    that anchor never occurs, and the server then parses the whole prompt after the last EOS as
    part of the answer (the user's question leaks into ``content``). This template anchors at
    the end of the prompt and closes at EOS."""
    cfg_path = model_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    eos = cfg.get("eos_token") or "<|endoftext|>"
    eos = eos["content"] if isinstance(eos, dict) else eos
    cfg["response_template"] = {"start_anchor_pattern": r"\Z",
                                "fields": {"content": {"close_pattern": re.escape(eos), "content": "text"}}}
    cfg_path.write_text(json.dumps(cfg, indent=2))


def scrambled_copy(model_dir: Path, dest: Path, seed: int = 0) -> Path:
    """The model's config and tokenizer with fresh random weights (initializer_range 0.5).

    Why: the smoke models are trained for a few steps and answer every prompt with the same
    repeated tag, so "server output equals in-process output" would prove little. Large random
    weights give a different, deterministic greedy continuation per prompt (odd bytes, tags,
    sometimes EOS) through the same architecture, tokenizer and chat template."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cfg = AutoConfig.from_pretrained(model_dir)
    cfg.initializer_range = 0.5
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(dest)
    add_response_template(dest)
    return dest


class TransformersServe:
    """``transformers serve <model_dir>`` on a free loopback port (CPU, offline)."""

    def __init__(self, model_dir: Path, log_path: Path, startup_s: float = 90):
        self.port = free_port()
        self.model = str(model_dir)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        exe = Path(sys.executable).with_name("transformers")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([str(exe), "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port),
                                      "--device", "cpu", "--default-seed", "0", "--log-level", "warning"],
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.log_path = log_path
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not become healthy in {startup_s:.0f}s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return Path(self.log_path).read_text()[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


# A behaviour maps (request body, request number from 1) to (HTTP status, body bytes, delay s).
Behaviour = Callable[[dict, int], tuple[int, bytes, float]]


def chat_reply(content: str, completion_tokens: Optional[int] = None) -> bytes:
    body = {"id": "x", "object": "chat.completion", "model": "scripted",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}
    if completion_tokens is not None:
        body["usage"] = {"prompt_tokens": 1, "completion_tokens": completion_tokens,
                         "total_tokens": 1 + completion_tokens}
    return json.dumps(body).encode()


class ScriptedServer:
    """A real HTTP server on loopback; ``behaviour`` decides each answer; ``requests`` and
    ``headers`` record what arrived (a test counts retries with them), ``max_in_flight`` the
    most requests handled at once."""

    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                with outer._lock:
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                    count = len(outer.requests)
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                status, payload, delay = outer.behaviour(body, count)
                if delay:
                    time.sleep(delay)
                with outer._lock:
                    outer.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def reset(self, behaviour: Behaviour) -> None:
        with self._lock:
            self.behaviour, self.requests, self.headers, self.max_in_flight = behaviour, [], [], 0

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


_SHARED: dict[str, TransformersServe] = {}


def shared_serve(model_dir: Path, work_dir: Path) -> TransformersServe:
    """One ``transformers serve`` of ``model_dir`` per test process, shared by every test module
    (a session fixture in two modules would start two), stopped when the process exits."""
    key = str(model_dir)
    if key not in _SHARED:
        copy = scrambled_copy(model_dir, work_dir / "served-model")
        _SHARED[key] = TransformersServe(copy, work_dir / "transformers-serve.log")
        atexit.register(_SHARED[key].stop)
    return _SHARED[key]
