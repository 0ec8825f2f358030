"""Text classification: fine-tune a local transformer checkpoint, with a TF-IDF baseline.

The base checkpoint is any local BERT-family directory (default: the embedding task's model,
all-MiniLM-L6-v2). A sequence-classification head is added on top and the whole network is
fine-tuned with AdamW for a few epochs (Devlin et al., NAACL 2019, sec. 4 recipe, scaled down for
CPUs). The baseline is TF-IDF unigrams+bigrams with logistic regression.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class TextConfig:
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-5
    max_length: int = 128
    seed: int = 0


def fine_tune(base_dir: Path, texts: Sequence[str], labels: Sequence[int], config: TextConfig, out_dir: Path) -> dict:
    """Fine-tune from ``base_dir`` and save the classifier (weights + tokenizer) to ``out_dir``."""
    from engine.models.loader import check_model_dir, import_torch, import_transformers

    path = check_model_dir("embedding", base_dir)
    torch = import_torch()
    transformers = import_transformers()
    torch.manual_seed(config.seed)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True, num_labels=2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    y = np.asarray(labels)
    losses = []
    for _ in range(config.epochs):
        model.train()
        order = rng.permutation(len(texts))
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            enc = tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=config.max_length,
                            return_tensors="pt")
            out = model(**enc, labels=torch.tensor(y[batch], dtype=torch.long))
            optimiser.zero_grad()
            out.loss.backward()
            optimiser.step()
            losses.append(float(out.loss.detach()))
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    return {"steps": len(losses), "final_loss": losses[-1] if losses else None, "base_model": str(path)}


def predict_text(model_dir: Path, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> np.ndarray:
    from engine.models.loader import import_torch, import_transformers

    torch = import_torch()
    transformers = import_transformers()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()
    probs = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
            probs.append(torch.softmax(model(**enc).logits, dim=-1)[:, 1].numpy())
    return np.concatenate(probs) if probs else np.zeros(0)


def tfidf_baseline(train_texts: Sequence[str], train_y: Sequence[int], test_texts: Sequence[str], seed: int = 0) -> np.ndarray:
    from engine.models.training import require

    TfidfVectorizer = require("sklearn.feature_extraction.text", "scikit-learn").TfidfVectorizer  # noqa: N806
    LogisticRegression = require("sklearn.linear_model", "scikit-learn").LogisticRegression  # noqa: N806

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    clf = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    clf.fit(vec.fit_transform(train_texts), train_y)
    return clf.predict_proba(vec.transform(test_texts))[:, 1]
