"""The shipped labs and breath models, checked without the training stack (numpy + ONNX Runtime).

Golden files hold 1,000 held-out synthetic rows and scikit-learn's raw and calibrated
probabilities for them, written by the training command; the shipped ONNX graph plus the
manifest's calibration must reproduce them to 1e-5.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edge.labs import BUNDLED_MODELS, BundledModel
from tabular_models.breath_signal import breath_feature_names
from tabular_models.calibration import apply_calibration
from tabular_models.lab_panels import LAB_FEATURES
from tabular_models.training.metrics import expected_calibration_error, roc_auc
from tabular_models.training.synthetic_breath import make_breath_cohort
from tabular_models.training.synthetic_labs import make_lab_cohort

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = json.loads((BUNDLED_MODELS / "manifest.json").read_text(encoding="utf-8"))["models"]


@pytest.mark.parametrize("name", ["labs", "breath"])
def test_onnx_and_edge_calibration_equal_the_python_pipeline_on_1000_rows(name):
    entry = MANIFEST[name]
    golden = np.load(GOLDEN / f"{name}-{entry['version']}.npz")
    assert golden["features"].shape == (1000, len(entry["inputs"][0]["feature_order"]))
    assert np.isnan(golden["features"]).any() or name == "breath"
    model = BundledModel(name)
    raw = model.session.run(["probabilities"], {"features": golden["features"]})[0][:, 1]
    assert np.max(np.abs(raw - golden["raw"])) <= 1e-5
    calibration = entry["calibration"]
    edge = apply_calibration(golden["raw"], slope=calibration["slope"], intercept=calibration["intercept"])
    assert np.max(np.abs(edge - golden["calibrated"])) <= 1e-9
    assert np.max(np.abs(model.probability(golden["features"]) - golden["calibrated"])) <= 1e-5


@pytest.mark.parametrize("name", ["labs", "breath"])
def test_the_manifest_entry_describes_the_shipped_file(name):
    entry = MANIFEST[name]
    assert hashlib.sha256((BUNDLED_MODELS / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert entry["synthetic"] is True and entry["training_data"]["kind"] == "synthetic"
    assert 0.0 < entry["training_data"]["prevalence"] < 1.0
    expected = LAB_FEATURES if name == "labs" else breath_feature_names(entry["n_sensors"])
    assert tuple(entry["inputs"][0]["feature_order"]) == expected
    metrics = entry["metrics"]
    assert "held-out SYNTHETIC" in metrics["dataset"]
    assert metrics["onnx_parity_max_abs_diff"] <= 1e-5 and metrics["onnx_parity_rows"] == 1000
    assert metrics["xgboost"]["ece"] <= 0.03


def test_a_panel_with_nothing_measured_scores_near_the_training_prevalence():
    model = BundledModel("labs")
    empty = np.full((1, len(LAB_FEATURES)), np.nan, dtype=np.float32)
    assert abs(float(model.probability(empty)[0]) - MANIFEST["labs"]["training_data"]["prevalence"]) < 0.25


@pytest.mark.parametrize(("slope", "intercept"), [(0.0, 0.0), (-1.0, 0.0), (float("nan"), 0.0), (1.0, float("inf")),
                                                  ("1", 0.0)])
def test_calibration_refuses_parameters_that_would_reorder_or_break_probabilities(slope, intercept):
    with pytest.raises(ValueError, match="finite positive slope"):
        apply_calibration(np.array([0.5]), slope=slope, intercept=intercept)


def test_calibration_keeps_the_ranking_and_the_unit_interval():
    raw = np.array([0.0, 1e-9, 0.1, 0.5, 0.9, 1.0])
    calibrated = apply_calibration(raw, slope=1.3, intercept=-0.4)
    assert np.all(np.diff(calibrated) >= 0) and np.all((calibrated > 0) & (calibrated < 1))


def test_cohorts_are_flagged_synthetic_and_carry_the_published_signal():
    labs = make_lab_cohort(800, seed=11)
    assert labs["synthetic"] and 0.15 < labs["prevalence"] < 0.45
    kl6 = labs["X"][:, LAB_FEATURES.index("kl6")]
    measured = np.isfinite(kl6)
    assert roc_auc(labs["y"][measured], kl6[measured]) > 0.75  # KL-6 is the strongest published marker
    albumin = labs["X"][:, LAB_FEATURES.index("albumin")]
    measured = np.isfinite(albumin)
    assert roc_auc(labs["y"][measured], -albumin[measured]) > 0.55  # lower in ILD
    breath = make_breath_cohort(60, seed=11, n_sites=2)
    assert breath["synthetic"] and breath["feature_names"] == breath_feature_names(8)
    assert np.isfinite(breath["X"]).all()


def test_metrics_match_textbook_values():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert expected_calibration_error(y, np.array([0.95, 0.95, 0.95, 0.95])) == pytest.approx(0.45)


def _keys_reversed(value):
    """``value`` with every object's keys in the opposite order (lists keep theirs)."""
    if isinstance(value, dict):
        return {key: _keys_reversed(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_keys_reversed(item) for item in value]
    return value


@pytest.mark.parametrize("name", ["labs", "breath"])
def test_a_reissue_that_changes_only_the_manifests_format_keeps_the_entrys_digest(name):
    """tabular_models/README: results keep each served entry's digest and ``edge.freshness`` calls them out of
    date when it changes. Another key order or indentation must not change it; a float written with fewer
    digits does (the training writes floats as ``repr``, so a format change never rounds a value)."""
    from edge.inference.models import entry_digest

    entry = MANIFEST[name]
    reformatted = json.loads(json.dumps(_keys_reversed(entry), indent=4))
    assert list(reformatted) != list(entry)
    assert entry_digest(reformatted) == entry_digest(entry)
    rounded = {**entry, "calibration": {**entry["calibration"],
                                        "intercept": float(f"{entry['calibration']['intercept']:.12g}")}}
    assert rounded["calibration"]["intercept"] != entry["calibration"]["intercept"]
    assert entry_digest(rounded) != entry_digest(entry)
