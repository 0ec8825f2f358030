"""The trained tabular model as a registered engine (engine.registry.models).

The model directory (CDS_MODEL_DIR_TRAINED, default engine/data/trained/uci-heart-mlp) holds
model.json (manifest: preprocessing, feature map, metrics, weights sha256) and model.safetensors.
Scoring is a numpy forward pass of the torch-trained MLP, so serving needs neither torch nor
scikit-learn. The weights file is hashed when loaded and must match the manifest: a swapped or
corrupted file is refused rather than silently scored. Every finding carries model id, version,
weights checksum and the raw score.
"""
from __future__ import annotations

from dataclasses import dataclass

import json
import threading
from pathlib import Path

import numpy as np

from engine.base import Engine
from engine.finding import Citation, Details, Evidence, Finding, Kind, Severity, Status, Term
from engine.inputs import FeatureSet, feature_label
from engine.registry import model
from engine.models.settings import ENV_TRAINED, ModelSettings

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, float], "LoadedModel"] = {}


class TrainedModelError(RuntimeError):
    pass


class LoadedModel:
    def __init__(self, directory: Path):
        from engine.models.training.data import Preprocessor
        from engine.models.training.pipeline import MANIFEST, sha256_file
        from engine.models.training.tabular import load_weights

        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            raise TrainedModelError(f"no {MANIFEST} in {directory} (set {ENV_TRAINED})")
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("task") != "tabular-binary-classification":
            raise TrainedModelError(f"{directory} is not a tabular model")
        weights_path = directory / self.manifest["weights_file"]
        if not weights_path.is_file():
            raise TrainedModelError(f"weights file {weights_path.name} missing in {directory}")
        digest = sha256_file(weights_path)
        if digest != self.manifest.get("weights_sha256"):
            raise TrainedModelError(f"weights checksum mismatch in {directory}: refusing to score")
        self.sha256 = digest
        self.weights = load_weights(directory)
        self.preprocessor = Preprocessor.from_json(self.manifest["preprocessor"])
        self.directory = directory

    def predict(self, row: dict) -> float:
        from engine.models.training.tabular import mlp_predict_numpy

        x = np.asarray([self.preprocessor.transform_row(row)], dtype=np.float32)
        return float(mlp_predict_numpy(self.weights, x)[0])


def load_trained(directory: Path) -> LoadedModel:
    """Once per process per (directory, manifest mtime)."""
    manifest = directory / "model.json"
    key = (str(directory.resolve()), manifest.stat().st_mtime if manifest.is_file() else 0.0)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = LoadedModel(directory)
        return _LOADED[key]


def _as_category(value, mapping: dict | None):
    if mapping is None:
        return value
    key = str(value).strip().lower() if not isinstance(value, bool) else ("true" if value else "false")
    return mapping.get(key)


@dataclass(frozen=True)
class TrainedModelDetails(Details):
    """Which model answered, exactly: id, version and the sha256 of the weights it loaded."""

    model_id: str
    model_version: str
    weights_sha256: str
    # The model's probability, before rounding for the card; None when an input was imputed: then there is no point
    # estimate anywhere in the finding, only ``score_range`` (lowest, highest) over the imputed inputs' training values.
    score: float | None
    not_for_clinical_use: bool = True
    score_range: tuple[float, float] | None = None


def input_contributions(loaded: LoadedModel, row: dict) -> dict[str, float]:
    """Per input the record supplied, in percentage points: the score minus the score without it. Without a numeric
    input means at its training median; without a categorical one means the average over its training categories
    (taking the most common category instead would give the most common value, e.g. male sex, no contribution at
    all). An occlusion explanation: simple, exact for the model served, and it needs no extra library."""
    score = loaded.predict(row)
    categorical = loaded.preprocessor.categorical
    out = {}
    for column in row:
        if column in categorical and categorical[column]:
            reference = sum(loaded.predict({**row, column: c}) for c in categorical[column]) / len(categorical[column])
        else:
            reference = loaded.predict({k: v for k, v in row.items() if k != column})
        out[column] = (score - reference) * 100
    return out


def imputed_score_range(loaded: LoadedModel, row: dict, imputed: list[str], manifest: dict) -> tuple[float, float]:
    """Lowest and highest score when each imputed input takes its training minimum, median or maximum (numeric) or
    each of its categories (categorical), every combination tried."""
    import itertools

    preprocessor = manifest["preprocessor"]
    choices = []
    for column in imputed:
        if column in preprocessor.get("categorical", {}):
            choices.append(list(preprocessor["categorical"][column]))
            continue
        lo_hi = manifest.get("training_ranges", {}).get(column)
        median = preprocessor.get("numeric", {}).get(column, {}).get("median")
        choices.append([v for v in ((lo_hi or [None])[0], median, (lo_hi or [None, None])[-1]) if v is not None])
    scores = [loaded.predict({**row, **dict(zip(imputed, combo))}) for combo in itertools.product(*choices)]
    return (min(scores), max(scores)) if scores else (loaded.predict(row),) * 2


