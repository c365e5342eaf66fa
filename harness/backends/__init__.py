"""Generation backends, registered by name and imported lazily (importing the package never
imports torch or an HTTP client)."""
from __future__ import annotations

import importlib

BACKENDS = {
    "hf": "harness.backends.hf:HFBackend",
    "replay": "harness.backends.replay:ReplayBackend",
}


def get_backend(name: str):
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)
