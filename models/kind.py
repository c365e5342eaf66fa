"""The interface every model kind implements (lm-evaluation-harness's ``LM``, one level up: a
kind says what a registry entry *is*; a backend says how it generates).

Adding a kind: one module in ``models/kinds/`` with a ``ModelKind`` subclass + one line in
``models.KINDS``. Nothing else switches on a kind's name.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Optional

from core.errors import BadInput

if TYPE_CHECKING:
    from core.config import ModelEntry, Profile, Registry
    from core.context import Context

    from .handle import ModelHandle


class ModelKind(ABC):
    name: str = ""
    required: tuple[str, ...] = ()  # registry fields an entry of this kind must set
    local_weights: bool = True  # log-likelihood protocols can run on it (else: planned as skipped)
    answers_new_prompts: bool = True  # False: it only holds answers made elsewhere (replay)

    def validate(self, name: str, entry: "ModelEntry", where: str) -> None:
        """Raise BadInput (one line, ``where`` names the registry key) for an unusable entry."""
        missing = [f for f in self.required if not getattr(entry, f)]
        if missing:
            raise BadInput(f"{where}.{missing[0]}: a '{self.name}' model needs {' and '.join(self.required)}")

    @abstractmethod
    def recipe(self, reg: "Registry", profile: "Profile", name: str) -> dict:
        """What defines this model's weights or answers (its fingerprint payload, minus the parent)."""

    def built_here(self, profile: "Profile") -> bool:
        """True when this project produces its checkpoint (the plan schedules a build)."""
        return False

    def trainer(self, entry: "ModelEntry") -> Optional[str]:
        """The trainer that builds it (None: the profile's base builder), when built here."""
        return None

    def status(self, ctx: "Context", name: str, fp: str) -> str:
        """Its checkpoint status for ``bench models``."""
        if not self.built_here(ctx.profile):
            return "external"
        return "[green]built[/]" if ctx.ckpts.exists(name, fp) else "missing (trained on demand)"

    @abstractmethod
    def open(self, ctx: "Context", name: str, fp: str, suite: str = "") -> "ModelHandle":
        """A handle that generates with this model (backends are shared through ``ctx.engines``)."""
