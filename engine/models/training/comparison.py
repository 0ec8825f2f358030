"""A trained model against a published equation on the same rows: discrimination and calibration.

Calibration is reported as the observed-to-expected ratio (O/E: events seen / events predicted), the calibration
slope and intercept (logistic regression of the outcome on the logit of the predicted risk; ideal 1 and 0), the
Brier score and observed vs mean predicted risk per tenth of predicted risk (Van Calster B et al. Calibration: the
Achilles heel of predictive analytics. BMC Med 2019;17:230, doi:10.1186/s12916-019-1466-7). The AUROC difference
between two models on the same rows has a paired percentile bootstrap interval.

The Pooled Cohort Equations come from engine.calculators.pce (the served calculator, same constants).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.models.training import metrics


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibration(y: Sequence[int], p: Sequence[float], n_groups: int = 10) -> dict:
    from sklearn.linear_model import LogisticRegression

    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(_logit(p).reshape(-1, 1), y)  # unpenalised
    order = np.argsort(p, kind="stable")
    groups = []
    for idx in np.array_split(order, n_groups):
        if len(idx):
            groups.append({"n": int(len(idx)), "mean_predicted": float(p[idx].mean()), "observed": float(y[idx].mean())})
    return {"n": int(len(y)), "events": int(y.sum()), "observed": float(y.mean()), "mean_predicted": float(p.mean()),
            "oe_ratio": float(y.sum() / p.sum()) if p.sum() else None, "slope": float(fit.coef_[0][0]),
            "intercept": float(fit.intercept_[0]), "brier": metrics.brier(y, p), "tenths": groups}


def paired_auroc_difference(y, p_a, p_b, n_boot: int = 1000, seed: int = 0) -> dict:
    """AUROC(a) - AUROC(b) on the same rows, with a paired percentile bootstrap 95 % interval."""
    y, p_a, p_b = np.asarray(y), np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    point = metrics.auroc(y, p_a) - metrics.auroc(y, p_b)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 2:
            diffs.append(metrics.auroc(y[idx], p_a[idx]) - metrics.auroc(y[idx], p_b[idx]))
    lo, hi = np.quantile(diffs, [0.025, 0.975]) if len(diffs) >= 20 else (None, None)
    return {"difference": float(point), "ci95": None if lo is None else [float(lo), float(hi)]}


def pce_probabilities(rows: Sequence[dict], columns: dict[str, str], hdl_mgdl: float) -> np.ndarray:
    """10-year ASCVD risk from the Pooled Cohort Equations for each row (white equations: the data have no race),
    with HDL-C fixed at ``hdl_mgdl`` when the data have none. ``columns`` maps PCE inputs to CSV columns."""
    from engine.calculators.pce import pce_10y_ascvd_risk

    out = []
    for r in rows:
        out.append(pce_10y_ascvd_risk(
            age_years=float(r[columns["age"]]), sex="male" if str(r[columns["male"]]).strip() in ("1", "1.0") else "female",
            race="white", chol_total_mgdl=float(r[columns["total_cholesterol"]]),
            hdl_mgdl=float(r[columns["hdl"]]) if columns.get("hdl") else hdl_mgdl,
            sbp_mmhg=float(r[columns["sbp"]]), bp_treated=_flag(r[columns["bp_treated"]]),
            smoker_current=_flag(r[columns["smoker"]]), diabetes=_flag(r[columns["diabetes"]])).risk_percent / 100)
    return np.asarray(out)


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "1.0", "true", "yes")
