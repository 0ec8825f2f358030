import os

import numpy as np
import pytest

from engine.models import loader
from engine.models.errors import ModelUnavailableError
from engine.models.settings import ModelSettings


def test_missing_directory_names_the_setting(tmp_path, model_env):
    model_env(embedding=tmp_path / "nope")
    with pytest.raises(ModelUnavailableError) as err:
        loader.load_encoder()
    assert "CDS_MODEL_DIR_EMBEDDING" in str(err.value) and "does not exist" in str(err.value)
    (tmp_path / "empty").mkdir()
    model_env(embedding=tmp_path / "empty")
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        loader.load_encoder()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="no weights"):
        loader.load_encoder()


def test_qa_task_is_optional(monkeypatch):
    monkeypatch.delenv("CDS_MODEL_DIR_QA", raising=False)
    assert loader.load_reader() is None


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("CDS_TORCH_THREADS", "3")
    monkeypatch.setenv("CDS_QA_MIN_SIMILARITY", "0.5")
    monkeypatch.setenv("CDS_NOTES_SEMANTIC", "off")
    monkeypatch.setenv("CDS_MODEL_BATCH_SIZE", "junk")
    s = ModelSettings.from_env()
    assert (s.torch_threads, s.qa_min_similarity, s.notes_semantic, s.batch_size) == (3, 0.5, False, 16)


def test_tiny_bert_encoder(tiny_bert_dir, model_env, monkeypatch):
    monkeypatch.setenv("CDS_TORCH_THREADS", "1")
    model_env(embedding=tiny_bert_dir)
    encoder = loader.load_encoder()
    import torch

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert torch.get_num_threads() == 1
    assert loader.load_encoder() is encoder  # loaded once per process
    texts = ["she has diabetes", "the patient denies asthma today", "she has diabetes"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2])
    # batching and length sorting do not change results
    single = np.vstack([encoder._forward([t]) for t in texts[:2]])
    assert np.allclose(vectors[:2], single, atol=1e-5)
    assert encoder.fingerprint["weights_file"] == "model.safetensors"
    assert {"task": "embedding", "directory": str(tiny_bert_dir.resolve())} in loader.loaded()
