"""Confirmed outcomes on a patient's timeline: HRCT and PFT results, entered by a clinician for
an outside test or read from the hospital's CT report once a radiologist has confirmed it.

Only an HRCT read as ILD present or absent confirms a status (``CONFIRMING``): the 2023
ACR/CHEST guideline for ILD screening in systemic autoimmune rheumatic disease (Johnson SR et
al., Arthritis Rheumatol 2024;76:1182-1200) makes HRCT the diagnostic test, and PFTs can be
normal in early ILD, so a PFT is recorded and shown but never becomes a label. An
indeterminate read confirms nothing either way.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Optional

import sqlite_utils

from edge import audit
from edge.errors import ValidationError
from edge.patients import get_patient
from edge.store.database import utc_now, write_transaction

logger = logging.getLogger(__name__)

SOURCES = ("hrct", "pft")
ILD_STATUSES = ("present", "absent", "indeterminate")
# Which (source, ILD status) pairs confirm an ILD status, and why (see the module docstring).
CONFIRMING = {
    ("hrct", "present"): "HRCT is the diagnostic test for ILD (ACR/CHEST 2023)",
    ("hrct", "absent"): "HRCT is the diagnostic test for ILD (ACR/CHEST 2023)",
}
# HRCT patterns: ATS/ERS classification of the idiopathic interstitial pneumonias (Travis WD et
# al., Am J Respir Crit Care Med 2013;188:733-748) and the UIP categories of the ATS/ERS/JRS/ALAT
# guideline (Raghu G et al., Am J Respir Crit Care Med 2022;205:e18-e47); CTD-ILD uses the same.
PATTERNS = ("UIP", "probable_UIP", "indeterminate_UIP", "NSIP", "OP", "LIP", "DIP", "mixed", "unclassifiable")
# The hospital's FHIR DiagnosticReport carries a radiologist's read as conclusion codes in these
# local systems once its status is "final"; the automated densitometry alone is "preliminary".
ILD_STATUS_SYSTEM = "urn:ildscreen:ild-status"
# A report coded the standard way instead: SNOMED CT 233703007 |Interstitial lung disease
# (disorder)| in conclusionCode means ILD present.
SNOMED_SYSTEM = "http://snomed.info/sct"
SNOMED_ILD = "233703007"
ILD_PATTERN_SYSTEM = "urn:ildscreen:ild-pattern"
ILD_EXTENT_EXTENSION = "urn:ildscreen:radiologist-extent-percent"


# What an assessment keeps of each outcome on record (``edge.freshness`` compares them with today's):
# enough to tell one added, removed or read again (a hospital report turned final or amended); not
# its notes, free text that may name someone.
KEPT_FIELDS = ("origin", "id", "referral_id", "date", "source", "ild", "pattern", "extent_percent",
               "fvc_percent", "dlco_percent")


def _field_error(field: str, reason: str) -> ValidationError:
    return ValidationError(f"invalid outcome: {field}: {reason}", fields=[{"field": field, "reason": reason}])


def check_outcome(outcome: dict, patient: dict, *, today: Optional[dt.date] = None) -> None:
    """Checks that need the patient or the source: dates, and fields that belong to one test.

    Raises ``ValidationError`` naming the field.
    """
    today = today or dt.date.today()
    date = dt.date.fromisoformat(outcome["date"])
    if date > today:
        raise _field_error("date", f"is in the future ({outcome['date']})")
    if date.year < patient["birth_year"]:
        raise _field_error("date", f"is before the patient's year of birth ({outcome['date']})")
    belongs = {"pattern": "hrct", "extent_percent": "hrct", "fvc_percent": "pft", "dlco_percent": "pft"}
    for field, source in belongs.items():
        if outcome.get(field) is not None and outcome["source"] != source:
            raise _field_error(field, f"belongs to a {source} outcome, not {outcome['source']}")


def record_outcome(db: sqlite_utils.Database, actor: audit.Actor, patient_id: int, outcome: dict) -> dict:
    """Store a clinician's outcome (already shape-checked by the API schema); audited."""
    patient = get_patient(db, patient_id)
    check_outcome(outcome, patient)
    row = {"patient_id": patient_id, "date": outcome["date"], "source": outcome["source"], "ild": outcome["ild"],
           **{key: outcome.get(key) for key in ("pattern", "extent_percent", "fvc_percent", "dlco_percent")},
           "notes": outcome.get("notes") or "", "created_at": utc_now(), "created_by": actor.user_id}
    with write_transaction(db):
        outcome_id = db["outcomes"].insert(row).last_pk
        audit.record(db, actor, "create", "outcome", outcome_id,
                     {"patient_id": patient_id, "source": row["source"], "ild": row["ild"]})
    return _entered(db.execute_returning_dicts("SELECT * FROM outcomes WHERE id = ?", [outcome_id])[0])


