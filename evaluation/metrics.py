"""Discrimination and classification metrics with confidence intervals.

AUC variance follows DeLong, DeLong & Clarke-Pearson (Biometrics 1988;44:837-845) in the fast
midrank formulation of Sun & Xu (IEEE Signal Process Lett 2014;21:1389-1393). Binomial
proportions get Wilson score intervals (Wilson, JASA 1927;22:209-212), which keep their
coverage near 0 and 1 where the Wald interval fails (Brown, Cai & DasGupta, Stat Sci 2001).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evaluation.errors import EvaluationError
from evaluation.proportions import auc_score_interval, wilson_interval
from evaluation.resampling import cluster_resamples


def check_binary_inputs(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels (0/1) and scores (finite, same length); return them as arrays."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if y_true.ndim != 1 or y_score.shape != y_true.shape:
        raise EvaluationError(f"labels and scores must be 1-D of equal length, got {y_true.shape} and {y_score.shape}")
    if not np.isin(y_true, (0, 1)).all():
        bad = y_true[~np.isin(y_true, (0, 1))][0]
        raise EvaluationError(f"labels must be 0 or 1, got {bad.item()!r}")
    if not np.isfinite(y_score).all():
        raise EvaluationError("scores must be finite numbers")
    y_true = y_true.astype(int)
    if y_true.min() == y_true.max():
        raise EvaluationError(f"both classes are needed, got only label {y_true[0]}")
    return y_true, y_score


def _midranks(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values, method="average")


def _delong_components(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    positives = y_score[y_true == 1]
    negatives = y_score[y_true == 0]
    m, n = len(positives), len(negatives)
    ranks_all = _midranks(np.concatenate([positives, negatives]))
    ranks_pos = _midranks(positives)
    ranks_neg = _midranks(negatives)
    auc = (ranks_all[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (ranks_all[:m] - ranks_pos) / n  # structural components of each positive
    v01 = 1.0 - (ranks_all[m:] - ranks_neg) / m  # ... and of each negative
    return float(auc), v10, v01


@dataclass(frozen=True)
class AucResult:
    auc: float
    ci_low: float
    ci_high: float
    standard_error: float

    def to_json(self) -> dict:
        return {"auc": self.auc, "ci95": [self.ci_low, self.ci_high], "se": self.standard_error}


def roc_auc(y_true, y_score, *, confidence: float = 0.95) -> AucResult:
    """Area under the ROC curve with a DeLong confidence interval (logit-free, clipped to [0, 1]).

    Examples
    --------
    >>> round(roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).auc, 2)
    0.75
    """
    y_true, y_score = check_binary_inputs(y_true, y_score)
    auc, v10, v01 = _delong_components(y_true, y_score)
    variance = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
    se = float(np.sqrt(max(variance, 0.0)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return AucResult(auc, max(0.0, auc - z * se), min(1.0, auc + z * se), se)


def compare_aucs(y_true, score_a, score_b) -> dict:
    """Paired DeLong test of two scores on the same cases: difference, its 95% CI and p-value."""
    y_true, score_a = check_binary_inputs(y_true, score_a)
    _, score_b = check_binary_inputs(y_true, score_b)
    auc_a, v10_a, v01_a = _delong_components(y_true, score_a)
    auc_b, v10_b, v01_b = _delong_components(y_true, score_b)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    covariance = s10 / len(v10_a) + s01 / len(v01_a)
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    difference = auc_a - auc_b
    se = float(np.sqrt(max(variance, 1e-300)))
    p_value = float(2 * stats.norm.sf(abs(difference) / se)) if variance > 0 else 1.0
    return {"auc_a": auc_a, "auc_b": auc_b, "difference": difference,
            "ci95": [difference - 1.959964 * se, difference + 1.959964 * se], "p_value": p_value}


def operating_point(y_true, y_score, threshold: float) -> dict:
    """Sensitivity, specificity, PPV and NPV at ``score >= threshold``, each with a Wilson CI."""
    y_true, y_score = check_binary_inputs(y_true, y_score)
    predicted = y_score >= threshold
    tp = int(np.sum(predicted & (y_true == 1)))
    fn = int(np.sum(~predicted & (y_true == 1)))
    tn = int(np.sum(~predicted & (y_true == 0)))
    fp = int(np.sum(predicted & (y_true == 0)))

    def proportion(k: int, n: int) -> dict:
        if n == 0:
            return {"value": None, "ci95": None, "n": 0}
        return {"value": k / n, "ci95": list(wilson_interval(k, n)), "n": n}

    return {
        "threshold": threshold,
        "sensitivity": proportion(tp, tp + fn),
        "specificity": proportion(tn, tn + fp),
        "ppv": proportion(tp, tp + fp),
        "npv": proportion(tn, tn + fn),
        "counts": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def roc_points(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds, from the highest threshold down."""
    y_true, y_score = check_binary_inputs(y_true, y_score)
    order = np.argsort(-y_score, kind="mergesort")
    scores, labels = y_score[order], y_true[order]
    distinct = np.r_[np.where(np.diff(scores))[0], len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / labels.sum()]
    fpr = np.r_[0.0, fps / (len(labels) - labels.sum())]
    return fpr, tpr, np.r_[np.inf, scores[distinct]]


