"""Train, calibrate, evaluate and export the labs and breath models on SYNTHETIC cohorts.

    python -m tabular_models.training.train --out edge/bundled_models --seed 0

For each model: a training cohort (``seed``) is split 70/30 into fitting and calibration
rows; an XGBoost Pipeline and a logistic-regression baseline are fitted, each calibrated by
Platt scaling on the logit (calibration rows), and both are evaluated on an independent
held-out cohort drawn with another seed (``seed + 1000``: new sites, new effect sizes, new
devices). The XGBoost pipeline is exported to ONNX, checked against scikit-learn on 1,000
held-out rows, and written with its manifest entry.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import threadpoolctl
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from common import model_dates
from common.model_entries import write_entries
from tabular_models.calibration import CLIP, logit
from tabular_models.training import export
from tabular_models.training.metrics import evaluate
from tabular_models.training.synthetic_breath import N_SENSORS, make_breath_cohort
from tabular_models.training.synthetic_labs import make_lab_cohort

logger = logging.getLogger(__name__)

VERSION = "0.1.0"
HELD_OUT_SEED_OFFSET = 1000
PARITY_ROWS = 1000
COHORTS = {
    "labs": {"make": make_lab_cohort, "train_size": 12000, "test_size": 6000},
    "breath": {"make": make_breath_cohort, "train_size": 10000, "test_size": 5000},
}


def imputer() -> FeatureUnion:
    """Median imputation plus one missing-value indicator per feature, so a model can tell an
    unmeasured analyte from a median one (the graph takes NaN for missing)."""
    return FeatureUnion([
        ("value", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("missing", MissingIndicator(features="all")),
    ])


def xgboost_pipeline(seed: int) -> Pipeline:
    """Imputation + gradient-boosted trees, without a scaler: tree splits do not change with
    scaling, and a float64 scaler in scikit-learn against a float32 one in ONNX moved rare rows
    across a split threshold (parity 1.2e-2 measured with it, ~1e-7 without)."""
    return Pipeline([
        ("impute", imputer()),
        ("model", XGBClassifier(n_estimators=400, max_depth=3, learning_rate=0.03, subsample=0.8,
                                colsample_bytree=0.8, min_child_weight=20, reg_lambda=5.0, n_jobs=1,
                                random_state=seed, eval_metric="logloss")),
    ])


def logistic_pipeline() -> Pipeline:
    return Pipeline([
        ("impute", imputer()),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=0.5, max_iter=5000)),
    ])


def fit_calibrated(
    pipeline: Pipeline, X: np.ndarray, y: np.ndarray, *, seed: int
) -> tuple[Pipeline, LogisticRegression]:
    """Fit on 70 % of the rows, calibrate (Platt scaling on the logit) on the other 30 %."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(y.size)
    cut = int(0.7 * y.size)
    fit_rows, calibration_rows = order[:cut], order[cut:]
    pipeline.fit(X[fit_rows], y[fit_rows])
    raw = pipeline.predict_proba(X[calibration_rows].astype(np.float32))[:, 1]
    platt = LogisticRegression(C=1e6).fit(logit(raw)[:, None], y[calibration_rows])
    return pipeline, platt


def calibration_entry(platt: LogisticRegression) -> dict:
    """The manifest form of the calibration, applied at the edge by ``apply_calibration``."""
    return {"method": "platt_logit", "slope": float(platt.coef_[0, 0]), "intercept": float(platt.intercept_[0]),
            "clip": CLIP, "fitted_on": "30 % of the training cohort, held out from fitting",
            "applied_by": "tabular_models.calibration.apply_calibration"}


def calibrated_probability(pipeline: Pipeline, platt: LogisticRegression, X: np.ndarray) -> np.ndarray:
    """What the edge computes, in scikit-learn terms."""
    raw = pipeline.predict_proba(X.astype(np.float32))[:, 1]
    return platt.predict_proba(logit(raw)[:, None])[:, 1]


def write_golden(pipeline: Pipeline, platt: LogisticRegression, X: np.ndarray, path: Path) -> None:
    """Held-out rows and scikit-learn's raw and calibrated probabilities for them, so the test
    suite can check the shipped ONNX file plus ``apply_calibration`` without scikit-learn."""
    rows = X[:PARITY_ROWS].astype(np.float32)
    np.savez_compressed(path, features=rows, raw=pipeline.predict_proba(rows)[:, 1],
                        calibrated=calibrated_probability(pipeline, platt, rows))


