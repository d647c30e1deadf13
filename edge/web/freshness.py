"""Whether a visit's result still reflects what the visit holds: what changed after it was calculated.

A result is calculated from what is stored when the nurse presses "Calculate"; blood tests typed,
breath read, takes recorded or discarded, lung function or the patient's details and symptoms
edited afterwards are not in it. The page says what changed and the referral, which carries the
result, waits for a new one. Details, symptoms and lung function are compared with what the result
kept (its ``inputs``), so a review saved without a change is not a change; what is added or
discarded is ordered against the result's own audit entry (entry ids, not clocks: two writes in
the same millisecond are still ordered), which also sees a discarded take whose row is gone.
"""
from __future__ import annotations

from typing import Optional

import sqlite_utils

from edge.screening import clinical_picture

# What the page names, in this order (i18n ``changed_<kind>``).
CHANGE_KINDS = ("patient", "lung_sounds", "breath", "labs", "lung_function")
# Audit entries that add or remove an input after the result: (entity, action) -> kind.
ADDED_OR_REMOVED = {("visit", "add_labs"): "labs", ("visit", "add_breath_reading"): "breath",
                    ("recording", "create"): "lung_sounds", ("recording", "discard"): "lung_sounds"}


def changed_since(db: sqlite_utils.Database, assessment: dict, *, visit: dict, patient: dict) -> list[str]:
    """What changed in ``visit`` (of ``patient``) after ``assessment`` was calculated: kinds of
    :data:`CHANGE_KINDS`, in that order; empty while the result is current."""
    kinds = set(_added_or_removed(db, assessment))
    kept = assessment.get("inputs") or {}
    if "clinical_picture" in kept and _picture_changed(kept["clinical_picture"],
                                                       clinical_picture(patient, on=visit["started_at"])):
        kinds.add("patient")
    if "pft" in kept and _lung_function(kept["pft"]) != _lung_function(visit["lung_function"]):
        kinds.add("lung_function")
    return [kind for kind in CHANGE_KINDS if kind in kinds]


def _added_or_removed(db: sqlite_utils.Database, assessment: dict) -> set[str]:
    row = db.execute("SELECT id FROM audit_log WHERE entity = 'assessment' AND action = 'create' AND entity_id = ?",
                     [str(assessment["id"])]).fetchone()
    if row is None:  # a result restored without its audit entry: nothing to order additions against
        return set()
    visit_id = str(assessment["visit_id"])
    entries = db.execute(
        "SELECT DISTINCT entity, action FROM audit_log WHERE id > ? AND ("
        "(entity = 'visit' AND entity_id = ? AND action IN ('add_labs', 'add_breath_reading')) "
        "OR (entity = 'recording' AND action IN ('create', 'discard') "
        "AND CAST(json_extract(detail, '$.visit_id') AS TEXT) = ?))", [row[0], visit_id, visit_id]).fetchall()
    return {ADDED_OR_REMOVED[(entity, action)] for entity, action in entries}


def _picture_changed(kept: dict, now) -> bool:
    """Whether the patient's clinical picture differs from the one the result kept (the age through
    the birth year; antibodies and symptoms as sets: their order means nothing)."""
    if any(kept.get(name) != getattr(now, name) for name in ("ctd_diagnosis", "sex", "smoking", "age")):
        return True
    return any(sorted(kept.get(name) or ()) != sorted(getattr(now, name)) for name in ("autoantibodies", "symptoms"))


def _lung_function(values: Optional[dict]) -> tuple:
    values = values or {}
    return values.get("fvc_percent"), values.get("dlco_percent"), bool(values.get("dlco_not_performed"))
