"""Evaluation report: metrics JSON, PNG plots and one HTML page from a predictions CSV.

The CSV has one row per case: ``label`` (0/1, the reference standard, e.g. ILD on HRCT) and
``probability`` (the model's), plus optional subgroup columns ``sex``, ``age``, ``device`` and
``ctd``.
"""
from __future__ import annotations

import csv
import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: the report is rendered on headless machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evaluation.calibration import brier_score, calibration_curve, expected_calibration_error  # noqa: E402
from evaluation.decision import decision_curve  # noqa: E402
from evaluation.errors import EvaluationError  # noqa: E402
from evaluation.metrics import operating_point, roc_auc, roc_points, youden_threshold  # noqa: E402
from evaluation.subgroups import age_band, subgroup_table  # noqa: E402

REQUIRED_COLUMNS = ("label", "probability")
SUBGROUP_COLUMNS = ("sex", "age", "device", "ctd")


def read_predictions(path: Path) -> dict[str, list[str]]:
    """Columns of the predictions CSV; refuses missing columns and unparsable rows by line number."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise EvaluationError(f"{path}: missing column(s) {', '.join(missing)}; need {', '.join(REQUIRED_COLUMNS)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationError(f"{path}: cannot read predictions ({exc})") from exc
    if not rows:
        raise EvaluationError(f"{path}: no rows")
    columns = {name: [row.get(name) or "" for row in rows] for name in reader.fieldnames}
    for name in REQUIRED_COLUMNS:
        for line, value in enumerate(columns[name], start=2):
            try:
                float(value)
            except ValueError:
                raise EvaluationError(f"{path}: line {line}: {name} must be a number, got {value!r}") from None
    return columns


def compute_metrics(labels: np.ndarray, probs: np.ndarray, subgroups: dict[str, list[str]],
                    *, threshold: float | None = None) -> dict:
    chosen = youden_threshold(labels, probs) if threshold is None else threshold
    return {
        "n": int(len(labels)),
        "prevalence": float(labels.mean()),
        "roc_auc": roc_auc(labels, probs).to_json(),
        "operating_point": {**operating_point(labels, probs, chosen),
                            "chosen_by": "Youden index" if threshold is None else "given"},
        "calibration": {"ece": expected_calibration_error(labels, probs), "brier": brier_score(labels, probs),
                        "curve": calibration_curve(labels, probs)},
        "decision_curve": decision_curve(labels, probs),
        "subgroups": {name: subgroup_table(labels, probs, values) for name, values in subgroups.items()},
    }


def _plot_roc(labels, probs, auc: dict, path: Path) -> None:
    fpr, tpr, _ = roc_points(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC {auc['auc']:.3f} ({auc['ci95'][0]:.3f}-{auc['ci95'][1]:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="Sensitivity", title="ROC curve")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_calibration(curve: list[dict], path: Path) -> None:
    filled = [b for b in curve if b["count"]]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot([b["mean_predicted"] for b in filled], [b["observed"] for b in filled], marker="o", label="model")
    ax.set(xlabel="Predicted probability", ylabel="Observed frequency", title="Calibration", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_decision_curve(rows: list[dict], path: Path) -> None:
    thresholds = [r["threshold"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(thresholds, [r["model"] for r in rows], label="model")
    ax.plot(thresholds, [r["treat_all"] for r in rows], label="refer all")
    ax.plot(thresholds, [0.0] * len(rows), label="refer none")
    top = max(max(r["model"] for r in rows), max(r["treat_all"] for r in rows))
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", title="Decision curve", ylim=(-0.05, top + 0.05))
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _appendix_html(appendix: dict) -> str:
    """Extra sections: a title each, with a dict of numbers shown as a two-column table."""
    sections = []
    for title, values in appendix.items():
        rows = "".join(f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(json.dumps(value))}</td></tr>"
                       for key, value in values.items())
        sections.append(f"<h2>{html.escape(title)}</h2><table>{rows}</table>")
    return "".join(sections)


def _html(metrics: dict, source: str, *, title: str = "Evaluation report", appendix: dict | None = None) -> str:
    auc = metrics["roc_auc"]
    op = metrics["operating_point"]

    def fmt(item: dict) -> str:
        if item["value"] is None:
            return "n/a"
        return f"{item['value']:.3f} ({item['ci95'][0]:.3f}-{item['ci95'][1]:.3f}), n={item['n']}"

    subgroup_html = []
    for column, table in metrics["subgroups"].items():
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{row['n']}</td><td>{row['positives']}</td>"
            f"<td>{row['auc']['auc']:.3f} ({row['auc']['ci95'][0]:.3f}-{row['auc']['ci95'][1]:.3f})</td>"
            f"<td>{row['ece']:.3f}</td></tr>" if "auc" in row else
            f"<tr><td>{html.escape(name)}</td><td>{row['n']}</td><td>{row['positives']}</td>"
            "<td colspan=2>too few cases</td></tr>"
            for name, row in table["groups"].items()
        )
        subgroup_html.append(f"<h3>By {html.escape(column)}</h3><table><tr><th>group</th><th>n</th>"
                             f"<th>positives</th><th>AUC (95% CI)</th><th>ECE</th></tr>{rows}</table>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ildscreen evaluation</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.25rem .5rem;text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Predictions: {html.escape(source)}. n = {metrics['n']}, prevalence {metrics['prevalence']:.3f}.</p>
<h2>Discrimination</h2>
<p>ROC AUC {auc['auc']:.3f} (95% CI {auc['ci95'][0]:.3f}-{auc['ci95'][1]:.3f}, DeLong).</p>
<p>At threshold {op['threshold']:.3f} ({op['chosen_by']}): sensitivity {fmt(op['sensitivity'])};
specificity {fmt(op['specificity'])} (Wilson 95% CIs).</p>
<img src="roc.png" alt="ROC curve">
<h2>Calibration</h2>
<p>ECE {metrics['calibration']['ece']:.3f}; Brier score {metrics['calibration']['brier']:.3f}.</p>
<img src="calibration.png" alt="Calibration curve">
<h2>Decision curve</h2><img src="decision_curve.png" alt="Decision curve">
<h2>Subgroups</h2>{''.join(subgroup_html) or '<p>No subgroup columns.</p>'}
{_appendix_html(appendix or {})}
</body></html>"""


