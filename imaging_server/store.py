"""The CT service's SQLite database: WAL mode, versioned migrations, clinics and their tokens.

A migration is never edited once released: the schema moves forward by appending one.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import sqlite_utils

from imaging_server.errors import AuthenticationError, Conflict, NotFound, StorageError, ValidationError

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
TOKEN_PREFIX = "ildct_"
# A revoked clinic keeps its row (its referrals point at it) with this in place of a token hash:
# no SHA-256 hex digest starts with it, so no token matches.
REVOKED_PREFIX = "revoked:"
CLINIC_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "clinics, referrals, reports", (
        """CREATE TABLE clinics (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE referrals (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id),
            bundle_sha256 TEXT NOT NULL,
            bundle TEXT NOT NULL,
            priority TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('awaiting_images', 'quantifying', 'reported', 'failed')),
            error TEXT,
            series_instances INTEGER,
            series_seen_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX referrals_status ON referrals (status)",
        """CREATE TABLE reports (
            referral_id INTEGER PRIMARY KEY REFERENCES referrals(id),
            metrics TEXT NOT NULL,
            diagnostic_report TEXT NOT NULL,
            algorithm TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    )),
    (2, "readers and nodule reviews", (
        """CREATE TABLE readers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE nodule_reviews (
            id INTEGER PRIMARY KEY,
            referral_id INTEGER NOT NULL REFERENCES referrals(id),
            reader_id INTEGER NOT NULL REFERENCES readers(id),
            action TEXT NOT NULL CHECK (action IN ('add', 'edit', 'confirm', 'reject')),
            nodule_number INTEGER,
            detail TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    )),
    (3, "radiologists' ILD reads", (
        # Append-only: the latest row of a referral is its read, the earlier ones its history.
        """CREATE TABLE ild_reads (
            id INTEGER PRIMARY KEY,
            referral_id INTEGER NOT NULL REFERENCES referrals(id),
            reader_id INTEGER NOT NULL REFERENCES readers(id),
            ild TEXT NOT NULL CHECK (ild IN ('present', 'absent', 'indeterminate')),
            pattern TEXT,
            extent_percent REAL CHECK (extent_percent IS NULL OR extent_percent BETWEEN 0 AND 100),
            comment TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX ild_reads_referral ON ild_reads (referral_id, id)",
    )),
    (4, "programme figures from the clinics; programme viewers", (
        # Every payload is kept; the highest sequence of a clinic's month is its figures.
        """CREATE TABLE programme_figures (
            id INTEGER PRIMARY KEY,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id),
            period TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            payload_sha256 TEXT NOT NULL,
            payload TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (clinic_id, period, sequence)
        )""",
        """CREATE TABLE programme_viewers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        )""",
    )),
)


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string, the one timestamp format in the store."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def open_database(path: Path) -> sqlite_utils.Database:
    """Open (creating if needed) the database in WAL mode; one connection per thread."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    return sqlite_utils.Database(conn)


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction taking the write lock up front (``BEGIN IMMEDIATE``)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.execute("COMMIT")


def request_db() -> sqlite_utils.Database:
    """This request's connection, shared by the clinic and reader routes (``app.py`` closes it at
    teardown)."""
    from flask import current_app, g

    if "db" not in g:
        g.db = open_database(current_app.extensions["imaging_server"].database_path)
    return g.db


def current_version(db: sqlite_utils.Database) -> int:
    if "schema_migrations" not in db.table_names():
        return 0
    return db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0


def apply_migrations(db: sqlite_utils.Database) -> list[int]:
    """Apply pending migrations, each in its own transaction; return the versions applied."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
               "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    known = MIGRATIONS[-1][0]
    if current_version(db) > known:
        raise StorageError(f"database schema version {current_version(db)} is newer than this software ({known})")
    applied = []
    for version, name, statements in MIGRATIONS:
        with write_transaction(db):
            if current_version(db) >= version:
                continue
            try:
                for statement in statements:
                    db.execute(statement)
            except sqlite3.Error as exc:
                raise StorageError(f"migration {version} ({name}) failed: {exc}") from exc
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utc_now()])
        applied.append(version)
        logger.info("applied schema migration %s: %s", version, name)
    return applied


def prepare_database(path: Path) -> None:
    """Create the data folder and the database, and bring the schema up to date."""
    db = open_database(path)
    try:
        apply_migrations(db)
    finally:
        db.close()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_clinic(db: sqlite_utils.Database, name: str) -> str:
    """Register a clinic and return its bearer token (only its SHA-256 is stored).

    Raises
    ------
    ValidationError
        The name is not 2-64 lower-case letters, digits, '.', '_' or '-'.
    Conflict
        A clinic of that name exists.
    """
    if not re.match(CLINIC_NAME_PATTERN, name):
        raise ValidationError(f"clinic name {name!r} must be 2-64 lower-case letters, digits, '.', '_' or '-'")
    token = _new_token()
    try:
        with write_transaction(db):
            db["clinics"].insert({"name": name, "token_hash": hash_token(token), "created_at": utc_now()})
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"a clinic named {name!r} already exists") from exc
    logger.info("registered clinic %s", name)
    return token


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _set_token_hash(db: sqlite_utils.Database, name: str, token_hash: str) -> None:
    with write_transaction(db):
        changed = db.execute("UPDATE clinics SET token_hash = ? WHERE name = ?", [token_hash, name]).rowcount
    if not changed:
        raise NotFound(f"no clinic named {name!r}")


def rotate_clinic_token(db: sqlite_utils.Database, name: str) -> str:
    """Give a clinic a new token and return it; the old one stops working at once (a revoked
    clinic is reinstated with the new token)."""
    token = _new_token()
    _set_token_hash(db, name, hash_token(token))
    logger.info("rotated the token of clinic %s", name)
    return token


def revoke_clinic(db: sqlite_utils.Database, name: str) -> None:
    """Stop a clinic's token at once; its referrals and reports are kept."""
    _set_token_hash(db, name, REVOKED_PREFIX + secrets.token_hex(16))
    logger.info("revoked the token of clinic %s", name)


def clinic_for_token(db: sqlite_utils.Database, authorization: Optional[str]) -> dict:
    """The clinic whose token is in an ``Authorization: Bearer`` header value.

    Raises
    ------
    AuthenticationError
        Missing header, not a bearer token, or an unknown token.
    """
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthenticationError("send the clinic token as 'Authorization: Bearer <token>'")
    token = authorization[len("Bearer "):].strip()
    rows = list(db["clinics"].rows_where("token_hash = ?", [hash_token(token)], limit=1))
    if not rows:
        raise AuthenticationError("unknown clinic token")
    return rows[0]


def list_clinics(db: sqlite_utils.Database) -> list[dict]:
    return [{"name": row["name"], "created_at": row["created_at"],
             "revoked": row["token_hash"].startswith(REVOKED_PREFIX)}
            for row in db["clinics"].rows_where(order_by="name")]
