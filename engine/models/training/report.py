"""Evaluation report: JSON (machine), Markdown (people) and a calibration plot (PNG)."""
from __future__ import annotations

import json
from pathlib import Path


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(ci) -> str:
    return "" if not ci else f" ({ci[0]:.3f}-{ci[1]:.3f})"


def calibration_plot(results: dict[str, dict], path: Path, title: str) -> Path:
    """Reliability diagram of every model in ``results`` (name -> metrics summary)."""
    from engine.models.training import require

    require("matplotlib", "matplotlib").use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, summary in results.items():
        bins = summary["calibration"]
        ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], marker="o",
                label=f"{name} (Brier {summary['brier']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Mean predicted probability")
    ax.set_ylabel("Observed frequency")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(out_dir: Path, report: dict) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "evaluation.json", "markdown": out_dir / "evaluation.md",
             "calibration_png": out_dir / "calibration.png"}
    calibration_plot(report["models"], paths["calibration_png"], f"Calibration on the held-out test split ({report['model_id']})")
    paths["json"].write_text(json.dumps(report, indent=1, default=str) + "\n")
    lines = [
        f"# Evaluation: {report['model_id']} {report['version']}",
        "",
        f"Dataset: {report['dataset']['name']} ({report['dataset']['rows_used']} rows used; "
        f"test split {report['split']['test_rows']} rows, seed {report['split']['seed']}).",
        f"Outcome: {report['dataset']['outcome']}.",
        "",
        "| model | AUROC (95% CI) | AUPRC (95% CI) | Brier |",
        "| --- | --- | --- | --- |",
    ]
    for name, s in report["models"].items():
        lines.append(f"| {name} | {_fmt(s['auroc'])}{_ci(s['auroc_ci95'])} | {_fmt(s['auprc'])}{_ci(s['auprc_ci95'])} | {_fmt(s['brier'])} |")
    lines += ["", "Confidence intervals: percentile bootstrap over the test split "
              f"({report['bootstrap']} resamples).", "", "## Subgroups (test split)", "",
              "| model | group | n | positives | AUROC | Brier | mean predicted | observed |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rows in report["subgroups"].items():
        for r in rows:
            lines.append(f"| {name} | {r['group']} | {r['n']} | {r['positives']} | {_fmt(r['auroc'])} | {_fmt(r['brier'])} | "
                         f"{_fmt(r['mean_predicted'])} | {_fmt(r['observed'])} |")
    lines += ["", "![calibration](calibration.png)", ""]
    paths["markdown"].write_text("\n".join(lines))
    return paths
