"""User accounts: nurses, clinicians and admins of one clinic service.

The password policy refuses passwords shorter than :data:`MIN_PASSWORD_LENGTH`, passwords on a
bundled list of common passwords (``common_passwords.txt``: the entries of at least that length
of Royce Williams' 20,000 most common passwords as shipped by Django, source in the file's
header), and passwords that contain the account's name; and, as every password the service takes,
one over ``common.passwords.MAX_PASSWORD_LENGTH`` characters (refused before it is hashed).

A nurse may also set a PIN (:data:`PIN_LENGTHS` digits) that unlocks her own idle-locked session on
the shared tablet (never a login from scratch, see ``edge.auth.unlock_session``). The PIN rule
(:func:`check_pin_policy`) is a programme choice, not a published standard: it refuses the PINs
that are guessed first (one repeated digit, ascending or descending runs). A PIN is hashed like a
password, and any password change or reset clears it: whoever holds the new password sets a new PIN.
"""
from __future__ import annotations

import datetime as dt
import functools
import secrets
import unicodedata
from pathlib import Path
from typing import Optional

import sqlite_utils
from argon2 import PasswordHasher

from common import lockout
from common.passwords import check_password_length
from edge import audit
from edge.errors import Conflict, NotFound, PasswordTooLong, ValidationError, require_current_version
from edge.store.database import utc_now, write_transaction
from edge.vocabulary import ROLES

# argon2id with the library's defaults (RFC 9106 low-memory profile): a modern memory-hard KDF.
password_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
FIRST_ADMIN_USERNAME = "admin"
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
# Programme choice: 4 to 8 digits, the range of phone and bank-card PINs nurses already use.
PIN_LENGTHS = range(4, 9)


def generate_password() -> str:
    """A random one-time password: 16 URL-safe characters (~96 bits)."""
    return secrets.token_urlsafe(12)


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-cased (header lines start with '# ')."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("# "))


def normalize_password(password: str) -> str:
    """The one form a password is hashed and checked in, wherever it is typed (tablet form, JSON
    API, CLI): surrounding whitespace dropped, as the JSON API always did, so a password set on
    the tablet works on the API and the reverse. Inner spaces are kept."""
    return password.strip()


