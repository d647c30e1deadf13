"""Binomial proportions with confidence intervals, in numpy alone so the clinic service (which
has no scipy) can show them on its dashboard.

Wilson score interval (Wilson, JASA 1927;22:209-212): keeps its coverage near 0 and 1 where the
Wald interval fails (Brown, Cai & DasGupta, Stat Sci 2001).
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
