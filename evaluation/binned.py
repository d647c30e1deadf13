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

Intervals that respect the weights. With verification weights (Begg & Greenes: 1 for a referred
visit, often 5-20 for an unreferred one) a few heavy rows carry much of the estimate, so an
interval from the unweighted counts is too narrow. The sums therefore also carry, per logit bin and
per class, the **sum of squared weights**: the AUC's DeLong variance becomes the weighted
(linearised) one, ``sum_i w_i**2 (V_i - AUC)**2 / (sum w)**2`` per class, each case's placement
``V_i`` shared by its bin (:func:`binned_auc_ci95`). Per bin rather than one Kish size per class
because the weights are not independent of the risk: they come from the tier the risk set, so the
heavy unreferred rows sit in the low bins, and a per-class effective size would spread their weight
evenly over placements they do not have. The finding's 2x2 counts carry each cell's squared
weights, which give each proportion the same linearised variance and, from it, the effective size
its Wilson interval uses (:func:`finding_accuracy`).

Squared weights are stored divided by ``SQUARED_WEIGHT_UNIT`` (32, a power of two, so with every
weight 1 the sums are exact): a bin's stored squared weights are then no larger than its weighted
count whenever every weight is at most 32, so a secure sum sized for the weighted counts (values
clipped to +-32 per row, ``federated/apps.py``) holds them too.
"""
from __future__ import annotations

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.proportions import effective_wilson_interval
from evaluation.recalibration import check_weighted, logit

RANK_BINS = 800
LOGIT_LIMIT = 10.0  # risks beyond expit(+-10) share the outermost bins
CALIBRATION_BINS = 10  # as weighted_expected_calibration_error
SQUARED_WEIGHT_UNIT = 32.0  # see the module docstring: squared weights fit where the weights fit
BIN_LENGTH = 2 * RANK_BINS + 3 * CALIBRATION_BINS + 2 + 2 * RANK_BINS


def risk_bins(y_true, y_prob, *, weights=None) -> np.ndarray:
    """One site's sums, ``BIN_LENGTH`` numbers: weighted cases then non-cases per logit bin, the
    calibration bins' weight, weighted outcomes and weighted risks, the unweighted numbers of
    cases and non-cases, then the squared weights (in ``SQUARED_WEIGHT_UNIT``) of the cases and of
    the non-cases per logit bin. Sums of several sites' vectors are the pooled vector."""
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
            [float((y == 1).sum()), float((y == 0).sum())],
            np.bincount(rank[y == 1], weights=w[y == 1] ** 2, minlength=RANK_BINS) / SQUARED_WEIGHT_UNIT,
            np.bincount(rank[y == 0], weights=w[y == 0] ** 2, minlength=RANK_BINS) / SQUARED_WEIGHT_UNIT]
    return np.concatenate(sums)


def _parts(bins) -> tuple[np.ndarray, ...]:
    bins = np.asarray(bins, dtype=float)
    if bins.shape != (BIN_LENGTH,):
        raise EvaluationError(f"binned sums must hold {BIN_LENGTH} numbers, got shape {bins.shape}")
    edges = np.cumsum([RANK_BINS, RANK_BINS, CALIBRATION_BINS, CALIBRATION_BINS, CALIBRATION_BINS, 2, RANK_BINS])
    *sums, case_squares, non_case_squares = np.split(bins, edges)
    return (*sums, case_squares * SQUARED_WEIGHT_UNIT, non_case_squares * SQUARED_WEIGHT_UNIT)


def binned_counts(bins) -> tuple[int, int]:
    """Unweighted numbers of cases and non-cases behind the sums."""
    cases, non_cases = _parts(bins)[5]
    return int(round(cases)), int(round(non_cases))


