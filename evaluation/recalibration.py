"""Calibration of a risk at a site whose outcomes were verified selectively: weighted
calibration-in-the-large, calibration slope, ECE, Brier and AUC, and the logistic
recalibration (intercept and slope, optionally shrunk towards "no change").

numpy only, so the clinic service can compute its dashboard without the evaluation extra.
Every function takes optional ``weights``, the inverse probabilities of verification
(:mod:`evaluation.verification`); without them each case counts once.

Calibration-in-the-large is mean observed minus mean predicted risk, and the calibration slope
is the slope of a logistic regression of the outcome on the logit of the risk (Van Calster et
al., J Clin Epidemiol 2016;74:167-176; Steyerberg, Clinical Prediction Models, 2nd ed. 2019,
ch. 15). Logistic recalibration refits that intercept and slope (Cox, Biometrika 1958;45:562-565);
with few outcomes the fit is shrunk by a Gaussian prior centred on intercept 0, slope 1, the
penalised-likelihood form of shrinkage (Steyerberg et al., Stat Med 2004;23:2567-2586).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.resampling import cluster_resamples

LOGIT_CLIP = 1e-6
MAX_NEWTON_STEPS = 100
MAX_STEP_HALVINGS = 30


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p / (1 - p))


def expit(x) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def check_weighted(y_true, y_prob, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels 0/1, probabilities in [0, 1] and positive finite weights, all 1-D of one length."""
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_true.ndim != 1 or y_prob.shape != y_true.shape or y_true.size == 0:
        raise EvaluationError(f"labels and probabilities must be 1-D of equal, non-zero length, "
                              f"got {y_true.shape} and {y_prob.shape}")
    if not np.isin(y_true, (0, 1)).all():
        raise EvaluationError(f"labels must be 0 or 1, got {y_true[~np.isin(y_true, (0, 1))][0].item()!r}")
    if not np.isfinite(y_prob).all() or np.any((y_prob < 0) | (y_prob > 1)):
        raise EvaluationError("probabilities must lie in [0, 1]")
    w = np.ones_like(y_prob) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != y_prob.shape:
        raise EvaluationError(f"one weight per case needed, got {w.shape} for {y_prob.shape}")
    if not np.isfinite(w).all() or np.any(w <= 0):
        raise EvaluationError("weights must be finite and > 0")
    return y_true.astype(int), y_prob, w


def calibration_in_the_large(y_true, y_prob, *, weights=None) -> float:
    """Mean observed minus mean predicted risk (0 when the average risk is right).

    Examples
    --------
    >>> round(calibration_in_the_large([0, 1, 0, 0], [0.5, 0.5, 0.5, 0.5]), 2)
    -0.25
    """
    y, p, w = check_weighted(y_true, y_prob, weights)
    return float(np.average(y, weights=w) - np.average(p, weights=w))


def weighted_calibration_curve(y_true, y_prob, *, weights=None, n_bins: int = 10) -> list[dict]:
    """Per equal-width bin: range, count, weight, mean predicted risk and observed frequency."""
    if n_bins < 2:
        raise EvaluationError(f"n_bins must be >= 2, got {n_bins}")
    y, p, w = check_weighted(y_true, y_prob, weights)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        bins.append({
            "low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
            "weight": float(w[members].sum()),
            "mean_predicted": float(np.average(p[members], weights=w[members])) if count else None,
            "observed": float(np.average(y[members], weights=w[members])) if count else None,
        })
    return bins


def weighted_expected_calibration_error(y_true, y_prob, *, weights=None, n_bins: int = 10) -> float:
    """Weight-weighted mean |observed - predicted| over equal-width bins (ECE; Naeini et al. 2015).

    Examples
    --------
    >>> weighted_expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    0.0
    """
    bins = weighted_calibration_curve(y_true, y_prob, weights=weights, n_bins=n_bins)
    total = sum(b["weight"] for b in bins)
    return float(sum(b["weight"] * abs(b["observed"] - b["mean_predicted"]) for b in bins if b["count"]) / total)


def weighted_brier_score(y_true, y_prob, *, weights=None) -> float:
    """Weighted mean squared difference between risk and outcome (Brier 1950)."""
    y, p, w = check_weighted(y_true, y_prob, weights)
    return float(np.average((p - y) ** 2, weights=w))


def _weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """P(risk of a case > risk of a non-case), ties half, each pair weighted by w_i w_j."""
    pos, neg = y == 1, y == 0
    order = np.argsort(p[neg], kind="mergesort")
    neg_p, neg_w = p[neg][order], np.concatenate([[0.0], np.cumsum(w[neg][order])])
    below = neg_w[np.searchsorted(neg_p, p[pos], side="left")]
    tied = neg_w[np.searchsorted(neg_p, p[pos], side="right")] - below
    return float(np.sum(w[pos] * (below + 0.5 * tied)) / (w[pos].sum() * neg_w[-1]))


