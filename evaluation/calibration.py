"""Calibration: reliability curve, expected calibration error and Brier score.

ECE is the bin-size-weighted mean absolute gap between mean predicted probability and observed
frequency over equal-width bins (Naeini, Cooper & Hauskrecht, AAAI 2015; Guo et al., ICML
2017). Brier score: Brier, Mon Weather Rev 1950;78:1-3.
"""
from __future__ import annotations

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.metrics import check_binary_inputs
from evaluation.recalibration import fit_logistic_recalibration, weighted_calibration_curve


def check_probabilities(y_prob) -> np.ndarray:
    y_prob = np.asarray(y_prob, dtype=float)
    if np.any((y_prob < 0) | (y_prob > 1)) or not np.isfinite(y_prob).all():
        raise EvaluationError("probabilities must lie in [0, 1]")
    return y_prob


def calibration_curve(y_true, y_prob, *, n_bins: int = 10) -> list[dict]:
    """Per equal-width bin: range, count, mean predicted probability and observed frequency
    (the unweighted case of :func:`evaluation.recalibration.weighted_calibration_curve`)."""
    if n_bins < 2:
        raise EvaluationError(f"n_bins must be >= 2, got {n_bins}")
    y_true, _ = check_binary_inputs(y_true, y_prob)
    y_prob = check_probabilities(y_prob)
    return [{key: value for key, value in row.items() if key != "weight"}
            for row in weighted_calibration_curve(y_true, y_prob, n_bins=n_bins)]


def expected_calibration_error(y_true, y_prob, *, n_bins: int = 10) -> float:
    """Weighted mean |observed - predicted| over equal-width bins.

    Examples
    --------
    >>> expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    0.0
    """
    bins = calibration_curve(y_true, y_prob, n_bins=n_bins)
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["observed"] - b["mean_predicted"]) for b in bins if b["count"]) / total)


def brier_score(y_true, y_prob) -> float:
    """Mean squared difference between predicted probability and outcome.

    Examples
    --------
    >>> brier_score([0, 1], [0.0, 1.0])
    0.0
    """
    y_true, _ = check_binary_inputs(y_true, y_prob)
    y_prob = check_probabilities(y_prob)
    return float(np.mean((y_prob - y_true) ** 2))


def fit_platt(y_true, raw_prob) -> dict:
    """Platt scaling on the logit: ``p = sigmoid(slope * logit(raw) + intercept)``, fitted by
    maximum likelihood (Platt, Adv Large Margin Classifiers 1999).

    The same fit as a site recalibration without a prior
    (:func:`evaluation.recalibration.fit_logistic_recalibration`); ``raw`` is clipped to
    ``[1e-6, 1 - 1e-6]`` there, as :func:`tabular_models.calibration.logit` does when the fitted
    numbers are applied. Returns ``{"method": "platt_logit", "slope", "intercept", "n",
    "n_positive"}``; refuses a fit that does not keep the ranking (slope <= 0).

    Examples
    --------
    >>> fit = fit_platt([0, 0, 1, 0, 1, 1], [0.1, 0.3, 0.35, 0.4, 0.6, 0.9])
    >>> fit["slope"] > 0
    True
    """
    y_true, _ = check_binary_inputs(y_true, raw_prob)
    fit = fit_logistic_recalibration(y_true, check_probabilities(raw_prob))
    if fit.slope <= 0:
        raise EvaluationError(f"Platt fit does not keep the ranking (slope {fit.slope:.3g}): scores carry no signal here")
    return {"method": "platt_logit", "slope": fit.slope, "intercept": fit.intercept, "n": int(len(y_true)),
            "n_positive": int(y_true.sum())}
