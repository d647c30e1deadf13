"""Browser sign-in to the programme view: a programme viewer's password and a server-side session.

Tokens stay for machines (``Authorization: Bearer``); a person signs in with their viewer name
and a password set by the hospital's operator (``ildscreen imaging-server programme-viewers
set-password NAME``). The browser's cookie then carries a random session id, never a token; the
store keeps only the id's SHA-256 and its expiry, so signing out (or the expiry) ends it at once.

Wrong passwords are limited as the clinic's logins are (:mod:`common.lockout`, the one policy):
``threshold`` wrong passwords in a row for one sign-in name lock that name for ``minutes``, during
which even the right password is refused (``TooManyAttempts``, HTTP 429). Failures are counted per
name as typed, known or not, so a lock never tells whether a viewer exists. Every attempt's outcome
is kept in ``programme_sign_in_audit`` (name, time, outcome, client address; never the password).

"In a row" means each within ``minutes`` of the one before: a name's count lapses once no wrong
password has come for a lockout's length (as Windows' "reset account lockout counter after", which
may be at most the lockout's duration). Pacing guesses under the lock then allows ``threshold - 1`` per
``minutes``, fewer than the ``threshold`` per ``minutes`` the lock itself lets through, so the limit
is no weaker; and a lapsed name's row can go. Each wrong password sweeps up to ``SWEEP_BATCH``
such rows (expired lock, last failure older than the window), so names typed at random no longer
grow ``programme_sign_in_failures`` without bound: it holds at most the names that failed within
one window, a number the argon2 cost of every attempt bounds. No cap on top: evicting the oldest
rows under a flood would let a flood of random names reset a real name's count or lift its lock.

The audit keeps client addresses, personal data: an attempt is kept for
``programme_sign_in_audit_retention_days`` (a setting), then deleted by :func:`forget_old_sign_ins`,
which the server runs at its start (everything due, whatever piled up while it was off) and at the
start of every later sign-in attempt (up to ``AUDIT_SWEEP_BATCH`` rows). Sign-in attempts are all
that grows the table, so sweeping there bounds it to about one retention period of them; an attempt
still has to go on time when nobody signs in for long, so ``serve``'s PACS watcher also sweeps hourly
(:class:`imaging_server.ingest.Watcher`), and under ``serve --no-watch``, where no background thread
runs, ``ildscreen imaging-server forget-sign-ins`` is for cron. Ended sessions go in the same sweeps
(they open nothing, and say when a viewer was signed in).
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.lockout import LockoutPolicy, is_locked, seconds_left
from common.passwords import stand_in_hash
from imaging_server.config import SIGN_IN_AUDIT_RETENTION_DAYS
from imaging_server.errors import AuthenticationError, NotFound, TooManyAttempts, ValidationError
from imaging_server.store import Database, hash_token, utc_now

logger = logging.getLogger(__name__)

# argon2id with the library's defaults (RFC 9106 low-memory profile), as the clinic's accounts.
password_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
SESSION_HOURS = 12  # a working day; then the viewer signs in again
DEFAULT_LOCKOUT = LockoutPolicy(threshold=5, minutes=15)
NAME_MAX = 200  # a sign-in name longer than any viewer's is kept (and counted) cut to this
# Lapsed rows removed per wrong password: more than the one row a failure can add, so the table
# shrinks back under the very traffic that grows it, while each request's extra work stays small.
SWEEP_BATCH = 50
# Audit rows (and ended sessions) deleted per sign-in attempt at most: far more than the one row an
# attempt adds, while the extra work of one request stays small even after a past flood of attempts.
AUDIT_SWEEP_BATCH = 1000


def set_password(db: Database, name: str, password: str) -> None:
    """Give programme viewer ``name`` a browser password; their sessions end and a lockout of the name is lifted.

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
        # A new password lifts a lockout of the name.
        db.execute("DELETE FROM programme_sign_in_failures WHERE name = :name", {"name": name})
    logger.info("programme viewer %s: password set", name)


