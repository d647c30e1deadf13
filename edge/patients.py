"""Patients and their screening visits in the clinic's record."""
from __future__ import annotations

import json
from typing import Optional

import sqlite_utils

from edge import audit
from edge.errors import (Conflict, NotFound, SmokingContradiction, ValidationError, VisitClosed,
                         require_current_version)
from edge.store.database import utc_now, write_transaction
from edge.vocabulary import SMOKING_WITH_PACK_YEARS

JSON_LIST_COLUMNS = ("autoantibodies", "symptoms", "medications")
# A patient's record version: the id of its latest create or update audit entry, or of the latest
# restore's when newer. Every registration and edit writes one in the transaction that writes the
# row, and entry ids only grow (two edits in one millisecond still differ, which updated_at would
# not); reads are audited too but change nothing. A restore keeps the entries written after its
# backup (edge.store.restore_records) while the rows go back to the backup's: its own entry, the
# trail's newest, makes every version read before it out of date. 0 for a row with no such entry.
SELECT_PATIENTS = ("SELECT patients.*, MAX(COALESCE((SELECT MAX(id) FROM audit_log WHERE entity = 'patient' "
                   "AND entity_id = CAST(patients.id AS TEXT) AND action IN ('create', 'update')), 0), "
                   "COALESCE((SELECT MAX(id) FROM audit_log WHERE entity = 'database' AND action = 'restore'), 0)) "
                   "AS version FROM patients")


def _patient_from_row(row: dict) -> dict:
    for column in JSON_LIST_COLUMNS:
        row[column] = json.loads(row[column])
    row.pop("created_by", None)
    return row


def _visit_from_row(row: dict) -> dict:
    row["draft"] = json.loads(row["draft"])
    row["skipped_steps"] = json.loads(row.get("skipped_steps") or "[]")
    row["lung_function"] = json.loads(row.get("lung_function") or "{}")
    row.pop("created_by", None)
    return row


def get_patient(db: sqlite_utils.Database, patient_id: int) -> dict:
    rows = db.execute_returning_dicts(f"{SELECT_PATIENTS} WHERE id = ?", [patient_id])
    if not rows:
        raise NotFound(f"no patient with id {patient_id}")
    return _patient_from_row(rows[0])


