"""Labels for the site's own evaluation: each assessed visit linked to the first confirmed
outcome within the window after it, the verification weight of each labelled visit, and the
de-identified export that ``ildscreen evaluate`` reads.

A visit counts once, by its latest assessment. A visit without a confirmed outcome in the window
is *unverified*, never negative: verification mostly follows referral, so the labelled visits
over-represent high risks, and each gets the inverse of the fraction verified in its stratum of
triage tier x advice (Begg & Greenes; :mod:`evaluation.verification`) so that estimates describe
everyone screened. The stratum is tier *and* advice because referral follows the guideline line
(an SSc patient at low risk is still advised HRCT + PFTs; an RA patient without a risk factor
at the same risk is advised to re-screen). A visit still inside its outcome window without an
outcome is left out altogether (:func:`awaiting_outcome`): it is not unverified yet, and
counting it so would deflate its stratum's verified share.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import sqlite_utils

from edge.errors import StorageError, ValidationError
from edge.fusion.fusion import MODALITIES
from edge.outcomes import confirmed_outcomes
from evaluation.errors import EvaluationError
from evaluation.verification import inverse_probability_weights, verification_fractions

DAYS_PER_MONTH = 365.25 / 12
EXPORT_COLUMNS = ("label", "probability", "fused_probability", *(f"p_{name}" for name in MODALITIES), "tier",
                  "verification_weight", "model_versions", "calibration_version", "sex", "age", "ctd",
                  "visit_month", "days_to_outcome")


def window_days(months: float) -> int:
    return int(round(months * DAYS_PER_MONTH))


def modality_output(contribution) -> "float | None":
    """What a modality's model said at the visit: a tabular model's calibrated probability, or the
    crackle detector's probability that at least one base has fine crackles (edge.fusion.evidence)."""
    finding = (contribution or {}).get("finding") or {}
    value = finding.get("probability", finding.get("any_base_probability"))
    if value is None:  # labs counted through a KL-6: the lab model's own output is kept beside it
        value = (finding.get("lab_model") or {}).get("probability")
    return None if value is None else float(value)


def assessed_visits(db: sqlite_utils.Database, *, window_months: float,
                    today: "dt.date | None" = None) -> list[dict]:
    """Every assessed visit (latest assessment) with its first confirmed outcome in the window.

    ``label`` is 1 (ILD present), 0 (absent) or None (unverified); ``window_open`` is True while
    the visit's outcome window has not ended (as of ``today``, default today).
    """
    today = today or dt.date.today()
    rows = db.execute_returning_dicts(
        "SELECT a.id AS assessment_id, a.visit_id, a.probability, a.tier, a.model_versions, a.calibration_version,"
        " a.result, a.inputs, a.created_at, v.started_at, v.patient_id, p.sex, p.birth_year, p.ctd_diagnosis"
        " FROM risk_assessments a JOIN visits v ON v.id = a.visit_id JOIN patients p ON p.id = v.patient_id"
        " WHERE a.id = (SELECT MAX(id) FROM risk_assessments WHERE visit_id = a.visit_id) ORDER BY a.id")
    window = dt.timedelta(days=window_days(window_months))
    outcomes_of: dict[int, list[dict]] = {}
    visits = []
    for row in rows:
        if row["patient_id"] not in outcomes_of:
            outcomes_of[row["patient_id"]] = confirmed_outcomes(db, row["patient_id"])
        visit_date = dt.date.fromisoformat(row["started_at"][:10])
        linked = next((item for item in outcomes_of[row["patient_id"]]
                       if visit_date <= dt.date.fromisoformat(item["date"]) <= visit_date + window), None)
        result = json.loads(row["result"])
        contributions = result.get("contributions", {})
        evidence = json.loads(row["inputs"]).get("evidence", [])
        visits.append({
            "assessment_id": row["assessment_id"], "visit_id": row["visit_id"], "patient_id": row["patient_id"],
            "visit_date": visit_date.isoformat(), "assessed_at": row["created_at"],
            "probability": row["probability"],
            "fused_probability": result.get("calibration", {}).get("fused_probability", row["probability"]),
            "modality_probabilities": {name: modality_output(contributions[name])
                                       for name in MODALITIES if modality_output(contributions.get(name)) is not None},
            "pretest_probability": result.get("pretest_probability"),
            # The patient-level crackle finding (basal / other_sites / none), for its accuracy at the clinic.
            "crackle_level": ((contributions.get("auscultation") or {}).get("finding") or {}).get("level"),
            "log_likelihood_ratios": {name: contributions[name]["log_likelihood_ratio"]
                                      for name in MODALITIES if name in contributions},
            "training_prevalences": {item["modality"]: item["finding"]["training_prevalence"] for item in evidence
                                     if "modality" in item and "training_prevalence" in (item.get("finding") or {})},
            "tier": row["tier"], "advice": (result.get("recommendation") or {}).get("advice"),
            "window_open": visit_date + window >= today,
            "model_versions": json.loads(row["model_versions"]),
            "calibration_version": row["calibration_version"],
            "sex": row["sex"], "age": visit_date.year - row["birth_year"], "ctd": row["ctd_diagnosis"],
            "label": None if linked is None else int(linked["ild"] == "present"),
            "outcome_date": linked["date"] if linked else None,
        })
    return visits


