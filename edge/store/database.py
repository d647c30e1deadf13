"""Opening the SQLite database and running write transactions that survive concurrent writers."""
from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from edge.errors import StorageError

# Long enough to ride out another process's write transaction (they are short), short
# enough that a wedged writer surfaces as an error rather than a hung request.
BUSY_TIMEOUT_MS = 15_000


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string, the one timestamp format in the store."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def open_database(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the database file in WAL mode with foreign keys enforced.

    One connection per thread: callers open one per request or per command.
    """
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a visit acknowledged to the nurse survives a power cut of the clinic box.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    return sqlite_utils.Database(conn)


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run a block as one write transaction, taking the write lock up front.

    ``BEGIN IMMEDIATE`` avoids the deadlock of two deferred transactions that both read and
    then try to upgrade to a write lock; sqlite-utils calls inside become savepoints.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.conn.execute("COMMIT")
