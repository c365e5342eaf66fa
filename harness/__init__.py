"""The application layer: the ``bench`` CLI, its commands, the plan, the runner, perf and chat.

It is the only package that imports the middle layer (``models``, ``judges``, ``trainers``,
``benchmarks``, ``reports``) and wires them together over the ground layer (``core``).
"""
from core import __version__

__all__ = ["__version__"]
