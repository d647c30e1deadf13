"""The model the clinics learn together: a penalised logistic regression of confirmed ILD on the
blood panel (CMP + CBC and the optional LDH, CRP, ESR, KL-6), in ``LAB_FEATURES`` order.

Why logistic and not the shipped gradient-boosted trees: a logistic model is one coefficient
vector, so a clinic's update is a vector of the same shape and the hospital can average them
(FedAvg / FedProx: McMahan et al., AISTATS 2017; Li et al., MLSys 2020). Trees are discrete
splits; averaging two forests is not a forest, and Flower's tree strategies (bagging, cyclic)
ship whole trees built on one clinic's rows, which leaks far more than a coefficient vector.

Every value enters on the log scale (all analytes are positive SI values), standardised with
the mean and standard deviation of the whole federation (:class:`Scaler`, built from summed
counts, sums and sums of squares, so no clinic sends a row); a value not measured becomes the
mean (0), as the shipped models impute. The coefficients get a Gaussian prior (mean 0,
``COEFFICIENT_PRIOR_SD`` on the standardised scale): the same Bayesian model for the central,
local-only and federated fits, so they differ only in which data they see. Fitting is
:func:`evaluation.recalibration.fit_penalised_logistic` (one home for the Newton fit).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.recalibration import expit, fit_penalised_logistic
from tabular_models.lab_panels import LAB_FEATURES

# Simulation / programme assumptions, settings of the simulation, not clinical numbers:
COEFFICIENT_PRIOR_SD = 1.0  # weakly informative on standardised inputs (cf. Gelman et al., Ann Appl Stat 2008)
INTERCEPT_PRIOR_SD = 10.0  # practically flat: the intercept carries the prevalence
LOG_FLOOR = 1e-6  # a value at or below 0 (never a valid SI lab value) is floored before the log

N_COEFFICIENTS = len(LAB_FEATURES) + 1  # intercept first


def log_features(X: np.ndarray) -> np.ndarray:
    """Lab values in SI units (NaN where not measured) on the log scale."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(LAB_FEATURES):
        raise ValueError(f"expected an n x {len(LAB_FEATURES)} lab matrix, got shape {X.shape}")
    return np.log(np.maximum(X, LOG_FLOOR))


def feature_statistics(X: np.ndarray) -> list[np.ndarray]:
    """What a clinic shares to build the scaler: per feature, the count, sum and sum of squares of
    its measured log values (aggregates, never rows)."""
    logged = log_features(X)
    measured = np.isfinite(logged)
    filled = np.where(measured, logged, 0.0)
    return [measured.sum(axis=0).astype(float), filled.sum(axis=0), np.square(filled).sum(axis=0)]


