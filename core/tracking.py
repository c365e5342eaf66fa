"""Where trainers send their curves: TensorBoard by default, whatever the profile names otherwise.

TRL/transformers write loss, KL, per-reward means and learning rate through ``report_to``. The
profile's ``report_to`` (a list: ``tensorboard``, ``wandb``, ``mlflow``, ... or ``none``) decides;
unset, it is ``tensorboard`` when the package is installed and nothing otherwise, so an install
without it still trains. TensorBoard's event files go beside the adapter, in
``CHECKPOINT/tensorboard/``, so ``tensorboard --logdir runs/checkpoints`` shows one run per
variant, named by its checkpoint folder. Not part of any fingerprint: where curves go does not
change what is trained.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Optional

EVENTS_DIR = "tensorboard"


def report_to(choice: Optional[list[str]], out_dir: Path) -> list[str] | str:
    """The ``report_to`` value for a trainer writing its checkpoint to ``out_dir``."""
    if choice is None:
        choice = ["tensorboard"] if importlib.util.find_spec("tensorboard") is not None else []
    choice = [c for c in choice if c != "none"]
    if "tensorboard" in choice:
        # transformers 5 reads the event folder from this variable when the trainer is built
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(out_dir) / EVENTS_DIR)
    return choice or "none"


__all__ = ["EVENTS_DIR", "report_to"]
