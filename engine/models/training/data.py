"""Tabular data: CSV reading, a reproducible stratified split and a JSON-serialisable preprocessor.

The preprocessor is fitted on the training split only (no leakage): numeric columns get median
imputation, a missing-value indicator when the training data had gaps (unless the spec turns indicators off:
where whole sites lack a measurement, the indicator tells the model the site, not the patient), and
standardisation;
categorical columns get one-hot encoding of the training categories (unseen values -> all zeros; a missing value
-> all zeros too, which is itself a missing-value indicator, so without indicators it gets the most common category).
It is saved as plain JSON next to the weights so that the engine can score a patient without
scikit-learn or torch.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def read_csv(path: Path | str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


def _float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    text = str(value).strip()
    if text == "" or text.lower() in ("na", "nan", "null", "none", "?"):
        return None
    try:
        out = float(text)
    except ValueError:
        return None
    return None if math.isnan(out) else out


@dataclass
class TabularSpec:
    target: str
    features: list[str]
    positive: str = ">0"  # rule turning the target column into 0/1: ">0", "==yes", "==1" ...
    zero_as_missing: list[str] = field(default_factory=list)  # columns where 0 means "not measured"
    sex_column: str | None = None
    age_column: str | None = None
    site_column: str | None = None  # rows from several sites: per-site metrics and leave-one-site-out validation
    missing_indicators: bool = True  # False: missing values are imputed without a "was missing" input
    cohort: Callable[[dict], bool] | None = None  # which rows the model is for (the preset describes it)


def label_of(value: object, rule: str) -> int | None:
    """0/1 label from a raw target value; None when unreadable (the row is dropped)."""
    if value is None or str(value).strip() == "":
        return None
    if rule.startswith(">"):
        number = _float(value)
        return None if number is None else int(number > float(rule[1:]))
    if rule.startswith("=="):
        return int(str(value).strip().lower() == rule[2:].strip().lower())
    raise ValueError(f"unknown positive rule {rule!r} (use '>N' or '==VALUE')")


def stratified_split(labels: Sequence[int], test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) keeping the outcome rate equal in both; same seed -> same split."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    train, test = [], []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_size))
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return np.sort(np.asarray(train, dtype=int)), np.sort(np.asarray(test, dtype=int))


@dataclass
class Preprocessor:
    numeric: dict[str, dict] = field(default_factory=dict)  # col -> {median, mean, std, indicator}
    categorical: dict[str, list[str]] = field(default_factory=dict)  # col -> categories
    categorical_fill: dict[str, str] = field(default_factory=dict)  # col -> category for a missing value (no indicators)
    zero_as_missing: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # feature order as given

    @classmethod
    def fit(cls, rows: Sequence[dict], columns: Sequence[str], zero_as_missing: Sequence[str] = (),
            indicators: bool = True) -> "Preprocessor":
        pre = cls(zero_as_missing=list(zero_as_missing), columns=list(columns))
        for col in columns:
            raw = [r.get(col) for r in rows]
            present = [v for v in raw if v is not None and str(v).strip() != ""]
            if present and all(_float(v) is not None for v in present):
                values = [pre._number(col, v) for v in raw]
                known = np.array([v for v in values if v is not None], dtype=float)
                median = float(np.median(known)) if known.size else 0.0
                filled = np.array([median if v is None else v for v in values], dtype=float)
                std = float(filled.std()) or 1.0
                pre.numeric[col] = {"median": median, "mean": float(filled.mean()), "std": std,
                                    "indicator": indicators and any(v is None for v in values)}
            else:
                pre.categorical[col] = sorted({str(v).strip() for v in present})
                if not indicators and present:
                    counts: dict[str, int] = {}
                    for v in present:
                        counts[str(v).strip()] = counts.get(str(v).strip(), 0) + 1
                    pre.categorical_fill[col] = max(sorted(counts), key=lambda k: counts[k])
        return pre

    def _number(self, col: str, value: object) -> float | None:
        number = _float(value)
        if number is not None and number == 0 and col in self.zero_as_missing:
            return None
        return number

    @property
    def output_names(self) -> list[str]:
        names = []
        for col in self.columns:
            if col in self.numeric:
                names.append(col)
                if self.numeric[col]["indicator"]:
                    names.append(f"{col}_missing")
            else:
                names.extend(f"{col}={cat}" for cat in self.categorical[col])
        return names

    def transform_row(self, row: dict) -> list[float]:
        out: list[float] = []
        for col in self.columns:
            if col in self.numeric:
                stats = self.numeric[col]
                number = self._number(col, row.get(col))
                value = stats["median"] if number is None else number
                out.append((value - stats["mean"]) / stats["std"])
                if stats["indicator"]:
                    out.append(1.0 if number is None else 0.0)
            else:
                value = str(row.get(col) if row.get(col) is not None else "").strip()
                if value == "" and col in self.categorical_fill:
                    value = self.categorical_fill[col]
                out.extend(1.0 if value == cat else 0.0 for cat in self.categorical[col])
        return out

    def transform(self, rows: Sequence[dict]) -> np.ndarray:
        return np.asarray([self.transform_row(r) for r in rows], dtype=np.float32)

    def to_json(self) -> dict:
        return {"numeric": self.numeric, "categorical": self.categorical, "categorical_fill": self.categorical_fill,
                "zero_as_missing": self.zero_as_missing, "columns": self.columns}

    @classmethod
    def from_json(cls, data: dict) -> "Preprocessor":
        return cls(numeric=data["numeric"], categorical=data["categorical"],
                   categorical_fill=dict(data.get("categorical_fill", {})),
                   zero_as_missing=list(data.get("zero_as_missing", ())), columns=list(data["columns"]))