def check_password_policy(password: str, username: str = "") -> None:
    """Refuse a password that is short, common, or contains the account's name (case-insensitive),
    or is over ``MAX_PASSWORD_LENGTH`` characters (``PasswordTooLong``, checked first).

    Without ``username`` (a form checking early) the name rule is left to ``create_user`` and
    ``set_password``, which always pass it.
    """
    check_password_length(password, PasswordTooLong)
    password = normalize_password(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = f"at least {MIN_PASSWORD_LENGTH} characters"
    elif password.strip().lower() in common_passwords():
        reason = "is one of the most common passwords; choose another"
    elif username and username.lower() in password.lower():
        reason = "must not contain the user name"
    else:
        return
    raise ValidationError(f"password refused: {reason}", fields=[{"field": "password", "reason": reason}])


def normalize_pin(pin: str) -> str:
    """The one form a PIN is set, checked and hashed in, and tried on the lock screen: NFKC-normalised, so
    the full-width digits a Chinese keyboard types (１２３５) are the digits 1235, then surrounding whitespace
    dropped (a space typed before or after it, a tablet keyboard's line break), as the account page always did
    when setting it, so a PIN set padded or unpadded, in either width, opens the lock either way.

    Unlike a password (:func:`normalize_password`: stripped only, since any character may be in it and its
    stored hashes were made of it as typed), a PIN is digits only (:func:`check_pin_policy`, ASCII once
    normalised): a PIN stored before this normalisation was ASCII, which NFKC leaves as it is.

    >>> normalize_pin("\u3000１２３５ ")
    '1235'
    """
    return unicodedata.normalize("NFKC", pin).strip()


def check_pin_policy(pin: str) -> None:
    """Refuse a PIN that is not 4-8 digits, repeats one digit (0000) or is a run (1234, 9876), once
    normalised (:func:`normalize_pin`).

    The rule is a programme choice (see the module docstring). Raises ``ValidationError`` naming
    the reason, never the PIN.
    """
    pin = normalize_pin(pin)
    if not (pin.isascii() and pin.isdigit() and len(pin) in PIN_LENGTHS):
        reason = f"{PIN_LENGTHS.start} to {PIN_LENGTHS.stop - 1} digits"
    elif len(set(pin)) == 1:
        reason = "one digit repeated is too easy to guess"
    elif {int(b) - int(a) for a, b in zip(pin, pin[1:])} in ({1}, {-1}):
        reason = "an ascending or descending run is too easy to guess"
    else:
        return
    raise ValidationError(f"PIN refused: {reason}", fields=[{"field": "pin", "reason": reason}])


def set_pin(db: sqlite_utils.Database, actor: audit.Actor, user_id: int, pin: str) -> None:
    """Set or change the account's tablet PIN (the caller has checked the current password)."""
    pin = normalize_pin(pin)
    check_pin_policy(pin)
    pin_hash = password_hasher.hash(pin)
    with write_transaction(db):
        get_user(db, user_id)
        db["users"].update(user_id, {"pin_hash": pin_hash})
        audit.record(db, actor, "set_pin", "user", user_id)


def clear_pin(db: sqlite_utils.Database, actor: audit.Actor, user_id: int) -> None:
    """Remove the account's tablet PIN: an idle lock then asks for the password again."""
    with write_transaction(db):
        get_user(db, user_id)
        db["users"].update(user_id, {"pin_hash": None})
        audit.record(db, actor, "clear_pin", "user", user_id)


def is_locked(user: dict, now: Optional[dt.datetime] = None) -> bool:
    """Whether the account's password lockout still holds (:mod:`common.lockout`)."""
    return lockout.is_locked(user.get("locked_until"), now)


def public_view(user: dict) -> dict:
    """The account as the API shows it: never the password hash."""
    return {
        "id": user["id"],
        "username": user["username"],
        "role": user["role"],
        "full_name": user.get("full_name"),
        "disabled": bool(user["disabled"]),
        "must_change_password": bool(user["must_change_password"]),
        "locked": is_locked(user),
        "created_at": user["created_at"],
        "last_login_at": user["last_login_at"],
        "version": user["version"],
    }


def get_user(db: sqlite_utils.Database, user_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM users WHERE id = ?", [user_id])
    if not rows:
        raise NotFound(f"no user with id {user_id}")
    return rows[0]


def find_user(db: sqlite_utils.Database, username: str) -> Optional[dict]:
    rows = db.execute_returning_dicts("SELECT * FROM users WHERE username = ?", [username])
    return rows[0] if rows else None


def list_users(db: sqlite_utils.Database) -> list[dict]:
    return db.execute_returning_dicts("SELECT * FROM users ORDER BY username")


MAX_FULL_NAME = 100


def clean_full_name(full_name: Optional[str]) -> Optional[str]:
    """The name printed on referral letters, whitespace folded; None when empty.

    Raises ``ValidationError`` (field ``full_name``) when longer than ``MAX_FULL_NAME``."""
    if full_name is None:
        return None
    folded = " ".join(str(full_name).split())
    if len(folded) > MAX_FULL_NAME:
        raise ValidationError(f"full name is {len(folded)} characters; at most {MAX_FULL_NAME}",
                              fields=[{"field": "full_name", "reason": "too long"}])
    return folded or None


def create_user(
    db: sqlite_utils.Database,
    actor: audit.Actor,
    *,
    username: str,
    role: str,
    password: Optional[str] = None,
    full_name: Optional[str] = None,
) -> tuple[dict, Optional[str]]:
    """Create an account; without a password, a one-time one is generated and returned.

    Returns
    -------
    (user, one_time_password)
        ``one_time_password`` is None when the caller chose the password.
    """
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}", fields=[{"field": "role", "reason": f"one of {list(ROLES)}"}])
    one_time = None
    if password is None:
        password = one_time = generate_password()
    password = normalize_password(password)
    check_password_policy(password, username)
    password_hash = password_hasher.hash(password)
    with write_transaction(db):
        if find_user(db, username) is not None:
            raise Conflict(f"user {username!r} already exists")
        user_id = db["users"].insert(
            {
                "username": username,
                "role": role,
                "password_hash": password_hash,
                "must_change_password": int(one_time is not None),
                "full_name": clean_full_name(full_name),
                "disabled": 0,
                "failed_logins": 0,
                "created_at": utc_now(),
            }
        ).last_pk
        audit.record(db, actor, "create", "user", user_id, {"role": role})
    return get_user(db, user_id), one_time


def ensure_first_admin(db: sqlite_utils.Database) -> Optional[str]:
    """On a store without users, create ``admin`` with a one-time password and return it."""
    if db.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
        return None
    try:
        _, password = create_user(db, audit.CLI_OPERATOR, username=FIRST_ADMIN_USERNAME, role="admin")
    except Conflict:  # another process created it a moment ago
        return None
    return password


def update_user(
    db: sqlite_utils.Database,
    actor: audit.Actor,
    user_id: int,
    *,
    role: Optional[str] = None,
    disabled: Optional[bool] = None,
    full_name: Optional[str] = None,
    version: int,
) -> dict:
    """Change an account's role, full name, or disable/enable it, against the ``version`` the editor
    read (``get_user(...)["version"]``); the saved edit raises it by one. Disabling or a new role
    ends its sessions and tokens.

    Only these edits move the version: logins, lockouts, passwords and PINs leave it, as they change
    nothing this edit writes, and a colleague signing in must not make an admin's save fail.

    Raises
    ------
    EditConflict
        When ``version`` is not the current one: another edit was saved since, and would be overwritten.
    """
    changes: dict = {}
    if full_name is not None:
        changes["full_name"] = clean_full_name(full_name)
    if role is not None:
        if role not in ROLES:
            raise ValidationError(f"unknown role {role!r}", fields=[{"field": "role", "reason": f"one of {list(ROLES)}"}])
        changes["role"] = role
    if disabled is not None:
        changes["disabled"] = int(disabled)
    with write_transaction(db):
        user = get_user(db, user_id)
        require_current_version(f"user {user_id}", shown=version, current=user["version"])
        if actor.user_id == user_id and (disabled or (role and role != "admin")):
            raise Conflict("an admin cannot disable or demote their own account")
        db["users"].update(user_id, {**changes, "version": user["version"] + 1})
        # A token minted while the account had another role must not outlive the change.
        if disabled or (role is not None and role != user["role"]):
            end_sessions_and_tokens(db, user_id)
        if disabled is False:
            changes.update(failed_logins=0, locked_until=None)
            db["users"].update(user_id, {"failed_logins": 0, "locked_until": None})
        audit.record(db, actor, "update", "user", user_id, {"changed": sorted(changes)})
    return get_user(db, user["id"])


#: What revoking a session sets: what it held typed (a patient form kept at the idle lock, the last
#: search) goes with it. Not the idle lock's own ending, which may keep the form (edge.auth.end_session).
_SESSION_REVOKED = "revoked = 1, form_draft = NULL, last_search = NULL"


def end_every_session(db: sqlite_utils.Database) -> int:
    """Revoke every open session of every account, inside the caller's transaction (a restore: everyone
    signs in again); returns how many were ended."""
    return db.execute(f"UPDATE sessions SET {_SESSION_REVOKED} WHERE revoked = 0").rowcount


def end_sessions_and_tokens(db: sqlite_utils.Database, user_id: int, *, keep_session_hash: Optional[str] = None) -> int:
    """Revoke the account's sessions (but ``keep_session_hash``) and all its tokens, inside the
    caller's transaction; returns how many were ended. What those sessions held typed (a patient
    form kept at the idle lock, the last search) goes with them: this is not the idle lock."""
    sessions = db.execute(f"UPDATE sessions SET {_SESSION_REVOKED} "
                          "WHERE user_id = ? AND revoked = 0 AND token_hash IS NOT ?",
                          [user_id, keep_session_hash]).rowcount
    tokens = db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                        [utc_now(), user_id]).rowcount
    return sessions + tokens


