"""Training: preprocess -> train (torch model + logistic-regression baseline) -> evaluate -> model card.

Entry point: :func:`engine.models.training.pipeline.train`. numpy / scikit-learn / torch /
matplotlib are imported inside functions so that importing the engine stays cheap; scikit-learn, matplotlib and the
demonstration data set come with the ``training`` extra, which serving does not need (:func:`require` says so when
one is missing).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from engine.models.errors import RuntimeMissingError


def require(module: str, package: str) -> ModuleType:
    """Import a training-only dependency, or raise an error that names the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeMissingError(package, extra="training") from exc