@model
class TrainedTabularModel(Engine):
    id = "trained-tabular-model"
    version = "1.0.0"
    title = "Trained model (demonstration, not for clinical use)"
    kind = Kind.RISK
    citation = Citation(
        short="Detrano 1989 (UCI Heart Disease)",
        full=("Detrano R, Janosi A, Steinbrunn W, et al. International application of a new probability algorithm for "
              "the diagnosis of coronary artery disease. Am J Cardiol 1989;64(5):304-310. Model trained by precision-cds "
              "on the UCI Heart Disease data (doi:10.24432/C52P4X); see its model card."),
        doi="10.1016/0002-9149(89)90524-9",
        topic="Trained model demonstration",
    )
    requires = ("age_years", "sex")
    # The inputs of the bundled models (UCI heart: SBP, cholesterol, diabetes; Framingham: also BP treatment, smoking).
    optional = ("sbp_mmhg", "chol_total_mgdl", "diabetes", "bp_treated", "smoker_current")

    def _citation(self, manifest: dict) -> Citation:
        """The model's own data citation (a model trained on other data must not cite the UCI paper)."""
        cited = manifest.get("dataset", {}).get("citation")
        if not cited or manifest.get("model_id") == "uci-heart-mlp":
            return self.citation
        return Citation(short=manifest["dataset"]["name"], full=f"{cited} Model trained by precision-cds; see its "
                        "model card.", topic=self.citation.topic)

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        settings = ModelSettings.from_env()
        try:
            loaded = load_trained(settings.trained_dir)
        except (TrainedModelError, OSError, ValueError, KeyError) as exc:
            return [self.finding(Status.ERROR, message=f"Trained model unavailable: {exc}")]
        manifest = loaded.manifest
        row: dict = {}
        inputs: list[Evidence] = []
        missing = []
        assumptions: list[str] = []
        for column, spec in manifest.get("feature_map", {}).items():
            ev = features.get(spec["feature"])
            value = None if ev is None else _as_category(ev.value, spec.get("map"))
            if ev is None or value is None:
                if spec.get("required"):
                    missing.append(features.missing_reason(spec["feature"]))
                else:
                    assumptions.append(f"{feature_label(spec['feature'])} missing: no point estimate; the score is given "
                                       "as a range over the values it took in the training data.")
                continue
            inputs.append(ev)
            row[column] = value
            lo_hi = manifest.get("training_ranges", {}).get(column)
            if lo_hi and isinstance(value, (int, float)) and not isinstance(value, bool) and not lo_hi[0] <= value <= lo_hi[1]:
                if spec["feature"] == "age_years":
                    return [self.not_applicable(features, inputs, f"Age {value} is outside the training range "
                                                                   f"{lo_hi[0]:g}-{lo_hi[1]:g} years.")]
                assumptions.append(f"{spec['feature']} {value} outside the training range {lo_hi[0]:g}-{lo_hi[1]:g}.")
        if missing:
            return [self.insufficient(features, inputs, missing)]
        score = loaded.predict(row)
        metrics = manifest.get("metrics", {}).get("MLP (torch)", {})
        auroc = metrics.get("auroc")
        loso = [r["auroc"] for r in manifest.get("leave_one_site_out", []) if r.get("auroc") is not None]
        feature_map = manifest.get("feature_map", {})
        contributions = input_contributions(loaded, row)
        labels = {column: feature_label(spec["feature"]) for column, spec in feature_map.items()}
        contribution_terms = tuple(Term(f"{labels[c]} (percentage points against the input left out)", row[c],
                                        round(points, 1)) for c, points in contributions.items())
        shown = ", ".join(f"{labels[c]} {_points_text(points)}" for c, points in
                          sorted(contributions.items(), key=lambda item: -abs(item[1])))
        imputed = [column for column in feature_map if column not in row]
        if imputed:
            # An input the model leans on is imputed: a single number would look more certain than it is, so the
            # card gives the range of scores over the values that input took in the training data instead.
            low, high = imputed_score_range(loaded, row, imputed, manifest)
            value, unit, measures = f"{low * 100:.0f}-{high * 100:.0f} %", None, ()
            category = "no point estimate: " + ", ".join(labels[c] for c in imputed) + " missing"
            point, score_range = None, (low, high)
        else:
            # The score once, in %: the model's probability is the same number (it stays in the finding's details).
            value, unit, measures, category = round(score * 100, 1), "%", (), None
            point, score_range = score, None
        return [self.finding(
            Status.COMPUTED,
            finding_id=f"{self.id}:{manifest['model_id']}",
            # The model id and version are on the explainer page (the explanation), not in the card's words.
            title=f"{manifest['dataset']['outcome'].split('(')[0].strip().capitalize()} (demo model, not for clinical use)",
            value=value,
            unit=unit,
            category=category,
            severity=Severity.INFO,
            inputs=tuple(inputs),
            input_problems=self.relevant_problems(features),
            assumptions=tuple(assumptions) + ("Demonstration model: NOT FOR CLINICAL USE.",
                                              f"Trained on {manifest['dataset']['name']}; see the model card."),
            explanation=contribution_terms + (
                Term("Model", f"{manifest['model_id']} {manifest['version']}"),
                Term("Weights sha256", loaded.sha256[:16] + "..."),
                Term("Test AUROC", "n/a" if auroc is None else f"{auroc:.3f}"),
                *((Term("Leave-one-site-out AUROC", f"{min(loso):.2f}-{max(loso):.2f} across "
                                                     f"{len(loso)} sites"),) if loso else ())),
            citation=self._citation(manifest),
            method=(f"MLP trained with torch on the {manifest['dataset']['name']} data; scored with a numpy forward pass. "
                    "Contribution of an input: the score minus the score with that input left out, in percentage "
                    "points (left out: a numeric input at its training median, a categorical one averaged over its "
                    "categories). Range when an input is imputed: the lowest and highest score over that input's training "
                    "minimum, median and maximum (each category for a categorical input)."),
            measures=measures,
            # The title says "demo model, not for clinical use" and the caveats say it again: the note gives the
            # contributions only.
            message=("Contributions (percentage points): " + shown + "." if shown else None),
            details=TrainedModelDetails(model_id=manifest["model_id"], model_version=manifest["version"],
                                        weights_sha256=loaded.sha256, score=point, score_range=score_range),
        )]


def _points_text(points: float) -> str:
    """A contribution in whole percentage points, signed; never "-0" or "+0"."""
    text = f"{points:+.0f}"
    return "0" if text in ("+0", "-0") else text
