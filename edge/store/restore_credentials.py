"""A restore never brings back a credential: the accounts and API tokens of the restored database
take the security state of the database it replaces, and every browser session ends.

A backup holds the users, sessions and API tokens of its day. Restored as they are, an account
disabled, a password or PIN changed, a role changed, a session or a token revoked after the backup
would be live again - after an incident, the very credential an admin revoked. So
:func:`edge.store.backup.restore_database` reads the current database's security state before the
swap (:func:`read_credentials`) and applies it to the staged copy (:func:`carry_credentials`), in
the same transaction that audits the restore:

- every session of the restored database is ended (everyone signs in again);
- an account present in both takes the current database's password hash, PIN, one-time-password
  flag, lockout, disabled flag and role. The current role, not the lower of the two: roles are
  not nested (an admin does not see clinical records, a nurse does), so "lower" has no meaning,
  and the current database holds the admin's latest decision;
- an account the current database does not have (same id and username) is disabled;
- an API token revoked in the current database, or not in it, is revoked.

Accounts and tokens created after the backup are not in it: they are lost with the restore, and
counted so the operator can create them again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import sqlite_utils

from edge.store.database import read_only_tables, utc_now
from edge.users import end_every_session

#: The columns of ``users`` that decide who may sign in and what they may do; a restore takes
#: them from the current database. ``pin_hash`` is missing from a database before migration 8.
SECURITY_COLUMNS = ("password_hash", "pin_hash", "must_change_password", "failed_logins", "locked_until",
                    "disabled", "role")


@dataclass(frozen=True)
class CurrentCredentials:
    """The security state of the database a restore replaces (read once, compared again before
    the swap so that a change made meanwhile stops the restore)."""

    #: user id -> (username folded, {column: value}) for the columns of :data:`SECURITY_COLUMNS`
    #: the current ``users`` table has.
    users: dict[int, tuple[str, dict]]
    #: token_hash -> revoked_at (None: still valid).
    tokens: dict[str, Optional[str]]


def read_credentials(database: Path) -> Optional[CurrentCredentials]:
    """The accounts and API tokens of ``database``, read-only; None when there is no database or
    it has no accounts table (a restore into a fresh folder: the backup's accounts are all there is).

    Raises
    ------
    StorageError
        When the file cannot be read as a database.
    """
    if not database.exists():
        return None
    with read_only_tables(database, "cannot read the accounts and API tokens of {database} ({exc}), so a restore "
                                    "could bring back a revoked credential; if the file is damaged, move it out of "
                                    "the data folder and restore again (nothing was changed)") as (connection, tables):
        if "users" not in tables:
            return None
        present = {row[1] for row in connection.execute('PRAGMA table_info("users")')}
        columns = [column for column in SECURITY_COLUMNS if column in present]
        users = {}
        for row in connection.execute(f"SELECT id, username, {', '.join(columns)} FROM users"):
            users[row[0]] = (row[1].casefold(), dict(zip(columns, row[2:])))
        tokens = dict(connection.execute("SELECT token_hash, revoked_at FROM api_tokens").fetchall()
                      if "api_tokens" in tables else [])
    return CurrentCredentials(users=users, tokens=tokens)


def carry_credentials(db: sqlite_utils.Database, current: Optional[CurrentCredentials]) -> dict[str, int]:
    """Give the staged, migrated copy ``db`` the security state of ``current``, inside the caller's
    transaction; returns what was done, as counts (no names, no hashes: it goes into the audit
    entry and the command's output).

    With ``current`` None (no database to replace) the accounts and tokens stay as the backup had
    them; the sessions still end.
    """
    counts = {"sessions_ended": end_every_session(db)}
    if current is None:
        return counts
    restored_users = {row[0]: row[1].casefold() for row in db.execute("SELECT id, username FROM users")}
    updated = disabled = 0
    for user_id, username in restored_users.items():
        known = current.users.get(user_id)
        if known is not None and known[0] == username:
            values = known[1]
            # A PIN is cleared with every password change; a database without the column has no PIN.
            values = {**values, "pin_hash": values.get("pin_hash")}
            db.execute(f"UPDATE users SET {', '.join(f'{column} = ?' for column in values)} WHERE id = ?",
                       [*values.values(), user_id])
            updated += 1
        else:
            disabled += db.execute("UPDATE users SET disabled = 1 WHERE id = ? AND disabled = 0", [user_id]).rowcount
    now = utc_now()
    revoked = 0
    for token_id, token_hash in db.execute("SELECT id, token_hash FROM api_tokens WHERE revoked_at IS NULL").fetchall():
        if token_hash not in current.tokens or current.tokens[token_hash] is not None:
            db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [current.tokens.get(token_hash) or now,
                                                                             token_id])
            revoked += 1
    restored_tokens = {row[0] for row in db.execute("SELECT token_hash FROM api_tokens")}
    counts.update(
        users_given_current_state=updated,
        users_disabled_not_in_current=disabled,
        api_tokens_revoked=revoked,
        users_lost_created_after_backup=sum(1 for user_id in current.users if user_id not in restored_users),
        api_tokens_lost_created_after_backup=sum(1 for token_hash, revoked_at in current.tokens.items()
                                                 if revoked_at is None and token_hash not in restored_tokens),
    )
    return counts
