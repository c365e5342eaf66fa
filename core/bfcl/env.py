"""The single gateway to bfcl-eval.

bfcl-eval creates ``result/``, ``score/`` and ``.file_locks/`` under ``BFCL_PROJECT_ROOT`` the
first time ``bfcl_eval.constants.eval_config`` is imported (default: inside the installed
package). Every bfcl_eval import of this package goes through :func:`bfcl_module`, which first
points ``BFCL_PROJECT_ROOT`` at a per-process scratch folder (removed at exit).
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import warnings

_SCRATCH: str | None = None
_OWNER_PID: int | None = None


def scratch_root() -> str:
    """Create (once per process) the scratch folder and export it as BFCL_PROJECT_ROOT."""
    global _SCRATCH, _OWNER_PID
    if _SCRATCH is None:
        _SCRATCH = tempfile.mkdtemp(prefix="grpo-bench-bfcl-")
        _OWNER_PID = os.getpid()
        atexit.register(_cleanup, _SCRATCH, _OWNER_PID)
        if "bfcl_eval.constants.eval_config" in sys.modules:
            warnings.warn(
                "bfcl_eval was imported before benchmarks.bfcl; its BFCL_PROJECT_ROOT "
                f"({os.environ.get('BFCL_PROJECT_ROOT', '<package folder>')}) is already fixed",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            os.environ["BFCL_PROJECT_ROOT"] = _SCRATCH
    return _SCRATCH


def _cleanup(path: str, pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


def bfcl_module(name: str):
    """Import ``bfcl_eval.<name>`` after the environment is prepared."""
    scratch_root()
    try:
        return importlib.import_module(f"bfcl_eval.{name}" if name else "bfcl_eval")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("bfcl_eval") and exc.name != "soundfile":
            raise
        from core.errors import BadInput  # an optional extra: the install decides, not the code

        raise BadInput("the BFCL suite and rewards need bfcl-eval: pip install 'grpo-bench[bfcl]'") from None


# Prepare the environment as soon as this package is imported.
scratch_root()
