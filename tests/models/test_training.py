import csv
import json

import numpy as np
import pytest

from engine.models.training import metrics
from engine.models.training.data import Preprocessor, TabularSpec, label_of, stratified_split
from engine.models.training.pipeline import sha256_file, train_tabular
from engine.models.training.tabular import MLPConfig, load_weights, mlp_predict_numpy, mlp_predict_torch


def test_metrics_on_known_cases():
    y = [0, 0, 1, 1]
    assert metrics.auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert metrics.auroc(y, [0.1, 0.6, 0.4, 0.9]) == 0.75  # 3 of 4 positive-negative pairs ranked right
    assert metrics.auroc([1, 1], [0.2, 0.3]) is None
    assert metrics.brier(y, [0, 0, 1, 1]) == 0.0
    assert metrics.brier(y, [0.5] * 4) == 0.25
    assert metrics.auprc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    bins = metrics.calibration_bins([0, 1, 1, 0], [0.05, 0.95, 0.91, 0.15])
    assert [b["n"] for b in bins] == [1, 1, 2] and bins[-1]["observed"] == 1.0


def test_bootstrap_ci_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    point = metrics.auroc(y, p)
    lo, hi = metrics.bootstrap_ci(y, p, metrics.auroc, n_boot=200, seed=0)
    assert lo < point < hi and hi - lo < 0.2
    assert metrics.bootstrap_ci(y, p, metrics.auroc, n_boot=200, seed=0) == (lo, hi)  # seeded


def test_subgroups():
    rows = metrics.subgroups([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9], ["Male", "Male", "Female", "Female"], [45, 55, 70, None], min_n=1)
    groups = {r["group"]: r for r in rows}
    assert groups["sex=Male"]["n"] == 2 and groups["sex=Male"]["auroc"] == 1.0
    assert groups["age <50"]["n"] == 1 and groups["age <50"]["auroc"] is None
    assert groups["age >=65"]["n"] == 1


def test_split_is_stratified_and_reproducible():
    labels = [0] * 80 + [1] * 20
    tr, te = stratified_split(labels, 0.25, 7)
    assert len(te) == 25 and sum(labels[i] for i in te) == 5
    assert set(tr).isdisjoint(te) and len(tr) + len(te) == 100
    assert np.array_equal(stratified_split(labels, 0.25, 7)[1], te)
    assert not np.array_equal(stratified_split(labels, 0.25, 8)[1], te)


def test_preprocessor_imputes_indicates_and_encodes():
    rows = [{"age": "50", "chol": "0", "sex": "Male"}, {"age": "60", "chol": "200", "sex": "Female"},
            {"age": "", "chol": "240", "sex": "Male"}]
    pre = Preprocessor.fit(rows, ["age", "chol", "sex"], zero_as_missing=["chol"])
    assert pre.output_names == ["age", "age_missing", "chol", "chol_missing", "sex=Female", "sex=Male"]
    assert pre.numeric["chol"]["median"] == 220.0  # the 0 is missing, not a value
    x = pre.transform([{"age": None, "chol": "0", "sex": "Other"}])[0]
    assert x[1] == 1.0 and x[3] == 1.0 and x[4] == x[5] == 0.0
    assert Preprocessor.from_json(json.loads(json.dumps(pre.to_json()))).transform_row(rows[1]) == pre.transform_row(rows[1])
    assert label_of("2", ">0") == 1 and label_of("0", ">0") == 0 and label_of("yes", "==YES") == 1
    assert label_of("", ">0") is None


def synthetic_csv(path, n=240, seed=3):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["age", "sex", "sbp", "outcome"])
        for _ in range(n):
            age = rng.integers(30, 80)
            sex = rng.choice(["Male", "Female"])
            sbp = rng.normal(135, 18)
            logit = 0.08 * (age - 55) + 0.04 * (sbp - 135) + (0.7 if sex == "Male" else -0.7)
            w.writerow([age, sex, f"{sbp:.0f}", int(rng.random() < 1 / (1 + np.exp(-logit)))])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("torch", reason="torch not installed (optional 'models' extra)")
    d = tmp_path_factory.mktemp("train")
    data = synthetic_csv(d / "data.csv")
    spec = TabularSpec(target="outcome", positive="==1", features=["age", "sex", "sbp"], sex_column="sex", age_column="age")
    cfg = MLPConfig(max_epochs=150, patience=20, seed=5)
    a = train_tabular(data, d / "a", spec, seed=5, n_boot=50, mlp_config=cfg, model_id="synthetic")
    b = train_tabular(data, d / "b", spec, seed=5, n_boot=50, mlp_config=cfg, model_id="synthetic")
    return a, b


def test_training_writes_everything_and_is_reproducible(trained):
    a, b = trained
    for name in ("model.safetensors", "model.json", "baseline.json", "evaluation.json", "evaluation.md",
                 "calibration.png", "MODEL_CARD.md"):
        assert (a.out_dir / name).is_file(), name
    assert (a.out_dir / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.manifest["weights_sha256"] == sha256_file(a.out_dir / "model.safetensors") == b.manifest["weights_sha256"]
    card = (a.out_dir / "MODEL_CARD.md").read_text()
    assert "NOT FOR CLINICAL USE" in card and "Intended use" in card and "Limitations" in card
    report = a.report
    assert set(report["models"]) == {"MLP (torch)", "Logistic regression (baseline)"}
    for summary in report["models"].values():
        assert summary["auroc"] > 0.7  # the synthetic signal is strong
        lo, hi = summary["auroc_ci95"]
        assert lo <= summary["auroc"] <= hi
    groups = {g["group"] for g in report["subgroups"]["MLP (torch)"]}
    assert {"sex=Male", "sex=Female", "age <50", "age 50-64", "age >=65"} <= groups


def test_numpy_inference_matches_torch(trained):
    a, _ = trained
    weights = load_weights(a.out_dir)
    x = np.random.default_rng(0).normal(size=(20, weights["hidden.weight"].shape[1])).astype(np.float32)
    assert np.allclose(mlp_predict_numpy(weights, x), mlp_predict_torch(weights, x), atol=1e-6)


def test_bad_training_input(tmp_path, needs_torch):
    data = synthetic_csv(tmp_path / "d.csv", n=40)
    with pytest.raises(ValueError, match="not in the CSV"):
        train_tabular(data, tmp_path / "o", TabularSpec(target="nope", features=["age"]))
    with pytest.raises(ValueError, match="single class"):
        train_tabular(data, tmp_path / "o", TabularSpec(target="age", positive=">1000", features=["sex"]))


def test_text_fine_tuning_with_tiny_bert(tiny_bert_dir, tmp_path):
    from engine.models.training.pipeline import train_text
    from engine.models.training.text import TextConfig

    path = tmp_path / "text.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(24):
            w.writerow([f"patient has diabetes on metformin {i}", 1])
            w.writerow([f"patient denies asthma today {i}", 0])
    result = train_text(path, tmp_path / "model", text_column="text", target="label", positive="==1",
                        base_model_dir=tiny_bert_dir, n_boot=20, config=TextConfig(epochs=1, batch_size=16, seed=1))
    assert result.manifest["task"] == "text-binary-classification"
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert set(result.report["models"]) == {"Fine-tuned transformer", "TF-IDF logistic regression (baseline)"}
    assert result.report["models"]["TF-IDF logistic regression (baseline)"]["auroc"] == 1.0