def sign_in(db: Database, name: str, password: str, *, hours: float = SESSION_HOURS,
            lockout: LockoutPolicy = DEFAULT_LOCKOUT, client: Optional[str] = None,
            audit_retention_days: int = SIGN_IN_AUDIT_RETENTION_DAYS, now: Optional[dt.datetime] = None) -> str:
    """Check the viewer's password and open a session; return its id (for the cookie). ``now``
    (an aware time; the clock when None) is when the attempt happens, for tests of the window.
    First, audit entries older than ``audit_retention_days`` and ended sessions are swept
    (:func:`forget_old_sign_ins`, one batch).

    Raises
    ------
    TooManyAttempts
        This name is locked after ``lockout.threshold`` wrong passwords in a row (even the right
        password is refused until ``retry_after_s`` has passed).
    AuthenticationError
        Unknown name, no password set, or a wrong password (one message for all three).
    """
    name = name.strip()[:NAME_MAX]
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    forget_old_sign_ins(db, retention_days=audit_retention_days, now=now, batch=AUDIT_SWEEP_BATCH)
    locked_until = db.scalar("SELECT locked_until FROM programme_sign_in_failures WHERE name = :name", {"name": name})
    viewer = db.row("SELECT v.id, p.password_hash FROM programme_viewers v "
                    "LEFT JOIN programme_viewer_passwords p ON p.viewer_id = v.id WHERE v.name = :name",
                    {"name": name})
    known = bool(viewer and viewer["password_hash"])
    stored = viewer["password_hash"] if known else stand_in_hash(password_hasher)
    try:
        password_hasher.verify(stored, password)
        accepted = known
    except (VerificationError, InvalidHashError):
        accepted = False
    if is_locked(locked_until, now):  # checked after hashing, so a locked name answers in the same time
        _audit(db, name, "refused_locked", client, now)
        raise _too_many(locked_until, now)
    if not accepted:
        _sweep_lapsed_names(db, lockout, now)
        _count_failure(db, name, lockout, client, now)
        raise AuthenticationError("wrong name or password")
    session_id = secrets.token_urlsafe(32)
    with db.write():
        # Re-read under the row's lock: a concurrent wrong password may have locked the name.
        locked_until = db.scalar("SELECT locked_until FROM programme_sign_in_failures WHERE name = :name"
                                 + db.for_update(), {"name": name})
        refused = is_locked(locked_until, now)
        if refused:
            _record(db, name, "refused_locked", client, now)
        else:
            db.execute("DELETE FROM programme_sign_in_failures WHERE name = :name", {"name": name})
            db.execute("INSERT INTO programme_sessions (id_hash, viewer_id, created_at, expires_at) "
                       "VALUES (:id_hash, :viewer_id, :created_at, :expires_at)",
                       {"id_hash": hash_token(session_id), "viewer_id": viewer["id"], "created_at": utc_now(now),
                        "expires_at": utc_now(now + dt.timedelta(hours=hours))})
            _record(db, name, "signed_in", client, now)
    if refused:
        raise _too_many(locked_until, now)
    return session_id


def _too_many(locked_until: str, now: dt.datetime) -> TooManyAttempts:
    return TooManyAttempts("too many wrong passwords for this name: try again later",
                           retry_after_s=seconds_left(locked_until, now))


def _window_start(lockout: LockoutPolicy, now: dt.datetime) -> dt.datetime:
    """Wrong passwords before this no longer count: a count lapses after a lockout's length of quiet."""
    return now - dt.timedelta(minutes=lockout.minutes)


def _count_failure(db: Database, name: str, lockout: LockoutPolicy, client: Optional[str],
                   now: dt.datetime) -> None:
    """One more wrong password for ``name``, read and written under the row's lock, so concurrent
    wrong passwords each count and lock the name once; one that finds the name locked meanwhile
    is refused as locked (``TooManyAttempts``) and does not restart the count. A count whose last
    failure is older than the window starts again from this one."""
    with db.write():
        # An upsert that always returns the row, locked (PostgreSQL): a sweep deleting the row
        # between an insert and a later SELECT cannot leave this request without one.
        row = db.row("INSERT INTO programme_sign_in_failures (name, failures) VALUES (:name, 0) "
                     "ON CONFLICT (name) DO UPDATE SET name = excluded.name "
                     "RETURNING failures, locked_until, last_failure", {"name": name})
        refused = is_locked(row["locked_until"], now)
        if refused:
            _record(db, name, "refused_locked", client, now)
            locked_until = None
        else:
            # No time (counted before the failures had one): kept, as that version counted it.
            lapsed = row["last_failure"] is not None and row["last_failure"] <= utc_now(_window_start(lockout, now))
            failures, locked_until = lockout.after_failure(0 if lapsed else row["failures"], now)
            db.execute("UPDATE programme_sign_in_failures SET failures = :failures, locked_until = :locked_until, "
                       "last_failure = :now WHERE name = :name",
                       {"name": name, "failures": failures, "locked_until": locked_until, "now": utc_now(now)})
            _record(db, name, "locked" if locked_until else "wrong_password", client, now)
    if refused:
        raise _too_many(row["locked_until"], now)
    if locked_until:
        logger.warning("programme sign-in name locked after %s wrong passwords", lockout.threshold)