def _entered(row: dict) -> dict:
    row = dict(row)
    row.pop("created_by", None)
    row["origin"] = "clinician"
    row["referral_id"] = None
    row["confirmed"] = (row["source"], row["ild"]) in CONFIRMING
    return row


def ct_report_outcome(report: dict) -> Optional[dict]:
    """The radiologist's read in a hospital CT report, or None while there is none.

    ``report`` is what the referral server returned (``diagnostic_report`` is FHIR R4).
    """
    diagnostic = report.get("diagnostic_report") or {}
    if diagnostic.get("status") not in ("final", "amended", "corrected"):
        return None
    codes = {coding.get("system"): coding.get("code")
             for concept in diagnostic.get("conclusionCode") or [] for coding in concept.get("coding") or []}
    ild = codes.get(ILD_STATUS_SYSTEM)
    if ild is None and any(coding.get("system") == SNOMED_SYSTEM and coding.get("code") == SNOMED_ILD
                           for concept in diagnostic.get("conclusionCode") or [] for coding in concept.get("coding") or []):
        ild = "present"
    if ild not in ILD_STATUSES:
        logger.warning("final CT report without a usable ILD status code; not taken as an outcome")
        return None
    pattern = codes.get(ILD_PATTERN_SYSTEM)
    extent = next((ext.get("valueDecimal") for ext in diagnostic.get("extension") or []
                   if ext.get("url") == ILD_EXTENT_EXTENSION), None)
    when = diagnostic.get("effectiveDateTime") or diagnostic.get("issued") or ""
    try:
        date = dt.date.fromisoformat(when[:10]).isoformat()
    except ValueError:
        logger.warning("final CT report without a readable date; not taken as an outcome")
        return None
    return {"date": date, "source": "hrct", "ild": ild, "pattern": pattern if pattern in PATTERNS else None,
            "extent_percent": float(extent) if isinstance(extent, (int, float)) and 0 <= extent <= 100 else None}


def _hospital_outcomes(db: sqlite_utils.Database, patient_id: int) -> list[dict]:
    rows = db.execute_returning_dicts(
        "SELECT i.id, i.referral_id, i.received_at, i.report FROM imaging_results i "
        "JOIN referrals r ON r.id = i.referral_id JOIN visits v ON v.id = r.visit_id "
        "WHERE v.patient_id = ? ORDER BY i.id", [patient_id])
    outcomes = []
    for row in rows:
        try:
            read = ct_report_outcome(json.loads(row["report"] or "{}"))
        except (ValueError, AttributeError, TypeError):
            read = None
        if read is not None:
            outcomes.append({"id": None, "patient_id": patient_id, **read, "fvc_percent": None, "dlco_percent": None,
                             "notes": "", "created_at": row["received_at"], "origin": "hospital",
                             "referral_id": row["referral_id"], "confirmed": (read["source"], read["ild"]) in CONFIRMING})
    return outcomes


def list_outcomes(db: sqlite_utils.Database, patient_id: int) -> list[dict]:
    """Every outcome of a patient, entered and from hospital CT reports, oldest first."""
    get_patient(db, patient_id)
    entered = [_entered(row) for row in db.execute_returning_dicts(
        "SELECT * FROM outcomes WHERE patient_id = ? ORDER BY date, id", [patient_id])]
    return sorted(entered + _hospital_outcomes(db, patient_id), key=lambda item: (item["date"], item["created_at"]))


def outcomes_as_kept(db: sqlite_utils.Database, patient_id: int) -> list[dict]:
    """Every outcome of the patient (:func:`list_outcomes`) as an assessment keeps it (``KEPT_FIELDS``)."""
    return [{key: item.get(key) for key in KEPT_FIELDS} for item in list_outcomes(db, patient_id)]


def confirmed_outcomes(db: sqlite_utils.Database, patient_id: int) -> list[dict]:
    """The outcomes that confirm ILD present or absent (``CONFIRMING``), oldest first."""
    return [item for item in list_outcomes(db, patient_id) if item["confirmed"]]


def confirmed_ild(db: sqlite_utils.Database, patient_id: int) -> Optional[dict]:
    """Whether the patient has confirmed ILD on record today, and from what.

    The first confirmed outcome with ILD present (:func:`confirmed_outcomes`): an
    HRCT read a clinician entered, or a final (or amended) hospital CT report carrying a
    radiologist's read (``urn:ildscreen:ild-status`` or SNOMED CT 233703007 in
    ``conclusionCode``). The automated densitometry of the reference CT server is a preliminary
    report without such a code, so it never confirms ILD. Returns ``{"source": "hrct_report" |
    "clinician_outcome", "date", "referral_id"}`` or None.
    """
    for outcome in confirmed_outcomes(db, patient_id):
        if outcome["ild"] == "present":
            source = "hrct_report" if outcome["origin"] == "hospital" else "clinician_outcome"
            return {"source": source, "date": outcome["date"], "referral_id": outcome["referral_id"]}
    return None
