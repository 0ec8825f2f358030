import json
import shutil
import subprocess
import sys
from datetime import date

from engine.finding import Evidence, Status
from engine.inputs import FeatureSet
from engine.models.settings import DEFAULT_TRAINED_DIR
from engine.models.training.pipeline import sha256_file
from engine.models.trained_engine import load_trained
from engine.registry import models
import engine.models  # noqa: F401 - registers the engine


def features(**values) -> FeatureSet:
    fs = FeatureSet(as_of=date(2024, 1, 1))
    for name, value in values.items():
        fs.put(Evidence(name, name, value, source=f"Observation/{name}"))
    return fs


ENGINE = models.get("trained-tabular-model")


def test_committed_demo_model_is_intact():
    manifest = json.loads((DEFAULT_TRAINED_DIR / "model.json").read_text())
    assert manifest["model_id"] == "uci-heart-mlp" and manifest["not_for_clinical_use"] is True
    assert manifest["weights_sha256"] == sha256_file(DEFAULT_TRAINED_DIR / "model.safetensors")
    assert "CC BY 4.0" in manifest["dataset"]["licence"]
    mlp = manifest["metrics"]["MLP (torch)"]
    assert 0.69 < mlp["auroc"] < 0.71 and mlp["n"] == 230  # figures reported in docs/models.md
    # No input tells the model which hospital a row came from: no missing-value indicators, and a missing
    # categorical input gets the most common category, not an all-zero encoding.
    assert manifest["missing_indicators"] is False
    assert not [n for n in manifest["feature_names"] if n.endswith("_missing")]
    assert manifest["preprocessor"]["categorical_fill"] == {"sex": "Male", "fbs": "FALSE"}
    loso = {r["site"]: r["auroc"] for r in manifest["leave_one_site_out"]}
    assert set(loso) == {"Cleveland", "Hungary", "Switzerland", "VA Long Beach"}
    assert 0.45 < min(loso.values()) < 0.55 and 0.70 < max(loso.values()) < 0.75  # docs/models.md
    card = (DEFAULT_TRAINED_DIR / "MODEL_CARD.md").read_text()
    assert "## Validation across sites" in card and "no point estimate" in card
    assert "leave_one_site_out_with_indicators" in json.loads((DEFAULT_TRAINED_DIR / "evaluation.json").read_text())["sites"]
    assert (DEFAULT_TRAINED_DIR / "MODEL_CARD.md").stat().st_size < 10_000
    assert sum(p.stat().st_size for p in DEFAULT_TRAINED_DIR.iterdir()) < 5_000_000


def test_finding_carries_model_identity_and_score(monkeypatch):
    monkeypatch.delenv("CDS_MODEL_DIR_TRAINED", raising=False)
    (f,) = ENGINE.evaluate(features(age_years=63, sex="male", sbp_mmhg=145, chol_total_mgdl=233, diabetes=True))
    assert f.status is Status.COMPUTED and f.unit == "%"
    assert f.details.model_id == "uci-heart-mlp" and f.details.model_version == "2.0.0"
    assert f.details.weights_sha256 == sha256_file(DEFAULT_TRAINED_DIR / "model.safetensors")
    assert 0 < f.details.score < 1 and f.value == round(f.details.score * 100, 1)
    assert "NOT FOR CLINICAL USE" in " ".join(f.assumptions)
    (female,) = ENGINE.evaluate(features(age_years=63, sex="female", sbp_mmhg=145, chol_total_mgdl=233, diabetes=True))
    assert female.details.score < f.details.score  # the data's strongest signal after chest-pain type is sex


def test_missing_and_out_of_range_inputs():
    (f,) = ENGINE.evaluate(features(sex="male"))
    assert f.status is Status.INSUFFICIENT_DATA and [m.name for m in f.missing] == ["age_years"]
    (f,) = ENGINE.evaluate(features(age_years=95, sex="female"))
    assert f.status is Status.NOT_APPLICABLE and "training range" in f.message
    (f,) = ENGINE.evaluate(features(age_years=50, sex="female"))
    assert f.status is Status.COMPUTED and f.unit is None and "-" in f.value
    assert any("missing: no point estimate" in a for a in f.assumptions)