def awaiting_outcome(visit: dict) -> bool:
    """Inside its outcome window and without an outcome yet: neither verified nor unverified."""
    return bool(visit.get("window_open")) and visit["label"] is None


def verification_stratum(visit: dict) -> str:
    """The stratum verification is weighted in: triage tier x advice (``"low x hrct_pfts"``)."""
    return f"{visit['tier']} x {visit.get('advice') or 'unknown'}"


def verified_with_weights(visits: list[dict]) -> tuple[list[dict], np.ndarray, dict]:
    """The labelled visits, their verification weights (by tier x advice) and the table of
    fractions per stratum; visits still awaiting their outcome are left out."""
    closed = [visit for visit in visits if not awaiting_outcome(visit)]
    strata = [verification_stratum(visit) for visit in closed]
    verified = [visit["label"] is not None for visit in closed]
    try:
        weights = inverse_probability_weights(strata, verified)
    except EvaluationError as exc:
        raise ValidationError(f"cannot weight outcomes: {exc}") from exc
    return [visit for visit in closed if visit["label"] is not None], weights, verification_fractions(strata, verified)


def export_rows(visits: list[dict]) -> list[dict]:
    """One de-identified row per labelled visit: no code, no internal id, month not date."""
    labelled, weights, _ = verified_with_weights(visits)
    rows = []
    for visit, weight in zip(labelled, weights):
        days = (dt.date.fromisoformat(visit["outcome_date"]) - dt.date.fromisoformat(visit["visit_date"])).days
        rows.append({
            "label": visit["label"], "probability": f"{visit['probability']:.6f}",
            "fused_probability": f"{visit['fused_probability']:.6f}",
            **{f"p_{name}": (f"{visit['modality_probabilities'][name]:.6f}"
                             if name in visit["modality_probabilities"] else "") for name in MODALITIES},
            "tier": visit["tier"], "verification_weight": f"{weight:.6f}",
            "model_versions": ";".join(f"{k}={v}" for k, v in sorted(visit["model_versions"].items())),
            "calibration_version": visit["calibration_version"], "sex": visit["sex"], "age": visit["age"],
            "ctd": visit["ctd"], "visit_month": visit["visit_date"][:7], "days_to_outcome": days,
        })
    return rows


def write_export(visits: list[dict], path: Path) -> int:
    """Write the export CSV (refusing to overwrite); returns the number of rows."""
    rows = export_rows(visits)
    try:
        with Path(path).open("x", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    except FileExistsError as exc:
        raise ValidationError(f"{path} already exists; choose another --out") from exc
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return len(rows)
