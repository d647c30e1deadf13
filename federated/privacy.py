"""Differential-privacy settings of a federation and the epsilon they give.

Two mechanisms, one per engine:

- legacy engine (:class:`PrivacySettings`): central DP on whole clinics, described below;
- deployment engine (:class:`LocalPrivacy`): each clinic adds Gaussian noise to its own Newton
  sums before they leave it (and before SecAgg+ masks them), protecting **one patient** against
  everyone downstream, the hospital included; described on the class.

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

import numpy as np

from federated.model import N_COEFFICIENTS

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


@dataclass(frozen=True)
class LocalPrivacy:
    """Clinic-side DP on the deployment engine: a Gaussian mechanism on each Newton round's sums.

    Flower's client-side mods (``fixedclipping_mod``, ``LocalDpMod``) clip and noise a model
    *update* (returned parameters minus received ones); a clinic here returns sums of another
    shape (gradient and information matrix), so the mechanism is applied to them directly, in the
    ClientApp. Each patient's standardised lab row (intercept included) is scaled down to L2 norm
    at most ``clipping_norm`` (:func:`federated.model.newton_sums`), so adding or removing one
    patient moves the gradient sum by at most ``C`` and the information matrix's upper triangle by
    at most ``C**2 / 4`` (``p (1 - p) <= 1/4``); Gaussian noise of ``noise_multiplier`` times each
    sensitivity is added to each. The log-likelihood is not sent (it is only ever reported, and it
    has no bound). Each round is two Gaussian mechanisms, ``2 * 1 / (2 z^2)``-zCDP; rounds add up
    and :func:`epsilon` converts, per clinic, over the Newton rounds that clinic answered.

    Not covered: the statistics round (feature counts, sums and squares) and the validation round
    (binned risks), and the number of rows each clinic sends in the clear (SecAgg+'s weight).
    """

    noise_multiplier: float
    clipping_norm: float
    delta: float = DEFAULT_DELTA

    def __post_init__(self):
        PrivacySettings(self.noise_multiplier, self.clipping_norm, self.delta)  # the same checks
        if self.clipping_norm < 1:
            raise ValueError(f"clipping norm must be >= 1 (the intercept alone has norm 1), got {self.clipping_norm}")

    def node_config(self) -> dict:
        """The SuperNode's ``--node-config`` entries that switch it on at a clinic."""
        return {"dp-noise-multiplier": self.noise_multiplier, "dp-clipping-norm": self.clipping_norm,
                "dp-delta": self.delta}

    @classmethod
    def from_node_config(cls, node_config) -> "LocalPrivacy | None":
        """The clinic's setting from its ``--node-config`` (None when ``dp-noise-multiplier`` is absent).

        Raises ``ValueError`` naming a value that is not a number or out of range."""
        if not node_config.get("dp-noise-multiplier"):
            return None
        try:
            values = [float(node_config.get(key, default)) for key, default in
                      (("dp-noise-multiplier", None), ("dp-clipping-norm", "nan"), ("dp-delta", DEFAULT_DELTA))]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"dp-* node config values must be numbers: {exc}") from None
        if math.isnan(values[1]):
            raise ValueError("dp-noise-multiplier needs dp-clipping-norm in the node config")
        return cls(*values)

    def privatise(self, sums, rng: np.random.Generator) -> np.ndarray:
        """The sums a clinic sends: its clipped :func:`~federated.model.newton_sums` with noise on the
        gradient and the information matrix, the log-likelihood left out (0)."""
        noisy = np.array(sums, dtype=float)
        noisy[0] = 0.0
        z, c = self.noise_multiplier, self.clipping_norm
        noisy[1:1 + N_COEFFICIENTS] += rng.normal(0.0, z * c, N_COEFFICIENTS)
        noisy[1 + N_COEFFICIENTS:] += rng.normal(0.0, self.information_noise_sd, noisy.size - 1 - N_COEFFICIENTS)
        return noisy

    @property
    def information_noise_sd(self) -> float:
        """Standard deviation of the noise on each entry of the information matrix's upper triangle."""
        return self.noise_multiplier * self.clipping_norm ** 2 / 4

    def metrics(self) -> dict:
        """What a clinic tells the hospital in the clear with each noisy round, for the accounting."""
        return {"dp_noise_multiplier": self.noise_multiplier, "dp_clipping_norm": self.clipping_norm,
                "dp_delta": self.delta}

    @classmethod
    def from_metrics(cls, metrics) -> "LocalPrivacy | None":
        """The setting a clinic reported with its answer (None: it added no noise)."""
        if "dp_noise_multiplier" not in metrics:
            return None
        return cls(float(metrics["dp_noise_multiplier"]), float(metrics["dp_clipping_norm"]),
                   float(metrics["dp_delta"]))

    def epsilon(self, newton_rounds: int) -> float:
        """Epsilon per patient of a clinic after it answered ``newton_rounds`` rounds (two
        Gaussian mechanisms each), at ``delta``."""
        return epsilon(self.noise_multiplier, 2 * newton_rounds, self.delta)
