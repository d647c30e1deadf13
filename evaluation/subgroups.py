"""Performance per subgroup (sex, age band, device, CTD type) and pairwise AUC comparisons."""
from __future__ import annotations

import re
from itertools import combinations

import numpy as np
from scipy import stats

from evaluation.calibration import brier_score, expected_calibration_error
from evaluation.errors import EvaluationError
from evaluation.metrics import roc_auc

MIN_PER_CLASS = 5


def age_band(age: float) -> str:
    """Ten-year bands from 40; screening cohorts are mostly older adults."""
    if age < 40:
        return "<40"
    if age >= 80:
        return "80+"
    low = int(age // 10 * 10)
    return f"{low}-{low + 9}"


def group_order(name: str) -> tuple:
    """Sort key of subgroup names: age bands by age ("<40" first, "80+" last), then others by name."""
    band = re.fullmatch(r"(<)?(\d+)(?:-\d+|\+)?", name)
    if band is None:
        return (1, 0.0, name)
    return (0, float(band.group(2)) - (0.5 if band.group(1) else 0.0), name)


def subgroup_table(y_true, y_prob, groups) -> dict:
    """AUC (DeLong CI), calibration and counts per group, plus pairwise AUC differences.

    Groups with fewer than ``MIN_PER_CLASS`` cases of either class get counts only. Pairwise
    comparisons between independent groups use the difference of AUCs over the root sum of
    their squared DeLong standard errors.
    """
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, dtype=float)
    groups = np.asarray(groups).astype(str)
    if groups.shape != y_true.shape:
        raise EvaluationError(f"one group label per case needed, got {groups.shape} for {y_true.shape}")
    rows = {}
    for name in sorted(set(groups), key=group_order):
        members = groups == name
        labels, probs = y_true[members], y_prob[members]
        row = {"n": int(members.sum()), "positives": int(labels.sum())}
        if min(labels.sum(), len(labels) - labels.sum()) >= MIN_PER_CLASS:
            auc = roc_auc(labels, probs)
            row.update(auc=auc.to_json(), ece=expected_calibration_error(labels, probs),
                       brier=brier_score(labels, probs), _se=auc.standard_error)
        rows[name] = row
    comparisons = []
    for a, b in combinations([name for name, row in rows.items() if "auc" in row], 2):
        difference = rows[a]["auc"]["auc"] - rows[b]["auc"]["auc"]
        se = float(np.hypot(rows[a]["_se"], rows[b]["_se"]))
        comparisons.append({"a": a, "b": b, "difference": difference,
                            "p_value": float(2 * stats.norm.sf(abs(difference) / se)) if se > 0 else 1.0})
    for row in rows.values():
        row.pop("_se", None)
    return {"groups": rows, "comparisons": comparisons}
