"""Logging in: password checks with lockout, browser sessions with CSRF tokens, bearer tokens.

Browser sessions are server-side: the cookie holds a random token, the database holds its
SHA-256, so a copied database cannot be used to log in. State-changing requests made with a
session cookie must carry the session's CSRF token in the ``X-CSRF-Token`` header; requests
with a bearer token (machine clients) are not exposed to CSRF and need none.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import NamedTuple, Optional

import sqlite_utils
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.lockout import LockoutPolicy
from common.passwords import check_password_length, stand_in_hash
from edge import audit
from edge.errors import (AuthenticationError, CsrfError, NotFound, PasswordTooLong, PermissionDenied, SessionLocked,
                         WrongPin)
from edge.store.database import utc_now, write_transaction
from edge.users import (PIN_LENGTHS, find_user, get_user, is_locked, normalize_password, normalize_pin,
                        password_hasher)

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "ild_"
WRONG_CREDENTIALS = "wrong username or password"


@dataclass(frozen=True)
class SessionGrant:
    token: str
    csrf_token: str
    expires_at: str
    user: dict


def hash_token(token: str) -> str:
    """What the database keeps of a session or API token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def verify_login(
    db: sqlite_utils.Database, username: str, password: str, policy: LockoutPolicy
) -> dict:
    """Check a username and password, counting failures and locking the account at the threshold.

    Raises
    ------
    AuthenticationError
        Wrong username or password, a disabled account, or a locked one (until the lock
        expires even the right password is refused): the same status, message and hashing
        work in every case, so an answer never tells whether an account exists or is locked.
        (A locked account is told apart nowhere, hence no 423 "account locked" on any door.)
    PasswordTooLong
        The password is over ``MAX_PASSWORD_LENGTH`` characters: refused before the name is looked
        up or anything hashed or counted, so this answer, too, is the same for every name.
    """
    check_password_length(password, PasswordTooLong)
    password = normalize_password(password)
    user = find_user(db, username)
    if user is None:
        _verify(stand_in_hash(password_hasher), password)
        raise AuthenticationError(WRONG_CREDENTIALS)
    if is_locked(user):
        _verify(user["password_hash"], password)
        raise AuthenticationError(WRONG_CREDENTIALS)
    if not _verify(user["password_hash"], password) or user["disabled"]:
        _count_failure(db, user, policy)
        raise AuthenticationError(WRONG_CREDENTIALS)
    with write_transaction(db):
        db["users"].update(user["id"], {"failed_logins": 0, "locked_until": None, "last_login_at": utc_now()})
    return get_user(db, user["id"])


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _count_failure(db: sqlite_utils.Database, user: dict, policy: LockoutPolicy) -> None:
    with write_transaction(db):
        before = db.execute("SELECT failed_logins FROM users WHERE id = ?", [user["id"]]).fetchone()[0]
        failures, locked_until = policy.after_failure(before)
        changes: dict = {"failed_logins": failures}
        if locked_until:
            changes["locked_until"] = locked_until
            audit.record(db, audit.Actor(user["id"], user["username"], user["role"]), "lock", "user", user["id"])
            logger.warning("user id %s locked after %s failed logins", user["id"], before + 1)
        db["users"].update(user["id"], changes)


def start_session(db: sqlite_utils.Database, user: dict, *, hours: float) -> SessionGrant:
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = (_now() + dt.timedelta(hours=hours)).isoformat(timespec="seconds")
    with write_transaction(db):
        db["sessions"].insert(
            {
                "token_hash": hash_token(token),
                "user_id": user["id"],
                "csrf_token": csrf_token,
                "created_at": utc_now(),
                "expires_at": expires_at,
                "revoked": 0,
            }
        )
        audit.record(db, audit.Actor(user["id"], user["username"], user["role"]), "login", "session")
    return SessionGrant(token, csrf_token, expires_at, user)


def end_session(db: sqlite_utils.Database, token: str, *, keep_form_draft: bool = False) -> None:
    """End a browser session. Its last patient search goes with it, and so does what the patient
    form held when the tablet locked (:mod:`edge.form_drafts`), unless ``keep_form_draft``: the idle
    lock of a nurse without a PIN ends her session, and her next password login takes the typed
    values back (until the session would have expired: :func:`edge.form_drafts.sweep_ended_sessions`)."""
    with write_transaction(db):
        db.execute("UPDATE sessions SET revoked = 1, last_search = NULL, "
                   "form_draft = CASE WHEN ? THEN form_draft END WHERE token_hash = ?",
                   [keep_form_draft, hash_token(token)])


