"""The CT service's database: SQLite (the default) or PostgreSQL, one SQLAlchemy Core code path.

SQLite (``sqlite:///<data dir>/imaging.db``: WAL, ``synchronous=FULL``, a busy timeout, foreign keys
on) serves a single small hospital and development; PostgreSQL (``postgresql://`` or
``postgresql+psycopg://``, driver psycopg 3) serves a regional programme. Each process keeps one
pooled :class:`sqlalchemy.engine.Engine` per URL (:func:`engine_for`).

How to use it (the API other ``imaging_server`` modules build on):

- ``db = open_database(url)`` gives a :class:`Database` handle for one thread (a request, a poll,
  a command); inside the Flask app ``request_db()`` gives the request's handle.
- Reads: ``db.rows(sql, params)`` (list of dicts), ``db.row(...)`` (dict or None),
  ``db.scalar(...)``. SQL is plain text with ``:name`` parameters, written in the subset that
  SQLite and PostgreSQL share (``ON CONFLICT ... DO NOTHING/UPDATE``, ``RETURNING``).
- Writes: one transaction per request, ``with db.write(): db.execute(sql, params)`` or
  ``db.insert(table, values)`` (returns the new ``id``). On SQLite it takes the write lock up
  front (``BEGIN IMMEDIATE``), so a read-then-write inside it cannot race. On PostgreSQL
  (``READ COMMITTED``) code that reads then writes must lock what it read: add
  ``db.for_update()`` to the SELECT (``" FOR UPDATE"`` there, empty on SQLite), or rely on a
  unique constraint with ``INSERT ... ON CONFLICT`` (idempotent referral creation does).
  A duplicate raises :class:`IntegrityError` (re-exported here) after the rollback.
- Migrations: append ``(version, name, statements)`` to ``MIGRATIONS``, never edit a released one.
  A statement is SQL text or a data step (a function of the :class:`Database`, run in the same
  transaction, for what SQL alone cannot do portably, e.g. reading the stored bundles). Write the DDL in SQLite's words with TEXT ISO timestamps (``utc_now()``), ``INTEGER``, ``TEXT``,
  ``REAL``; an autoincrement key is exactly ``id INTEGER PRIMARY KEY`` on its own line.
  :func:`portable_ddl` turns that into ``id SERIAL PRIMARY KEY`` and ``REAL`` into ``DOUBLE
  PRECISION`` on PostgreSQL. Each migration runs in its own transaction under the schema lock (the
  SQLite write lock; a transaction-scoped advisory lock on PostgreSQL), so two processes preparing
  the same database at once apply each migration exactly once. Version 4 is reserved for the
  programme figures (issue 19, part B).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable, Optional

import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from common.migrations import migration_order_problem
from imaging_server.errors import (AuthenticationError, ConfigError, Conflict, DatabaseUnavailable, NotFound,
                                   StorageError, ValidationError)

__all__ = ["Database", "IntegrityError", "open_database", "prepare_database", "utc_now"]

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
DEFAULT_POOL_SIZE = 8
# Key of the PostgreSQL advisory lock serialising migrations ("ildscreen" as bytes, a constant).
MIGRATION_LOCK_KEY = 0x696C647363726E
SUPPORTED_DRIVERS = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql+psycopg",
                     "postgresql+psycopg": "postgresql+psycopg"}
# sqlite3 raises OperationalError for a bad statement too; these say the file itself is unusable now.
SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o", "readonly", "disk is full")
TOKEN_PREFIX = "ildct_"
# A revoked clinic keeps its row (its referrals point at it) with this in place of a token hash:
# no SHA-256 hex digest starts with it, so no token matches.
REVOKED_PREFIX = "revoked:"
CLINIC_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"


def _fill_note_kinds(db: "Database") -> None:
    """Migration 10's data step: :func:`imaging_server.worklist.fill_note_kinds`."""
    from imaging_server.worklist import fill_note_kinds  # here: that module imports this one

    fill_note_kinds(db)


