"""The background thread of ``ildscreen serve`` that writes scheduled online backups."""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from edge.errors import StorageError
from edge.form_drafts import sweep_ended_sessions
from edge.store.backup import backup_database, default_backup_path, rotate_backups
from edge.store.database import open_database

logger = logging.getLogger(__name__)


class BackupWorker(threading.Thread):
    """Every ``interval_s``: drop the typed values that ended sessions still hold, back up the
    database, verify it, keep the newest ``keep``."""

    def __init__(self, database: Path, data_dir: Path, *, interval_s: float, keep: int):
        super().__init__(name="scheduled-backup", daemon=True)
        self.database, self.data_dir = database, data_dir
        self.interval_s, self.keep = interval_s, keep
        self.stopped = threading.Event()

    def run_once(self) -> Path:
        # Swept first, so that a backup does not keep what expired sessions typed (edge.form_drafts),
        # and a service that runs for days without a login still drops it on a schedule. A failed
        # sweep never costs the backup: the next login or round sweeps again.
        try:
            self.sweep_drafts()
        except (StorageError, sqlite3.Error) as exc:
            logger.error("clearing the typed values of ended sessions failed: %s", exc)
        target = backup_database(self.database, default_backup_path(self.data_dir))
        rotate_backups(target.parent, keep=self.keep)
        return target

    def sweep_drafts(self) -> int:
        """Drop the typed values that ended sessions still hold (:func:`sweep_ended_sessions`)."""
        db = open_database(self.database)
        try:
            cleared = sweep_ended_sessions(db)
        finally:
            db.close()
        if cleared:
            logger.info("cleared the typed values of %s ended session(s)", cleared)
        return cleared

    def run(self) -> None:
        # The first backup waits one interval: start-up is not the moment to add disk load.
        while not self.stopped.wait(self.interval_s):
            try:
                logger.info("backup written to %s", self.run_once())
            except StorageError as exc:
                logger.error("scheduled backup failed: %s", exc)

    def stop(self) -> None:
        self.stopped.set()
