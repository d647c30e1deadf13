"""Browser sign-in to the programme view: a programme viewer's password and a server-side session.

Tokens stay for machines (``Authorization: Bearer``); a person signs in with their viewer name
and a password set by the hospital's operator (``ildscreen imaging-server programme-viewers
set-password NAME``). The browser's cookie then carries a random session id, never a token; the
store keeps only the id's SHA-256 and its expiry, so signing out (or the expiry) ends it at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imaging_server.errors import AuthenticationError, NotFound, ValidationError
from imaging_server.store import Database, hash_token, utc_now

logger = logging.getLogger(__name__)

# argon2id with the library's defaults (RFC 9106 low-memory profile), as the clinic's accounts.
password_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
SESSION_HOURS = 12  # a working day; then the viewer signs in again
# Checked against when the name is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = password_hasher.hash("no such programme viewer")


def set_password(db: Database, name: str, password: str) -> None:
    """Give programme viewer ``name`` a browser password; their sessions end.

    Raises
    ------
    ValidationError
        The password is shorter than ``MIN_PASSWORD_LENGTH`` characters.
    NotFound
        No programme viewer has this name.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"the password has {len(password)} characters; at least {MIN_PASSWORD_LENGTH}")
    with db.write():
        viewer = db.row("SELECT id FROM programme_viewers WHERE name = :name", {"name": name})
        if viewer is None:
            raise NotFound(f"no programme viewer named {name!r}")
        db.execute("DELETE FROM programme_viewer_passwords WHERE viewer_id = :id", {"id": viewer["id"]})
        db.execute("INSERT INTO programme_viewer_passwords (viewer_id, password_hash, set_at) VALUES (:id, :hash, :at)",
                   {"hash": password_hasher.hash(password), "id": viewer["id"], "at": utc_now()})
        db.execute("DELETE FROM programme_sessions WHERE viewer_id = :id", {"id": viewer["id"]})
    logger.info("programme viewer %s: password set", name)


def sign_in(db: Database, name: str, password: str, *, hours: float = SESSION_HOURS) -> str:
    """Check the viewer's password and open a session; return its id (for the cookie).

    Raises
    ------
    AuthenticationError
        Unknown name, no password set, or a wrong password (one message for all three).
    """
    viewer = db.row("SELECT v.id, p.password_hash FROM programme_viewers v "
                    "LEFT JOIN programme_viewer_passwords p ON p.viewer_id = v.id WHERE v.name = :name",
                    {"name": name.strip()})
    stored = viewer["password_hash"] if viewer and viewer["password_hash"] else _DUMMY_HASH
    try:
        password_hasher.verify(stored, password)
        accepted = stored is not _DUMMY_HASH
    except (VerificationError, InvalidHashError):
        accepted = False
    if not accepted:
        raise AuthenticationError("wrong name or password")
    session_id = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.timezone.utc)
    with db.write():
        db.execute("DELETE FROM programme_sessions WHERE expires_at < :now", {"now": utc_now()})
        db.execute("INSERT INTO programme_sessions (id_hash, viewer_id, created_at, expires_at) "
                   "VALUES (:id_hash, :viewer_id, :created_at, :expires_at)",
                   {"id_hash": hash_token(session_id), "viewer_id": viewer["id"], "created_at": utc_now(),
                    "expires_at": (now + dt.timedelta(hours=hours)).isoformat(timespec="milliseconds")})
    return session_id


def session_viewer(db: Database, session_id: Optional[str]) -> Optional[dict]:
    """The programme viewer of an unexpired session, or None."""
    if not session_id:
        return None
    return db.row("SELECT v.* FROM programme_sessions s JOIN programme_viewers v ON v.id = s.viewer_id "
                  "WHERE s.id_hash = :hash AND s.expires_at > :now",
                  {"hash": hash_token(session_id), "now": utc_now()})


def sign_out(db: Database, session_id: Optional[str]) -> None:
    """End the session at once (its cookie no longer opens anything)."""
    if session_id:
        with db.write():
            db.execute("DELETE FROM programme_sessions WHERE id_hash = :hash", {"hash": hash_token(session_id)})