def youden_threshold(y_true, y_score) -> float:
    """The threshold maximising sensitivity + specificity - 1."""
    fpr, tpr, thresholds = roc_points(y_true, y_score)
    return float(thresholds[1:][np.argmax((tpr - fpr)[1:])])


def _auc_or_none(y_true: np.ndarray, y_score: np.ndarray):
    if y_true.min() == y_true.max():
        return None
    return _delong_components(y_true.astype(int), y_score)[0]


def _rate_or_none(hits: np.ndarray, members: np.ndarray):
    return float(hits[members].mean()) if members.any() else None


def cluster_bootstrap(y_true, y_score, clusters, *, threshold: float, replicates: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> dict:
    """AUC, sensitivity and specificity at ``score >= threshold`` with cluster-bootstrap intervals.

    Whole clusters (patients) are resampled with replacement, so recordings of one patient, which
    are not independent, move together: the interval reflects how many *patients* the figures rest
    on (Field & Welsh, J R Stat Soc B 2007;69:369-390, the cluster bootstrap). A replicate in which a
    figure is undefined (one class missing) is skipped for that figure; ``replicates`` says how many
    counted. Percentile intervals, widened for sensitivity and specificity to at least the Wilson
    interval on the number of patients of that class (the bootstrap alone gives [1, 1] when every
    patient is right), and for the AUC to at least Newcombe's score-type interval on the numbers of
    patients with and without the condition (:func:`evaluation.proportions.auc_score_interval`: the
    bootstrap alone gives [1, 1] when every patient with the condition outranks every one without,
    e.g. 3 adults with crackles); seeded, so the same data give the same interval.

    Examples
    --------
    >>> out = cluster_bootstrap([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], ["a", "b", "c", "d"], threshold=0.3,
    ...                         replicates=200)
    >>> out["auc"]["value"], out["sensitivity"]["value"], out["specificity"]["value"]
    (0.75, 1.0, 0.5)
    """
    y_true, y_score = check_binary_inputs(y_true, y_score)
    clusters = np.asarray(clusters).astype(str)
    if clusters.shape != y_true.shape:
        raise EvaluationError(f"one cluster label per case needed, got {clusters.shape} for {y_true.shape}")
    if replicates < 1:
        raise EvaluationError(f"replicates must be >= 1, got {replicates}")
    names, index = np.unique(clusters, return_inverse=True)
    predicted = y_score >= threshold

    def figures(rows):
        labels, scores, calls = y_true[rows], y_score[rows], predicted[rows]
        return {"auc": _auc_or_none(labels, scores),
                "sensitivity": _rate_or_none(calls, labels == 1),
                "specificity": _rate_or_none(~calls, labels == 0)}

    point = figures(np.arange(len(y_true)))
    draws = {name: [] for name in point}
    for rows in cluster_resamples(clusters, replicates=replicates, seed=seed):
        for name, value in figures(rows).items():
            if value is not None:
                draws[name].append(value)
    tail = (1 - confidence) / 2 * 100
    # Patients of each class: the effective sample size of sensitivity and specificity.
    patients_of_class = {"sensitivity": len(np.unique(index[y_true == 1])), "specificity": len(np.unique(index[y_true == 0]))}
    result = {}
    for name, value in point.items():
        values = draws[name]
        interval = [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))] if values else None
        if interval is not None and value is not None:
            # A percentile bootstrap collapses to a point when every patient agrees (e.g. 12/12
            # correct, or every patient with crackles ranked first, gives [1, 1]); an interval on
            # the numbers of patients is the floor: Wilson's for a rate, Newcombe's for the AUC.
            if name == "auc":
                low, high = auc_score_interval(value, patients_of_class["sensitivity"], patients_of_class["specificity"],
                                               confidence=confidence)
            else:
                n = patients_of_class[name]
                low, high = wilson_interval(value * n, n, confidence=confidence)
            interval = [min(interval[0], low), max(interval[1], high)]
        result[name] = {"value": value, "ci95": interval, "replicates": len(values)}
    result.update(clusters=len(names), cases=len(y_true), threshold=threshold, method="cluster_bootstrap",
                  seed=seed)
    return result
