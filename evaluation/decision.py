"""Decision-curve analysis: net benefit of acting on the model across threshold probabilities.

Net benefit = TP/n - FP/n * pt/(1-pt), compared with treating all and treating none (Vickers &
Elkin, Med Decis Making 2006;26:565-574).
"""
from __future__ import annotations

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.metrics import check_binary_inputs


def decision_curve(y_true, y_prob, *, thresholds=None) -> list[dict]:
    """Net benefit of the model, of referring everyone and of referring no one, per threshold."""
    y_true, y_prob = check_binary_inputs(y_true, y_prob)
    thresholds = np.arange(0.01, 0.81, 0.01) if thresholds is None else np.asarray(thresholds, dtype=float)
    if np.any((thresholds <= 0) | (thresholds >= 1)):
        raise EvaluationError("decision thresholds must lie strictly between 0 and 1")
    n = len(y_true)
    prevalence = y_true.mean()
    rows = []
    for pt in thresholds:
        acted = y_prob >= pt
        tp = np.sum(acted & (y_true == 1))
        fp = np.sum(acted & (y_true == 0))
        weight = pt / (1 - pt)
        rows.append({
            "threshold": float(pt),
            "model": float(tp / n - fp / n * weight),
            "treat_all": float(prevalence - (1 - prevalence) * weight),
            "treat_none": 0.0,
        })
    return rows
