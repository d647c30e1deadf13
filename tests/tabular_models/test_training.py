"""Training and export on small synthetic cohorts: ONNX parity and calibration.

Needs the ``train`` extra (scikit-learn, xgboost, skl2onnx, onnxmltools) and is skipped
without it; the shipped models are checked without it in ``test_shipped_models.py``.
"""
import datetime
import json
import shutil

import numpy as np
import onnx
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("xgboost")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")


from edge.inference.models import BUNDLED_DIR  # noqa: E402
from support import on_another_day  # noqa: E402
from tabular_models.calibration import apply_calibration, logit  # noqa: E402
from tabular_models.lab_panels import LAB_FEATURES  # noqa: E402
from tabular_models.training import export  # noqa: E402
from tabular_models.training.train import calibration_entry, fit_calibrated  # noqa: E402
from tabular_models.training.train import logistic_pipeline, xgboost_pipeline  # noqa: E402
from tabular_models.training.train import COHORTS, VERSION, issue  # noqa: E402
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


def test_the_onnx_bytes_do_not_follow_the_converters_opset_order(small_lab_model, monkeypatch):
    """skl2onnx lists the opsets in an order that follows the interpreter's hash seed (two runs of the
    training wrote other labs and breath ONNX files, and so other sha256); the export fixes the order,
    the shipped files'."""
    pipeline, _ = small_lab_model
    exported = export.to_onnx(pipeline, n_features=len(LAB_FEATURES), name="labs-test")
    shipped = onnx.load(str(BUNDLED_DIR / f"labs-{VERSION}.onnx"))
    assert [o.domain for o in exported.opset_import] == [o.domain for o in shipped.opset_import]
    convert = export.convert_sklearn

    def reversed_opsets(*args, **kwargs):
        model = convert(*args, **kwargs)
        opsets = [(o.domain, o.version) for o in model.opset_import][::-1]
        del model.opset_import[:]
        model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in opsets)
        return model

    monkeypatch.setattr(export, "convert_sklearn", reversed_opsets)
    again = export.to_onnx(pipeline, n_features=len(LAB_FEATURES), name="labs-test")
    assert again.SerializeToString() == exported.SerializeToString()


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


def test_a_reissue_on_the_same_seed_on_another_day_is_byte_identical(tmp_path, monkeypatch):
    """README: the training re-run on the same cohorts and seed writes the same bytes on any day: an
    entry's ``created`` is the day its weights were made (:mod:`common.model_dates`), not the day of the run."""
    def run(root, names, *, seed):
        return issue(names, seed=seed, scale=0.05, out=root / "out", metrics_dir=root / "metrics",
                     golden_dir=root / "golden")

    first = tmp_path / "first"
    run(first, sorted(COHORTS), seed=3)
    # As if that run had been on an earlier day than this one.
    manifest = json.loads((first / "out" / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["models"].values():
        entry["created"] = "2026-11-22"
    (first / "out" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    again = shutil.copytree(first, tmp_path / "again")

    on_another_day(monkeypatch)
    run(again, sorted(COHORTS), seed=3)
    written = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert len(written) == 7 and written == sorted(path.relative_to(again) for path in again.rglob("*") if path.is_file())
    for path in written:
        assert (again / path).read_bytes() == (first / path).read_bytes(), path

    # Other weights (another seed) are dated the day their file was written, not the earlier entry's day.
    created = run(again, ["labs"], seed=4)["labs"]["created"]
    weights = again / "out" / f"labs-{VERSION}.onnx"
    assert created == datetime.datetime.fromtimestamp(weights.stat().st_mtime, datetime.timezone.utc).date().isoformat()
    assert created != "2026-11-22"