def session_user(db: sqlite_utils.Database, token: str, *, allow_locked: bool = False) -> tuple[dict, dict]:
    """The (user, session) a session cookie belongs to, or ``AuthenticationError``.

    A session locked on the tablet (:func:`lock_session`) raises ``SessionLocked`` unless
    ``allow_locked`` (the lock page itself, which shows whose session it is and nothing else).
    """
    rows = db.execute_returning_dicts(
        "SELECT * FROM sessions WHERE token_hash = ? AND revoked = 0", [hash_token(token)]
    )
    if not rows or dt.datetime.fromisoformat(rows[0]["expires_at"]) <= _now():
        raise AuthenticationError("session expired or unknown; log in again")
    user = get_user(db, rows[0]["user_id"])
    if user["disabled"]:
        raise AuthenticationError("account disabled")
    if rows[0]["locked_at"] and not allow_locked:
        raise SessionLocked("this session is locked on the tablet: unlock it there with the PIN")
    return user, rows[0]


def lock_session(db: sqlite_utils.Database, token: str) -> None:
    """Lock a browser session (the tablet was idle): every page and API call with its cookie is
    refused until its own user's PIN unlocks it (:func:`unlock_session`)."""
    user, _ = session_user(db, token, allow_locked=True)
    with write_transaction(db):
        db.execute("UPDATE sessions SET locked_at = ?, failed_pins = 0 WHERE token_hash = ? AND locked_at IS NULL",
                   [utc_now(), hash_token(token)])
        audit.record(db, audit.Actor(user["id"], user["username"], user["role"]), "lock", "session")


def unlock_session(db: sqlite_utils.Database, token: str, pin: str, *, max_attempts: int) -> dict:
    """Unlock a locked session with its user's PIN; returns the user.

    A PIN only ever reopens a session that exists and is locked on this browser: it never logs
    anyone in. Each wrong PIN is audited (never the PIN itself); the ``max_attempts``-th ends the
    session, so the full password login is needed. The PIN is tried as it is set
    (:func:`edge.users.normalize_pin`: surrounding whitespace dropped). A PIN of a length no PIN can have
    (:data:`edge.users.PIN_LENGTHS`: megabytes posted to the lock screen) is wrong without being
    hashed, and counted and answered as any wrong PIN.

    Raises
    ------
    WrongPin
        The PIN is wrong (or the account has none); ``attempts_left`` > 0.
    AuthenticationError
        The session is unknown or ended, or this wrong PIN was the last allowed one.
    """
    user, session = session_user(db, token, allow_locked=True)
    actor = audit.Actor(user["id"], user["username"], user["role"])
    if not session["locked_at"]:
        return user
    pin = normalize_pin(pin)
    # argon2 hashes all of what it is given: a PIN of a length no PIN has is wrong before it is hashed.
    right = (len(pin) in PIN_LENGTHS and _verify(user["pin_hash"] or stand_in_hash(password_hasher), pin)
             and bool(user["pin_hash"]))
    with write_transaction(db):
        # Re-read under the write lock: PINs verified concurrently (31 at once) are counted one
        # after the other, and none counts or unlocks once the session has ended.
        row = db.execute("SELECT revoked, locked_at, failed_pins FROM sessions WHERE token_hash = ?",
                         [hash_token(token)]).fetchone()
        if row is None or row[0] or row[2] >= max_attempts:
            raise AuthenticationError("the session ended; log in with the password")
        if not row[1]:
            return user  # unlocked meanwhile (by this user's right PIN on another request)
        if right:
            db.execute("UPDATE sessions SET locked_at = NULL, failed_pins = 0 WHERE token_hash = ?", [hash_token(token)])
            audit.record(db, actor, "unlock", "session")
            return user
        failures = row[2] + 1
        if failures >= max_attempts:
            db.execute("UPDATE sessions SET revoked = 1, failed_pins = ? WHERE token_hash = ?",
                       [failures, hash_token(token)])
            audit.record(db, actor, "pin_lockout", "session", None, {"failed_pins": failures})
            logger.warning("user id %s: locked session ended after %s wrong PINs", user["id"], failures)
        else:
            db.execute("UPDATE sessions SET failed_pins = ? WHERE token_hash = ?", [failures, hash_token(token)])
            audit.record(db, actor, "unlock_failed", "session", None, {"failed_pins": failures})
    if failures >= max_attempts:
        raise AuthenticationError(f"{failures} wrong PINs: the session ended; log in with the password")
    raise WrongPin("wrong PIN", attempts_left=max_attempts - failures)


