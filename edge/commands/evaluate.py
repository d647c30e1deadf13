"""``ildscreen evaluate``: the evaluation report from a predictions CSV."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from edge.commands.models import extra_needed


@click.command()
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.html, metrics.json and the PNG plots.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Operating point to report; default: the Youden-optimal threshold.")
def evaluate(predictions: Path, out_dir: Path, threshold: Optional[float]) -> None:
    """Evaluate PREDICTIONS.csv (columns label, probability[, sex, age, device, ctd]).

    Writes ROC with DeLong CI, operating point with Wilson CIs, calibration (ECE, Brier),
    decision curve and subgroup tables; prints the headline numbers as JSON.
    """
    # Imported here: matplotlib and scipy are the `evaluation` extra, not the serving stack.
    with extra_needed("evaluation"):
        from evaluation.errors import EvaluationError
        from evaluation.report import write_report
    try:
        metrics = write_report(predictions, out_dir, threshold=threshold)
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from exc
    op = metrics["operating_point"]
    click.echo(json.dumps({
        "n": metrics["n"],
        "roc_auc": metrics["roc_auc"],
        "threshold": op["threshold"],
        "sensitivity": op["sensitivity"]["value"],
        "specificity": op["specificity"]["value"],
        "ece": metrics["calibration"]["ece"],
        "brier": metrics["calibration"]["brier"],
        "report": str(out_dir / "report.html"),
    }))
