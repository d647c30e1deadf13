"""Discrimination metrics with bootstrap confidence intervals. numpy only."""

import numpy as np

from audio_models.errors import AudioError


def roc_auc(labels, scores):
    """Area under the ROC curve (Mann-Whitney statistic, ties counted half).

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.all() or not y.any():
        raise AudioError(f"AUC needs both classes, got {int(y.sum())} positives of {y.size}")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    n_pos, n_neg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_with_ci(labels, scores, *, n_boot=1000, seed=0):
    """AUC with a 95 % percentile bootstrap interval (resampling within each class)."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pos, neg = s[y], s[~y]
    boots = []
    for _ in range(n_boot):
        bp = rng.choice(pos, len(pos))
        bn = rng.choice(neg, len(neg))
        boots.append(roc_auc(np.r_[np.ones(len(bp)), np.zeros(len(bn))], np.r_[bp, bn]))
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"auc": round(roc_auc(y, s), 4), "auc_ci95": [round(float(low), 4), round(float(high), 4)]}


def youden_threshold(labels, scores):
    """Threshold maximising sensitivity + specificity - 1."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    best, best_j = 0.5, -1.0
    for t in np.unique(s):
        j = np.mean(s[y] >= t) + np.mean(s[~y] < t) - 1
        if j > best_j:
            best, best_j = float(t), j
    return best


def operating_point(labels, scores, *, threshold):
    """Sensitivity and specificity of ``score >= threshold``."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    sens = float(np.mean(s[y] >= threshold)) if y.any() else None
    spec = float(np.mean(s[~y] < threshold)) if (~y).any() else None
    return {"threshold": round(float(threshold), 4), "sensitivity": sens, "specificity": spec,
            "n_positive": int(y.sum()), "n_negative": int((~y).sum())}
