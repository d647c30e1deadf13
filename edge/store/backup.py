"""Online backups of the SQLite database (consistent while the service keeps writing),
rotation, and restore.

SQLite's backup API copies a consistent snapshot page by page while other connections keep
writing (https://www.sqlite.org/backup.html); each copy is checked with ``PRAGMA
integrity_check`` before it is kept. Raw files are content-addressed and never rewritten, so
backing up the database plus ``blobs/`` (e.g. with rsync) is enough to restore a clinic.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import sqlite_utils

from edge import audit
from edge.errors import StorageError
from edge.store.database import open_database, read_only, read_only_tables, write_transaction
from edge.store.migrations import KEPT_ID_TABLES, apply_migrations, highest_audited_id, raise_id_sequence
from edge.store.restore_credentials import CurrentCredentials, carry_credentials, read_credentials
from edge.store.restore_records import AfterBackup, carry_records, highest_audit_id, read_after_backup

logger = logging.getLogger(__name__)

BACKUP_PREFIX = "ildscreen-"
PID_FILE_NAME = "ildscreen.pid"


def _integrity(connection: sqlite3.Connection) -> str:
    return connection.execute("PRAGMA integrity_check").fetchone()[0]


def backup_database(source: Path, destination: Path) -> Path:
    """Copy the live database to ``destination`` with SQLite's online backup API and verify it.

    Raises
    ------
    StorageError
        When the destination exists, cannot be written, or fails ``PRAGMA integrity_check``.
    """
    if destination.exists():
        raise StorageError(f"backup destination already exists: {destination}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        # The copy inherits WAL mode from the source; closing its last connection (a ``with``
        # block only commits) checkpoints it and removes its -wal and -shm files, so the backup
        # is one self-contained file.
        with contextlib.closing(sqlite3.connect(str(source))) as src, \
                contextlib.closing(sqlite3.connect(str(partial))) as dst:
            src.backup(dst)
            verdict = _integrity(dst)
        if verdict != "ok":
            raise StorageError(f"backup failed its integrity check: {verdict}")
        partial.replace(destination)
    except sqlite3.Error as exc:
        raise StorageError(f"backup of {source} failed: {exc}") from exc
    finally:
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
    return destination


def default_backup_path(data_dir: Path) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return data_dir / "backups" / f"{BACKUP_PREFIX}{stamp}.db"


def rotate_backups(folder: Path, *, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups in ``folder``; return what was deleted."""
    if keep < 1:
        raise StorageError(f"keep must be at least 1, got {keep}")
    backups = sorted(folder.glob(f"{BACKUP_PREFIX}*.db"))
    doomed = backups[:-keep]
    for path in doomed:
        path.unlink()
    return doomed


def service_pid(data_dir: Path) -> int | None:
    """The pid of a running ``ildscreen serve`` on this data folder, if any.

    A pid file copied with the folder, or left by a service that was killed, may name a dead
    process or one that is something else now: only a live process whose command line is
    ``ildscreen ... serve`` (the console script or ``python -m edge``) counts.
    """
    pid_file = data_dir / PID_FILE_NAME
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:  # alive, owned by someone else: judged by its command line below
        pass
    return pid if is_ildscreen_service(pid) else None


def claim_pid_file(data_dir: Path) -> Path | None:
    """Name this process in the data folder's pid file, unless a live service already holds it.

    A second service on the same folder (two processes may serve one database) leaves the
    first one's file alone: the file always names a live ``ildscreen serve``, and a running
    service is never hidden from ``db restore`` by another one's start or exit. Returns the
    file when this process owns it (give it to :func:`release_pid_file` at exit), else None.
    """
    holder = service_pid(data_dir)
    if holder is not None and holder != os.getpid():
        logger.warning("ildscreen serve (pid %s) already runs on this data folder; its pid file is kept", holder)
        return None
    pid_file = data_dir / PID_FILE_NAME
    staged = pid_file.with_name(f"{PID_FILE_NAME}.{os.getpid()}")
    staged.write_text(f"{os.getpid()}\n")
    staged.replace(pid_file)  # a reader never sees a half-written pid
    return pid_file


def release_pid_file(pid_file: Path) -> None:
    """Remove the pid file if it still names this process (only its owner removes it)."""
    try:
        if int(pid_file.read_text().strip()) == os.getpid():
            pid_file.unlink()
    except (OSError, ValueError):
        pass  # gone, or replaced by hand: nothing of ours to remove