def list_patients(
    db: sqlite_utils.Database, *, code_prefix: Optional[str] = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict], int]:
    """Patients ordered by code; ``code_prefix`` narrows to codes starting with it, in any case."""
    where, params = "", []
    if code_prefix:
        # Codes are letters, digits and dashes only (validated), so no LIKE wildcards to escape.
        where, params = "WHERE upper(code) LIKE ?", [code_prefix.upper() + "%"]
    total = db.execute(f"SELECT COUNT(*) FROM patients {where}", params).fetchone()[0]
    rows = db.execute_returning_dicts(
        f"{SELECT_PATIENTS} {where} ORDER BY code LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return [_patient_from_row(row) for row in rows], total


def _encode(fields: dict) -> dict:
    return {key: json.dumps(value) if key in JSON_LIST_COLUMNS else value for key, value in fields.items()}


def check_smoking(smoking: str, pack_years: Optional[float], *, stored: str = "") -> None:
    """Refuse pack-years for a never-smoker (``SMOKING_WITH_PACK_YEARS``: only former and current smokers have
    them; a never-smoker's are empty or 0), naming both fields. ``stored``: which of the two the record already
    holds, for an edit that changed only the other.

    Raises
    ------
    SmokingContradiction
        ``smoking`` is ``never`` and ``pack_years`` is more than 0.
    """
    if smoking in SMOKING_WITH_PACK_YEARS or not pack_years:
        return
    told = f" ({stored} as stored)" if stored else ""
    reason = (f"smoking {smoking!r} with pack_years {pack_years:g}{told}: pack-years are for former or current "
              "smokers; send pack_years null (or 0), or smoking 'former' or 'current'")
    raise SmokingContradiction(f"invalid request: {reason}", fields=[{"field": "smoking", "reason": reason},
                                                                       {"field": "pack_years", "reason": reason}])


def create_patient(db: sqlite_utils.Database, actor: audit.Actor, fields: dict) -> dict:
    """Register a patient; the code is stored upper-case, so ``cl1-0001`` and ``CL1-0001`` are one patient.
    A never-smoker with pack-years is refused (:func:`check_smoking`)."""
    check_smoking(fields.get("smoking", "never"), fields.get("pack_years"))
    now = utc_now()
    fields = {**fields, "code": fields["code"].upper()}
    with write_transaction(db):
        if db.execute("SELECT 1 FROM patients WHERE upper(code) = ?", [fields["code"]]).fetchone():
            raise Conflict("a patient with this code is already registered")
        patient_id = db["patients"].insert(
            {**_encode(fields), "created_at": now, "updated_at": now, "created_by": actor.user_id}
        ).last_pk
        audit.record(db, actor, "create", "patient", patient_id)
    return get_patient(db, patient_id)


def update_patient(db: sqlite_utils.Database, actor: audit.Actor, patient_id: int, changes: dict, *,
                   version: int) -> dict:
    """Apply ``changes`` to the patient (audited). ``version``: the record version the editor
    showed (``get_patient(...)["version"]``), required so that no edit overwrites another unseen.

    An edit that changes smoking or pack-years must leave them agreeing (:func:`check_smoking`, with the stored
    one of the two where only the other is sent). A record stored before that rule is not rewritten: an edit of
    its other fields is saved and leaves the two as they were.

    Raises
    ------
    EditConflict
        When ``version`` is not the current one: another edit was saved since, and would be overwritten.
    SmokingContradiction
        When the edit would leave a never-smoker with pack-years; nothing is saved.
    """
    with write_transaction(db):
        current = get_patient(db, patient_id)
        require_current_version(f"patient {patient_id}", shown=version, current=current["version"])
        if "smoking" in changes or "pack_years" in changes:
            stored = [name for name in ("smoking", "pack_years") if name not in changes]
            check_smoking(changes.get("smoking", current["smoking"]), changes.get("pack_years", current["pack_years"]),
                          stored=stored[0] if stored else "")
        if changes:
            db["patients"].update(patient_id, {**_encode(changes), "updated_at": utc_now()})
        audit.record(db, actor, "update", "patient", patient_id, {"changed": sorted(changes)})
    return get_patient(db, patient_id)


def get_visit(db: sqlite_utils.Database, visit_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM visits WHERE id = ?", [visit_id])
    if not rows:
        raise NotFound(f"no visit with id {visit_id}")
    return _visit_from_row(rows[0])


def list_visits(db: sqlite_utils.Database, patient_id: int) -> list[dict]:
    get_patient(db, patient_id)
    rows = db.execute_returning_dicts(
        "SELECT * FROM visits WHERE patient_id = ? ORDER BY started_at DESC, id DESC", [patient_id]
    )
    return [_visit_from_row(row) for row in rows]


def create_visit(db: sqlite_utils.Database, actor: audit.Actor, patient_id: int, *, notes: str = "") -> dict:
    now = utc_now()
    with write_transaction(db):
        get_patient(db, patient_id)
        visit_id = db["visits"].insert(
            {
                "patient_id": patient_id,
                "status": "open",
                "notes": notes,
                "draft": "{}",
                "started_at": now,
                "updated_at": now,
                "created_by": actor.user_id,
            }
        ).last_pk
        audit.record(db, actor, "create", "visit", visit_id, {"patient_id": patient_id})
    return get_visit(db, visit_id)


def update_visit(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, changes: dict, *,
                 version: int) -> dict:
    """Edit the open visit's status, notes or draft, against the ``version`` the editor showed
    (``get_visit(...)["version"]``); the saved edit raises it by one. A completed or cancelled visit
    is closed for edits. Only the fields named change, and in the draft only the keys named
    (:func:`merged_draft`): the tablet keeps typed values there without moving the version, so a
    draft replaced as a whole would drop what it kept after the editor read the visit.

    Only these edits move the version: the service's own writes of the visit (the tablet's kept
    draft, :func:`keep_draft`; skipped steps, lung function, symptoms reviewed) leave it, as they
    change nothing an editor of status, notes or draft saw, and must not make her save fail.

    Raises
    ------
    VisitClosed
        When the visit is closed (:func:`require_open_visit`).
    EditConflict
        When ``version`` is not the current one: another edit was saved since, and would be overwritten.
    """
    with write_transaction(db):
        visit = require_open_visit(db, visit_id)
        require_current_version(f"visit {visit_id}", shown=version, current=visit["version"])
        row = {key: value for key, value in changes.items() if value is not None}
        if "draft" in row:
            row["draft"] = json.dumps(merged_draft(visit["draft"], row["draft"]))
        if row.get("status") in ("completed", "cancelled"):
            row["completed_at"] = utc_now()
        db["visits"].update(visit_id, {**row, "updated_at": utc_now(), "version": visit["version"] + 1})
        audit.record(db, actor, "update", "visit", visit_id, {"changed": sorted(row)})
    return get_visit(db, visit_id)


def merged_draft(draft: dict, changes: dict) -> dict:
    """``draft`` with ``changes`` applied as a JSON Merge Patch (RFC 7396): a key named with a value
    takes it (an object merged into the object there, key by key), a key named with null is removed,
    a key not named stays as it was.

    >>> merged_draft({"refer_reason": "new cough", "step": "labs"}, {"step": "breath", "refer_reason": None})
    {'step': 'breath'}
    """
    merged = dict(draft)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            merged[key] = merged_draft(merged[key] if isinstance(merged.get(key), dict) else {}, value)
        else:
            merged[key] = value
    return merged


def keep_draft(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, draft: dict) -> dict:
    """Store ``draft`` as the open visit's draft: the tablet keeping typed, unsaved values (autosave,
    a refused form, the idle lock). Not an edit: the visit's version stays (see :func:`update_visit`).

    Raises ``VisitClosed`` for a closed visit (its page shows no forms, hence no draft)."""
    with write_transaction(db):
        require_open_visit(db, visit_id)
        db["visits"].update(visit_id, {"draft": json.dumps(draft), "updated_at": utc_now()})
        audit.record(db, actor, "update", "visit", visit_id, {"changed": ["draft"]})
    return get_visit(db, visit_id)


# Bounds of one draft update, far above any visit page (a few dozen fields of short text).
DRAFT_MAX_FIELDS = 200
DRAFT_MAX_KEY = 64
DRAFT_MAX_VALUE = 2000


def merge_draft(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, typed: object) -> dict:
    """Add the typed, unsaved form values ``typed`` ({field: text}) to the open visit's draft,
    the page's one home for them (autosave, refused values, the idle lock); returns the visit.

    Raises ``ValidationError`` naming the field that is not a short text, ``NotFound`` for an
    unknown visit and ``VisitClosed`` for a closed one.
    """
    if not isinstance(typed, dict):
        raise ValidationError("the draft must be an object {field: text}", fields=[{"field": "draft", "reason": "not an object"}])
    if len(typed) > DRAFT_MAX_FIELDS:
        raise ValidationError(f"the draft has {len(typed)} fields, at most {DRAFT_MAX_FIELDS}",
                              fields=[{"field": "draft", "reason": "too many fields"}])
    for key, value in typed.items():
        if len(key) > DRAFT_MAX_KEY or not isinstance(value, str) or len(value) > DRAFT_MAX_VALUE:
            raise ValidationError(f"draft field {key[:DRAFT_MAX_KEY]!r} must be a text of at most {DRAFT_MAX_VALUE} characters",
                                  fields=[{"field": key[:DRAFT_MAX_KEY], "reason": "not a short text"}])
    return keep_typed(db, actor, visit_id, typed)


def keep_typed(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, typed: dict) -> dict:
    """Merge ``typed`` into the open visit's draft (:func:`merged_draft`), reading and writing it
    under one lock, so that what another request kept meanwhile (the page's autosave) stays: the
    service's own values (a refused form's typed values), and :func:`merge_draft`'s once checked.
    Returns the visit; ``VisitClosed`` for a closed one."""
    with write_transaction(db):  # read and write under one lock: two saves at once both land
        visit = get_visit(db, visit_id)
        return keep_draft(db, actor, visit_id, merged_draft(visit["draft"], typed))


def forget_draft(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, prefix: str | tuple[str, ...]) -> None:
    """Drop the draft fields starting with ``prefix`` (or one of them: their form was saved); a no-op
    when there are none or the visit is closed (a closed visit's page shows no forms, hence no draft)."""
    with write_transaction(db):
        visit = get_visit(db, visit_id)
        draft = visit["draft"]
        if visit["status"] == "open" and any(key.startswith(prefix) for key in draft):
            keep_draft(db, actor, visit_id, {k: v for k, v in draft.items() if not k.startswith(prefix)})


def mark_symptoms_reviewed(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int) -> dict:
    """The nurse reviewed the patient's details and symptoms at this (open) visit; audited."""
    with write_transaction(db):
        require_open_visit(db, visit_id)
        db.execute("UPDATE visits SET symptoms_reviewed_at = ? WHERE id = ?", [utc_now(), visit_id])
        audit.record(db, actor, "review_symptoms", "visit", visit_id)
    return get_visit(db, visit_id)


def require_open_visit(db: sqlite_utils.Database, visit_id: int) -> dict:
    """The visit, while it is open: the one rule every write to a visit passes (a take, a breath reading, a
    lab panel or file, lung function, the draft, skipped steps, an edit, a result calculated).

    A completed or cancelled visit is the record of what was measured and what the nurse was told then:
    nothing is added to it, and its result is not calculated again (it would be stored, and its takes and
    readings scored, as of today under the visit's date). Nothing reopens a visit; more is a new visit's.

    Raises
    ------
    NotFound
        For an unknown visit.
    VisitClosed
        For a closed visit, naming its status (409 ``visit_closed``); nothing is stored.
    """
    visit = get_visit(db, visit_id)
    if visit["status"] != "open":
        raise VisitClosed(f"visit {visit_id} is {visit['status']}; nothing more can be added to it or calculated "
                          "for it: start a new visit of the patient for that")
    return visit


# The steps of a screening visit a nurse can mark as skipped (e.g. no e-nose board today).
VISIT_STEPS = ("auscultation", "breath", "labs", "lung_function", "symptoms")
PLAUSIBLE_PERCENT_PREDICTED = (10.0, 200.0)


def set_step_skipped(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, step: str, skipped: bool) -> dict:
    """Mark one checklist step of an open visit as skipped, or not skipped any more."""
    if step not in VISIT_STEPS:
        raise ValidationError(f"unknown visit step {step!r}", fields=[{"field": "step", "reason": f"one of {list(VISIT_STEPS)}"}])
    with write_transaction(db):
        visit = require_open_visit(db, visit_id)
        steps = [s for s in visit["skipped_steps"] if s != step] + ([step] if skipped else [])
        db["visits"].update(visit_id, {"skipped_steps": json.dumps(steps), "updated_at": utc_now()})
        audit.record(db, actor, "update", "visit", visit_id, {"changed": ["skipped_steps"]})
    return get_visit(db, visit_id)


#: A visit's lung function, as :func:`set_lung_function` stores it (the tablet's form, the API's assessment body).
LUNG_FUNCTION_FIELDS = ("fvc_percent", "dlco_percent", "dlco_not_performed")


def set_lung_function(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, *, fvc_percent: Optional[float],
                      dlco_percent: Optional[float], dlco_not_performed: bool) -> dict:
    """Record FVC and DLCO (% predicted) of an open visit; they feed the red flags and staging."""
    fields = []
    for name, value in (("fvc_percent", fvc_percent), ("dlco_percent", dlco_percent)):
        # Plausibility only (catches a typed litre value or a missing digit), not a clinical
        # threshold: programme assumption that no living adult measures outside 10-200 % predicted.
        if value is not None and not PLAUSIBLE_PERCENT_PREDICTED[0] <= value <= PLAUSIBLE_PERCENT_PREDICTED[1]:
            fields.append({"field": name, "reason": f"% predicted between 10 and 200, got {value:g}"})
    if dlco_not_performed and dlco_percent is not None:
        fields.append({"field": "dlco_percent", "reason": "conflicts with 'DLCO not performed'"})
    if fields:
        raise ValidationError("lung function values out of range", fields=fields)
    values = {"fvc_percent": fvc_percent, "dlco_percent": dlco_percent, "dlco_not_performed": dlco_not_performed}
    with write_transaction(db):
        require_open_visit(db, visit_id)
        db["visits"].update(visit_id, {"lung_function": json.dumps(values), "updated_at": utc_now()})
        audit.record(db, actor, "update", "visit", visit_id, {"changed": ["lung_function"]})
    return get_visit(db, visit_id)
