"""Proportions with confidence intervals from their counts, in numpy alone so the clinic service
(which has no scipy) can show them on its dashboard and judge a validation by them.

Wilson score interval (Wilson, JASA 1927;22:209-212): keeps its coverage near 0 and 1 where the
Wald interval fails (Brown, Cai & DasGupta, Stat Sci 2001). The AUC, a proportion of
(with, without) pairs, gets its score-type analogue from the group sizes (Newcombe RG, Stat Med
2006;25:559-573, Method 5: :func:`auc_score_interval`), which does not collapse to a point when
every case outranks every non-case as a bootstrap, DeLong or Hanley-McNeil interval does.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

from evaluation.errors import EvaluationError


def wilson_interval(successes: int, total: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if total <= 0:
        raise EvaluationError(f"total must be > 0, got {total}")
    if not 0 <= successes <= total:
        raise EvaluationError(f"successes must be between 0 and {total}, got {successes}")
    return _wilson(successes / total, total, confidence, at_zero=successes == 0, at_one=successes == total)


def effective_wilson_interval(proportion: float, effective_total: float, *,
                              confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a weighted proportion, with the Kish effective size
    ``(sum w)**2 / sum w**2`` as its number of trials (Kish L. Survey Sampling. Wiley 1965; the
    effective size in a binomial interval of survey data: Korn EL, Graubard BI. Survey Methodology
    1998;24:193-201). Unequal weights make the effective size smaller than the rows, so the
    interval wider; with every weight 1 it is :func:`wilson_interval` of the counts exactly.

    Examples
    --------
    >>> [round(x, 3) for x in effective_wilson_interval(0.8, 10.0)]
    [0.49, 0.943]
    """
    if not effective_total > 0:
        raise EvaluationError(f"effective total must be > 0, got {effective_total}")
    if not 0 <= proportion <= 1:
        raise EvaluationError(f"proportion must be between 0 and 1, got {proportion}")
    return _wilson(proportion, effective_total, confidence, at_zero=proportion == 0, at_one=proportion == 1)


def _wilson(p: float, total: float, confidence: float, *, at_zero: bool, at_one: bool) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; rounding must not leave 1e-17.
    low = 0.0 if at_zero else float(max(0.0, centre - half))
    high = 1.0 if at_one else float(min(1.0, centre + half))
    return low, high


def auc_score_interval(auc: float, with_condition: float, without_condition: float, *,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's score-type interval of an AUC (the Mann-Whitney ``theta``) from its value and the
    numbers of people with and without the condition.

    Newcombe RG. Confidence intervals for an effect size measure based on the Mann-Whitney
    statistic. Part 2: asymptotic methods and evaluation. Stat Med 2006;25:559-573, Method 5: the
    ``theta`` whose distance from the estimate is at most ``z`` standard errors, the variance taken
    at ``theta`` itself (as Wilson's interval does for a proportion). The variance is Hanley &
    McNeil's (Radiology 1982;143:29-36) under their exponential model, with both group sizes
    replaced by their mean ``N = (m + n) / 2`` (Newcombe's Method 4)::

        V(theta) = theta (1 - theta) / (m n) * [1 + (N - 1) (1 - theta) / (2 - theta)
                                                  + (N - 1) theta / (1 + theta)]

    Because ``V`` is zero only at 0 and 1, an AUC of 1 from few people still gets a lower bound
    below 1 that rises with the group sizes. ``V`` is symmetric in ``theta <-> 1 - theta``, so the
    upper bound is the mirror of the lower bound of ``1 - auc``. Group sizes may be effective
    (non-whole) numbers, such as Kish sizes of weighted data.

    Examples
    --------
    >>> [round(x, 3) for x in auc_score_interval(0.5, 20, 20)]
    [0.331, 0.669]
    >>> round(auc_score_interval(1.0, 3, 17)[0], 3)  # all 3 cases above all 17 non-cases
    0.659
    """
    for name, size in (("with_condition", with_condition), ("without_condition", without_condition)):
        if not (isinstance(size, (int, float, np.integer, np.floating)) and not isinstance(size, bool)
                and np.isfinite(size) and size > 0):
            raise EvaluationError(f"{name} must be a number of people > 0, got {size!r}")
    if not (isinstance(auc, (int, float, np.integer, np.floating)) and 0 <= auc <= 1):
        raise EvaluationError(f"auc must be between 0 and 1, got {auc!r}")
    if not 0 < confidence < 1:
        raise EvaluationError(f"confidence must be between 0 and 1, got {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    m, n = float(with_condition), float(without_condition)
    low = _auc_score_lower(float(auc), m, n, z)
    high = 1.0 - _auc_score_lower(1.0 - float(auc), m, n, z)
    return low, high


def _auc_score_lower(auc: float, m: float, n: float, z: float) -> float:
    """The lower end of Newcombe's Method 5 interval: the largest ``theta < auc`` where
    ``(auc - theta)**2 = z**2 V(theta)``, by a grid for the last sign change then bisection
    (the quartic can have other roots outside the interval around the estimate)."""
    if auc <= 0:
        return 0.0
    spread = (m + n) / 2 - 1

    def excess(theta):  # > 0 outside the interval
        variance = theta * (1 - theta) / (m * n) * (1 + spread * (1 - theta) / (2 - theta)
                                                    + spread * theta / (1 + theta))
        return (auc - theta) ** 2 - z * z * variance

    grid = np.linspace(0.0, auc, 2001)
    outside = np.flatnonzero(excess(grid[:-1]) > 0)  # excess(0) = auc**2 > 0: never empty
    low, high = grid[outside[-1]], grid[outside[-1] + 1]
    for _ in range(60):
        middle = (low + high) / 2
        if excess(middle) > 0:
            low = middle
        else:
            high = middle
    return float(high)