def database_in_use(database: Path) -> bool:
    """Whether another connection holds ``database`` open (``ildscreen serve`` keeps one open for
    its whole run, so a service whose pid file is gone is still seen).

    In WAL mode every open connection holds a shared lock on the wal-index; an exclusive lock
    is granted only when no other connection has the file open.
    """
    if not database.is_file():
        return False
    probe = sqlite3.connect(str(database), timeout=0, isolation_level=None)
    try:
        probe.execute("PRAGMA locking_mode = EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise StorageError(f"cannot check whether {database} is in use ({exc}); if the file is damaged, move it "
                           "out of the data folder first") from exc
    finally:
        probe.close()
    return False


def is_ildscreen_service(pid: int) -> bool:
    """Whether ``pid`` runs ``ildscreen serve``; where /proc is missing, any live process counts."""
    if not Path("/proc/self").exists():
        return True  # not Linux: a live pid is all there is to go on
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # ended since
        return False
    names = [Path(argument.decode(errors="replace")).name for argument in arguments]
    launched = "ildscreen" in names or any(names[i:i + 2] == ["-m", "edge"] for i in range(len(names)))
    return launched and "serve" in names


def ids_handed_out(database: Path) -> dict[str, int]:
    """Per table whose ids leave the database (:data:`edge.store.migrations.KEPT_ID_TABLES`), the
    highest id ``database`` has handed out: its AUTOINCREMENT sequence, its highest row, and the
    highest id its audit trail names (a file from before those tables kept their ids). {} when
    there is no file.

    Raises
    ------
    StorageError
        When the file cannot be read as a database.
    """
    if not database.exists():
        return {}
    with read_only_tables(database, "cannot read which ids {database} has handed out ({exc}), so a restore could "
                                    "hand them out again; if the file is damaged, move it out of the data folder and "
                                    "restore again (nothing was changed)") as (connection, tables):
        current = sqlite_utils.Database(connection)
        sequences = dict(connection.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
                         if "sqlite_sequence" in tables else [])
        highest = {}
        for table, entities in KEPT_ID_TABLES.items():
            if table in tables:
                highest[table] = max(
                    sequences.get(table) or 0,
                    connection.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0],
                    highest_audited_id(current, entities) if "audit_log" in tables else 0)
        return highest


@dataclass(frozen=True)
class Restored:
    """What a restore did besides putting the backup in place."""

    #: Table to the highest id kept out of use (only the sequences that were raised).
    ids_raised: dict[str, int]
    #: What :func:`~edge.store.restore_credentials.carry_credentials` did, as counts.
    credentials: dict[str, int]
    #: What :func:`~edge.store.restore_records.carry_records` kept of the replaced database: the audit
    #: entries written after the backup, the referrals (ids) carried, updated or not carried, the
    #: confirmed outcomes (ids) carried or not carried ({}: no database was replaced).
    records: dict


