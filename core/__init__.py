"""The ground layer: what every other package stands on, importing nothing above it.

Registry schemas (``config``), trainer recipes (``recipes``), fingerprints, the checkpoint and
results stores, errors, the thesis prompt/chat format, data sources, reward functions, the BFCL
data and reward, model loading and the device policy, the run context. Nothing here imports
``models``, ``judges``, ``trainers``, ``benchmarks``, ``reports`` or ``harness``
(``tests/test_layers.py`` fails if it does).
"""
__version__ = "0.2.0"