MIGRATIONS: tuple[tuple[int, str, tuple[str | Callable[["Database"], None], ...]], ...] = (
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
    (5, "referrals revoked by their clinic; programme viewers sign in with a password", (
        # Referrals their clinic withdrew after delivery (the ServiceRequest is then ``revoked``).
        # New tables, not new columns or statuses: the released tables stay exactly as they were.
        """CREATE TABLE referral_revocations (
            referral_id INTEGER PRIMARY KEY REFERENCES referrals(id),
            revoked_at TEXT NOT NULL
        )""",
        # argon2id hash of a programme viewer's browser password (none: token only, machines).
        """CREATE TABLE programme_viewer_passwords (
            viewer_id INTEGER PRIMARY KEY REFERENCES programme_viewers(id),
            password_hash TEXT NOT NULL,
            set_at TEXT NOT NULL
        )""",
        # Browser sessions of the programme view: the cookie carries a random id, this its SHA-256.
        """CREATE TABLE programme_sessions (
            id_hash TEXT PRIMARY KEY,
            viewer_id INTEGER NOT NULL REFERENCES programme_viewers(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
    )),
    (6, "programme sign-in: wrong-password lockout and its audit trail", (
        # Counted per name as typed (known or not), so a lock never tells whether a viewer exists.
        """CREATE TABLE programme_sign_in_failures (
            name TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            locked_until TEXT
        )""",
        # Every sign-in attempt's outcome; never the password.
        """CREATE TABLE programme_sign_in_audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            name TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('signed_in', 'wrong_password', 'locked', 'refused_locked')),
            client TEXT
        )""",
        "CREATE INDEX programme_sign_in_audit_at ON programme_sign_in_audit (at)",
    )),
    (7, "programme sign-in: when a name last failed, so that quiet names are forgotten", (
        # A name's count lapses once no wrong password has come for a lockout's length; its row is
        # then swept (imaging_server.programme_session). NULL: counted before this version, age
        # unknown; the first sweep to meet it stamps it, so no count or lock is lost by upgrading.
        "ALTER TABLE programme_sign_in_failures ADD COLUMN last_failure TEXT",
        "CREATE INDEX programme_sign_in_failures_last_failure ON programme_sign_in_failures (last_failure)",
    )),
    (8, "readers sign in to the reader pages with a password", (
        # The programme viewers' sign-in tables (versions 5 to 7) for readers, the radiologists: the
        # same rules (imaging_server.browser_sign_in), a door of their own, so a session or a lock at
        # one door never opens or locks the other.
        """CREATE TABLE reader_passwords (
            reader_id INTEGER PRIMARY KEY REFERENCES readers(id),
            password_hash TEXT NOT NULL,
            set_at TEXT NOT NULL
        )""",
        """CREATE TABLE reader_sessions (
            id_hash TEXT PRIMARY KEY,
            reader_id INTEGER NOT NULL REFERENCES readers(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        """CREATE TABLE reader_sign_in_failures (
            name TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            locked_until TEXT,
            last_failure TEXT
        )""",
        "CREATE INDEX reader_sign_in_failures_last_failure ON reader_sign_in_failures (last_failure)",
        """CREATE TABLE reader_sign_in_audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            name TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('signed_in', 'wrong_password', 'locked', 'refused_locked')),
            client TEXT
        )""",
        "CREATE INDEX reader_sign_in_audit_at ON reader_sign_in_audit (at)",
    )),
    (9, "the worklist's notes kinds, so that a page of the worklist reads no bundle", (
        # The kinds the ServiceRequest's notes name (urn:ildscreen:note-kind), in the order sent and
        # space-separated ('' for none), written with the referral at intake (imaging_server.referrals):
        # the worklist's must-not-miss markers come from them and the priority. A referral stored
        # before this version has no row until version 10 fills it from its bundle. A new table, as
        # version 5's: the released referrals table stays as it was.
        """CREATE TABLE referral_note_kinds (
            referral_id INTEGER PRIMARY KEY REFERENCES referrals(id),
            kinds TEXT NOT NULL
        )""",
        # The worklist's clinic filter; its status filter has referrals_status (version 1).
        "CREATE INDEX referrals_clinic ON referrals (clinic_id)",
    )),
    (10, "the note kinds of referrals stored before version 9, so that no page of the worklist reads a bundle", (
        # Once, here, instead of on every page that lists such a referral (imaging_server.worklist).
        _fill_note_kinds,
    )),
)




def utc_now(now: Optional[dt.datetime] = None) -> str:
    """The current time (or ``now``, an aware time a caller was given) as an ISO 8601 UTC string,
    the one timestamp format in the store (its strings sort as the times do)."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite file (the default store: ``<data dir>/imaging.db``)."""
    return f"sqlite:///{Path(path).resolve()}"


