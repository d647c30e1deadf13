"""Discrimination and calibration metrics for the evaluation JSON (numpy only)."""
from __future__ import annotations

import numpy as np

ECE_BINS = 10


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties).

    Examples
    --------
    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(y)
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = np.asarray(score)[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mid = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(mid, counts)
    positives = int(y.sum())
    negatives = y.size - positives
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def bootstrap_auc_ci(y: np.ndarray, score: np.ndarray, *, seed: int, replicates: int = 1000) -> list[float]:
    """95 % percentile bootstrap interval of the AUC."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(replicates):
        rows = rng.integers(0, y.size, y.size)
        if 0 < y[rows].sum() < y.size:
            values.append(roc_auc(y[rows], score[rows]))
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def expected_calibration_error(y: np.ndarray, probability: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """ECE over equal-width probability bins, weighted by the share of rows in each bin.

    Examples
    --------
    >>> expected_calibration_error(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5]))
    0.0
    """
    index = np.minimum((np.asarray(probability) * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        rows = index == b
        if rows.any():
            error += rows.mean() * abs(float(np.mean(y[rows]) - np.mean(probability[rows])))
    return float(error)


def evaluate(y: np.ndarray, probability: np.ndarray, *, seed: int) -> dict:
    """AUC with 95 % CI, Brier score and ECE of calibrated probabilities."""
    return {
        "auc": roc_auc(y, probability),
        "auc_95ci": bootstrap_auc_ci(y, probability, seed=seed),
        "brier": float(np.mean((probability - y) ** 2)),
        "ece": expected_calibration_error(y, probability),
        "n": int(y.size),
        "prevalence": float(np.mean(y)),
    }