def restore_database(backup: Path, database: Path) -> Restored:
    """Replace the database with a verified backup. The service must be stopped.

    The backup is copied beside the database, migrated to this software's schema, and every id
    sequence of :data:`~edge.store.migrations.KEPT_ID_TABLES` is raised to at least the highest id
    the replaced database handed out: a patient, visit, recording or referral created after the
    backup (named by the audit trail kept in ``.before-restore``, an open page, a link, the
    programme figures' ``sequence`` at the hospital) never has its id given to another row. The
    copy's accounts and API tokens take the replaced database's security state and all its
    sessions end (:mod:`edge.store.restore_credentials`): a restore never brings back a revoked
    credential. The audit entries written after the backup, and the referrals with their outbox
    state, CT results and what a referral made after the backup stands on, and the confirmed
    outcomes entered after the backup with their patient, are carried into the copy
    (:mod:`edge.store.restore_records`): the trail runs on unbroken, the hospital's results keep
    coming and the advice an outcome decides stays. The restore is audited in the restored
    database, after those entries. Only then does the copy take the database's place, so a refusal
    or a failure leaves the current database as it was. The current file is kept beside it as
    ``<name>.before-restore`` so a wrong restore can be undone.

    Returns the sequences raised and what the credential and record carry-overs did
    (:class:`Restored`).
    A refused or failed restore also leaves no ``-wal``/``-shm`` file its reads made beside the
    current database or the backup (:func:`~edge.store.database.read_only`).

    Raises
    ------
    StorageError
        When the data folder is missing, the service is running, the backup is missing, not
        SQLite, corrupt, not an ildscreen database or newer than this software, or the current
        database cannot be read.
    """
    if not database.parent.is_dir():
        raise StorageError(f"no data folder at {database.parent}: create it with 'ildscreen db init --data-dir "
                           f"{database.parent}' first, or pass the clinic's --data-dir")
    pid = service_pid(database.parent)
    if pid is not None:
        raise StorageError(f"ildscreen serve is running on this data folder (pid {pid}); stop it before restoring")
    if database_in_use(database):
        raise StorageError(f"{database} is open in another process (a running ildscreen serve or command); "
                           "stop it before restoring")
    if not backup.is_file():
        raise StorageError(f"no backup file at {backup}")
    try:
        with read_only(backup) as check:
            verdict = _integrity(check)
            versioned = check.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                      "AND name = 'schema_migrations'").fetchone()
            backup_audit_id = highest_audit_id(check) if verdict == "ok" else 0
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{backup} is not a usable SQLite database: {exc}") from exc
    if verdict != "ok":
        raise StorageError(f"{backup} failed its integrity check: {verdict}")
    if not versioned:
        raise StorageError(f"{backup} is not an ildscreen database (it has no schema version)")
    handed_out = ids_handed_out(database)
    credentials = read_credentials(database)
    after = read_after_backup(database, backup_audit_id)
    staged = database.with_name(database.name + ".restoring")
    _remove_with_journal(staged)  # left by a restore that was killed
    try:
        with contextlib.closing(sqlite3.connect(str(backup))) as src, \
                contextlib.closing(sqlite3.connect(str(staged))) as dst:
            src.backup(dst)
        restored = _prepare_copy(staged, handed_out, credentials, after, backup)
        # Migrating the copy takes a while: a service or command started since would be replaced
        # under its feet, or have handed out ids (or changed credentials) the copy does not keep.
        if (database_in_use(database) or ids_handed_out(database) != handed_out
                or read_credentials(database) != credentials
                or read_after_backup(database, backup_audit_id) != after):
            raise StorageError(f"{database} was opened or written while the backup was being prepared; stop what "
                               "uses it and restore again (nothing was changed)")
        if database.exists():
            with contextlib.closing(sqlite3.connect(str(database))) as current:
                current.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            previous = database.with_name(database.name + ".before-restore")
            database.replace(previous)
            for suffix in ("-wal", "-shm"):
                Path(str(database) + suffix).unlink(missing_ok=True)
            try:
                staged.replace(database)
            except OSError:
                previous.replace(database)  # put the current database back rather than leave none
                raise
        else:
            staged.replace(database)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"restore from {backup} failed, the database was not replaced: {exc}") from exc
    finally:
        _remove_with_journal(staged)
    logger.info("restored the database from %s; id sequences raised: %s; credentials: %s; kept: %s", backup.name,
                restored.ids_raised, restored.credentials, restored.records)
    return restored


def _remove_with_journal(path: Path) -> None:
    """Remove a database file and the journal files SQLite may have left beside it."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)


def _prepare_copy(staged: Path, handed_out: dict[str, int], credentials: Optional[CurrentCredentials],
                  after: Optional[AfterBackup], backup: Path) -> Restored:
    """Migrate the staged copy, raise its id sequences to ``handed_out``, give it the current
    ``credentials`` (:func:`~edge.store.restore_credentials.carry_credentials`), write in the audit
    entries, referrals and outcomes of ``after`` (:func:`~edge.store.restore_records.carry_records`); audit the
    restore, as the trail's newest entry."""
    db = open_database(staged)
    try:
        apply_migrations(db)
        with write_transaction(db):
            carried = carry_credentials(db, credentials)
            kept = carry_records(db, after)  # first: an id it writes back is in use, not just kept out of use
            sequences = dict(db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
            raised = {table: highest for table, highest in handed_out.items()
                      if table in sequences and highest > sequences[table]}
            for table, highest in raised.items():
                raise_id_sequence(db, table, highest)
            audit.record(db, audit.CLI_OPERATOR, "restore", "database", None,
                         {"backup": backup.name, "id_sequences_raised": raised, "credentials": carried,
                          "kept_from_replaced": kept})
        verdict = _integrity(db.conn)
    finally:
        db.close()
    if verdict != "ok":
        raise StorageError(f"the restored copy failed its integrity check: {verdict}")
    return Restored(ids_raised=raised, credentials=carried, records=kept)
