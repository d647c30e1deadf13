"""Correcting for partial verification: only some screened patients get the reference test.

Mostly referred (high-risk) patients get an HRCT, so the verified cases over-represent high
risks and a model looks better calibrated and more sensitive than it is. When whether a patient
is verified depends only on what was observed at screening (here the risk tier, whose referral
policy is known), weighting each verified case by the inverse of its stratum's verification
fraction gives unbiased estimates for the whole screened population (Begg & Greenes,
Biometrics 1983;39:207-215).

What cannot be estimated: a stratum in which nobody was verified (its outcomes are unknown,
not negative), and any bias from verification that depends on something the system did not
record (e.g. a clinician's hunch); those are reported, never imputed.
"""
from __future__ import annotations

import numpy as np

from evaluation.errors import EvaluationError


def verification_fractions(strata, verified) -> dict[str, dict]:
    """Per stratum: screened, verified and the fraction verified."""
    strata = np.asarray(strata).astype(str)
    verified = np.asarray(verified, dtype=bool)
    if strata.shape != verified.shape or strata.ndim != 1:
        raise EvaluationError(f"one stratum per case needed, got {strata.shape} for {verified.shape}")
    table = {}
    for name in sorted(set(strata)):
        members = strata == name
        n, k = int(members.sum()), int(verified[members].sum())
        table[name] = {"screened": n, "verified": k, "fraction": k / n}
    return table


def inverse_probability_weights(strata, verified) -> np.ndarray:
    """Weights of the verified cases (in their order): 1 / fraction verified in their stratum.

    Raises
    ------
    EvaluationError
        When nothing was verified at all.
    """
    strata = np.asarray(strata).astype(str)
    verified = np.asarray(verified, dtype=bool)
    table = verification_fractions(strata, verified)
    if not verified.any():
        raise EvaluationError("no screened patient has a verified outcome yet")
    return np.array([1.0 / table[name]["fraction"] for name in strata[verified]])
