"""Opening the SQLite database, write transactions that survive concurrent writers, and read
transactions that see one state of it."""
from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from edge.errors import StorageError

# Long enough to ride out another process's write transaction (they are short), short
# enough that a wedged writer surfaces as an error rather than a hung request.
BUSY_TIMEOUT_MS = 15_000

# One writer lock per database file in this process. SQLite's busy handler waits for a held
# write lock by sleeping in growing steps (up to 100 ms each), so threads of one service
# that met each other at BEGIN IMMEDIATE overslept a 1 ms transaction by tens of ms under
# load; queueing on a Python lock first wakes the next writer as soon as the lock is free.
# Other processes (the CLI, a second service) still meet at SQLite's lock and busy timeout.
_WRITER_LOCKS: dict[str, threading.RLock] = {}
_WRITER_LOCK_OF: "weakref.WeakKeyDictionary[sqlite_utils.Database, threading.RLock]" = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


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
    db = sqlite_utils.Database(conn)
    with _REGISTRY_LOCK:
        _WRITER_LOCK_OF[db] = _WRITER_LOCKS.setdefault(str(Path(path).resolve()), threading.RLock())
    return db


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database file at ``path`` that leaves its folder as it was.

    A read-only connection to a WAL database creates the ``-wal`` and ``-shm`` files when they are
    missing and, unable to checkpoint, leaves them behind when it closes. So when they were not
    there before, a plain connection reads once and closes after it: SQLite removes the two files
    when its last connection closes (and only then, so a file another process holds open stays).
    With nothing in the write-ahead log, that close writes nothing to the database.

    Raises ``sqlite3.Error`` as the reads do; the caller names the file in its domain error.
    """
    journal = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
    existed = [file.exists() for file in journal]
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            yield connection
    finally:
        if not any(existed) and any(file.exists() for file in journal):
            with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(str(path))) as tidy:
                tidy.execute("PRAGMA schema_version").fetchone()


@contextlib.contextmanager
def read_only_tables(path: Path, unreadable: str) -> Iterator[tuple[sqlite3.Connection, set[str]]]:
    """:func:`read_only` with the names of the file's tables, for a reader that takes what is there.

    Raises
    ------
    StorageError
        When the file cannot be read as a database, in the block too: ``unreadable`` with the file
        put in for ``{database}`` and the error for ``{exc}`` (the caller says what a failed read puts
        at risk).
    """
    try:
        with read_only(path) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            yield connection, tables
    except sqlite3.DatabaseError as exc:
        raise StorageError(unreadable.format(database=path, exc=exc)) from exc


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
    with _WRITER_LOCK_OF.get(db) or contextlib.nullcontext(), _transaction(db, "BEGIN IMMEDIATE"):
        yield db


@contextlib.contextmanager
def read_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run a block of reads as one read transaction: every statement in it sees the database as it
    was at the block's first read, whatever another connection commits meanwhile.

    For an answer made of several reads that must agree (a visit's assessments and whether each is
    current): read one by one, a calculation or a blood test committed between two of them would
    pair a list with a verdict of another state. In WAL mode a reader takes no lock that stops a
    writer, so the block holds up no one; a deferred ``BEGIN`` takes its snapshot at the first read.
    Inside a transaction already (a write transaction), the block reads in that one.
    """
    if db.conn.in_transaction:
        yield db
        return
    with _transaction(db, "BEGIN"):
        yield db


@contextlib.contextmanager
def _transaction(db: sqlite_utils.Database, begin: str) -> Iterator[sqlite_utils.Database]:
    """``begin``, then the block, then COMMIT; ROLLBACK when the block raises."""
    db.conn.execute(begin)
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.conn.execute("COMMIT")