def feature_importances(pipeline: Pipeline, feature_names: tuple[str, ...]) -> dict:
    """Gain importances of the trees, summed over a feature and its missing-value indicator."""
    names = [*feature_names, *feature_names]
    gain = pipeline.named_steps["model"].feature_importances_
    totals: dict[str, float] = {}
    for name, value in zip(names, gain):
        totals[name] = totals.get(name, 0.0) + float(value)
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def train_model(name: str, *, seed: int, out: Path, golden_dir: Path, scale: float = 1.0) -> dict:
    """Train, evaluate and export one model; return its manifest entry."""
    spec = COHORTS[name]
    train = spec["make"](int(spec["train_size"] * scale), seed=seed)
    test = spec["make"](int(spec["test_size"] * scale), seed=seed + HELD_OUT_SEED_OFFSET)
    logger.info("%s: %s training rows, %s held-out rows", name, train["y"].size, test["y"].size)
    xgb, xgb_platt = fit_calibrated(xgboost_pipeline(seed), train["X"], train["y"], seed=seed)
    lr, lr_platt = fit_calibrated(logistic_pipeline(), train["X"], train["y"], seed=seed)
    dataset = (f"held-out SYNTHETIC cohort: {test['generator']}(n={test['y'].size}, "
               f"seed={test['seed']}), not used in fitting or calibration")
    metrics = {
        "dataset": dataset,
        "xgboost": evaluate(test["y"], calibrated_probability(xgb, xgb_platt, test["X"]), seed=seed),
        "logistic_regression": evaluate(test["y"], calibrated_probability(lr, lr_platt, test["X"]), seed=seed),
    }
    file_name = f"{name}-{VERSION}.onnx"
    model = export.to_onnx(xgb, n_features=len(train["feature_names"]), name=f"{name}-{VERSION}")
    sha256 = export.write_model(model, out / file_name)
    metrics["onnx_parity_max_abs_diff"] = export.parity(xgb, (out / file_name).read_bytes(),
                                                         test["X"][:PARITY_ROWS])
    metrics["onnx_parity_rows"] = min(PARITY_ROWS, test["y"].size)
    write_golden(xgb, xgb_platt, test["X"], golden_dir / f"{name}-{VERSION}.npz")
    if metrics["onnx_parity_max_abs_diff"] > export.PARITY_TOLERANCE:
        raise RuntimeError(f"{name}: ONNX differs from scikit-learn by {metrics['onnx_parity_max_abs_diff']:.2e}")
    return {
        "name": name,
        "version": VERSION,
        "file": file_name,
        "sha256": sha256,
        "synthetic": True,
        "not_for_clinical_use": True,
        # The day the weights were made, not today: a re-issue on the same data and seed is byte-identical.
        "created": model_dates.weights_created(out / "manifest.json", name, weights=out / file_name, digest=sha256,
                                               recorded_digest=lambda entry: entry.get("sha256")),
        "task": "ILD vs no ILD in connective-tissue disease",
        "inputs": [{"name": export.INPUT_NAME, "shape": [None, len(train["feature_names"])], "dtype": "float32",
                    "missing": "NaN", "feature_order": list(train["feature_names"])}],
        "outputs": [{"name": export.OUTPUT_NAME, "shape": [None, 2], "dtype": "float32",
                     "meaning": "uncalibrated [P(no ILD), P(ILD)]; apply calibration to column 1"}],
        "calibration": calibration_entry(xgb_platt),
        "training_data": {
            "kind": "synthetic", "generator": train["generator"], "seed": seed, "size": int(train["y"].size),
            "prevalence": train["prevalence"], "note": "simulated from published directions and magnitudes; "
                                                       "no patient data",
        },
        "metrics": metrics,
        "feature_importances": feature_importances(xgb, train["feature_names"]),
        **({"n_sensors": N_SENSORS} if name == "breath" else {}),
        # Last, where the shipped entries have it (a re-issue keeps their key order). Read by
        # edge.inference.models.validation_status, the one reader of this key.
        "validation_status": {"synthetic": True, "clinically_validated": False,
                              "training_population": "synthetic cohorts (no patient data)",
                              "statement": "Trained on synthetic data only; not validated on patients; not for clinical use."},
    }


def issue(names, *, seed: int, out: Path, metrics_dir: Path, golden_dir: Path, scale: float = 1.0) -> dict:
    """Train, evaluate and export the models ``names`` (keys of :data:`COHORTS`): their ONNX files and
    entries in ``out/manifest.json``, their evaluation JSON in ``metrics_dir`` and their golden rows in
    ``golden_dir`` (what the command writes). ``scale`` shrinks the cohorts (tests). Returns the entries."""
    for folder in (out, metrics_dir, golden_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # One BLAS (and OpenMP) thread whatever the machine: the logistic baseline's sums come out in another
    # order on more threads (on 2 threads the labs baseline's Brier and ECE moved by ~1e-15 against 1).
    with threadpoolctl.threadpool_limits(limits=1):
        entries = {name: train_model(name, seed=seed, out=out, golden_dir=golden_dir, scale=scale) for name in names}
    write_entries(out / "manifest.json", entries)
    for name, entry in entries.items():
        report = {"model": name, "version": entry["version"], "synthetic": True, **entry["metrics"],
                  "feature_importances": entry["feature_importances"]}
        (metrics_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        logger.info("%s: %s", name, json.dumps(entry["metrics"]))
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("edge/bundled_models"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", choices=sorted(COHORTS), default=sorted(COHORTS))
    parser.add_argument("--metrics-dir", type=Path, default=Path("tabular_models/metrics"))
    parser.add_argument("--golden-dir", type=Path, default=Path("tests/tabular_models/golden"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    issue(args.models, seed=args.seed, out=args.out, metrics_dir=args.metrics_dir, golden_dir=args.golden_dir)


if __name__ == "__main__":
    main()