def binned_effective_counts(bins) -> tuple[float, float]:
    """Kish effective numbers of cases and of non-cases, ``(sum w)**2 / sum w**2`` per class (Kish L.
    Survey Sampling. Wiley 1965): the unweighted counts when every weight is 1, fewer when the
    weights are unequal. None for a class without squared weights."""
    parts = _parts(bins)
    return tuple(float(weights.sum() ** 2 / squares.sum()) if squares.sum() > 0 else None
                 for weights, squares in ((parts[0], parts[6]), (parts[1], parts[7])))


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
    Clarke-Pearson DL. Biometrics 1988;44:837-845), weighted, ties within a logit bin counted half.

    Every case in one bin shares one placement value (the weighted share of non-cases below it,
    half of those beside it), and every non-case likewise, so the variance of the placements needs
    no row. Each class contributes ``sum_i w_i**2 (V_i - AUC)**2 / (sum w)**2`` (the variance of the
    weighted AUC linearised in its rows, as for any ratio of weighted sums), read from the bins'
    squared weights, times DeLong's ``m / (m - 1)`` of the class's ``m`` rows. Written as the
    squared-weight mean of ``(V - AUC)**2`` over the Kish effective size, with every weight 1 it is
    DeLong's unweighted interval to the last bit. Clipped to [0, 1].

    Examples
    --------
    >>> low, high = binned_auc_ci95(risk_bins([0, 0, 0, 1, 1, 1], [0.1, 0.4, 0.2, 0.35, 0.8, 0.9]))
    >>> round(low, 2), round(high, 2)
    (0.58, 1.0)
    """
    parts = _parts(bins)
    cases, non_cases, case_squares, non_case_squares = parts[0], parts[1], parts[6], parts[7]
    n_cases, n_non_cases = binned_counts(bins)
    if n_cases < 2 or n_non_cases < 2:
        raise EvaluationError(f"an AUC interval needs at least 2 cases and 2 non-cases, got {n_cases} and "
                              f"{n_non_cases}")
    auc = binned_auc(bins)
    below = np.concatenate([[0.0], np.cumsum(non_cases)[:-1]])
    above = cases.sum() - np.cumsum(cases)
    case_placement = (below + 0.5 * non_cases) / non_cases.sum()
    non_case_placement = (above + 0.5 * cases) / cases.sum()
    effective_cases, effective_non_cases = binned_effective_counts(bins)
    if effective_cases is None or effective_non_cases is None:
        raise EvaluationError("an AUC interval needs the squared weights of both classes, got none")
    case_variance = (np.sum(case_squares * (case_placement - auc) ** 2) / case_squares.sum()
                     * n_cases / (n_cases - 1))
    non_case_variance = (np.sum(non_case_squares * (non_case_placement - auc) ** 2) / non_case_squares.sum()
                         * n_non_cases / (n_non_cases - 1))
    se = float(np.sqrt(case_variance / effective_cases + non_case_variance / effective_non_cases))
    # scipy.stats here, not with the module: every clinic's ClientApp, a fresh process per federated
    # message, imports this module for its bins, and scipy.stats was most of that process's start-up.
    from scipy import stats

    z = stats.norm.ppf(0.975)
    return float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def binned_ece(bins) -> float:
    """Weighted mean |observed - predicted| over the ten equal-width bins (as the row-level ECE)."""
    weight, outcomes, risks = _parts(bins)[2:5]
    if weight.sum() <= 0:
        raise EvaluationError("binned ECE needs at least one weighted row")
    filled = weight > 0
    return float(np.sum(np.abs(outcomes[filled] - risks[filled])) / weight.sum())


FINDING_COUNTS_LENGTH = 12


def finding_counts(y_true, finding, *, weights=None) -> np.ndarray:
    """One site's 2x2 sums of a yes/no finding against the outcome, ``FINDING_COUNTS_LENGTH``
    numbers: weighted true positives, false negatives, true negatives, false positives, the same
    four unweighted, then the four cells' squared weights (in ``SQUARED_WEIGHT_UNIT``). Sums of
    several sites' vectors are the pooled vector."""
    y = np.asarray(y_true, dtype=float) == 1
    hit = np.asarray(finding, dtype=bool)
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=float)
    if hit.shape != y.shape or w.shape != y.shape:
        raise EvaluationError(f"outcomes, findings and weights must have one shape, got {y.shape}, {hit.shape}, "
                              f"{w.shape}")
    cells = (y & hit, y & ~hit, ~y & ~hit, ~y & hit)
    return np.array([w[cell].sum() for cell in cells] + [float(cell.sum()) for cell in cells]
                    + [(w[cell] ** 2).sum() / SQUARED_WEIGHT_UNIT for cell in cells])


