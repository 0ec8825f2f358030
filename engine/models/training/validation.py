"""Validation across sites: per-site metrics, leave-one-site-out, and which inputs are missing where.

A pooled random split hides what matters most for a model trained on several hospitals: whether it works at a
hospital it has not seen, and whether it has learned the hospital instead of the patient. In the UCI heart data a
missing cholesterol marks the Switzerland site (every row) and prevalence differs from 26 % to 94 % by site, so a
"cholesterol missing" input is a site detector. Reported here:

* per-site metrics of the model on the held-out test split;
* leave-one-site-out (LOSO): train on the other sites (same preprocessing and model), test on the left-out one
  (Steyerberg EW, Harrell FE. Prediction models need appropriate internal, internal-external, and external
  validation. J Clin Epidemiol 2016;69:245-247, doi:10.1016/j.jclinepi.2015.04.005: "internal-external" validation);
* the same LOSO with missing-value indicators, to show what they did;
* the share of each input missing per site.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from engine.models.training import metrics
from engine.models.training.data import Preprocessor, TabularSpec


def site_metrics(y: Sequence[int], p: Sequence[float], sites: Sequence[str], n_boot: int, seed: int) -> list[dict]:
    """AUROC (bootstrap CI), Brier, mean predicted and observed risk per site."""
    y, p, s = np.asarray(y), np.asarray(p, dtype=float), np.asarray([str(v) for v in sites])
    out = []
    for site in sorted(set(s)):
        mask = s == site
        yy, pp = y[mask], p[mask]
        out.append({"site": site, "n": int(mask.sum()), "positives": int(yy.sum()), "auroc": metrics.auroc(yy, pp),
                    "auroc_ci95": metrics.bootstrap_ci(yy, pp, metrics.auroc, n_boot, seed),
                    "brier": metrics.brier(yy, pp), "mean_predicted": float(pp.mean()), "observed": float(yy.mean())})
    return out


def leave_one_site_out(rows: Sequence[dict], y: np.ndarray, spec: TabularSpec,
                       fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]],
                       *, indicators: bool, n_boot: int, seed: int) -> list[dict]:
    """For each site: preprocessing and models fitted on the other sites, scored on that site.

    ``fit_predict(x_train, y_train, x_test)`` returns {model name: test probabilities}.
    """
    sites = np.asarray([str(r.get(spec.site_column)) for r in rows])
    out = []
    for site in sorted(set(sites)):
        train = [r for r, s in zip(rows, sites) if s != site]
        test = [r for r, s in zip(rows, sites) if s == site]
        pre = Preprocessor.fit(train, spec.features, spec.zero_as_missing, indicators=indicators)
        y_train, y_test = y[sites != site], y[sites == site].astype(int)
        predictions = fit_predict(pre.transform(train), y_train, pre.transform(test))
        for name, p in predictions.items():
            out.append({"site": site, "model": name, "n": len(test), "positives": int(y_test.sum()),
                        "auroc": metrics.auroc(y_test, p),
                        "auroc_ci95": metrics.bootstrap_ci(y_test, p, metrics.auroc, n_boot, seed),
                        "brier": metrics.brier(y_test, p), "mean_predicted": float(np.mean(p)),
                        "observed": float(y_test.mean())})
    return out


def missing_by_site(rows: Sequence[dict], spec: TabularSpec) -> list[dict]:
    """Share of rows missing each input, per site (0 counts as missing where the spec says so)."""
    pre = Preprocessor(zero_as_missing=list(spec.zero_as_missing))
    sites = sorted({str(r.get(spec.site_column)) for r in rows})
    out = []
    for site in sites:
        site_rows = [r for r in rows if str(r.get(spec.site_column)) == site]
        shares = {}
        for col in spec.features:
            missing = sum(1 for r in site_rows if _missing(pre, col, r.get(col)))
            shares[col] = missing / len(site_rows)
        out.append({"site": site, "n": len(site_rows), "missing": shares})
    return out


def _missing(pre: Preprocessor, col: str, value) -> bool:
    if value is None or str(value).strip() == "" or str(value).strip().lower() in ("na", "nan", "null", "none", "?"):
        return True
    return pre._number(col, value) is None and str(value).strip().replace(".", "", 1).lstrip("-").isdigit()
