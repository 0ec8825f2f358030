"""Extractive question answering: the best answer span inside retrieved passages.

Used only when CDS_MODEL_DIR_QA points at a checkpoint with a question-answering head (for example
a SQuAD-tuned BERT the user downloaded). Spans are mapped back to character offsets with the fast
tokenizer's offset mapping, so the answer is always a verbatim substring of a sourced passage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Span:
    passage_index: int
    start: int  # character offsets into the passage text
    end: int
    score: float  # start logit + end logit of the chosen span (model-specific scale)
    null_score: float  # the [CLS] "no answer" score of the same passage


class ExtractiveReader:
    def __init__(self, tokenizer, model, torch, *, fingerprint: dict | None = None,
                 max_length: int = 384, max_answer_tokens: int = 30):
        self.tokenizer = tokenizer
        self.model = model
        self.torch = torch
        self.fingerprint = fingerprint or {}
        self.max_length = max_length
        self.max_answer_tokens = max_answer_tokens

    @property
    def name(self) -> str:
        return str(self.fingerprint.get("name", "qa-reader"))

    def best_spans(self, question: str, passages: Sequence[str]) -> list[Span]:
        """One best span per passage (skipping passages with no valid span), best first."""
        if not passages:
            return []
        torch = self.torch
        enc = self.tokenizer([question] * len(passages), list(passages), truncation="only_second",
                             max_length=self.max_length, padding=True, return_offsets_mapping=True,
                             return_tensors="pt")
        offsets = enc.pop("offset_mapping")
        with torch.inference_mode():
            out = self.model(**{k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")})
        starts, ends = out.start_logits, out.end_logits
        spans: list[Span] = []
        for i in range(len(passages)):
            seq_ids = enc.sequence_ids(i)
            context = [t for t, s in enumerate(seq_ids) if s == 1]
            if not context:
                continue
            lo, hi = context[0], context[-1]
            s_logits = starts[i, lo:hi + 1]
            e_logits = ends[i, lo:hi + 1]
            # score[a, b] = start[a] + end[b] for a <= b < a + max_answer_tokens
            grid = s_logits[:, None] + e_logits[None, :]
            n = grid.shape[0]
            valid = torch.ones(n, n, dtype=torch.bool).triu().tril(self.max_answer_tokens - 1)
            grid = grid.masked_fill(~valid, float("-inf"))
            flat = int(torch.argmax(grid))
            a, b = divmod(flat, n)
            start_char = int(offsets[i, lo + a, 0])
            end_char = int(offsets[i, lo + b, 1])
            if end_char <= start_char:
                continue
            null = float(starts[i, 0] + ends[i, 0])
            spans.append(Span(i, start_char, end_char, float(grid[a, b]), null))
        return sorted(spans, key=lambda s: s.score, reverse=True)
