"""GAP and ILD-GAP staging from sex, age and lung function, when PFT values are entered.

GAP: Ley B et al., "A multidimensional index and staging system for idiopathic pulmonary
fibrosis", Ann Intern Med 2012;156:684-691 (Table 3). ILD-GAP: Ryerson CJ et al., "Predicting
survival across chronic interstitial lung disease: the ILD-GAP model", Chest 2014;145:723-728,
which adds an ILD-subtype term (IPF 0; CTD-ILD, chronic hypersensitivity pneumonitis and
idiopathic NSIP -2; unclassifiable 0).
"""
from __future__ import annotations

from typing import Optional

from edge.errors import ValidationError

ILD_SUBTYPE_POINTS = {"IPF": 0, "CTD-ILD": -2, "chronic HP": -2, "idiopathic NSIP": -2, "unclassifiable": 0}


def _check(name: str, value: Optional[float], low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value}",
                              fields=[{"field": name, "reason": f"between {low} and {high}"}])


def gap_points(*, sex: str, age: float, fvc_percent: float, dlco_percent: Optional[float]) -> dict:
    """Points per GAP domain; ``dlco_percent=None`` means the patient could not perform DLCO (3 points)."""
    if sex not in ("F", "M"):
        raise ValidationError(f"sex must be F or M, got {sex!r}", fields=[{"field": "sex", "reason": "F or M"}])
    _check("age", age, 16, 120)
    _check("fvc_percent", fvc_percent, 5, 200)
    _check("dlco_percent", dlco_percent, 1, 200)
    gender = 1 if sex == "M" else 0
    age_points = 0 if age <= 60 else 1 if age <= 65 else 2
    fvc_points = 0 if fvc_percent > 75 else 1 if fvc_percent >= 50 else 2
    if dlco_percent is None:
        dlco_points = 3
    else:
        dlco_points = 0 if dlco_percent > 55 else 1 if dlco_percent >= 36 else 2
    return {"gender": gender, "age": age_points, "fvc": fvc_points, "dlco": dlco_points}


def gap_stage(points: int) -> str:
    """GAP stage I (0-3 points), II (4-5), III (6-8)."""
    return "I" if points <= 3 else "II" if points <= 5 else "III"


def ild_gap_category(points: int) -> str:
    """ILD-GAP index groups of Ryerson 2014: <=1, 2-3, 4-5, >=6."""
    return "0-1" if points <= 1 else "2-3" if points <= 3 else "4-5" if points <= 5 else "6-8"


def stage(*, sex: str, age: float, fvc_percent: float, dlco_percent: Optional[float],
          ild_subtype: str = "CTD-ILD") -> dict:
    """GAP and ILD-GAP for one patient.

    Examples
    --------
    >>> stage(sex="M", age=66, fvc_percent=49, dlco_percent=35)["gap"]
    {'points': 7, 'stage': 'III'}
    >>> stage(sex="M", age=66, fvc_percent=49, dlco_percent=35)["ild_gap"]["points"]
    5
    """
    if ild_subtype not in ILD_SUBTYPE_POINTS:
        raise ValidationError(f"unknown ILD subtype {ild_subtype!r}; expected one of {list(ILD_SUBTYPE_POINTS)}")
    domains = gap_points(sex=sex, age=age, fvc_percent=fvc_percent, dlco_percent=dlco_percent)
    gap = sum(domains.values())
    ild_gap = gap + ILD_SUBTYPE_POINTS[ild_subtype]
    return {
        "domains": domains,
        "gap": {"points": gap, "stage": gap_stage(gap)},
        "ild_gap": {"points": ild_gap, "category": ild_gap_category(ild_gap), "subtype": ild_subtype},
    }
