"""A clinician's record that ILD monitoring ended at this clinic, and its undoing (resuming monitoring).

Once ILD is confirmed the patient is on the monitoring pathway (:mod:`edge.fusion.monitoring`). A clinician
records when and why that ended here (``edge.vocabulary.MONITORING_END_REASONS``: care transferred to a
hospital ILD clinic, an MDT ruled ILD out, the patient died or declined, or another reason with a short
note); new assessments of a visit dated on or after the end then follow :data:`edge.fusion.monitoring.ENDED`
(:func:`end_in_force`: an end dated after a visit does not apply to it), and the tablet shows the plan as
ended instead of PFT intervals and due dates. Every end and every resumption is audited (who, when, what);
a row is never deleted, so the history stays. At most one end is in force per patient.

Repeated requests answer as a referral's withdrawal does (``edge.outbox.withdraw_referral``): ending
monitoring that an end already ended, or resuming an end already resumed, changes nothing (no second audit
entry, the request's values are not stored) and says so (``already``).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple, Optional

import sqlite_utils

from edge import audit
from edge.errors import Conflict, NotFound, ValidationError
from edge.outcomes import confirmed_ild
from edge.patients import get_patient
from edge.store.database import utc_now, write_transaction
from edge.vocabulary import MONITORING_END_NOTE_MAX, MONITORING_END_REASONS, calendar_date

# A note is plain text on one line: no control characters (a line break, a tab, an escape sequence).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Ending(NamedTuple):
    """What ending monitoring found: the end in force (:func:`get_end`) and whether an earlier request
    had already ended monitoring (``already``: then nothing was changed)."""

    end: dict
    already: bool


class Resumption(NamedTuple):
    """What resuming found: the end as now stored and whether an earlier request had already resumed it."""

    end: dict
    already: bool


def _field_error(field: str, reason: str) -> ValidationError:
    return ValidationError(f"invalid end of monitoring: {field}: {reason}", fields=[{"field": field, "reason": reason}])


def checked_note(reason: str, note: Optional[str]) -> str:
    """The note stripped, checked: at most ``MONITORING_END_NOTE_MAX`` characters, no control character,
    and required when the reason is "other". Raises ``ValidationError`` naming ``note``."""
    note = (note or "").strip()
    if CONTROL_CHARACTER.search(note):
        raise _field_error("note", "contains a control character (a line break, a tab); write it on one line")
    if len(note) > MONITORING_END_NOTE_MAX:
        raise _field_error("note", f"is {len(note)} characters; at most {MONITORING_END_NOTE_MAX}")
    if reason == "other" and not note:
        raise _field_error("note", "is required when the reason is 'other': say why monitoring ended")
    return note


def _row(row: dict) -> dict:
    return {key: row[key] for key in ("id", "patient_id", "ended_on", "reason", "note", "created_at", "resumed_at")}


def get_end(db: sqlite_utils.Database, end_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM monitoring_ends WHERE id = ?", [end_id])
    if not rows:
        raise NotFound(f"no end of monitoring with id {end_id}")
    return _row(rows[0])


def list_ends(db: sqlite_utils.Database, patient_id: int) -> list[dict]:
    """Every end of monitoring recorded for the patient, oldest first (resumed ones too)."""
    get_patient(db, patient_id)
    return [_row(row) for row in db.execute_returning_dicts(
        "SELECT * FROM monitoring_ends WHERE patient_id = ? ORDER BY id", [patient_id])]


def end_in_force(db: sqlite_utils.Database, patient_id: int, *, on: Optional[str] = None) -> Optional[dict]:
    """The patient's end of monitoring not resumed, as an assessment reads it (``{"date", "reason",
    "note", "id"}``), or None.

    ``on``: a visit's date (ISO; a timestamp is read by its date): only an end dated on or before it,
    the one that visit's assessment follows. A visit's advice is the patient's state as of its date,
    so an end dated after the visit does not apply to it (docs/evidence.md, section 7a). None: the end
    in force today, whatever its date (the patient's page)."""
    rows = db.execute_returning_dicts(
        "SELECT * FROM monitoring_ends WHERE patient_id = ? AND resumed_at IS NULL", [patient_id])
    if not rows or (on is not None and rows[0]["ended_on"] > on[:10]):
        return None
    return {"id": rows[0]["id"], "date": rows[0]["ended_on"], "reason": rows[0]["reason"], "note": rows[0]["note"]}


def end_monitoring(db: sqlite_utils.Database, actor: audit.Actor, patient_id: int, *, ended_on: str, reason: str,
                   note: Optional[str] = None, today: Optional[dt.date] = None) -> Ending:
    """Record that monitoring of the patient's confirmed ILD ended on ``ended_on`` (ISO date) for ``reason``
    (``MONITORING_END_REASONS``; ``note`` required for "other"); audited.

    Raises
    ------
    ValidationError
        Naming ``date`` (not a date, in the future, before ILD was confirmed), ``reason`` or ``note``.
    NotFound
        When there is no such patient.
    Conflict
        When the patient has no confirmed ILD on record (not on the monitoring pathway).
    """
    if reason not in MONITORING_END_REASONS:
        raise _field_error("reason", f"unknown value {reason!r}; expected one of {list(MONITORING_END_REASONS)}")
    note = checked_note(reason, note)
    try:
        day = calendar_date(ended_on)
    except ValueError as exc:
        raise _field_error("date", str(exc)) from None
    if day > (today or dt.date.today()):
        raise _field_error("date", f"is in the future ({ended_on})")
    with write_transaction(db):  # decided under the write lock: two ends at once record one
        get_patient(db, patient_id)
        in_force = end_in_force(db, patient_id)
        if in_force is not None:
            return Ending(get_end(db, in_force["id"]), already=True)
        confirmed = confirmed_ild(db, patient_id)
        if confirmed is None:
            raise Conflict(f"patient {patient_id} has no confirmed ILD on record: there is no monitoring to end")
        if day.isoformat() < confirmed["date"][:10]:
            raise _field_error("date", f"is before ILD was confirmed ({confirmed['date'][:10]})")
        end_id = db["monitoring_ends"].insert({
            "patient_id": patient_id, "ended_on": day.isoformat(), "reason": reason, "note": note,
            "created_at": utc_now(), "created_by": actor.user_id}).last_pk
        # The note is not copied into the trail: free text may name someone; the row keeps it.
        audit.record(db, actor, "end_monitoring", "monitoring_end", end_id,
                     {"patient_id": patient_id, "ended_on": day.isoformat(), "reason": reason})
    return Ending(get_end(db, end_id), already=False)


def resume_monitoring(db: sqlite_utils.Database, actor: audit.Actor, end_id: int) -> Resumption:
    """Undo the end ``end_id``: monitoring resumes (audited). Resuming it again changes nothing.

    Raises ``NotFound`` when there is no such end.
    """
    with write_transaction(db):
        end = get_end(db, end_id)
        if end["resumed_at"] is not None:
            return Resumption(end, already=True)
        db.execute("UPDATE monitoring_ends SET resumed_at = ?, resumed_by = ? WHERE id = ?",
                   [utc_now(), actor.user_id, end_id])
        audit.record(db, actor, "resume_monitoring", "monitoring_end", end_id, {"patient_id": end["patient_id"]})
    return Resumption(get_end(db, end_id), already=False)