def verify_current_password(db: sqlite_utils.Database, user: dict, password: str, policy: LockoutPolicy, *,
                            token_hash: Optional[str] = None) -> None:
    """The re-authentication a password change needs: the account's current password.

    In a browser session this is :func:`verify_login` (wrong answers count toward the account's
    lockout). Over a bearer token a wrong answer must not lock the owner's password login (a
    leaked token would otherwise be a way to lock anyone out), yet guesses stay bounded: each is
    audited against the token (``wrong_current_password``), and at ``policy.threshold`` the
    token itself is revoked. A locked or disabled account is refused either way.

    Raises
    ------
    AuthenticationError
        The password is wrong, or the account is locked.
    PasswordTooLong
        The password is over ``MAX_PASSWORD_LENGTH`` characters (field ``current_password``):
        refused before anything is hashed, counted or audited.
    """
    check_password_length(password, PasswordTooLong, field="current_password")
    if token_hash is None:
        verify_login(db, user["username"], password, policy)
        return
    password = normalize_password(password)
    right = _verify(user["password_hash"], password)
    if right and not is_locked(user) and not user["disabled"]:
        return
    actor = audit.Actor(user["id"], user["username"], user["role"])
    with write_transaction(db):
        token = db.execute("SELECT id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                           [token_hash]).fetchone()
        if token is None:
            raise AuthenticationError("unknown or revoked API token")
        if right:  # the right password of a locked account: refused, but not a guess
            raise AuthenticationError(WRONG_CREDENTIALS)
        audit.record(db, actor, "wrong_current_password", "api_token", token[0])
        guesses = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'wrong_current_password' "
                             "AND entity = 'api_token' AND entity_id = ?", [str(token[0])]).fetchone()[0]
        if guesses >= policy.threshold:
            db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [utc_now(), token[0]])
            audit.record(db, actor, "revoke_token", "api_token", token[0], {"reason": "wrong current passwords"})
            logger.warning("user id %s: API token %s revoked after %s wrong current passwords", user["id"], token[0],
                           guesses)
    raise AuthenticationError(WRONG_CREDENTIALS)


def check_csrf(session: dict, presented: Optional[str]) -> None:
    if not presented or not hmac.compare_digest(session["csrf_token"], presented):
        raise CsrfError("missing or wrong CSRF token: send the session's token as the X-CSRF-Token header")


def create_api_token(db: sqlite_utils.Database, actor: audit.Actor, user_id: int, name: str) -> tuple[int, str]:
    """Issue a bearer token for a machine client acting as ``user_id``; the token is returned once.

    An admin signed in to the API cannot mint one for a nurse or clinician: it would let the
    admin read clinical records, which the admin role does not see. The local operator
    (``ildscreen users token``, who holds the data folder anyway) can; every token is audited.

    Raises
    ------
    PermissionDenied
        An API admin asked for a token of a clinical account.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(db):
        user = get_user(db, user_id)
        if actor is not audit.CLI_OPERATOR and actor.user_id != user_id and user["role"] != "admin":
            raise PermissionDenied(f"an admin cannot issue tokens for the {user['role']} account {user['username']!r}: "
                                   "clinical accounts get tokens from the clinic's operator ('ildscreen users token')")
        token_id = db["api_tokens"].insert(
            {"user_id": user_id, "name": name, "token_hash": hash_token(token), "created_at": utc_now()}
        ).last_pk
        audit.record(db, actor, "create", "token", token_id, {"user_id": user_id})
    return token_id, token


#: What the API and the CLI show of an API token: never its hash.
TOKEN_COLUMNS = ("id", "user_id", "name", "created_at", "last_used_at", "revoked_at")


def list_api_tokens(db: sqlite_utils.Database, user_id: int) -> list[dict]:
    """The account's API tokens, revoked ones included, oldest first (:data:`TOKEN_COLUMNS`).

    Raises ``NotFound`` when there is no such account."""
    get_user(db, user_id)
    return db.execute_returning_dicts(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_tokens WHERE user_id = ? "
                                      "ORDER BY id", [user_id])


class Revocation(NamedTuple):
    """What a revocation found: the token as :func:`list_api_tokens` shows it, and whether an
    earlier request had already revoked it (``already``: then nothing was changed)."""

    token: dict
    already: bool


def revoke_api_token(db: sqlite_utils.Database, actor: audit.Actor, user_id: int, token_id: int) -> Revocation:
    """Revoke one API token of the account (its other tokens and its sessions go on); audited
    without the token or its hash. A token already revoked (the request sent twice) changes
    nothing: its ``revoked_at`` stays the first one's and no second audit entry is written.

    Any admin may revoke any account's token (an API admin cannot issue one for a clinical
    account, but stopping one only takes access away).

    Raises
    ------
    NotFound
        When the account has no token ``token_id`` (a token of another account is not found either).
    """
    with write_transaction(db):
        rows = db.execute_returning_dicts(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_tokens "
                                          "WHERE id = ? AND user_id = ?", [token_id, user_id])
        if not rows:
            raise NotFound(f"user {user_id} has no API token with id {token_id}")
        if rows[0]["revoked_at"] is not None:
            return Revocation(rows[0], already=True)
        revoked_at = utc_now()
        db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [revoked_at, token_id])
        audit.record(db, actor, "revoke", "token", token_id, {"user_id": user_id})
    return Revocation({**rows[0], "revoked_at": revoked_at}, already=False)


def token_user(db: sqlite_utils.Database, token: str) -> dict:
    """The user a bearer token acts for, or ``AuthenticationError``."""
    rows = db.execute_returning_dicts(
        "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", [hash_token(token)]
    )
    if not rows:
        raise AuthenticationError("unknown or revoked API token")
    user = get_user(db, rows[0]["user_id"])
    if user["disabled"]:
        raise AuthenticationError("account disabled")
    return user
