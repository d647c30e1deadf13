"""The regional AUC interval as the region published it before the sums carried squared weights
(imported by name, as support.py): DeLong's variance over the unweighted numbers of cases and
non-cases, too narrow under verification weights. Tests compare the weighted interval with it and
show a region that passed the rule only on it."""
from __future__ import annotations

import numpy as np

from evaluation.binned import RANK_BINS, binned_auc, binned_counts

Z_975 = 1.959963984540054


def unweighted_count_interval(bins) -> tuple[float, float]:
    """The interval of ``evaluation.binned.binned_auc_ci95`` before it read the squared weights."""
    cases, non_cases = bins[:RANK_BINS], bins[RANK_BINS:2 * RANK_BINS]
    n_cases, n_non_cases = binned_counts(bins)
    auc = binned_auc(bins)
    below = np.concatenate([[0.0], np.cumsum(non_cases)[:-1]])
    above = cases.sum() - np.cumsum(cases)
    case_placement = (below + 0.5 * non_cases) / non_cases.sum()
    non_case_placement = (above + 0.5 * cases) / cases.sum()
    case_variance = np.sum(cases * (case_placement - auc) ** 2) / cases.sum() * n_cases / (n_cases - 1)
    non_case_variance = (np.sum(non_cases * (non_case_placement - auc) ** 2) / non_cases.sum()
                         * n_non_cases / (n_non_cases - 1))
    se = float(np.sqrt(case_variance / n_cases + non_case_variance / n_non_cases))
    return float(max(0.0, auc - Z_975 * se)), float(min(1.0, auc + Z_975 * se))


def verification_weighted_cohort(seed: int, n: int, *, separation: float = 1.6):
    """Rows as a clinic's verified outcomes weigh them: a referred visit (risk above 0.3) weighs 1,
    an unreferred one the inverse of its stratum's verification fraction (1 in 5, 10 or 20)."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.25).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(-1.5, 1.0, n) + separation * y)))
    return y, p, np.where(p > 0.3, 1.0, rng.choice([5.0, 10.0, 20.0], n))