def checked_url(url: str) -> sqlalchemy.URL:
    """Parse a database URL, keeping only the supported drivers (psycopg 3 for PostgreSQL).

    Raises
    ------
    ConfigError
        Not a URL, or another database; the message never repeats the password.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError("database URL is malformed: expected sqlite:///PATH or "
                          "postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from exc
    driver = SUPPORTED_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(f"database URL scheme {parsed.drivername!r} is not supported: use sqlite:/// or postgresql://")
    if driver == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("a SQLite database URL needs a file path: sqlite:///PATH")
    if driver != "sqlite" and not parsed.database:
        raise ConfigError("a PostgreSQL database URL needs a database name: postgresql://USER@HOST:PORT/DATABASE")
    return parsed.set(drivername=driver)


def redacted(url: str | sqlalchemy.URL) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    try:
        return (url if isinstance(url, sqlalchemy.URL) else make_url(url)).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<malformed database URL>"


_engines: dict[tuple[str, int], Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """This process's pooled engine for ``url`` (created on first use, then shared by its threads)."""
    parsed = checked_url(url)
    key = (parsed.render_as_string(hide_password=False), pool_size)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create_engine(parsed, pool_size)
    return engine


def dispose_engine(url: str) -> None:
    """Close the pooled connections to ``url`` (tests and short-lived tools; serve keeps its pool)."""
    parsed = checked_url(url).render_as_string(hide_password=False)
    with _engines_lock:
        for key in [key for key in _engines if key[0] == parsed]:
            _engines.pop(key).dispose()


def _create_engine(url: sqlalchemy.URL, pool_size: int) -> Engine:
    if url.drivername == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy.create_engine(
            url, poolclass=sqlalchemy.pool.QueuePool, pool_size=pool_size, max_overflow=pool_size,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sqlalchemy.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                                    pool_timeout=30, connect_args={"connect_timeout": 10})


def _sqlite_connect(dbapi_connection, _record) -> None:
    # The driver's own implicit transactions off: SQLAlchemy's "begin" event below decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (f"busy_timeout = {BUSY_TIMEOUT_MS}", "journal_mode = WAL", "synchronous = FULL",
                   "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # A write transaction takes the write lock up front, so its reads and writes cannot interleave
    # with another writer's; a read gets a plain (deferred) snapshot.
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("ildscreen_write")
                               else "BEGIN")


class Database:
    """A handle on the CT server's database for one thread: reads anywhere, writes in ``write()``."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._transaction: Optional[sqlalchemy.Connection] = None

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return redacted(self.engine.url)

    @contextlib.contextmanager
    def write(self) -> Iterator["Database"]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        if self._transaction is not None:
            raise RuntimeError("write transactions do not nest")
        with self._errors():
            connection = self.engine.connect().execution_options(ildscreen_write=True)
        try:
            with self._errors():
                connection.begin()
            self._transaction = connection
            yield self
            with self._errors():
                connection.commit()
        finally:
            self._transaction = None
            connection.close()  # rolls back whatever was not committed

    def for_update(self, of: Optional[str] = None, *, skip_locked: bool = False) -> str:
        """The suffix of a SELECT inside ``write()`` that locks the rows it reads (``of``: the alias
        to lock in a join; ``skip_locked``: leave out rows another transaction holds, for a sweep
        that must never wait on, or deadlock with, the requests it tidies after): ``FOR UPDATE`` on
        PostgreSQL; empty on SQLite, whose write lock already covers them, and outside a transaction."""
        if self.dialect != "postgresql" or self._transaction is None:
            return ""
        return " FOR UPDATE" + (f" OF {of}" if of else "") + (" SKIP LOCKED" if skip_locked else "")

    def lock_schema(self) -> None:
        """Serialise schema changes between processes (SQLite: the write lock already does)."""
        if self.dialect == "postgresql":
            self.execute("SELECT pg_advisory_xact_lock(:key)", {"key": MIGRATION_LOCK_KEY})

    def execute(self, sql: str, params: Optional[Mapping[str, Any]] = None) -> sqlalchemy.CursorResult:
        """Run a statement inside ``write()``; returns the result (``rowcount``, returned rows)."""
        if self._transaction is None:
            raise RuntimeError("statements that change the database run inside db.write()")
        with self._errors():
            return self._transaction.execute(text(sql), dict(params or {}))

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        """Insert one row into ``table`` (a name from this module's schema) and return its ``id``."""
        columns = ", ".join(values)
        placeholders = ", ".join(f":{name}" for name in values)
        return self.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id",
                            values).scalar_one()

    def rows(self, sql: str, params: Optional[Mapping[str, Any]] = None) -> list[dict]:
        """The rows of a query as dicts (inside ``write()`` they see its uncommitted changes)."""
        if self._transaction is not None:
            return [dict(row) for row in self.execute(sql, params).mappings()]
        with self._errors(), self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), dict(params or {})).mappings()]

    def row(self, sql: str, params: Optional[Mapping[str, Any]] = None) -> Optional[dict]:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        row = self.row(sql, params)
        return None if row is None else next(iter(row.values()))

    def table_names(self) -> list[str]:
        with self._errors():
            return sqlalchemy.inspect(self.engine).get_table_names()

    def close(self) -> None:
        """Nothing to release but an unfinished transaction: the engine's pool keeps the connections."""
        if self._transaction is not None:
            self._transaction.close()
            self._transaction = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise
        except OperationalError as exc:
            if self.dialect == "postgresql" or any(sign in str(exc.orig).lower() for sign in SQLITE_UNAVAILABLE):
                raise DatabaseUnavailable(f"database {self.url} is unavailable: {_first_line(exc)}") from exc
            raise StorageError(f"database {self.url} refused a statement: {_first_line(exc)}") from exc
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"database {self.url}: every pooled connection stayed busy") from exc
        except DBAPIError as exc:
            raise StorageError(f"database {self.url} refused a statement: {_first_line(exc)}") from exc