def finding_accuracy(counts) -> dict:
    """Sensitivity and specificity of a finding from :func:`finding_counts` (summed or not):
    weighted points; 95% CIs are Wilson intervals of the weighted proportion
    (:func:`evaluation.proportions.effective_wilson_interval`) with the effective size
    ``p (1 - p) / var(p)`` as the number of trials (Korn EL, Graubard BI. Survey Methodology
    1998;24:193-201), ``var(p) = sum_i w_i**2 (hit_i - p)**2 / (sum w)**2`` linearised from the
    cells' squared weights; at p = 0 or 1 the Kish size ``(sum w)**2 / sum w**2``. Not the Kish
    size throughout: verification weights follow the finding (the unreferred, heavy rows are mostly
    the ones without it), and then the Kish size overstates what the rows tell (simulated 95%
    intervals of a sensitivity 0.8, cases without the finding verified 1 in 5 or 1 in 10: 74%
    cover it with the Kish size, 92% with this one; tests/evaluation/test_binned.py).
    With every weight 1 both are the counts, and the intervals the Wilson intervals of the counts.
    None where there is no case (or no non-case).

    Examples
    --------
    >>> figures = finding_accuracy(finding_counts([1, 1, 0, 0, 0], [1, 0, 0, 0, 1]))
    >>> figures["sensitivity"], round(figures["specificity"], 3)
    (0.5, 0.667)
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (FINDING_COUNTS_LENGTH,):
        raise EvaluationError(f"finding counts must hold {FINDING_COUNTS_LENGTH} numbers, got shape {counts.shape}")
    w_tp, w_fn, w_tn, w_fp, n_tp, n_fn, n_tn, n_fp = counts[:8]
    s_tp, s_fn, s_tn, s_fp = counts[8:] * SQUARED_WEIGHT_UNIT
    figures = {}
    for key, (w_hit, w_miss, n_hit, n_miss, s_hit, s_miss) in (("sensitivity", (w_tp, w_fn, n_tp, n_fn, s_tp, s_fn)),
                                                               ("specificity", (w_tn, w_fp, n_tn, n_fp, s_tn, s_fp))):
        # A cell without rows is empty: a sum read from a secure aggregation is exact only to a few
        # thousandths, and a stray 0.001 of squared weight in a cell without rows would decide the
        # effective size at p near 0 or 1.
        if round(n_hit) == 0:
            w_hit = s_hit = 0.0
        if round(n_miss) == 0:
            w_miss = s_miss = 0.0
        weight = w_hit + w_miss
        if round(n_hit + n_miss) <= 0 or weight <= 0 or s_hit + s_miss <= 0:
            figures[key] = figures[f"{key}_ci95"] = None
            continue
        proportion = float(w_hit / weight)
        figures[key] = proportion
        figures[f"{key}_ci95"] = list(effective_wilson_interval(proportion, _effective_size(proportion, weight, s_hit,
                                                                                            s_miss)))
    return figures


def _effective_size(proportion: float, weight: float, hit_squares: float, miss_squares: float) -> float:
    """``p (1 - p) / var(p)`` of a weighted proportion (see :func:`finding_accuracy`); the Kish
    size where that is 0 / 0 (p = 0 or 1)."""
    linearised = hit_squares * (1 - proportion) ** 2 + miss_squares * proportion ** 2
    if proportion in (0.0, 1.0) or linearised <= 0:
        return float(weight ** 2 / (hit_squares + miss_squares))
    return float(proportion * (1 - proportion) * weight ** 2 / linearised)
