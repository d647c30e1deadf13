"""Training and export on small synthetic cohorts: ONNX parity and calibration.

Needs the ``train`` extra (scikit-learn, xgboost, skl2onnx, onnxmltools) and is skipped
without it; the shipped models are checked without it in ``test_shipped_models.py``.
"""
import datetime
import json
import resource
import shutil
import subprocess

import numpy as np
import onnx
import pytest
import threadpoolctl

pytest.importorskip("sklearn")
pytest.importorskip("xgboost")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")


from common.child_process import module_command  # noqa: E402
from edge.inference.models import BUNDLED_DIR  # noqa: E402
from support import on_another_day  # noqa: E402
from tabular_models.calibration import apply_calibration, logit  # noqa: E402
from tabular_models.lab_panels import LAB_FEATURES  # noqa: E402
from tabular_models.training import export  # noqa: E402
from tabular_models.training.train import calibration_entry, fit_calibrated  # noqa: E402
from tabular_models.training.train import logistic_pipeline, xgboost_pipeline  # noqa: E402
from tabular_models.training import train  # noqa: E402
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


#: A child that issues both models on small cohorts (seed 3) into the folder it is given.
ISSUE = """
import pathlib, sys
from tabular_models.training.train import COHORTS, issue
root = pathlib.Path(sys.argv[1])
issue(sorted(COHORTS), seed=3, scale=0.05, out=root / "out", metrics_dir=root / "metrics", golden_dir=root / "golden")
"""


def _capped():
    """A runaway training fails in the child, not on the shared machine."""
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


def _issue_in_a_child(root, *, hash_seed, blas_threads):
    command = module_command("tabular_models.training.train")  # this checkout's code, as a child sees it
    env = {**command["env"], "PYTHONHASHSEED": str(hash_seed), "OPENBLAS_NUM_THREADS": str(blas_threads),
           "OMP_NUM_THREADS": str(blas_threads)}
    done = subprocess.run([command["args"][0], "-c", ISSUE, str(root)], cwd=command["cwd"], env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=_capped)
    assert done.returncode == 0, done.stderr


def test_a_reissue_in_another_process_writes_the_same_bytes_whatever_its_hash_seed(tmp_path):
    """README: the manifest (its key order and float digits), the metrics, the golden rows and the ONNX
    files do not follow the interpreter's hash seed or the BLAS threads the environment asks for. The
    second process re-issues over the first one's folder, so its ``created`` is the first one's whatever
    the day (the clock is not what this compares)."""
    first = tmp_path / "first"
    # 9 is one of the seeds that gave skl2onnx's other opset order.
    _issue_in_a_child(first, hash_seed=0, blas_threads=1)
    again = shutil.copytree(first, tmp_path / "again")
    _issue_in_a_child(again, hash_seed=9, blas_threads=2)
    written = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert len(written) == 7 and written == sorted(path.relative_to(again) for path in again.rglob("*") if path.is_file())
    for path in written:
        assert (again / path).read_bytes() == (first / path).read_bytes(), path


def test_the_training_runs_on_one_blas_thread_whatever_the_caller_set(tmp_path, monkeypatch):
    """On 2 BLAS threads against 1 the full labs cohort's logistic baseline gave other Brier and ECE digits
    (~1e-15), so other manifest bytes; ``issue`` holds BLAS and OpenMP to one thread while it trains."""
    threads_seen = []
    train_model = train.train_model

    def recording(*args, **kwargs):
        threads_seen.extend(pool["num_threads"] for pool in threadpoolctl.threadpool_info())
        return train_model(*args, **kwargs)

    monkeypatch.setattr(train, "train_model", recording)
    with threadpoolctl.threadpool_limits(limits=2):
        issue(["labs"], seed=3, scale=0.05, out=tmp_path / "out", metrics_dir=tmp_path / "metrics",
              golden_dir=tmp_path / "golden")
    assert threads_seen and set(threads_seen) == {1}


def test_a_reissued_entry_has_the_shipped_entries_key_order(tmp_path):
    """A re-issue of the shipped models writes their entries' keys in the order the shipped manifest has
    them (nested objects too), so that only recomputed values can differ from it."""
    def key_paths(value, prefix=()):
        if not isinstance(value, dict):
            return []
        return [path for key, item in value.items() for path in [(*prefix, key), *key_paths(item, (*prefix, key))]]

    entries = issue(sorted(COHORTS), seed=3, scale=0.05, out=tmp_path / "out", metrics_dir=tmp_path / "metrics",
                    golden_dir=tmp_path / "golden")
    shipped = json.loads((BUNDLED_DIR / "manifest.json").read_text(encoding="utf-8"))["models"]
    for name, entry in entries.items():
        reissued = json.loads(json.dumps(entry))
        # Feature importances are ordered by value, which a small cohort changes.
        reissued.pop("feature_importances"), shipped[name].pop("feature_importances")
        assert key_paths(reissued) == key_paths(shipped[name]), name
