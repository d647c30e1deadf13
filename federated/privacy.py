"""Differential-privacy settings of a federation and the epsilon they give.

Flower's ``DifferentialPrivacyServerSideFixedClipping`` clips each clinic's update to L2 norm
``clipping_norm`` and adds Gaussian noise of standard deviation ``noise_multiplier *
clipping_norm / m`` to the average of the ``m`` clinics' updates (DP-FedAvg: McMahan et al.,
ICLR 2018). Flower does not report an epsilon for it; :func:`epsilon` computes one here.

Accounting: every clinic takes part in every round (no sampling to amplify privacy). Adding or
removing one clinic changes the sum of clipped updates by at most ``clipping_norm``, so each
round is a Gaussian mechanism with noise ``noise_multiplier`` times its sensitivity, which is
``rho = 1 / (2 z^2)``-zCDP; rounds add up (``rounds * rho``), and ``rho``-zCDP implies
``(rho + 2 sqrt(rho ln(1/delta)), delta)``-DP (Bun & Steinke, TCC 2016, Props. 1.3, 1.6 and
Lemma 2.3). The unit protected is a **whole clinic**, against anyone who sees the released
models, not against the server, which sees each clinic's update before the noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_DELTA = 1e-5  # programme assumption: well below 1 / (number of clinics in any region)


@dataclass(frozen=True)
class PrivacySettings:
    """Server-side fixed-clipping DP: noise multiplier z, clipping norm C, and the delta for epsilon."""

    noise_multiplier: float
    clipping_norm: float
    delta: float = DEFAULT_DELTA

    def __post_init__(self):
        if not self.noise_multiplier > 0:
            raise ValueError(f"noise multiplier must be > 0, got {self.noise_multiplier}")
        if not self.clipping_norm > 0:
            raise ValueError(f"clipping norm must be > 0, got {self.clipping_norm}")
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must lie in (0, 1), got {self.delta}")


def epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon after ``rounds`` Gaussian rounds of noise multiplier ``z`` at ``delta`` (zCDP bound).

    Examples
    --------
    >>> round(epsilon(1.0, 1, 1e-5), 2)  # rho = 0.5
    5.3
    """
    if noise_multiplier <= 0 or rounds < 1 or not 0 < delta < 1:
        raise ValueError(f"need z > 0, rounds >= 1, 0 < delta < 1; got {noise_multiplier}, {rounds}, {delta}")
    rho = rounds / (2 * noise_multiplier ** 2)
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))
