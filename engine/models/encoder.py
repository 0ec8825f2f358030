"""Sentence embeddings from any local BERT-family checkpoint.

Mean pooling over the attention mask followed by L2 normalisation reproduces the
sentence-transformers recipe of all-MiniLM-L6-v2 (its 1_Pooling config asks for mean pooling and
its modules.json ends with Normalize), so cosine similarity is a plain dot product.
Inputs are sorted by length before batching so that padding, which costs as much as real tokens,
stays small; embeddings of repeated texts (concept phrases, knowledge-base statements, unchanged
notes seen again by the next hook) come from a bounded cache.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np


class SentenceEncoder:
    def __init__(self, tokenizer, model, torch, *, fingerprint: dict | None = None, pooling: str = "mean",
                 batch_size: int = 16, max_length: int = 128, cache_size: int = 8192):
        self.tokenizer = tokenizer
        self.model = model
        self.torch = torch
        self.fingerprint = fingerprint or {}
        self.pooling = pooling
        self.batch_size = max(1, batch_size)
        self.max_length = max_length
        self.dimension = int(model.config.hidden_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.fingerprint.get("name", "encoder"))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text, in input order."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    out[i] = hit
                else:
                    todo.setdefault(text, []).append(i)
        if todo:
            unique = sorted(todo, key=len)
            vectors = self._forward(unique)
            with self._lock:
                for text, vec in zip(unique, vectors):
                    for i in todo[text]:
                        out[i] = vec
                    self._cache[text] = vec
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start:start + self.batch_size]
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt")
                if "token_type_ids" in enc and "token_type_ids" not in self._forward_args():
                    del enc["token_type_ids"]  # e.g. DistilBERT-style checkpoints take no segment ids
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                elif self.pooling == "max":
                    pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
                else:
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                chunks.append(pooled.float().cpu().numpy())
        return np.concatenate(chunks, axis=0) if chunks else np.zeros((0, self.dimension), dtype=np.float32)

    def _forward_args(self) -> tuple[str, ...]:
        import inspect

        if not hasattr(self, "_args"):
            self._args = tuple(inspect.signature(self.model.forward).parameters)
        return self._args

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine similarity matrix |a| x |b|."""
        return self.encode(a) @ self.encode(b).T
