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


def comparison_plot(comparison: dict, path: Path, title: str) -> Path:
    """Observed vs mean predicted risk per tenth of predicted risk, for every model of the comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    top = max(max(g["mean_predicted"], g["observed"]) for m in comparison["models"].values() for g in m["tenths"])
    top = min(1.0, top * 1.1)
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    for name, m in comparison["models"].items():
        ax.plot([g["mean_predicted"] for g in m["tenths"]], [g["observed"] for g in m["tenths"]], marker="o",
                label=f"{name} (O/E {m['oe_ratio']:.2f})")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("Mean predicted 10-year risk (tenths of predicted risk)")
    ax.set_ylabel("Observed 10-year risk")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def site_lines(report: dict) -> list[str]:
    sites = report["sites"]
    lines = ["", f"## Sites ({sites['column']})", "",
             "Missing inputs by site (share of rows; 0 counts as missing where the data use it so):", "",
             "| site | n | " + " | ".join(sites["missing_by_site"][0]["missing"]) + " |",
             "| --- | --- | " + " | ".join("---" for _ in sites["missing_by_site"][0]["missing"]) + " |"]
    for row in sites["missing_by_site"]:
        lines.append(f"| {row['site']} | {row['n']} | " + " | ".join(f"{v:.0%}" for v in row["missing"].values()) + " |")
    lines += ["", "Per site, held-out test split (model trained on all sites):", "",
              "| model | site | n | positives | AUROC (95% CI) | Brier | mean predicted | observed |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rows in sites["test_split"].items():
        for r in rows:
            lines.append(f"| {name} | {r['site']} | {r['n']} | {r['positives']} | {_fmt(r['auroc'])}{_ci(r['auroc_ci95'])} | "
                         f"{_fmt(r['brier'])} | {_fmt(r['mean_predicted'])} | {_fmt(r['observed'])} |")
    indicators = "with" if report.get("missing_indicators", True) else "without"
    lines += ["", f"Leave-one-site-out ({indicators} missing-value indicators): trained on the other sites, tested on "
              "the site named (all its rows):", "",
              "| model | left-out site | n | positives | AUROC (95% CI) | Brier | mean predicted | observed |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sites["leave_one_site_out"]:
        lines.append(f"| {r['model']} | {r['site']} | {r['n']} | {r['positives']} | {_fmt(r['auroc'])}{_ci(r['auroc_ci95'])} | "
                     f"{_fmt(r['brier'])} | {_fmt(r['mean_predicted'])} | {_fmt(r['observed'])} |")
    if "leave_one_site_out_with_indicators" in sites:
        lines += ["", "The same with missing-value indicators (the configuration this model does not use):", "",
                  "| model | left-out site | AUROC | Brier | mean predicted | observed |", "| --- | --- | --- | --- | --- | --- |"]
        for r in sites["leave_one_site_out_with_indicators"]:
            lines.append(f"| {r['model']} | {r['site']} | {_fmt(r['auroc'])} | {_fmt(r['brier'])} | "
                         f"{_fmt(r['mean_predicted'])} | {_fmt(r['observed'])} |")
    return lines


def comparison_lines(report: dict) -> list[str]:
    c = report["comparison"]
    lines = ["", f"## Compared with {c['reference']} (same {c['rows']} test rows, {c['events']} events)", "",
             "| model | AUROC (95% CI) | O/E | calibration slope | intercept | Brier | mean predicted | observed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, m in c["models"].items():
        lines.append(f"| {name} | {_fmt(m['auroc'])}{_ci(m['auroc_ci95'])} | {_fmt(m['oe_ratio'], 2)} | "
                     f"{_fmt(m['slope'], 2)} | {_fmt(m['intercept'], 2)} | {_fmt(m['brier'])} | "
                     f"{_fmt(m['mean_predicted'])} | {_fmt(m['observed'])} |")
    lines += ["", "AUROC difference against the equations (paired bootstrap 95% CI):", ""]
    for name, d in c["auroc_difference_vs_reference"].items():
        ci = d["ci95"]
        lines.append(f"- {name}: {d['difference']:+.3f}" + (f" ({ci[0]:+.3f} to {ci[1]:+.3f})" if ci else ""))
    lines += ["", "Equations with another assumed HDL-C (the data have none):", "",
              "| HDL-C (mg/dL) | AUROC | O/E | calibration slope | mean predicted |", "| --- | --- | --- | --- | --- |"]
    for r in c["hdl_sensitivity"]:
        lines.append(f"| {r['hdl_mgdl']:g} | {_fmt(r['auroc'])} | {_fmt(r['oe_ratio'], 2)} | {_fmt(r['slope'], 2)} | "
                     f"{_fmt(r['mean_predicted'])} |")
    lines += ["", "O/E: observed / expected events (1 is right, below 1 over-prediction). Calibration slope and intercept: "
              "logistic regression of the outcome on the logit of the predicted risk (ideal 1 and 0).", "",
              "![comparison](comparison.png)"]
    return lines


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
    lines += ["", "![calibration](calibration.png)"]
    if "sites" in report:
        lines += site_lines(report)
    if "comparison" in report:
        paths["comparison_png"] = comparison_plot(report["comparison"], out_dir / "comparison.png",
                                                  f"Calibration on the same test rows ({report['model_id']})")
        lines += comparison_lines(report)
    lines.append("")
    paths["markdown"].write_text("\n".join(lines))
    return paths
