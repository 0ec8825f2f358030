"""Discrimination, calibration and subgroup metrics with bootstrap confidence intervals.

AUROC and AUPRC (average precision) come from scikit-learn; 95% intervals are percentile
bootstrap intervals over test-set resamples (Efron & Tibshirani, An Introduction to the
Bootstrap, 1993, ch. 13) with a fixed seed, skipping resamples that hold one class only.
Brier score: mean squared error of the predicted probability (Brier 1950, Mon Weather Rev 78:1-3).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _sk():
    from engine.models.training import require

    sk_metrics = require("sklearn.metrics", "scikit-learn")
    return sk_metrics.roc_auc_score, sk_metrics.average_precision_score


def auroc(y: Sequence[int], p: Sequence[float]) -> float | None:
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return None
    return float(_sk()[0](y, p))


def auprc(y: Sequence[int], p: Sequence[float]) -> float | None:
    y = np.asarray(y)
    if y.sum() == 0:
        return None
    return float(_sk()[1](y, p))


def brier(y: Sequence[int], p: Sequence[float]) -> float:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    return float(np.mean((p - y) ** 2))


def bootstrap_ci(y, p, metric, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    y, p = np.asarray(y), np.asarray(p)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) < 2:
            continue
        v = metric(y[idx], p[idx])
        if v is not None:
            values.append(v)
    if len(values) < 20:
        return None
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def calibration_bins(y, p, n_bins: int = 10) -> list[dict]:
    """Observed vs mean predicted risk in equal-width probability bins (empty bins omitted)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    edges = np.linspace(0, 1, n_bins + 1)
    out = []
    for i in range(n_bins):
        mask = (p >= edges[i]) & ((p < edges[i + 1]) if i < n_bins - 1 else (p <= edges[i + 1]))
        if mask.any():
            out.append({"bin": [float(edges[i]), float(edges[i + 1])], "n": int(mask.sum()),
                        "mean_predicted": float(p[mask].mean()), "observed": float(y[mask].mean())})
    return out


def summary(y, p, n_boot: int = 1000, seed: int = 0) -> dict:
    return {
        "n": int(len(y)),
        "positives": int(np.sum(y)),
        "auroc": auroc(y, p),
        "auroc_ci95": bootstrap_ci(y, p, auroc, n_boot, seed),
        "auprc": auprc(y, p),
        "auprc_ci95": bootstrap_ci(y, p, auprc, n_boot, seed),
        "brier": brier(y, p),
        "calibration": calibration_bins(y, p),
    }


AGE_BANDS = ((0, 50, "<50"), (50, 65, "50-64"), (65, 200, ">=65"))


def subgroups(y, p, sex: Sequence[str] | None, age: Sequence[float | None] | None, min_n: int = 10) -> list[dict]:
    """Metrics per sex and per age band (<50, 50-64, >=65); AUROC only where both outcomes occur."""
    y, p = np.asarray(y), np.asarray(p)
    groups: list[tuple[str, np.ndarray]] = []
    if sex is not None:
        s = np.asarray([str(v) for v in sex])
        groups += [(f"sex={v}", s == v) for v in sorted(set(s)) if v]
    if age is not None:
        a = np.asarray([np.nan if v is None else float(v) for v in age])
        groups += [(f"age {label}", (a >= lo) & (a < hi)) for lo, hi, label in AGE_BANDS]
    out = []
    for name, mask in groups:
        n = int(mask.sum())
        if n == 0:
            continue
        row = {"group": name, "n": n, "positives": int(y[mask].sum()), "brier": brier(y[mask], p[mask]),
               "auroc": auroc(y[mask], p[mask]) if n >= min_n else None,
               "mean_predicted": float(p[mask].mean()), "observed": float(y[mask].mean())}
        out.append(row)
    return out
