"""Online backups of the SQLite database: consistent while the service keeps writing."""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from edge.errors import StorageError


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
        with sqlite3.connect(str(source)) as src, sqlite3.connect(str(partial)) as dst:
            src.backup(dst)
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise StorageError(f"backup failed its integrity check: {verdict}")
        partial.replace(destination)
    except sqlite3.Error as exc:
        raise StorageError(f"backup of {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return destination


def default_backup_path(data_dir: Path) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return data_dir / "backups" / f"ildscreen-{stamp}.db"
