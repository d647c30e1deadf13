"""GAP and ILD-GAP: mortality indices for *diagnosed* ILD, computed only when ILD is confirmed
(see ``edge.outcomes.confirmed_ild``) and PFT values are entered. Never at screening.

GAP: Ley B et al., "A multidimensional index and staging system for idiopathic pulmonary
fibrosis", Ann Intern Med 2012;156:684-691 (Table 3): gender F 0 / M 1; age <= 60 0, 61-65 1,
> 65 2; FVC % predicted > 75 0, 50-75 1, < 50 2; DLCO % predicted > 55 0, 36-55 1, <= 35 2,
cannot perform 3. Stages I 0-3, II 4-5, III 6-8.

ILD-GAP: Ryerson CJ et al., "Predicting survival across chronic interstitial lung disease: the
ILD-GAP model", Chest 2014;145:723-728: adds an ILD-subtype term (IPF 0; CTD-ILD, chronic
hypersensitivity pneumonitis and idiopathic NSIP -2; unclassifiable 0); the index is the
total floored at 0 (range 0-8), in groups 0-1, 2-3, 4-5, 6-8.

Age: a birth year alone gives two possible ages at a date. Both are scored; when they fall in
different GAP age bands the points, stage and ILD-GAP group are reported as a range and
``age_ambiguous`` says so (enter the birth month to resolve it).
"""
from __future__ import annotations

from typing import Optional

from edge.errors import ValidationError

ILD_SUBTYPE_POINTS = {"IPF": 0, "CTD-ILD": -2, "chronic HP": -2, "idiopathic NSIP": -2, "unclassifiable": 0}
# (upper bound inclusive, points); the last band has no bound.
AGE_BANDS = ((60, 0), (65, 1), (None, 2))
GAP_STAGES = ((3, "I"), (5, "II"), (8, "III"))
ILD_GAP_GROUPS = ((1, "0-1"), (3, "2-3"), (5, "4-5"), (8, "6-8"))


def _check(name: str, value: Optional[float], low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value}",
                              fields=[{"field": name, "reason": f"between {low} and {high}"}])


def age_points(age: int) -> int:
    """GAP age points for a whole number of years."""
    return next(points for bound, points in AGE_BANDS if bound is None or age <= bound)


def gap_points(*, sex: str, age: int, fvc_percent: float, dlco_percent: Optional[float]) -> dict:
    """Points per GAP domain; ``dlco_percent=None`` means the patient could not perform DLCO (3 points)."""
    if sex not in ("F", "M"):
        raise ValidationError(f"sex must be F or M, got {sex!r}", fields=[{"field": "sex", "reason": "F or M"}])
    _check("age", age, 16, 120)
    _check("fvc_percent", fvc_percent, 5, 200)
    _check("dlco_percent", dlco_percent, 1, 200)
    fvc = 0 if fvc_percent > 75 else 1 if fvc_percent >= 50 else 2
    if dlco_percent is None:
        dlco = 3
    else:
        dlco = 0 if dlco_percent > 55 else 1 if dlco_percent > 35 else 2
    return {"gender": 1 if sex == "M" else 0, "age": age_points(int(age)), "fvc": fvc, "dlco": dlco}


def _band(points: int, bands) -> str:
    return next(label for bound, label in bands if points <= bound)


def gap_stage(points: int) -> str:
    """GAP stage I (0-3 points), II (4-5), III (6-8)."""
    return _band(points, GAP_STAGES)


def ild_gap_index(gap_points_total: int, ild_subtype: str) -> int:
    """GAP points plus the subtype term, floored at 0."""
    if ild_subtype not in ILD_SUBTYPE_POINTS:
        raise ValidationError(f"unknown ILD subtype {ild_subtype!r}; expected one of {list(ILD_SUBTYPE_POINTS)}")
    return max(0, gap_points_total + ILD_SUBTYPE_POINTS[ild_subtype])


def ild_gap_group(index: int) -> str:
    """ILD-GAP index groups of Ryerson 2014: 0-1, 2-3, 4-5, 6-8."""
    if index < 0:
        raise ValidationError(f"the ILD-GAP index is floored at 0, got {index}")
    return _band(index, ILD_GAP_GROUPS)


def _label(values: list[str]) -> str:
    return values[0] if values[0] == values[-1] else f"{values[0]} or {values[-1]}"


def stage(*, sex: str, ages: tuple[int, int], fvc_percent: float, dlco_percent: Optional[float],
          ild_subtype: str = "CTD-ILD") -> dict:
    """GAP and ILD-GAP for one patient with confirmed ILD; ``ages`` = (youngest, oldest) possible age.

    Examples
    --------
    >>> stage(sex="M", ages=(66, 66), fvc_percent=49, dlco_percent=35)["gap"]
    {'points': [7, 7], 'stage': 'III'}
    >>> stage(sex="F", ages=(60, 61), fvc_percent=80, dlco_percent=60)["ild_gap"]
    {'index': [0, 0], 'group': '0-1', 'subtype': 'CTD-ILD'}
    """
    youngest, oldest = ages
    if youngest > oldest:
        raise ValidationError(f"ages must be (youngest, oldest), got {ages}")
    scored = [gap_points(sex=sex, age=age, fvc_percent=fvc_percent, dlco_percent=dlco_percent)
              for age in (youngest, oldest)]
    totals = [sum(domains.values()) for domains in scored]
    indices = [ild_gap_index(total, ild_subtype) for total in totals]
    ambiguous = scored[0]["age"] != scored[1]["age"]
    return {
        "domains": {**scored[0], "age": [scored[0]["age"], scored[1]["age"]]},
        "ages": [youngest, oldest],
        "age_ambiguous": ambiguous,
        "gap": {"points": totals, "stage": _label([gap_stage(t) for t in totals])},
        "ild_gap": {"index": indices, "group": _label([ild_gap_group(i) for i in indices]), "subtype": ild_subtype},
        "sources": ["Ley B et al. Ann Intern Med 2012;156:684-691", "Ryerson CJ et al. Chest 2014;145:723-728"],
    }
