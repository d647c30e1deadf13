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

from scipy import stats

from evaluation.errors import EvaluationError
from evaluation.proportions import wilson_interval
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


def binned_auc_ci95(bins) -> tuple[float, float]:
    """DeLong's 95% interval of :func:`binned_auc` from the same sums (DeLong ER, DeLong DM,
    Clarke-Pearson DL. Biometrics 1988;44:837-845), ties within a logit bin counted half.

    Every case in one bin shares one placement value (the weighted share of non-cases below it,
    half of those beside it), and every non-case likewise, so the variance of the placements needs
    no row. The variance divides by the unweighted numbers of cases and non-cases: with
    verification weights the interval is that of the weighted AUC as if each row counted once,
    narrower than a bootstrap over weighted rows would give. Clipped to [0, 1].

    Examples
    --------
    >>> low, high = binned_auc_ci95(risk_bins([0, 0, 0, 1, 1, 1], [0.1, 0.4, 0.2, 0.35, 0.8, 0.9]))
    >>> round(low, 2), round(high, 2)
    (0.58, 1.0)
    """
    cases, non_cases = _parts(bins)[:2]
    n_cases, n_non_cases = binned_counts(bins)
    if n_cases < 2 or n_non_cases < 2:
        raise EvaluationError(f"an AUC interval needs at least 2 cases and 2 non-cases, got {n_cases} and "
                              f"{n_non_cases}")
    auc = binned_auc(bins)
    below = np.concatenate([[0.0], np.cumsum(non_cases)[:-1]])
    above = cases.sum() - np.cumsum(cases)
    case_placement = (below + 0.5 * non_cases) / non_cases.sum()
    non_case_placement = (above + 0.5 * cases) / cases.sum()
    case_variance = np.sum(cases * (case_placement - auc) ** 2) / cases.sum() * n_cases / (n_cases - 1)
    non_case_variance = (np.sum(non_cases * (non_case_placement - auc) ** 2) / non_cases.sum()
                         * n_non_cases / (n_non_cases - 1))
    se = float(np.sqrt(case_variance / n_cases + non_case_variance / n_non_cases))
    z = stats.norm.ppf(0.975)
    return float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def binned_ece(bins) -> float:
    """Weighted mean |observed - predicted| over the ten equal-width bins (as the row-level ECE)."""
    weight, outcomes, risks = _parts(bins)[2:5]
    if weight.sum() <= 0:
        raise EvaluationError("binned ECE needs at least one weighted row")
    filled = weight > 0
    return float(np.sum(np.abs(outcomes[filled] - risks[filled])) / weight.sum())


FINDING_COUNTS_LENGTH = 8


def finding_counts(y_true, finding, *, weights=None) -> np.ndarray:
    """One site's 2x2 sums of a yes/no finding against the outcome, ``FINDING_COUNTS_LENGTH``
    numbers: weighted true positives, false negatives, true negatives, false positives, then the
    same four unweighted. Sums of several sites' vectors are the pooled vector."""
    y = np.asarray(y_true, dtype=float) == 1
    hit = np.asarray(finding, dtype=bool)
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=float)
    if hit.shape != y.shape or w.shape != y.shape:
        raise EvaluationError(f"outcomes, findings and weights must have one shape, got {y.shape}, {hit.shape}, "
                              f"{w.shape}")
    cells = (y & hit, y & ~hit, ~y & ~hit, ~y & hit)
    return np.array([w[cell].sum() for cell in cells] + [float(cell.sum()) for cell in cells])


def finding_accuracy(counts) -> dict:
    """Sensitivity and specificity of a finding from :func:`finding_counts` (summed or not):
    weighted points; 95% CIs are Wilson intervals of the unweighted counts (an approximation: the
    weights widen the true interval). None where there is no case (or no non-case).

    Examples
    --------
    >>> figures = finding_accuracy(finding_counts([1, 1, 0, 0, 0], [1, 0, 0, 0, 1]))
    >>> figures["sensitivity"], round(figures["specificity"], 3)
    (0.5, 0.667)
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (FINDING_COUNTS_LENGTH,):
        raise EvaluationError(f"finding counts must hold {FINDING_COUNTS_LENGTH} numbers, got shape {counts.shape}")
    w_tp, w_fn, w_tn, w_fp, n_tp, n_fn, n_tn, n_fp = counts
    figures = {}
    for key, (w_hit, w_miss, n_hit, n_miss) in (("sensitivity", (w_tp, w_fn, n_tp, n_fn)),
                                                ("specificity", (w_tn, w_fp, n_tn, n_fp))):
        total = int(round(n_hit + n_miss))
        figures[key] = float(w_hit / (w_hit + w_miss)) if w_hit + w_miss > 0 else None
        figures[f"{key}_ci95"] = list(wilson_interval(int(round(n_hit)), total)) if total else None
    return figures