def _sweep_lapsed_names(db: Database, lockout: LockoutPolicy, now: dt.datetime) -> None:
    """Delete up to ``SWEEP_BATCH`` names that no longer matter, oldest first: lock ended and last
    failure older than the window, so deleting them changes no answer. Rows from before failures
    had a time are stamped ``now`` instead (up to a batch), so they lapse one window from now and
    an upgrade loses no count or lock. Its own transaction, skipping rows that a concurrent sign-in
    holds (PostgreSQL), so a sweep never waits on or deadlocks with the requests it tidies after."""
    with db.write():
        skip_held = db.for_update(skip_locked=True)
        db.execute("UPDATE programme_sign_in_failures SET last_failure = :now WHERE name IN ("
                   "SELECT name FROM programme_sign_in_failures WHERE last_failure IS NULL LIMIT :batch"
                   f"{skip_held})", {"now": utc_now(now), "batch": SWEEP_BATCH})
        swept = db.execute("DELETE FROM programme_sign_in_failures WHERE name IN ("
                           "SELECT name FROM programme_sign_in_failures WHERE last_failure <= :window_start "
                           "AND (locked_until IS NULL OR locked_until <= :now) ORDER BY last_failure LIMIT :batch"
                           f"{skip_held})", {"window_start": utc_now(_window_start(lockout, now)),
                                             "now": utc_now(now), "batch": SWEEP_BATCH}).rowcount
    if swept:
        logger.debug("swept %s lapsed programme sign-in names", swept)


def forget_old_sign_ins(db: Database, *, retention_days: int, now: Optional[dt.datetime] = None,
                        batch: Optional[int] = None) -> dict[str, int]:
    """Delete sign-in audit entries older than ``retention_days`` and sessions that have ended
    (``now``: an aware time, the clock when None), oldest first, up to ``batch`` rows of each
    (None: all); return how many of each went. Touches no other table. Its own transaction,
    skipping rows a concurrent request holds (PostgreSQL), as :func:`_sweep_lapsed_names`.

    Raises
    ------
    ValidationError
        ``retention_days`` is below 1 (the setting's bound; 0 would erase the attempt being audited).
    """
    if retention_days < 1:
        raise ValidationError(f"programme_sign_in_audit_retention_days must be at least 1, got {retention_days}")
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    limit = "" if batch is None else f" LIMIT {int(batch)}"
    with db.write():
        skip_held = db.for_update(skip_locked=True)
        audit = db.execute("DELETE FROM programme_sign_in_audit WHERE id IN ("
                           "SELECT id FROM programme_sign_in_audit WHERE at < :cutoff ORDER BY at"
                           f"{limit}{skip_held})",
                           {"cutoff": utc_now(now - dt.timedelta(days=retention_days))}).rowcount
        sessions = db.execute("DELETE FROM programme_sessions WHERE id_hash IN ("
                              "SELECT id_hash FROM programme_sessions WHERE expires_at <= :now ORDER BY expires_at"
                              f"{limit}{skip_held})", {"now": utc_now(now)}).rowcount
    if audit or sessions:
        logger.info("removed %s programme sign-in audit entries older than %s days and %s ended sessions",
                    audit, retention_days, sessions)
    return {"audit_entries": audit, "sessions": sessions}


def _audit(db: Database, name: str, outcome: str, client: Optional[str], now: dt.datetime) -> None:
    with db.write():
        _record(db, name, outcome, client, now)


def _record(db: Database, name: str, outcome: str, client: Optional[str], now: dt.datetime) -> None:
    db.execute("INSERT INTO programme_sign_in_audit (at, name, outcome, client) VALUES (:at, :name, :outcome, :client)",
               {"at": utc_now(now), "name": name, "outcome": outcome, "client": client})


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
