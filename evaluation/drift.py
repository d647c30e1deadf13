"""Drift of a model's output: population stability index (PSI) against a reference sample.

PSI = sum over bins of (current - reference) * ln(current / reference), bins at the reference's
deciles (Yurdakul, Western Michigan University dissertation 2018, "Statistical properties of
population stability index"). The alert levels are the credit-scoring rule of thumb (Siddiqi,
Credit Risk Scorecards, Wiley 2006): below 0.10 stable, 0.10-0.25 some shift, above 0.25 a
major shift. For clinical risk models they are a programme assumption (``psi_alert`` setting).
"""
from __future__ import annotations

import numpy as np

from evaluation.errors import EvaluationError

PSI_SOME_SHIFT = 0.10  # Siddiqi 2006, rule of thumb
PSI_MAJOR_SHIFT = 0.25  # Siddiqi 2006, rule of thumb
EMPTY_BIN_SHARE = 1e-4  # an empty bin would make ln() infinite; counted as this share instead


def population_stability_index(reference, current, *, n_bins: int = 10) -> float:
    """PSI of ``current`` against ``reference``, in bins at the reference's quantiles.

    Examples
    --------
    >>> population_stability_index([0.1, 0.2, 0.3, 0.4] * 10, [0.1, 0.2, 0.3, 0.4] * 5)
    0.0
    """
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    if n_bins < 2:
        raise EvaluationError(f"n_bins must be >= 2, got {n_bins}")
    for name, values in (("reference", reference), ("current", current)):
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise EvaluationError(f"{name} must be a non-empty 1-D array of finite numbers")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1))[1:-1])
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    e = np.maximum(expected / reference.size, EMPTY_BIN_SHARE)
    a = np.maximum(actual / current.size, EMPTY_BIN_SHARE)
    return float(abs(np.sum((a - e) * np.log(a / e))))