def _first_line(exc: DBAPIError) -> str:
    return (str(exc.orig) or type(exc.orig).__name__).strip().splitlines()[0]


def open_database(url: str | Path, *, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
    """A handle on the database at ``url`` (a path means that SQLite file), on this process's pool.

    Raises
    ------
    ConfigError
        A malformed or unsupported URL.
    StorageError
        The SQLite file's folder cannot be created.
    """
    url = sqlite_url(url) if isinstance(url, Path) else url
    try:
        return Database(engine_for(url, pool_size=pool_size))
    except OSError as exc:
        raise StorageError(f"cannot open database {redacted(url)}: {exc}") from exc


def request_db() -> Database:
    """This request's database handle, shared by the clinic and reader routes."""
    from flask import current_app, g

    if "db" not in g:
        settings = current_app.extensions["imaging_server"]
        g.db = open_database(settings.database_target, pool_size=settings.pool_size)
    return g.db


def current_version(db: Database) -> int:
    """The schema version of the database (0: empty)."""
    if "schema_migrations" not in db.table_names():
        return 0
    return db.scalar("SELECT MAX(version) AS version FROM schema_migrations") or 0


def portable_ddl(statement: str, dialect: str) -> str:
    """A migration statement (written for SQLite) in ``dialect``'s words."""
    if dialect != "postgresql":
        return statement
    statement = re.sub(r"(?m)^(\s*)id INTEGER PRIMARY KEY\b", r"\1id SERIAL PRIMARY KEY", statement)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)


def apply_migrations(db: Database, *, migrations: Optional[tuple] = None) -> list[int]:
    """Apply pending migrations (``migrations``: :data:`MIGRATIONS` unless given, e.g. the first
    versions only, as an older server did), each in its own transaction under the schema lock; return the
    versions applied (by this process: another one preparing at the same time applies the rest)."""
    migrations = MIGRATIONS if migrations is None else migrations
    known = migrations[-1][0]
    applied = []
    for version, name, statements in migrations:
        with db.write():
            db.lock_schema()
            db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                       "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {row["version"] for row in db.rows("SELECT version FROM schema_migrations")}
            found = max(done, default=0)
            if found > known:
                raise StorageError(f"database schema version {found} is newer than this software ({known})")
            problem = migration_order_problem([(v, n) for v, n, _ in migrations], done)
            if problem:
                raise StorageError(f"cannot migrate {db.url}: {problem}")
            if version in done:
                continue
            try:
                for statement in statements:
                    if callable(statement):
                        statement(db)
                    else:
                        db.execute(portable_ddl(statement, db.dialect))
            except StorageError as exc:
                raise StorageError(f"migration {version} ({name}) failed: {exc.message}") from exc
            db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :at)",
                       {"version": version, "name": name, "at": utc_now()})
        applied.append(version)
        logger.info("applied schema migration %s: %s", version, name)
    return applied


