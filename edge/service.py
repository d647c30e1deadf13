"""Opening a data folder: directories, schema migrations, first admin, resources per request.

Shared by ``ildscreen serve``, the ``db`` and ``users`` commands and the Flask app, so every
entry point sees the same layout and the same migrated schema.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from dataclasses import dataclass
from typing import Optional

import sqlite_utils

from edge.config import Settings
from edge.errors import StorageError
from edge.form_drafts import sweep_ended_sessions
from edge.store.blobs import STALE_TEMP_AGE_S, BlobStore
from edge.store.database import open_database
from edge.store.migrations import apply_migrations
from edge.users import ensure_first_admin

logger = logging.getLogger(__name__)


@dataclass
class DataFolder:
    """The resources of one data folder: where the database and the raw files live."""

    settings: Settings
    blobs: BlobStore
    site_secret: bytes

    def connect(self) -> sqlite_utils.Database:
        return open_database(self.settings.database_path)


def prepare_data_folder(settings: Settings, *, unfinished_older_than_s: float = 0.0) -> tuple[DataFolder, Optional[str]]:
    """Create folders, migrate the schema, clear unfinished uploads and the typed values of ended
    sessions, create the first admin.

    ``unfinished_older_than_s`` keeps upload files touched more recently (a command run while the
    service may be writing one, :func:`open_existing_data_folder`).

    Returns
    -------
    (data_folder, first_admin_password)
        The password is set only when this call created the first admin; show it once.
    """
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create data folder {settings.data_dir}: {exc}") from exc
    folder = DataFolder(settings, BlobStore(settings.blob_dir), load_site_secret(settings.site_secret_path))
    folder.blobs.initialise(older_than_s=unfinished_older_than_s)
    db = folder.connect()
    try:
        apply_migrations(db)
        # Typed values of sessions that expired while the service was down go at start-up.
        sweep_ended_sessions(db)
        password = ensure_first_admin(db)
    finally:
        db.close()
    return folder, password


def open_existing_data_folder(settings: Settings) -> DataFolder:
    """Open (and migrate) a data folder that ``db init`` or ``serve`` created.

    Every other command uses this, never :func:`prepare_data_folder`: run from the wrong folder,
    it would make a stray ./data with an admin whose password nobody saw.

    Raises
    ------
    StorageError
        There is no database in ``settings.data_dir``; the message names the folder and the fix.
    """
    require_database(settings)
    folder, _ = prepare_data_folder(settings, unfinished_older_than_s=STALE_TEMP_AGE_S)
    return folder


def require_database(settings: Settings) -> None:
    """Raise ``StorageError`` naming the folder and the fix unless ``db init`` or ``serve`` made
    a database in ``settings.data_dir``."""
    if not settings.database_path.is_file():
        raise StorageError(
            f"no database at {settings.database_path.resolve()}: pass the clinic's --data-dir (or set "
            f"ILDSCREEN_DATA_DIR), or create one with 'ildscreen db init --data-dir {settings.data_dir}'")


def load_site_secret(path: Path) -> bytes:
    """The clinic's secret for pseudonyms sent to the hospital; created once, readable by the owner only.

    Losing it breaks the link between a patient's earlier and later referrals, so it belongs
    in backups (it is in the data folder).
    """
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    secret = path.read_bytes()
    if len(secret) < 32:
        raise StorageError(f"site secret {path} is truncated ({len(secret)} bytes); restore it from a backup")
    return secret