def set_password(
    db: sqlite_utils.Database, actor: audit.Actor, user_id: int, new_password: str, *,
    keep_session_hash: Optional[str] = None,
) -> int:
    """Change a password, clear the tablet PIN, and end every other session and every token of
    the account.

    ``keep_session_hash`` is the session the change was made in, which stays open. Returns the
    number of sessions and tokens ended.
    """
    user = get_user(db, user_id)
    new_password = normalize_password(new_password)
    check_password_policy(new_password, user["username"])
    password_hash = password_hasher.hash(new_password)
    with write_transaction(db):
        get_user(db, user_id)
        db["users"].update(user_id, {"password_hash": password_hash, "must_change_password": 0, "pin_hash": None})
        ended = end_sessions_and_tokens(db, user_id, keep_session_hash=keep_session_hash)
        audit.record(db, actor, "change_password", "user", user_id, {"sessions_and_tokens_ended": ended})
    return ended


def reset_password(db: sqlite_utils.Database, actor: audit.Actor, user_id: int) -> str:
    """Give the account a one-time password (to be changed at next login), end all its sessions
    and tokens, clear its lockout and its tablet PIN; returns the password, to be shown once."""
    password = generate_password()
    password_hash = password_hasher.hash(password)
    with write_transaction(db):
        get_user(db, user_id)
        db["users"].update(user_id, {"password_hash": password_hash, "must_change_password": 1,
                                     "failed_logins": 0, "locked_until": None, "pin_hash": None})
        ended = end_sessions_and_tokens(db, user_id)
        audit.record(db, actor, "reset_password", "user", user_id, {"sessions_and_tokens_ended": ended})
    return password
