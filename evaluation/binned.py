"""Discrimination and calibration from binned sums, for sites that may share only aggregates.

A site reduces its labelled risks to fixed bins (:func:`risk_bins`): per bin of the logit of the
risk, the weighted count of cases and of non-cases, and per equal-width calibration bin the
weight, weighted outcomes and weighted risks. Bins of many sites add up (for instance under
secure aggregation) and :func:`binned_auc` / :func:`binned_ece` read the pooled figures from
the sums without any row. The ECE is the same number as
:func:`evaluation.recalibration.weighted_expected_calibration_error` on the pooled rows (same
ten equal-width bins); the AUC counts two risks in the same logit bin as a tie, so it differs from
the row-level AUC by at most the share of case / non-case pairs that fall in one bin (a bin is
``2 * LOGIT_LIMIT / RANK_BINS`` = 0.025 on the logit scale).
"""
from __future__ import annotations

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.recalibration import check_weighted, logit

RANK_BINS = 800
LOGIT_LIMIT = 10.0  # risks beyond expit(+-10) share the outermost bins
CALIBRATION_BINS = 10  # as weighted_expected_calibration_error
BIN_LENGTH = 2 * RANK_BINS + 3 * CALIBRATION_BINS + 2


def risk_bins(y_true, y_prob, *, weights=None) -> np.ndarray:
    """One site's sums, ``BIN_LENGTH`` numbers: weighted cases then non-cases per logit bin, the
    calibration bins' weight, weighted outcomes and weighted risks, then the unweighted numbers of
    cases and non-cases. Sums of several sites' vectors are the pooled vector."""
    y, p, w = check_weighted(y_true, y_prob, weights)
    scaled = (np.clip(logit(p), -LOGIT_LIMIT, LOGIT_LIMIT) + LOGIT_LIMIT) / (2 * LOGIT_LIMIT)
    rank = np.minimum((scaled * RANK_BINS).astype(int), RANK_BINS - 1)
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)  # as weighted_calibration_curve assigns them
    calibration = np.clip(np.digitize(p, edges[1:-1], right=True), 0, CALIBRATION_BINS - 1)
    sums = [np.bincount(rank[y == 1], weights=w[y == 1], minlength=RANK_BINS),
            np.bincount(rank[y == 0], weights=w[y == 0], minlength=RANK_BINS),
            np.bincount(calibration, weights=w, minlength=CALIBRATION_BINS),
            np.bincount(calibration, weights=w * y, minlength=CALIBRATION_BINS),
            np.bincount(calibration, weights=w * p, minlength=CALIBRATION_BINS),
            [float((y == 1).sum()), float((y == 0).sum())]]
    return np.concatenate(sums)


def _parts(bins) -> tuple[np.ndarray, ...]:
    bins = np.asarray(bins, dtype=float)
    if bins.shape != (BIN_LENGTH,):
        raise EvaluationError(f"binned sums must hold {BIN_LENGTH} numbers, got shape {bins.shape}")
    edges = np.cumsum([RANK_BINS, RANK_BINS, CALIBRATION_BINS, CALIBRATION_BINS, CALIBRATION_BINS])
    return tuple(np.split(bins, edges))


def binned_counts(bins) -> tuple[int, int]:
    """Unweighted numbers of cases and non-cases behind the sums."""
    cases, non_cases = _parts(bins)[-1]
    return int(round(cases)), int(round(non_cases))


def binned_auc(bins) -> float:
    """P(a case's risk > a non-case's risk), pairs weighted, a shared logit bin counted half.

    Examples
    --------
    >>> round(binned_auc(risk_bins([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])), 2)
    0.75
    """
    cases, non_cases = _parts(bins)[:2]
    if cases.sum() <= 0 or non_cases.sum() <= 0:
        raise EvaluationError("binned AUC needs both cases and non-cases")
    below = np.concatenate([[0.0], np.cumsum(non_cases)[:-1]])
    return float(np.sum(cases * (below + 0.5 * non_cases)) / (cases.sum() * non_cases.sum()))


def binned_ece(bins) -> float:
    """Weighted mean |observed - predicted| over the ten equal-width bins (as the row-level ECE)."""
    weight, outcomes, risks = _parts(bins)[2:5]
    if weight.sum() <= 0:
        raise EvaluationError("binned ECE needs at least one weighted row")
    filled = weight > 0
    return float(np.sum(np.abs(outcomes[filled] - risks[filled])) / weight.sum())
