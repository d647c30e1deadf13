"""The evaluation report: files written, plots render, numbers match scikit-learn, CLI works."""
import csv
import json

import matplotlib.image
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from edge.cli import cli
from evaluation.errors import EvaluationError
from evaluation.report import write_report


@pytest.fixture
def predictions(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.integers(0, 2, n)
    probs = 1 / (1 + np.exp(-(rng.normal(labels * 1.5 - 0.75, 1.0))))
    path = tmp_path / "predictions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "probability", "sex", "age", "device", "ctd"])
        for i in range(n):
            writer.writerow([labels[i], f"{probs[i]:.6f}", "FM"[i % 2], 45 + i % 40,
                             ["Littmann 3200", "Eko Core"][i % 3 == 0], ["SSc", "RA", "IIM"][i % 3]])
    return path, labels, np.round(probs, 6)


def test_report_writes_metrics_plots_and_html(tmp_path, predictions):
    path, labels, probs = predictions
    metrics = write_report(path, tmp_path / "out")
    assert metrics["roc_auc"]["auc"] == pytest.approx(roc_auc_score(labels, probs), abs=1e-9)
    for name in ("roc.png", "calibration.png", "decision_curve.png"):
        image = matplotlib.image.imread(tmp_path / "out" / name)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0  # a real, non-blank picture
    page = (tmp_path / "out" / "report.html").read_text()
    assert f"{metrics['roc_auc']['auc']:.3f}" in page and 'src="roc.png"' in page
    assert set(metrics["subgroups"]) == {"sex", "age", "device", "ctd"}
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["n"] == 600


def test_age_bands_are_listed_youngest_first(tmp_path):
    """The crackle model's adults span <40 to 80+: the table put "<40" after "80+" (sorted as text)."""
    path = tmp_path / "predictions.csv"
    ages = [35, 85, 45, 72, 55, 66]
    path.write_text("label,probability,age\n" + "".join(f"{i % 2},0.{i + 1},{age}\n" for i, age in enumerate(ages)))
    metrics = write_report(path, tmp_path / "out")
    order = ["<40", "40-49", "50-59", "60-69", "70-79", "80+"]
    assert list(metrics["subgroups"]["age"]["groups"]) == order
    page = (tmp_path / "out" / "report.html").read_text()
    positions = [page.index(f"<td>{band}</td>".replace("<40", "&lt;40")) for band in order]
    assert positions == sorted(positions)


def test_cli_prints_the_headline_numbers(tmp_path, predictions, runner):
    path, labels, probs = predictions
    result = runner.invoke(cli, ["evaluate", str(path), "--out", str(tmp_path / "r"), "--threshold", "0.5"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["threshold"] == 0.5 and summary["roc_auc"]["auc"] == pytest.approx(roc_auc_score(labels, probs))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("label,score\n1,0.5\n", "missing column"),
        ("label,probability\n1,high\n0,0.1\n", "line 2: probability must be a number, got 'high'"),
        ("label,probability\n", "no rows"),
        ("label,probability\n3,0.5\n0,0.1\n", "labels must be 0 or 1"),
    ],
)
def test_bad_prediction_files_are_named(tmp_path, runner, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(EvaluationError, match=message):
        write_report(path, tmp_path / "out")
    result = runner.invoke(cli, ["evaluate", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and message.split(":")[0] in result.output and "Traceback" not in result.output
