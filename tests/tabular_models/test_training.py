"""Training and export on small synthetic cohorts: ONNX parity and calibration.

Needs the ``train`` extra (scikit-learn, xgboost, skl2onnx, onnxmltools) and is skipped
without it; the shipped models are checked without it in ``test_shipped_models.py``.
"""
import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("xgboost")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")


from tabular_models.calibration import apply_calibration, logit  # noqa: E402
from tabular_models.lab_panels import LAB_FEATURES  # noqa: E402
from tabular_models.training import export  # noqa: E402
from tabular_models.training.train import calibration_entry, fit_calibrated  # noqa: E402
from tabular_models.training.train import logistic_pipeline, xgboost_pipeline  # noqa: E402
from tabular_models.training.synthetic_labs import make_lab_cohort  # noqa: E402


@pytest.fixture(scope="module")
def small_lab_model():
    cohort = make_lab_cohort(600, seed=7)
    return fit_calibrated(xgboost_pipeline(7), cohort["X"], cohort["y"], seed=7)


def test_onnx_equals_the_pipeline_on_1000_rows_with_missing_values(small_lab_model):
    pipeline, _ = small_lab_model
    held_out = make_lab_cohort(1000, seed=8)["X"]
    assert np.isnan(held_out).any()
    model = export.to_onnx(pipeline, n_features=len(LAB_FEATURES), name="labs-test").SerializeToString()
    assert export.parity(pipeline, model, held_out) <= export.PARITY_TOLERANCE


def test_the_logistic_baseline_exports_too():
    cohort = make_lab_cohort(400, seed=3)
    pipeline = logistic_pipeline().fit(cohort["X"], cohort["y"])
    model = export.to_onnx(pipeline, n_features=len(LAB_FEATURES), name="lr-test").SerializeToString()
    assert export.parity(pipeline, model, cohort["X"]) <= export.PARITY_TOLERANCE


def test_edge_calibration_equals_sklearn_platt_scaling(small_lab_model):
    pipeline, platt = small_lab_model
    entry = calibration_entry(platt)
    assert entry["method"] == "platt_logit" and entry["slope"] > 0
    raw = pipeline.predict_proba(make_lab_cohort(300, seed=9)["X"].astype(np.float32))[:, 1]
    raw = np.concatenate([raw, [0.0, 1.0]])
    edge = apply_calibration(raw, slope=entry["slope"], intercept=entry["intercept"])
    assert np.allclose(edge, platt.predict_proba(logit(raw)[:, None])[:, 1], atol=1e-12)
