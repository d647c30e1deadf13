"""Assessing a screening visit: gather each modality's evidence, fuse it with the clinical
prior, triage, stage, and store the assessment with every model version and input used.

Modality scorers are registered by name (``SCORERS``); each turns what was stored for a visit
into one ``ModalityEvidence`` or None when nothing usable was recorded. A modality without a
scorer or without data is reported as missing, never guessed.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Optional

import sqlite_utils

from edge import audit, site_calibration
from edge.errors import NotFound, ValidationError
from edge.fusion.clinical_prior import ClinicalPicture, clinical_prior
from edge.fusion.fusion import ModalityEvidence, fuse
from edge.fusion.staging import stage
from edge.fusion.triage import TriageThresholds, red_flags, triage
from edge.breath import score_unscored_breath_readings
from edge.patients import get_patient, get_visit
from edge.modalities import SCORERS, ModalityScorer
from edge.recordings import score_unscored_recordings
from edge.store.blobs import BlobStore
from edge.store.database import utc_now, write_transaction


def clinical_picture(patient: dict, *, on: Optional[str] = None) -> ClinicalPicture:
    """The clinical prior's inputs from the patient record; age in years at the visit date."""
    year = dt.date.fromisoformat(on[:10]).year if on else dt.date.today().year
    return ClinicalPicture(
        ctd_diagnosis=patient["ctd_diagnosis"],
        age=float(year - patient["birth_year"]),
        sex=patient["sex"],
        smoking=patient["smoking"],
        autoantibodies=tuple(patient["autoantibodies"]),
        symptoms=tuple(patient["symptoms"]),
    )


def assess(
    picture: ClinicalPicture,
    evidence: list[ModalityEvidence],
    *,
    thresholds: TriageThresholds,
    fvc_percent: Optional[float] = None,
    dlco_percent: Optional[float] = None,
    dlco_not_performed: bool = False,
) -> dict:
    """The whole assessment for one patient: fused risk, tier, advice, red flags, staging."""
    if dlco_not_performed and dlco_percent is not None:
        raise ValidationError("give either dlco_percent or dlco_not_performed, not both",
                              fields=[{"field": "dlco_percent", "reason": "conflicts with dlco_not_performed"}])
    # Site calibration maps the fused probability before triage (edge/site_calibration.py).
    fused = site_calibration.recalibrated(fuse(clinical_prior(picture), evidence))
    flags = red_flags(autoantibodies=picture.autoantibodies, symptoms=picture.symptoms,
                      fvc_percent=fvc_percent, dlco_percent=dlco_percent)
    result = {**fused, **triage(fused["probability"], thresholds=thresholds, flags=flags)}
    if fvc_percent is not None and (dlco_percent is not None or dlco_not_performed):
        result["staging"] = stage(sex=picture.sex, age=picture.age, fvc_percent=fvc_percent,
                                  dlco_percent=None if dlco_not_performed else dlco_percent)
    else:
        result["staging"] = None
    return result


def _assessment_from_row(row: dict) -> dict:
    inputs = json.loads(row["inputs"])
    return {
        "id": row["id"],
        "visit_id": row["visit_id"],
        "created_at": row["created_at"],
        **json.loads(row["result"]),
        "inputs": inputs,
    }


def score_kept_inputs(db: sqlite_utils.Database, blobs: BlobStore, visit_id: int, crackle_model) -> None:
    """Score what a visit kept unscored during a model outage, before it is assessed.

    Raises ``ModelUnavailable`` (naming them) while a needed model is still unavailable, so a
    visit is never assessed as if its recordings or breath readings did not exist. Lab panels
    are scored when read, so they need no step here.
    """
    score_unscored_recordings(db, blobs, visit_id, crackle_model)
    score_unscored_breath_readings(db, visit_id)


def assess_visit(
    db: sqlite_utils.Database,
    actor: audit.Actor,
    visit_id: int,
    *,
    thresholds: TriageThresholds,
    fvc_percent: Optional[float] = None,
    dlco_percent: Optional[float] = None,
    dlco_not_performed: bool = False,
    scorers: Optional[dict[str, ModalityScorer]] = None,
) -> dict:
    """Assess a visit from what is stored for it and store the result (a new row each time)."""
    visit = get_visit(db, visit_id)
    patient = get_patient(db, visit["patient_id"])
    picture = clinical_picture(patient, on=visit["started_at"])
    evidence = []
    for scorer in (SCORERS if scorers is None else scorers).values():
        item = scorer(db, visit_id)
        if item is not None:
            evidence.append(item)
    result = assess(picture, evidence, thresholds=thresholds, fvc_percent=fvc_percent,
                    dlco_percent=dlco_percent, dlco_not_performed=dlco_not_performed)
    inputs = {
        "clinical_picture": {**picture.__dict__, "autoantibodies": list(picture.autoantibodies),
                             "symptoms": list(picture.symptoms)},
        "evidence": [item.__dict__ for item in evidence],
        "pft": {"fvc_percent": fvc_percent, "dlco_percent": dlco_percent, "dlco_not_performed": dlco_not_performed},
    }
    with write_transaction(db):
        assessment_id = db["risk_assessments"].insert({
            "visit_id": visit_id,
            "probability": result["probability"],
            "score": result["score"],
            "interval_low": result["interval"][0],
            "interval_high": result["interval"][1],
            "tier": result["tier"],
            "recommendation": result["recommendation"]["text"],
            "contributions": json.dumps(result["contributions"]),
            "missing": json.dumps(result["missing"]),
            "model_versions": json.dumps(result["model_versions"]),
            "calibration_version": result["calibration"]["version"],
            "inputs": json.dumps(inputs),
            "result": json.dumps(result),
            "created_at": utc_now(),
            "created_by": actor.user_id,
        }).last_pk
        audit.record(db, actor, "create", "assessment", assessment_id, {"visit_id": visit_id, "tier": result["tier"]})
    return get_assessment(db, assessment_id)


def get_assessment(db: sqlite_utils.Database, assessment_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM risk_assessments WHERE id = ?", [assessment_id])
    if not rows:
        raise NotFound(f"no assessment with id {assessment_id}")
    return _assessment_from_row(rows[0])


def latest_assessment(db: sqlite_utils.Database, visit_id: int) -> Optional[dict]:
    rows = db.execute_returning_dicts(
        "SELECT * FROM risk_assessments WHERE visit_id = ? ORDER BY id DESC LIMIT 1", [visit_id])
    return _assessment_from_row(rows[0]) if rows else None


def list_assessments(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    rows = db.execute_returning_dicts("SELECT * FROM risk_assessments WHERE visit_id = ? ORDER BY id", [visit_id])
    return [_assessment_from_row(row) for row in rows]
