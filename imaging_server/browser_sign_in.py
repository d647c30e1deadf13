"""Browser sign-in for the hospital server's people: a password and a server-side session.

Two kinds of person sign in, each at its own door (:data:`DOORS`, one :class:`SignInDoor` each,
with its own tables): programme viewers at ``/programme`` (:mod:`imaging_server.programme_session`)
and readers, the radiologists, at ``/reader`` (:mod:`imaging_server.worklist`). The rules below
are the same at both doors (one policy, one code path); a session opens only its own door's pages.

Tokens stay for machines (``Authorization: Bearer``); a person signs in with their name and a
password set by the hospital's operator (``ildscreen imaging-server programme-viewers
set-password NAME``, ``... readers set-password NAME``). The browser's cookie then carries a random
session id, never a token; the store keeps only the id's SHA-256 and its expiry, so signing out (or
the expiry) ends it at once. An empty name or a password over ``MAX_PASSWORD_LENGTH`` characters is
refused (``ValidationError``) before anything is hashed, counted or audited.

Wrong passwords are limited as the clinic's logins are (:mod:`common.lockout`, the one policy):
``threshold`` wrong passwords in a row for one sign-in name lock that name for ``minutes``, during
which even the right password is refused (``TooManyAttempts``, HTTP 429). Failures are counted per
name as typed, known or not, so a lock never tells whether a viewer exists. Every attempt's outcome
is kept in the door's audit table, ``programme_sign_in_audit`` or ``reader_sign_in_audit`` (name,
time, outcome, client address; never the password).

"In a row" means each within ``minutes`` of the one before: a name's count lapses once no wrong
password has come for a lockout's length (as Windows' "reset account lockout counter after", which
may be at most the lockout's duration). Pacing guesses under the lock then allows ``threshold - 1`` per
``minutes``, fewer than the ``threshold`` per ``minutes`` the lock itself lets through, so the limit
is no weaker; and a lapsed name's row can go. Each wrong password sweeps up to ``SWEEP_BATCH``
such rows (expired lock, last failure older than the window), so names typed at random no longer
grow a door's failures table without bound: it holds at most the names that failed within
one window, a number the argon2 cost of every attempt bounds. No cap on top: evicting the oldest
rows under a flood would let a flood of random names reset a real name's count or lift its lock.

The audit keeps client addresses, personal data: an attempt is kept for
``sign_in_audit_retention_days`` (a setting, for both doors), then deleted by
:func:`forget_old_sign_ins` (every door), which the server runs at its start (everything due, whatever
piled up while it was off), and by :meth:`SignInDoor.forget_old_sign_ins` (that door) at the start of
every later sign-in attempt there (up to ``AUDIT_SWEEP_BATCH`` rows). Sign-in attempts are all
that grows the table, so sweeping there bounds it to about one retention period of them; an attempt
still has to go on time when nobody signs in for long, so ``serve``'s PACS watcher also sweeps hourly
(:class:`imaging_server.ingest.Watcher`), and under ``serve --no-watch``, where no background thread
runs, ``ildscreen imaging-server forget-sign-ins`` is for cron. Ended sessions go in the same sweeps
(they open nothing, and say when a person was signed in).
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.lockout import LockoutPolicy, is_locked, seconds_left
from common.passwords import check_password_length, stand_in_hash
from imaging_server.config import SIGN_IN_AUDIT_RETENTION_DAYS
from imaging_server.errors import AuthenticationError, NotFound, TooManyAttempts, ValidationError
from imaging_server.store import Database, hash_token, utc_now

logger = logging.getLogger(__name__)

# argon2id with the library's defaults (RFC 9106 low-memory profile), as the clinic's accounts.
password_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
SESSION_HOURS = 12  # a working day; then the person signs in again
DEFAULT_LOCKOUT = LockoutPolicy(threshold=5, minutes=15)
NAME_MAX = 200  # a sign-in name longer than any person's is kept (and counted) cut to this
# Lapsed rows removed per wrong password: more than the one row a failure can add, so the table
# shrinks back under the very traffic that grows it, while each request's extra work stays small.
SWEEP_BATCH = 50
# Audit rows (and ended sessions) deleted per sign-in attempt at most: far more than the one row an
# attempt adds, while the extra work of one request stays small even after a past flood of attempts.
AUDIT_SWEEP_BATCH = 1000


@dataclass(frozen=True)
class SignInDoor:
    """Where one kind of person signs in: ``kind`` (a :data:`imaging_server.store.TOKEN_HOLDERS`
    key) and the tables of its people (``holders``), their password hashes and sessions (each naming
    the person in ``holder_id``), its wrong-password counts (``failures``) and its ``audit``."""

    kind: str
    holders: str
    holder_id: str
    passwords: str
    sessions: str
    failures: str
    audit: str

    def set_password(self, db: Database, name: str, password: str) -> None:
        """Give the person ``name`` a browser password; their sessions end and a lockout of the name is lifted.

        Raises
        ------
        ValidationError
            The password is shorter than ``MIN_PASSWORD_LENGTH`` or longer than ``MAX_PASSWORD_LENGTH`` characters.
        NotFound
            Nobody of this door's kind has this name.
        """
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"the password has {len(password)} characters; at least {MIN_PASSWORD_LENGTH}")
        check_password_length(password, ValidationError)
        with db.write():
            holder = db.row(f"SELECT id FROM {self.holders} WHERE name = :name", {"name": name})
            if holder is None:
                raise NotFound(f"no {self.kind} named {name!r}")
            db.execute(f"DELETE FROM {self.passwords} WHERE {self.holder_id} = :id", {"id": holder["id"]})
            db.execute(f"INSERT INTO {self.passwords} ({self.holder_id}, password_hash, set_at) "
                       "VALUES (:id, :hash, :at)",
                       {"hash": password_hasher.hash(password), "id": holder["id"], "at": utc_now()})
            db.execute(f"DELETE FROM {self.sessions} WHERE {self.holder_id} = :id", {"id": holder["id"]})
            # A new password lifts a lockout of the name.
            db.execute(f"DELETE FROM {self.failures} WHERE name = :name", {"name": name})
        logger.info("%s %s: password set", self.kind, name)

    def sign_in(self, db: Database, name: str, password: str, *, hours: float = SESSION_HOURS,
                lockout: LockoutPolicy = DEFAULT_LOCKOUT, client: Optional[str] = None,
                audit_retention_days: int = SIGN_IN_AUDIT_RETENTION_DAYS, now: Optional[dt.datetime] = None) -> str:
        """Check the person's password and open a session; return its id (for the cookie). ``now``
        (an aware time; the clock when None) is when the attempt happens, for tests of the window.
        First, this door's audit entries older than ``audit_retention_days`` and ended sessions are
        swept (:meth:`forget_old_sign_ins`, one batch).

        Raises
        ------
        ValidationError
            An empty name or an overlong password: nothing is hashed, counted, audited or swept.
        TooManyAttempts
            This name is locked after ``lockout.threshold`` wrong passwords in a row (even the right
            password is refused until ``retry_after_s`` has passed).
        AuthenticationError
            Unknown name, no password set, or a wrong password (one message for all three).
        """
        name = name.strip()[:NAME_MAX]
        if not name:
            raise ValidationError("the name is empty", fields=[{"field": "name", "reason": "required"}])
        check_password_length(password, ValidationError)
        now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
        self.forget_old_sign_ins(db, retention_days=audit_retention_days, now=now, batch=AUDIT_SWEEP_BATCH)
        locked_until = db.scalar(f"SELECT locked_until FROM {self.failures} WHERE name = :name", {"name": name})
        holder = db.row(f"SELECT h.id, p.password_hash FROM {self.holders} h "
                        f"LEFT JOIN {self.passwords} p ON p.{self.holder_id} = h.id WHERE h.name = :name",
                        {"name": name})
        known = bool(holder and holder["password_hash"])
        stored = holder["password_hash"] if known else stand_in_hash(password_hasher)
        try:
            password_hasher.verify(stored, password)
            accepted = known
        except (VerificationError, InvalidHashError):
            accepted = False
        if is_locked(locked_until, now):  # checked after hashing, so a locked name answers in the same time
            with db.write():
                self._record(db, name, "refused_locked", client, now)
            raise _too_many(locked_until, now)
        if not accepted:
            self._sweep_lapsed_names(db, lockout, now)
            self._count_failure(db, name, lockout, client, now)
            raise AuthenticationError("wrong name or password")
        session_id = secrets.token_urlsafe(32)
        with db.write():
            # Re-read under the row's lock: a concurrent wrong password may have locked the name.
            locked_until = db.scalar(f"SELECT locked_until FROM {self.failures} WHERE name = :name"
                                     + db.for_update(), {"name": name})
            refused = is_locked(locked_until, now)
            if refused:
                self._record(db, name, "refused_locked", client, now)
            else:
                db.execute(f"DELETE FROM {self.failures} WHERE name = :name", {"name": name})
                db.execute(f"INSERT INTO {self.sessions} (id_hash, {self.holder_id}, created_at, expires_at) "
                           "VALUES (:id_hash, :holder_id, :created_at, :expires_at)",
                           {"id_hash": hash_token(session_id), "holder_id": holder["id"],
                            "created_at": utc_now(now), "expires_at": utc_now(now + dt.timedelta(hours=hours))})
                self._record(db, name, "signed_in", client, now)
        if refused:
            raise _too_many(locked_until, now)
        return session_id

    def _count_failure(self, db: Database, name: str, lockout: LockoutPolicy, client: Optional[str],
                       now: dt.datetime) -> None:
        """One more wrong password for ``name``, read and written under the row's lock, so concurrent
        wrong passwords each count and lock the name once; one that finds the name locked meanwhile
        is refused as locked (``TooManyAttempts``) and does not restart the count. A count whose last
        failure is older than the window starts again from this one."""
        with db.write():
            # An upsert that always returns the row, locked (PostgreSQL): a sweep deleting the row
            # between an insert and a later SELECT cannot leave this request without one.
            row = db.row(f"INSERT INTO {self.failures} (name, failures) VALUES (:name, 0) "
                         "ON CONFLICT (name) DO UPDATE SET name = excluded.name "
                         "RETURNING failures, locked_until, last_failure", {"name": name})
            refused = is_locked(row["locked_until"], now)
            if refused:
                self._record(db, name, "refused_locked", client, now)
                locked_until = None
            else:
                # No time (counted before the failures had one): kept, as that version counted it.
                lapsed = (row["last_failure"] is not None
                          and row["last_failure"] <= utc_now(_window_start(lockout, now)))
                failures, locked_until = lockout.after_failure(0 if lapsed else row["failures"], now)
                db.execute(f"UPDATE {self.failures} SET failures = :failures, locked_until = :locked_until, "
                           "last_failure = :now WHERE name = :name",
                           {"name": name, "failures": failures, "locked_until": locked_until, "now": utc_now(now)})
                self._record(db, name, "locked" if locked_until else "wrong_password", client, now)
        if refused:
            raise _too_many(row["locked_until"], now)
        if locked_until:
            logger.warning("%s sign-in name locked after %s wrong passwords", self.kind, lockout.threshold)

    def _sweep_lapsed_names(self, db: Database, lockout: LockoutPolicy, now: dt.datetime) -> None:
        """Delete up to ``SWEEP_BATCH`` names that no longer matter, oldest first: lock ended and last
        failure older than the window, so deleting them changes no answer. Rows from before failures
        had a time are stamped ``now`` instead (up to a batch), so they lapse one window from now and
        an upgrade loses no count or lock. Its own transaction, skipping rows that a concurrent sign-in
        holds (PostgreSQL), so a sweep never waits on or deadlocks with the requests it tidies after."""
        with db.write():
            skip_held = db.for_update(skip_locked=True)
            db.execute(f"UPDATE {self.failures} SET last_failure = :now WHERE name IN ("
                       f"SELECT name FROM {self.failures} WHERE last_failure IS NULL LIMIT :batch"
                       f"{skip_held})", {"now": utc_now(now), "batch": SWEEP_BATCH})
            swept = db.execute(f"DELETE FROM {self.failures} WHERE name IN ("
                               f"SELECT name FROM {self.failures} WHERE last_failure <= :window_start "
                               "AND (locked_until IS NULL OR locked_until <= :now) ORDER BY last_failure LIMIT :batch"
                               f"{skip_held})", {"window_start": utc_now(_window_start(lockout, now)),
                                                 "now": utc_now(now), "batch": SWEEP_BATCH}).rowcount
        if swept:
            logger.debug("swept %s lapsed %s sign-in names", swept, self.kind)

    def forget_old_sign_ins(self, db: Database, *, retention_days: int, now: Optional[dt.datetime] = None,
                            batch: Optional[int] = None) -> dict[str, int]:
        """Delete this door's sign-in audit entries older than ``retention_days`` and its sessions
        that have ended (``now``: an aware time, the clock when None), oldest first, up to ``batch``
        rows of each (None: all); return how many of each went. Touches no other table. Its own
        transaction, skipping rows a concurrent request holds (PostgreSQL), as the lapsed names' sweep.

        Raises
        ------
        ValidationError
            ``retention_days`` is below 1 (the setting's bound; 0 would erase the attempt being audited).
        """
        if retention_days < 1:
            raise ValidationError(f"sign_in_audit_retention_days must be at least 1, got {retention_days}")
        now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
        limit = "" if batch is None else f" LIMIT {int(batch)}"
        with db.write():
            skip_held = db.for_update(skip_locked=True)
            audit = db.execute(f"DELETE FROM {self.audit} WHERE id IN ("
                               f"SELECT id FROM {self.audit} WHERE at < :cutoff ORDER BY at"
                               f"{limit}{skip_held})",
                               {"cutoff": utc_now(now - dt.timedelta(days=retention_days))}).rowcount
            sessions = db.execute(f"DELETE FROM {self.sessions} WHERE id_hash IN ("
                                  f"SELECT id_hash FROM {self.sessions} WHERE expires_at <= :now ORDER BY expires_at"
                                  f"{limit}{skip_held})", {"now": utc_now(now)}).rowcount
        if audit or sessions:
            logger.info("removed %s %s sign-in audit entries older than %s days and %s ended sessions",
                        audit, self.kind, retention_days, sessions)
        return {"audit_entries": audit, "sessions": sessions}

    def _record(self, db: Database, name: str, outcome: str, client: Optional[str], now: dt.datetime) -> None:
        db.execute(f"INSERT INTO {self.audit} (at, name, outcome, client) VALUES (:at, :name, :outcome, :client)",
                   {"at": utc_now(now), "name": name, "outcome": outcome, "client": client})

    def session_holder(self, db: Database, session_id: Optional[str]) -> Optional[dict]:
        """The person of an unexpired session of this door, or None (a session of another door too)."""
        if not session_id:
            return None
        return db.row(f"SELECT h.* FROM {self.sessions} s JOIN {self.holders} h ON h.id = s.{self.holder_id} "
                      "WHERE s.id_hash = :hash AND s.expires_at > :now",
                      {"hash": hash_token(session_id), "now": utc_now()})

    def sign_out(self, db: Database, session_id: Optional[str]) -> None:
        """End the session at once (its cookie no longer opens anything)."""
        if session_id:
            with db.write():
                db.execute(f"DELETE FROM {self.sessions} WHERE id_hash = :hash", {"hash": hash_token(session_id)})


def _too_many(locked_until: str, now: dt.datetime) -> TooManyAttempts:
    return TooManyAttempts("too many wrong passwords for this name: try again later",
                           retry_after_s=seconds_left(locked_until, now))


def _window_start(lockout: LockoutPolicy, now: dt.datetime) -> dt.datetime:
    """Wrong passwords before this no longer count: a count lapses after a lockout's length of quiet."""
    return now - dt.timedelta(minutes=lockout.minutes)


# The doors, by the kind of person (an explicit table, as store.TOKEN_HOLDERS).
DOORS = {
    "programme viewer": SignInDoor(kind="programme viewer", holders="programme_viewers", holder_id="viewer_id",
                                   passwords="programme_viewer_passwords", sessions="programme_sessions",
                                   failures="programme_sign_in_failures", audit="programme_sign_in_audit"),
    "reader": SignInDoor(kind="reader", holders="readers", holder_id="reader_id", passwords="reader_passwords",
                         sessions="reader_sessions", failures="reader_sign_in_failures", audit="reader_sign_in_audit"),
}


def forget_old_sign_ins(db: Database, *, retention_days: int, now: Optional[dt.datetime] = None,
                        batch: Optional[int] = None) -> dict[str, int]:
    """:meth:`SignInDoor.forget_old_sign_ins` at every door; the counts added up."""
    removed = [door.forget_old_sign_ins(db, retention_days=retention_days, now=now, batch=batch)
               for door in DOORS.values()]
    return {key: sum(counts[key] for counts in removed) for key in ("audit_entries", "sessions")}
