"""Errors of the model layer; each names the setting a user has to change."""
from __future__ import annotations


class ModelError(RuntimeError):
    """Base class: anything the model layer cannot do, said in words a user can act on."""


class ModelUnavailableError(ModelError):
    """A task's model directory is missing, incomplete or its runtime is not installed."""

    def __init__(self, task: str, setting: str, reason: str):
        self.task = task
        self.setting = setting
        self.reason = reason
        super().__init__(f"{task} model unavailable: {reason} (set {setting} to a local model directory)")


class RuntimeMissingError(ModelError):
    """torch / transformers are not installed (the optional 'models' extra)."""

    def __init__(self, package: str):
        self.package = package
        super().__init__(
            f"{package} is not installed; install the optional extra: pip install 'precision-cds[models]'"
        )