def prepare_database(url: str | Path, *, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
    """Open the database (creating a SQLite file and its folder if needed), bring the schema up to
    date, and return the handle."""
    db = open_database(url, pool_size=pool_size)
    apply_migrations(db)
    return db


def existing_database(url: str | Path, *, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
    """Open a database that already holds the CT server's schema, creating nothing.

    Raises
    ------
    StorageError
        No such SQLite file, or a database without the schema.
    """
    if isinstance(url, Path) or checked_url(url).drivername == "sqlite":
        path = Path(url) if isinstance(url, Path) else Path(checked_url(url).database)
        if not path.is_file():
            raise StorageError(f"no CT server database at {path}: pass its --data-dir or --database-url")
    db = open_database(url, pool_size=pool_size)
    if current_version(db) == 0:
        raise StorageError(f"no CT server database at {db.url}: pass its --data-dir or --database-url")
    return db


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The named holders of bearer tokens, by kind: each is a table of (id, name, token_hash, created_at).
TOKEN_HOLDERS = {"clinic": "clinics", "reader": "readers", "programme viewer": "programme_viewers"}


def add_token_holder(db: Database, kind: str, name: str, prefix: str) -> str:
    """Register a clinic, reader or programme viewer (``kind``, see :data:`TOKEN_HOLDERS`) and
    return its bearer token, ``prefix`` and 32 random bytes (only its SHA-256 is stored).

    Raises
    ------
    ValidationError
        The name is not 2-64 lower-case letters, digits, '.', '_' or '-'.
    Conflict
        One of that kind and name exists.
    """
    if not re.match(CLINIC_NAME_PATTERN, name):
        raise ValidationError(f"{kind} name {name!r} must be 2-64 lower-case letters, digits, '.', '_' or '-'")
    token = prefix + secrets.token_urlsafe(32)
    try:
        with db.write():
            db.insert(TOKEN_HOLDERS[kind], {"name": name, "token_hash": hash_token(token), "created_at": utc_now()})
    except IntegrityError as exc:
        raise Conflict(f"a {kind} named {name!r} already exists") from exc
    logger.info("registered %s %s", kind, name)
    return token


def token_holder(db: Database, kind: str, authorization: Optional[str]) -> Optional[dict]:
    """The ``kind`` whose token is in an ``Authorization: Bearer`` header value; None when no
    such token is known.

    Raises
    ------
    AuthenticationError
        Missing header, or not a bearer token.
    """
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthenticationError(f"send the {kind} token as 'Authorization: Bearer <token>'")
    token_hash = hash_token(authorization[len("Bearer "):].strip())
    return db.row(f"SELECT * FROM {TOKEN_HOLDERS[kind]} WHERE token_hash = :hash", {"hash": token_hash})


def add_clinic(db: Database, name: str) -> str:
    """Register a clinic and return its bearer token (:func:`add_token_holder`)."""
    return add_token_holder(db, "clinic", name, TOKEN_PREFIX)


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _set_token_hash(db: Database, name: str, token_hash: str) -> None:
    with db.write():
        changed = db.execute("UPDATE clinics SET token_hash = :hash WHERE name = :name",
                             {"hash": token_hash, "name": name}).rowcount
    if not changed:
        raise NotFound(f"no clinic named {name!r}")


def rotate_clinic_token(db: Database, name: str) -> str:
    """Give a clinic a new token and return it; the old one stops working at once (a revoked
    clinic is reinstated with the new token)."""
    token = _new_token()
    _set_token_hash(db, name, hash_token(token))
    logger.info("rotated the token of clinic %s", name)
    return token


def revoke_clinic(db: Database, name: str) -> None:
    """Stop a clinic's token at once; its referrals and reports are kept."""
    _set_token_hash(db, name, REVOKED_PREFIX + secrets.token_hex(16))
    logger.info("revoked the token of clinic %s", name)


def clinic_for_token(db: Database, authorization: Optional[str]) -> dict:
    """The clinic whose token is in an ``Authorization: Bearer`` header value.

    Raises
    ------
    AuthenticationError
        Missing header, not a bearer token, or an unknown token.
    """
    clinic = token_holder(db, "clinic", authorization)
    if clinic is None:
        raise AuthenticationError("unknown clinic token")
    return clinic


def list_clinics(db: Database) -> list[dict]:
    return [{"name": row["name"], "created_at": row["created_at"],
             "revoked": row["token_hash"].startswith(REVOKED_PREFIX)}
            for row in db.rows("SELECT name, token_hash, created_at FROM clinics ORDER BY name")]