def weighted_roc_auc(y_true, y_prob, *, weights=None, clusters=None, n_boot: int = 500, seed: int = 0,
                     confidence: float = 0.95) -> dict:
    """Weighted AUC with a percentile cluster-bootstrap interval (weights kept).

    ``clusters`` names each case's patient: whole patients are resampled
    (:func:`evaluation.resampling.cluster_resamples`), so a patient seen at many visits counts as
    one patient, not as many independent cases; None treats every case as its own patient.
    Returns ``{"auc", "ci95", "n_boot", "clusters"}``. Seeded: the same data give the same
    interval.
    """
    y, p, w = check_weighted(y_true, y_prob, weights)
    if y.min() == y.max():
        raise EvaluationError(f"both classes are needed for an AUC, got only label {y[0]}")
    clusters = np.arange(y.size) if clusters is None else np.asarray(clusters)
    if clusters.shape != y.shape:
        raise EvaluationError(f"one cluster label per case needed, got {clusters.shape} for {y.shape}")
    auc = _weighted_auc(y, p, w)
    draws = [_weighted_auc(y[rows], p[rows], w[rows])
             for rows in (cluster_resamples(clusters, replicates=n_boot, seed=seed) if n_boot else ())
             if y[rows].min() != y[rows].max()]  # n_boot=0: the point estimate only
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail]) if draws else (np.nan, np.nan)
    return {"auc": auc, "ci95": [float(low), float(high)], "n_boot": len(draws),
            "clusters": len(np.unique(clusters.astype(str)))}


@dataclass(frozen=True)
class LogisticRecalibration:
    """``p' = expit(intercept + slope * logit(p))``; (0, 1) is no change."""

    intercept: float
    slope: float
    intercept_se: float
    slope_se: float

    def apply(self, y_prob) -> np.ndarray:
        return expit(self.intercept + self.slope * logit(y_prob))


def fit_penalised_logistic(x, y_true, *, weights=None, prior_mean, prior_sd=None) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and standard errors of a weighted logistic regression of ``y_true`` on the
    columns of ``x`` (include a column of ones for an intercept), by Newton-Raphson with
    step-halving.

    ``prior_sd`` (one per column, or None for plain maximum likelihood) puts a Gaussian prior
    centred on ``prior_mean`` on the coefficients. Weights are rescaled to sum to the number of
    cases, so that weighting for verification does not pretend there were more outcomes.
    """
    x = np.asarray(x, dtype=float)
    y, _, w = check_weighted(y_true, np.full(len(y_true), 0.5), weights)
    if x.ndim != 2 or x.shape[0] != y.size or not np.isfinite(x).all():
        raise EvaluationError(f"covariates must be a finite {y.size} x k matrix, got shape {x.shape}")
    centre = np.asarray(prior_mean, dtype=float)
    if prior_sd is None:
        if y.min() == y.max():
            raise EvaluationError(f"both classes are needed to fit a calibration slope, got only label {y[0]}")
        precision = np.zeros((x.shape[1], x.shape[1]))
    else:
        if min(prior_sd) <= 0:
            raise EvaluationError(f"prior standard deviations must be > 0, got {tuple(prior_sd)}")
        precision = np.diag(1 / np.square(np.asarray(prior_sd, dtype=float)))
    w = w * (y.size / w.sum())

    def penalised_log_likelihood(theta: np.ndarray) -> float:
        eta = x @ theta
        return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))) - 0.5 * (theta - centre) @ precision @ (theta - centre))

    theta = centre.copy()
    current = penalised_log_likelihood(theta)
    for _ in range(MAX_NEWTON_STEPS):
        mu = expit(x @ theta)
        gradient = x.T @ (w * (y - mu)) - precision @ (theta - centre)
        information = (x.T * (w * mu * (1 - mu))) @ x + precision
        try:
            step = np.linalg.solve(information, gradient)
        except np.linalg.LinAlgError as exc:
            raise EvaluationError("the calibration fit is singular: the risks do not vary") from exc
        # A full Newton step can overshoot where the likelihood is flat (few outcomes, nearly
        # separated): halve it until the penalised likelihood does not fall (step-halving).
        for _ in range(MAX_STEP_HALVINGS):
            candidate = penalised_log_likelihood(theta + step)
            if candidate >= current - 1e-12 * abs(current):
                break
            step = step / 2
        else:  # no step, however short, improves it: at the optimum up to rounding
            candidate = penalised_log_likelihood(theta + step)
        theta, current = theta + step, candidate
        if np.max(np.abs(step)) < 1e-9:
            break
    else:
        raise EvaluationError("the calibration fit did not converge (outcomes perfectly separated by the risk?)")
    return theta, np.sqrt(np.diag(np.linalg.inv(information)))


def fit_logistic_recalibration(y_true, y_prob, *, weights=None,
                               prior_sd: Optional[tuple[float, float]] = None) -> LogisticRecalibration:
    """Fit intercept and slope of the outcome on logit(risk) by (penalised) maximum likelihood.

    Parameters
    ----------
    prior_sd
        ``(intercept_sd, slope_sd)`` of a Gaussian prior centred on (0, 1): the fit is shrunk
        towards "no change", strongly when outcomes are few. None: plain maximum likelihood,
        which needs both classes.
    weights
        Rescaled to sum to the number of cases (see :func:`fit_penalised_logistic`).
    """
    _, p, _ = check_weighted(y_true, y_prob, weights)
    x = np.column_stack([np.ones_like(p), logit(p)])
    theta, se = fit_penalised_logistic(x, y_true, weights=weights, prior_mean=(0.0, 1.0), prior_sd=prior_sd)
    return LogisticRecalibration(float(theta[0]), float(theta[1]), float(se[0]), float(se[1]))


def calibration_slope(y_true, y_prob, *, weights=None) -> float:
    """Slope of the outcome on logit(risk): 1 is ideal, < 1 risks too extreme, > 1 too modest."""
    return fit_logistic_recalibration(y_true, y_prob, weights=weights).slope