def test_an_imputed_input_gives_a_range_not_a_point_estimate(monkeypatch):
    monkeypatch.delenv("CDS_MODEL_DIR_TRAINED", raising=False)
    complete = dict(age_years=63, sex="male", sbp_mmhg=145, chol_total_mgdl=233, diabetes=True)
    (full,) = ENGINE.evaluate(features(**complete))
    (partial,) = ENGINE.evaluate(features(**{k: v for k, v in complete.items() if k != "sbp_mmhg"}))
    assert isinstance(full.value, float) and full.unit == "%"
    # SBP imputed: no single number, the range of scores over SBP's training minimum, median and maximum instead.
    low, high = (float(x) for x in partial.value.removesuffix(" %").split("-"))
    assert partial.unit is None and low <= high
    assert partial.category == "no point estimate: Systolic blood pressure missing"
    assert partial.measures == ()
    # Nothing reading the finding sees a point estimate: the details carry the range, not the median-imputed score.
    assert partial.details.score is None and partial.details.score_range is not None
    assert [round(x * 100) for x in partial.details.score_range] == [low, high]
    assert full.details.score_range is None and 0 < full.details.score < 1


def test_each_supplied_input_has_its_contribution(monkeypatch):
    monkeypatch.delenv("CDS_MODEL_DIR_TRAINED", raising=False)
    (f,) = ENGINE.evaluate(features(age_years=63, sex="male", sbp_mmhg=145, chol_total_mgdl=233, diabetes=True))
    contributions = {t.label.split(" (")[0]: t.contribution for t in f.explanation if t.contribution is not None}
    assert set(contributions) == {"Age", "Sex", "Systolic blood pressure", "Total cholesterol", "Diabetes"}
    # Occlusion: the score minus the score with that input left out, in percentage points: a numeric input at its
    # training median, a categorical one averaged over its categories (so the most common sex still counts).
    loaded = load_trained(DEFAULT_TRAINED_DIR)
    row = {"age": 63, "sex": "Male", "trestbps": 145, "chol": 233, "fbs": "TRUE"}
    score = loaded.predict(row)
    left_out_sex = (loaded.predict({**row, "sex": "Female"}) + score) / 2
    assert contributions["Sex"] == round((score - left_out_sex) * 100, 1) and contributions["Sex"] > 0
    left_out_age = loaded.predict({k: v for k, v in row.items() if k != "age"})
    assert contributions["Age"] == round((score - left_out_age) * 100, 1)
    assert "Contributions (percentage points): " in f.message and "Sex " in f.message


def test_the_framingham_model_is_served_with_its_own_citation(monkeypatch):
    framingham = DEFAULT_TRAINED_DIR.parent / "framingham-chd-mlp"
    monkeypatch.setenv("CDS_MODEL_DIR_TRAINED", str(framingham))
    values = dict(age_years=55, sex="female", sbp_mmhg=140, chol_total_mgdl=230, diabetes=False, bp_treated=True,
                  smoker_current=True)
    (f,) = ENGINE.evaluate(features(**values))
    assert f.status is Status.COMPUTED and f.unit == "%" and f.details.model_id == "framingham-chd-mlp"
    assert "Framingham" in f.citation.short and "Detrano" not in f.citation.full
    (partial,) = ENGINE.evaluate(features(**{k: v for k, v in values.items() if k != "smoker_current"}))
    assert partial.unit is None and partial.category == "no point estimate: Current smoker missing"
    assert partial.details.score is None and partial.details.score_range[0] <= partial.details.score_range[1]


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    copy = tmp_path / "model"
    shutil.copytree(DEFAULT_TRAINED_DIR, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("CDS_MODEL_DIR_TRAINED", str(copy))
    (f,) = ENGINE.evaluate(features(age_years=60, sex="male"))
    assert f.status is Status.ERROR and "checksum" in f.message
    monkeypatch.setenv("CDS_MODEL_DIR_TRAINED", str(tmp_path / "absent"))
    assert ENGINE.evaluate(features(age_years=60, sex="male"))[0].status is Status.ERROR


def test_importing_the_engine_does_not_import_torch():
    """The service imports engine.models at start-up; torch (about 2 s) must wait for first use."""
    code = ("import sys, engine.models, engine.models.notes, engine.models.qa, fhir_adapter.notes;"
            "from engine.registry import models;"
            "print('torch' in sys.modules or 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
