"""The patient form's typed, unsaved values, kept with the browser session when the tablet locks.

The idle lock reloads the page, and a patient form (registration or edit) has no visit whose
draft could hold what the nurse typed. Its fields are kept on the server, in the session's row
(never in a URL or in the browser's storage), and given back once: the next time that same
form page is shown to the same session, or to the same nurse's next password login when the
lock ended a session without a PIN. Logging out, "Switch user" and another login on the tablet
end the session and drop them (:func:`edge.auth.end_session`); so do a password change or reset,
a disabled account and a role change (:func:`edge.users.end_sessions_and_tokens`). What an ended
session still holds is swept once it has expired (:func:`sweep_ended_sessions`). Nothing here is
logged.

The tablet's own offline queue of a visit's typed fields (static/app.js) is tagged with
:func:`tablet_draft_owner`, so it is only ever sent under the session that typed it, or under the
same nurse's next password login after her idle lock ended it (:func:`adoptable_tablet_draft_owners`).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Optional

import sqlite_utils

from edge.auth import hash_token
from edge.errors import ValidationError
from edge.store.database import utc_now, write_transaction

# The pages whose form is kept: registration and a patient's edit page (its query string, such
# as the visit it was opened from, travels as a hidden field).
PATIENT_FORM_PATH = re.compile(r"^/patients/(new|[0-9]{1,12}/edit)$")
# The patient form's fields (edge.web.views._patient_form_values) and its hidden fields: the visit,
# and the record version the edit form showed (the save after the lock is checked against it).
PATIENT_FORM_FIELDS = frozenset({"code", "birth_year", "sex", "ctd_diagnosis", "autoantibodies", "smoking",
                                 "pack_years", "symptoms", "medications", "visit", "version"})
# Bounds far above any real form (a few dozen ticks, short texts): a bigger draft is refused.
MAX_VALUES_PER_FIELD = 64
MAX_VALUE_LENGTH = 2000


def validated_patient_form(path: object, fields: object) -> dict:
    """``{"path", "fields"}`` ready to store, or ``ValidationError`` naming what is wrong.

    ``fields`` maps a field name to a list of strings (checkbox groups have several values).
    """
    if not isinstance(path, str) or not PATIENT_FORM_PATH.match(path):
        raise ValidationError(f"path {str(path)[:80]!r} is not a patient form page",
                              fields=[{"field": "path", "reason": "not a patient form page"}])
    if not isinstance(fields, dict):
        raise ValidationError("fields must be an object of lists", fields=[{"field": "fields", "reason": "not an object"}])
    kept = {}
    for name, values in fields.items():
        if name not in PATIENT_FORM_FIELDS:
            raise ValidationError(f"unknown patient form field {str(name)[:64]!r}",
                                  fields=[{"field": str(name)[:64], "reason": "unknown field"}])
        if (not isinstance(values, list) or len(values) > MAX_VALUES_PER_FIELD
                or not all(isinstance(v, str) and len(v) <= MAX_VALUE_LENGTH for v in values)):
            raise ValidationError(f"field {name!r} must be a short list of short texts",
                                  fields=[{"field": name, "reason": "not a list of texts"}])
        kept[name] = values
    return {"path": path, "fields": kept}


def keep_patient_form(db: sqlite_utils.Database, token: str, path: object, fields: object) -> None:
    """Keep the patient form typed on ``path`` with this session (replacing any kept before)."""
    draft = validated_patient_form(path, fields)
    with write_transaction(db):
        db.execute("UPDATE sessions SET form_draft = ? WHERE token_hash = ?",
                   [json.dumps({**draft, "kept_at": utc_now()}), hash_token(token)])


def take_patient_form(db: sqlite_utils.Database, token: str, path: str) -> Optional[dict[str, list[str]]]:
    """The fields kept for the form on ``path``, removed from the session (shown once), or None.

    A draft kept for another page stays: the nurse may open a patient's timeline first.
    """
    with write_transaction(db):
        row = db.execute("SELECT form_draft FROM sessions WHERE token_hash = ?", [hash_token(token)]).fetchone()
        if not row or not row[0]:
            return None
        draft = json.loads(row[0])
        if draft.get("path") != path:
            return None
        db.execute("UPDATE sessions SET form_draft = NULL WHERE token_hash = ?", [hash_token(token)])
    return draft["fields"]


def forget_patient_form(db: sqlite_utils.Database, token: str) -> None:
    """The patient form was saved: nothing typed into it is waiting any more."""
    with write_transaction(db):
        db.execute("UPDATE sessions SET form_draft = NULL WHERE token_hash = ? AND form_draft IS NOT NULL",
                   [hash_token(token)])


def adopt_after_login(db: sqlite_utils.Database, user_id: int, token: str) -> None:
    """Move to the new session ``token`` what the nurse's last ended session kept (the idle lock
    ended it, she had no PIN, or too many wrong PINs ended it) while that session would still have
    been valid; every older draft of hers is dropped."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with write_transaction(db):
        row = db.execute("SELECT form_draft FROM sessions WHERE user_id = ? AND revoked = 1 AND form_draft IS NOT NULL "
                         "AND expires_at > ? ORDER BY created_at DESC, rowid DESC LIMIT 1", [user_id, now]).fetchone()
        db.execute("UPDATE sessions SET form_draft = NULL WHERE user_id = ? AND revoked = 1 AND form_draft IS NOT NULL",
                   [user_id])
        if row:
            db.execute("UPDATE sessions SET form_draft = ? WHERE token_hash = ?", [row[0], hash_token(token)])


