"""Removing stored files that no database row references (``ildscreen db sweep-blobs``).

A stored file (a recording, a breath reading) is unreferenced when its row is gone: a restore
of an older backup, an upload whose row was never written (a crash between the file and the
row), a row removed by hand. Such a file is still a patient's sound and should not linger.

What is never removed: a file that a row of the live database references, or a row of a
database kept for going back, ``*.before-restore`` beside the live one (``db restore`` keeps the
replaced file there so a wrong restore can be undone) and the rotated backups in
``backups/``: undoing a restore or restoring a backup must find every file its rows name. A
kept database that cannot be read stops the sweep before anything is removed.

The sweep holds the live database's write lock from listing to removing: an upload commits its
file and its row under that lock, so a file that is committed but not yet referenced is never
seen. It runs safely beside ``ildscreen serve``.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from edge import audit
from edge.errors import StorageError
from edge.store.backup import BACKUP_PREFIX
from edge.store.blobs import SHA256_PATTERN, BlobStore
from edge.store.database import write_transaction

logger = logging.getLogger(__name__)

#: Every (table, column) that holds a stored file's relative path, with the table's sha256 column.
REFERENCING_COLUMNS = (("recordings", "file_path", "sha256"), ("breath_readings", "file_path", "sha256"))
#: Databases kept beside the live one whose rows may come back: undoing a restore, or a backup.
KEPT_DATABASE_GLOBS = ("*.before-restore", f"backups/{BACKUP_PREFIX}*.db")


@dataclass(frozen=True)
class UnreferencedFile:
    """A stored file no live row references: its path inside the store and its size."""

    relative_path: str
    size_bytes: int

    @property
    def sha256(self) -> str:
        return self.relative_path.rsplit("/", 1)[-1]


@dataclass
class SweepReport:
    """What a sweep found: ``removable`` (removed unless a dry run) and ``kept`` (unreferenced by
    the live database but referenced by a kept database, named in ``kept_by``)."""

    dry_run: bool
    removable: list[UnreferencedFile] = field(default_factory=list)
    kept: list[UnreferencedFile] = field(default_factory=list)
    kept_by: dict[str, list[str]] = field(default_factory=dict)
    kept_databases: list[str] = field(default_factory=list)

    @property
    def removable_bytes(self) -> int:
        return sum(item.size_bytes for item in self.removable)


def stored_files(blobs: BlobStore) -> list[tuple[str, int]]:
    """Every file under the store's content addresses (``<2 hex>/<sha256>``), as (relative path,
    size). Anything else in the folder (``tmp/``, a file an admin put there) is not a stored file
    and is never listed."""
    found = []
    if not blobs.root.is_dir():
        return found
    for folder in sorted(blobs.root.iterdir()):
        if not folder.is_dir() or len(folder.name) != 2:
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and SHA256_PATTERN.match(path.name) and path.name[:2] == folder.name:
                found.append((f"{folder.name}/{path.name}", path.stat().st_size))
    return found


def references(conn: sqlite3.Connection) -> set[str]:
    """The relative paths and sha256s that a database's rows reference (tables or columns an
    older schema lacks are skipped)."""
    found: set[str] = set()
    for table, path_column, hash_column in REFERENCING_COLUMNS:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in (path_column, hash_column):
            if column in columns:
                found.update(row[0] for row in conn.execute(
                    f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"))
    return found


def is_referenced(conn: sqlite3.Connection, relative_path: str) -> bool:
    """Whether any row of :data:`REFERENCING_COLUMNS` still names this stored file (a discarded
    take's file is removed only when no other row holds the same content)."""
    return any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {path_column} = ?)",
                            [relative_path]).fetchone()[0]
               for table, path_column, _ in REFERENCING_COLUMNS)


def kept_databases(data_dir: Path) -> list[Path]:
    """The databases kept beside the live one whose rows a restore could bring back."""
    return sorted({path for pattern in KEPT_DATABASE_GLOBS for path in data_dir.glob(pattern) if path.is_file()})


def _kept_references(path: Path) -> set[str]:
    """References of a kept database, read without writing beside it (``immutable``: no -wal or
    -shm file is created, no lock taken; the file is not being written)."""
    try:
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return references(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read {path.name} to learn which stored files it needs ({exc}); nothing "
                           "was removed: move it out of the data folder if it is not needed") from exc


def sweep_unreferenced_files(db: sqlite_utils.Database, blobs: BlobStore, data_dir: Path, *, dry_run: bool,
                             actor: audit.Actor = audit.CLI_OPERATOR) -> SweepReport:
    """Find, and unless ``dry_run`` remove, the stored files that no row references.

    The removal is audited (``sweep_blobs`` on ``blob_store``: how many files, their bytes and
    sha256s, how many were kept for a kept database) and logged with counts only: no patient
    identifier is in either.

    Raises
    ------
    StorageError
        A kept database cannot be read (nothing is removed).
    """
    kept = kept_databases(data_dir)
    kept_refs = {path.relative_to(data_dir).as_posix(): _kept_references(path) for path in kept}
    report = SweepReport(dry_run=dry_run, kept_databases=list(kept_refs))
    with write_transaction(db):
        live = references(db.conn)
        for relative_path, size in stored_files(blobs):
            item = UnreferencedFile(relative_path, size)
            if relative_path in live or item.sha256 in live:
                continue
            needed_by = [name for name, refs in kept_refs.items() if relative_path in refs or item.sha256 in refs]
            if needed_by:
                report.kept.append(item)
                report.kept_by[relative_path] = needed_by
            else:
                report.removable.append(item)
        failure = None
        if not dry_run and report.removable:
            removed = []
            try:
                for item in report.removable:
                    blobs.remove(item.relative_path)
                    removed.append(item)
            except OSError as exc:  # the audit entry still names what was removed before it
                failure = StorageError(f"removing {item.relative_path} failed: {exc.strerror or exc}; "
                                       f"{len(removed)} file(s) were removed before it")
            report.removable = removed
            audit.record(db, actor, "sweep_blobs", "blob_store", None, {
                "removed": len(removed), "bytes": report.removable_bytes,
                "sha256": [item.sha256 for item in removed], "kept_for_kept_databases": len(report.kept)})
    if failure is not None:
        raise failure
    logger.info("blob sweep%s: %s unreferenced stored file(s) %s (%s bytes), %s kept for %s kept database(s)",
                " (dry run)" if dry_run else "", len(report.removable), "found" if dry_run else "removed",
                report.removable_bytes, len(report.kept), len(kept_refs))
    return report
