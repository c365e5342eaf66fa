"""Trainer callbacks: a rich progress bar for training steps (TRL/transformers tqdm is off)."""
from __future__ import annotations

from transformers import TrainerCallback

from core.progress import progress_bar


class RichProgress(TrainerCallback):
    def __init__(self, label: str):
        self.label, self._cm, self._advance, self._last = label, None, None, {}

    def on_train_begin(self, args, state, control, **kw):
        if not state.is_world_process_zero:  # one bar per run, not one per launched process
            return
        self._cm = progress_bar(self.label, state.max_steps)
        self._advance = self._cm.__enter__()

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        keep = {k: v for k, v in logs.items() if k in ("loss", "reward", "eval_loss") and isinstance(v, float)}
        self._last.update(keep)

    def on_step_end(self, args, state, control, **kw):
        if self._advance:
            self._advance(1, **self._last)

    def on_train_end(self, args, state, control, **kw):
        if self._cm:
            self._cm.__exit__(None, None, None)
            self._cm = self._advance = None


def quiet_trainer(trainer, label: str):
    """Replace transformers' stdout log printer (added when tqdm is off) by our progress bar."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgress(label))
    return trainer


def quiet_libraries() -> None:
    """Library chatter (weight-loading bars, deprecation notes) off; our bars stay."""
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    except ImportError:
        pass


def device_args(dev: str) -> dict:
    """TrainingArguments for ``dev`` (``core.device.device()``): the CPU in fp32, a GPU in bf16
    when it supports it (else fp32). ``cuda:N`` becomes the current CUDA device, which is the one
    a single-process Trainer places the model on."""
    import torch

    from core.device import dtype

    if dev == "cpu":
        return {"bf16": False, "use_cpu": True}
    if ":" in dev:
        torch.cuda.set_device(torch.device(dev))
    return {"bf16": dtype(dev) == torch.bfloat16, "use_cpu": False}


def stage_device(dev: str, model=None) -> dict:
    """What a manifest records about where a stage ran: device, compute dtype (and the GPU's
    name or the CPU thread count), plus the dtype the weights were actually held in."""
    from core.device import describe

    out = describe(dev)
    if model is not None:
        out["weights_dtype"] = str(next(model.parameters()).dtype).replace("torch.", "")
    return out