def tablet_draft_owner(session: dict) -> str:
    """The opaque value the tablet's offline draft queue is tagged with for this browser session.

    Derived from the session's stored token hash: the same for the whole session (so a PIN unlock
    keeps it), different for every other session, naming no person and useless for logging in.
    """
    return hash_token(f"tablet-draft-owner:{session['token_hash']}")[:24]


def adoptable_tablet_draft_owners(db: sqlite_utils.Database, user_id: int) -> list[str]:
    """The :func:`tablet_draft_owner` values of the nurse's ended sessions that would still be valid.

    The tablet keeps its offline draft queue past the idle lock of a nurse without a PIN (that lock
    ends her session; the login page it opens leaves the queue alone), and her next password login
    takes it over, as :func:`adopt_after_login` does for the patient form, in the same window: the
    pages of her new session name these owners, and static/app.js re-tags their drafts as hers.
    Another nurse's pages never name them, so her first page drops them unsent.
    """
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rows = db.execute("SELECT token_hash FROM sessions WHERE user_id = ? AND revoked = 1 AND expires_at > ? "
                      "ORDER BY created_at", [user_id, now]).fetchall()
    return [tablet_draft_owner({"token_hash": row[0]}) for row in rows]


def sweep_ended_sessions(db: sqlite_utils.Database) -> int:
    """Drop the typed values that ended sessions still hold; returns how many sessions were cleared.

    A session past its ``expires_at`` loses its kept patient form and its last patient search. A
    revoked session loses its search at once (only its own pages read it) but keeps its form until
    it expires: that is the idle lock's keep for its nurse's next password login
    (:func:`adopt_after_login` honours the same window). A locked session keeps both until it
    expires, for her PIN. Run at every login (tablet and API), when the service starts, and before
    each scheduled backup (edge.backup_worker: the only periodic worker every clinic runs; none runs
    when ``backup_interval_hours`` is 0).
    """
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with write_transaction(db):
        cleared = db.execute("UPDATE sessions SET form_draft = NULL, last_search = NULL WHERE expires_at <= ? "
                             "AND (form_draft IS NOT NULL OR last_search IS NOT NULL)", [now]).rowcount
        cleared += db.execute("UPDATE sessions SET last_search = NULL WHERE revoked = 1 AND last_search IS NOT NULL"
                              ).rowcount
    return cleared
