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


def _population_limit(ds: dict) -> str:
    if "UCI" in ds["name"]:
        return ("- Small, old (1980s) referral populations undergoing angiography: the outcome prevalence is far higher "
                "than in primary care, so predicted probabilities do not transfer.")
    if "Framingham" in ds["name"]:
        return ("- One mostly white New England cohort followed from the mid-20th century; risks of people today differ "
                "(treatment, smoking, diet), and the extract's provenance is not documented.")
    return "- Trained on a small dataset; probabilities are unlikely to transfer to other populations."


def _site_lines(manifest: dict, report: dict) -> list[str]:
    if "sites" not in report:
        return []
    lines = ["", "## Validation across sites",
             "The rows come from several hospitals. A random split mixes them; leave-one-site-out trains on the other "
             "sites and tests on the one left out (internal-external validation), which is the better guide to a "
             "hospital the model has not seen.", "",
             "| left-out site | n | positives | AUROC (95% CI) | Brier |", "| --- | --- | --- | --- | --- |"]
    for r in manifest.get("leave_one_site_out", []):
        ci = r["auroc_ci95"]
        auroc = "n/a" if r["auroc"] is None else f"{r['auroc']:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
        lines.append(f"| {r['site']} | {r['n']} | {r['positives']} | {auroc} | {r['brier']:.3f} |")
    lines += ["", "Per-site metrics on the test split, missing inputs by site and the same validation with "
              "missing-value indicators are in `evaluation.md`."]
    return lines


def _comparison_lines(report: dict) -> list[str]:
    if "comparison" not in report:
        return []
    c = report["comparison"]
    lines = ["", "## Compared with the Pooled Cohort Equations",
             f"Same {c['rows']} test rows ({c['events']} events); equations with HDL-C {c['hdl_assumed_mgdl']:g} mg/dL "
             "(not in the data) and the white equations (no race in the data); they predict hard ASCVD, the data record "
             "coronary heart disease only.", "",
             "| model | AUROC | O/E | calibration slope |", "| --- | --- | --- | --- |"]
    for name, m in c["models"].items():
        lines.append(f"| {name} | {m['auroc']:.3f} | {m['oe_ratio']:.2f} | {m['slope']:.2f} |")
    lines += ["", "Details, intervals and the HDL-C sensitivity are in `evaluation.md` / `comparison.png`."]
    return lines


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
              "Subgroup metrics (sex, age bands) and the calibration plot are in `evaluation.md` / `calibration.png`."]
    lines += _site_lines(manifest, report) + _comparison_lines(report)
    lines += ["", "## How the served engine uses it",
              "- Inputs the record supplies are used as they are; an input the record lacks is not silently replaced: "
              "the card gives no point estimate but the range of scores over that input's training minimum, median "
              "and maximum (each category for a categorical input), and names the input it lacked.",
              "- Each supplied input's contribution is on the card and its explainer page: the score minus the score "
              "with that input left out (a numeric input at its training median, a categorical one averaged over its "
              "categories), in percentage points.",
              "- Age outside the training range is not scored.",
              "", "## Limitations", _population_limit(ds),
              "- Only the inputs listed above; no medications, symptoms or ECG findings are used by the served model.",
              "- Subgroups with few rows (see evaluation.md) have wide uncertainty.",
              "- Missing values were imputed with training medians for training (no missing-value indicators)."
              if not manifest.get("missing_indicators", True) else
              "- Missing values were imputed with training medians, with missing-value indicators.",
              "- Not externally validated; no fairness audit beyond the subgroup table.",
              ""]
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
