"""The background thread of ``ildscreen serve`` that writes scheduled online backups."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from edge.errors import StorageError
from edge.store.backup import backup_database, default_backup_path, rotate_backups

logger = logging.getLogger(__name__)


class BackupWorker(threading.Thread):
    """Every ``interval_s``: back up the database, verify it, keep the newest ``keep``."""

    def __init__(self, database: Path, data_dir: Path, *, interval_s: float, keep: int):
        super().__init__(name="scheduled-backup", daemon=True)
        self.database, self.data_dir = database, data_dir
        self.interval_s, self.keep = interval_s, keep
        self.stopped = threading.Event()

    def run_once(self) -> Path:
        target = backup_database(self.database, default_backup_path(self.data_dir))
        rotate_backups(target.parent, keep=self.keep)
        return target

    def run(self) -> None:
        # The first backup waits one interval: start-up is not the moment to add disk load.
        while not self.stopped.wait(self.interval_s):
            try:
                logger.info("backup written to %s", self.run_once())
            except StorageError as exc:
                logger.error("scheduled backup failed: %s", exc)

    def stop(self) -> None:
        self.stopped.set()