@dataclass(frozen=True)
class Scaler:
    """Mean and standard deviation of each log feature; ``n_examples`` behind them."""

    mean: np.ndarray
    sd: np.ndarray
    n_examples: int

    @classmethod
    def from_statistics(cls, statistics: list[list[np.ndarray]], n_examples: int) -> "Scaler":
        """Sum the clinics' :func:`feature_statistics`; a feature nobody measured (or constant)
        gets mean 0 and sd 1, so it stays 0 after standardising and its coefficient at the prior."""
        count, total, squares = (np.sum([clinic[i] for clinic in statistics], axis=0) for i in range(3))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
            variance = np.where(count > 1, squares / np.maximum(count, 1) - np.square(mean), 0.0)
        sd = np.sqrt(np.maximum(variance, 0.0))
        usable = sd > 1e-9
        return cls(np.where(usable, mean, 0.0), np.where(usable, sd, 1.0), int(n_examples))

    @classmethod
    def of(cls, X: np.ndarray) -> "Scaler":
        """The scaler of one data set (a clinic alone, or everything pooled)."""
        return cls.from_statistics([feature_statistics(X)], len(X))

    def design(self, X: np.ndarray) -> np.ndarray:
        """``[1, z_1, ..., z_d]`` per row; a missing value is 0 (the mean)."""
        z = (log_features(X) - self.mean) / self.sd
        return np.column_stack([np.ones(len(z)), np.where(np.isfinite(z), z, 0.0)])

    def to_bytes(self) -> bytes:
        return np.stack([self.mean, self.sd]).astype("<f8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, n_examples: int) -> "Scaler":
        values = np.frombuffer(data, dtype="<f8")
        if values.size != 2 * len(LAB_FEATURES):
            raise ValueError(f"scaler must hold {2 * len(LAB_FEATURES)} numbers, got {values.size}")
        mean, sd = values.reshape(2, -1)
        return cls(mean.copy(), sd.copy(), int(n_examples))


PRIOR_SD = np.array([INTERCEPT_PRIOR_SD] + [COEFFICIENT_PRIOR_SD] * len(LAB_FEATURES))


def fit_logistic(X: np.ndarray, y: np.ndarray, scaler: Scaler) -> np.ndarray:
    """Coefficients fitted on ``(X, y)`` alone with the full prior: the central fit (all data
    pooled) or a clinic's local-only fit."""
    theta, _ = fit_penalised_logistic(scaler.design(X), y, prior_mean=np.zeros(N_COEFFICIENTS), prior_sd=PRIOR_SD)
    return theta


def fit_proximal(X: np.ndarray, y: np.ndarray, scaler: Scaler, global_theta: np.ndarray, *,
                 proximal_mu: float) -> np.ndarray:
    """One clinic's FedProx step: minimise its share of the federation's objective plus the
    proximal term, starting from the global model.

    The federation minimises ``sum of all log-losses + prior``. A clinic with ``n_k`` of the
    ``N`` examples takes its own log-losses, ``n_k / N`` of the prior, and ``mu * n_k / 2 *
    |theta - global|^2`` (FedProx's term on the mean loss, times ``n_k``). Both penalties are
    Gaussian, so they combine into one prior for :func:`fit_penalised_logistic`: precision
    ``n_k / N / sd^2 + mu * n_k`` centred at ``mu * n_k * global / precision``.
    """
    if proximal_mu <= 0:
        raise ValueError(f"proximal_mu must be > 0, got {proximal_mu}")
    n_k = len(y)
    share = n_k / scaler.n_examples
    precision = share / np.square(PRIOR_SD) + proximal_mu * n_k
    centre = proximal_mu * n_k * np.asarray(global_theta, dtype=float) / precision
    theta, _ = fit_penalised_logistic(scaler.design(X), y, prior_mean=centre, prior_sd=1 / np.sqrt(precision))
    return theta


def clipped(design: np.ndarray, clip_norm: float | None) -> np.ndarray:
    """Each row of ``design`` scaled down to at most L2 norm ``clip_norm`` (unchanged when None)."""
    if clip_norm is None:
        return design
    norms = np.linalg.norm(design, axis=1, keepdims=True)
    return design * np.minimum(1.0, clip_norm / np.maximum(norms, 1e-12))


def predict(theta: np.ndarray, scaler: Scaler, X: np.ndarray, *, clip_norm: float | None = None) -> np.ndarray:
    """Probability of ILD for each row. A model fitted on clipped rows (``clip_norm``, under
    differential privacy) scores clipped rows too: on unclipped ones it is overconfident."""
    return expit(clipped(scaler.design(X), clip_norm) @ np.asarray(theta, dtype=float))


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle (diagonal included) of a symmetric matrix, row by row."""
    return matrix[np.triu_indices(matrix.shape[0])]


def from_upper_triangle(values: np.ndarray, size: int) -> np.ndarray:
    """The symmetric matrix whose :func:`upper_triangle` is ``values``."""
    matrix = np.zeros((size, size))
    matrix[np.triu_indices(size)] = values
    return matrix + np.triu(matrix, 1).T


NEWTON_LENGTH = 1 + N_COEFFICIENTS + N_COEFFICIENTS * (N_COEFFICIENTS + 1) // 2


def newton_sums(X: np.ndarray, y: np.ndarray, scaler: Scaler, theta: np.ndarray, *,
                clip_norm: float | None = None) -> np.ndarray:
    """What a clinic adds to one federated Newton step at ``theta``: its log-likelihood, gradient
    and information matrix (upper triangle), summed over its rows (``NEWTON_LENGTH`` numbers).
    Sums of all clinics' vectors are the pooled data's, so the step equals the central fit's.

    ``clip_norm``: each row's design vector (intercept included) is first scaled down to at most
    this L2 norm, which bounds one patient's share of the gradient (``clip_norm``) and of the
    information matrix (``clip_norm ** 2 / 4``) for differential privacy
    (:class:`federated.privacy.LocalPrivacy`)."""
    design = clipped(scaler.design(X), clip_norm)
    eta = design @ np.asarray(theta, dtype=float)
    mu = expit(eta)
    log_likelihood = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    information = (design.T * (mu * (1 - mu))) @ design
    return np.concatenate([[log_likelihood], design.T @ (y - mu), upper_triangle(information)])


def newton_step(sums: np.ndarray, theta: np.ndarray, *,
                information_noise_sd: float = 0.0) -> tuple[np.ndarray, float]:
    """The next coefficients from the pooled :func:`newton_sums` at ``theta`` with the prior of
    :func:`fit_logistic` added, and the penalised log-likelihood at ``theta``.

    ``information_noise_sd``: the standard deviation of the differential-privacy noise on each
    entry of the summed information matrix (:class:`federated.privacy.LocalPrivacy`; 0: none).
    Symmetric Gaussian noise of sd ``s`` has eigenvalues up to about ``2 s sqrt(d)`` (the
    semicircle law), which swamps the data in directions the clinics barely inform (collinear
    analytes, rarely measured ones), and a Newton step through such a direction runs away. The
    eigenvalues are then raised to at least that bound (and never below the coefficients' prior
    precision): a stronger pull towards the prior where the noise could dominate. Post-processing
    of the noisy sums: no privacy cost."""
    sums = np.asarray(sums, dtype=float)
    if sums.shape != (NEWTON_LENGTH,):
        raise ValueError(f"Newton sums must hold {NEWTON_LENGTH} numbers, got shape {sums.shape}")
    theta = np.asarray(theta, dtype=float)
    precision = 1 / np.square(PRIOR_SD)
    gradient = sums[1:1 + N_COEFFICIENTS] - precision * theta
    information = from_upper_triangle(sums[1 + N_COEFFICIENTS:], N_COEFFICIENTS) + np.diag(precision)
    if information_noise_sd > 0:
        floor = max(1 / COEFFICIENT_PRIOR_SD ** 2, 2 * information_noise_sd * np.sqrt(N_COEFFICIENTS))
        values, vectors = np.linalg.eigh(information)
        information = (vectors * np.maximum(values, floor)) @ vectors.T
    penalised = float(sums[0] - 0.5 * np.sum(precision * np.square(theta)))
    return theta + np.linalg.solve(information, gradient), penalised
