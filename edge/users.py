"""User accounts: nurses, clinicians and admins of one clinic service."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Optional

import sqlite_utils
from argon2 import PasswordHasher

from edge import audit
from edge.errors import Conflict, NotFound, ValidationError
from edge.store.database import utc_now, write_transaction
from edge.vocabulary import ROLES

# argon2id with the library's defaults (RFC 9106 low-memory profile): a modern memory-hard KDF.
password_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
FIRST_ADMIN_USERNAME = "admin"


def generate_password() -> str:
    """A random one-time password: 16 URL-safe characters (~96 bits)."""
    return secrets.token_urlsafe(12)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            fields=[{"field": "password", "reason": f"at least {MIN_PASSWORD_LENGTH} characters"}],
        )


def is_locked(user: dict, now: Optional[dt.datetime] = None) -> bool:
    locked_until = user.get("locked_until")
    if not locked_until:
        return False
    now = now or dt.datetime.now(dt.timezone.utc)
    return dt.datetime.fromisoformat(locked_until) > now


def public_view(user: dict) -> dict:
    """The account as the API shows it: never the password hash."""
    return {
        "id": user["id"],
        "username": user["username"],
        "role": user["role"],
        "disabled": bool(user["disabled"]),
        "must_change_password": bool(user["must_change_password"]),
        "locked": is_locked(user),
        "created_at": user["created_at"],
        "last_login_at": user["last_login_at"],
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


def create_user(
    db: sqlite_utils.Database,
    actor: audit.Actor,
    *,
    username: str,
    role: str,
    password: Optional[str] = None,
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
    check_password_policy(password)
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
) -> dict:
    """Change an account's role or disable/enable it; disabling ends its sessions and tokens."""
    changes: dict = {}
    if role is not None:
        if role not in ROLES:
            raise ValidationError(f"unknown role {role!r}", fields=[{"field": "role", "reason": f"one of {list(ROLES)}"}])
        changes["role"] = role
    if disabled is not None:
        changes["disabled"] = int(disabled)
    with write_transaction(db):
        user = get_user(db, user_id)
        if actor.user_id == user_id and (disabled or (role and role != "admin")):
            raise Conflict("an admin cannot disable or demote their own account")
        if changes:
            db["users"].update(user_id, changes)
        if disabled:
            db.execute("UPDATE sessions SET revoked = 1 WHERE user_id = ?", [user_id])
            db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", [utc_now(), user_id])
        if disabled is False:
            changes.update(failed_logins=0, locked_until=None)
            db["users"].update(user_id, {"failed_logins": 0, "locked_until": None})
        audit.record(db, actor, "update", "user", user_id, {"changed": sorted(changes)})
    return get_user(db, user["id"])


def set_password(db: sqlite_utils.Database, actor: audit.Actor, user_id: int, new_password: str) -> None:
    check_password_policy(new_password)
    password_hash = password_hasher.hash(new_password)
    with write_transaction(db):
        get_user(db, user_id)
        db["users"].update(user_id, {"password_hash": password_hash, "must_change_password": 0})
        audit.record(db, actor, "change_password", "user", user_id)
