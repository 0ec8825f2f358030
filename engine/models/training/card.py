"""Model card (Mitchell et al., Model Cards for Model Reporting, FAT* 2019) written next to the weights."""
from __future__ import annotations

from pathlib import Path


def _metric_rows(manifest: dict) -> list[str]:
    rows = ["| model | AUROC (95% CI) | AUPRC (95% CI) | Brier |", "| --- | --- | --- | --- |"]
    for name, m in manifest["metrics"].items():
        def f(v, ci):
            if v is None:
                return "n/a"
            return f"{v:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
        rows.append(f"| {name} | {f(m['auroc'], m['auroc_ci95'])} | {f(m['auprc'], m['auprc_ci95'])} | {m['brier']:.3f} |")
    return rows


def write_card(out_dir: Path, manifest: dict, report: dict) -> Path:
    ds = manifest["dataset"]
    features = manifest.get("preprocessor", {}).get("columns") or [manifest.get("target", {}).get("text_column", "text")]
    lines = [
        f"# Model card: {manifest['model_id']} {manifest['version']}",
        "",
        "**NOT FOR CLINICAL USE.** A demonstration of the precision-cds training pipeline. It has not been "
        "validated prospectively, externally or in any population that resembles yours.",
        "",
        "## Intended use",
        "Research and software testing: showing how a trained model is evaluated, documented and served by the "
        "engine with full provenance (model id, version, weights checksum, score). Not for diagnosis, triage or "
        "treatment decisions.",
        "",
        "## Model",
        f"- Task: {manifest['task']}; architecture: {manifest['architecture']}.",
        f"- Weights: `{manifest['weights_file']}`, sha256 `{manifest.get('weights_sha256')}`.",
        f"- Inputs: {', '.join(features)}.",
        "- Baseline trained side by side: logistic regression on the same inputs.",
        "",
        "## Data",
        f"- {ds['name']}. Source: {ds['source']}.",
        f"- Licence: {ds['licence']}",
        f"- Outcome: {ds['outcome']}. Rows used: {ds['rows_used']} of {ds['rows_total']}; prevalence {ds['prevalence']:.1%}.",
        f"- Split: stratified, seed {manifest['split']['seed']}, {manifest['split']['train_rows']} train / "
        f"{manifest['split']['test_rows']} test rows.",
    ]
    lines += [f"- {note}" for note in ds.get("notes", [])]
    if ds.get("citation"):
        lines.append(f"- Citation: {ds['citation']}")
    lines += ["", "## Metrics (held-out test split)", "", *_metric_rows(manifest), "",
              "Subgroup metrics (sex, age bands) and the calibration plot are in `evaluation.md` / `calibration.png`.",
              "", "## Limitations",
              "- Small, old (1980s) referral populations undergoing angiography: the outcome prevalence is far higher "
              "than in primary care, so predicted probabilities do not transfer." if "Heart" in ds["name"] else
              "- Trained on a small dataset; probabilities are unlikely to transfer to other populations.",
              "- Only the inputs listed above; no medications, symptoms or ECG findings are used by the served model.",
              "- Subgroups with few rows (see evaluation.md) have wide uncertainty; women are under-represented.",
              "- Missing values are imputed with training medians; a patient with many missing inputs gets a "
              "population-average answer.",
              "- Not externally validated; no fairness audit beyond the subgroup table.",
              ""]
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