def write_report(predictions_csv: Path, out_dir: Path, *, threshold: float | None = None,
                 subgroup_columns: tuple = SUBGROUP_COLUMNS, band_age=age_band, title: str = "Evaluation report",
                 appendix: dict | None = None) -> dict:
    """Evaluate a predictions CSV into ``out_dir``: metrics.json, three PNG plots, report.html.

    ``subgroup_columns`` are the CSV columns tabulated (an ``age`` column is grouped by
    ``band_age``); ``appendix`` adds titled tables of further numbers to the page.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    columns = read_predictions(predictions_csv)
    labels = np.array([float(v) for v in columns["label"]])
    probs = np.array([float(v) for v in columns["probability"]])
    subgroups = {}
    for name in subgroup_columns:
        if name in columns:
            values = columns[name]
            subgroups[name] = [band_age(float(v)) if name == "age" and v else (v or "unknown") for v in values]
    metrics = compute_metrics(labels, probs, subgroups, threshold=threshold)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _plot_roc(labels.astype(int), probs, metrics["roc_auc"], out_dir / "roc.png")
    _plot_calibration(metrics["calibration"]["curve"], out_dir / "calibration.png")
    _plot_decision_curve(metrics["decision_curve"], out_dir / "decision_curve.png")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (out_dir / "report.html").write_text(_html(metrics, Path(predictions_csv).name, title=title, appendix=appendix),
                                         encoding="utf-8")
    return metrics
