"""Content-addressed file store for raw captures (audio, device readings) beside the database.

A file is written to a temporary name, fsynced, then renamed to ``<sha256[:2]>/<sha256>``; the
rename is atomic, so a crash leaves either no file or a complete one, never a half-written
file under its final name. Temporary files are removed at start.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge.errors import NotFound, PayloadTooLarge, StorageError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
TEMP_SUFFIX = ".part"
#: A temporary file untouched this long is left by a crash, not an upload in progress (a write
#: touches its file with every 64 KiB chunk). Commands that open the data folder while the service
#: may be receiving a recording clear only these. Programme assumption.
STALE_TEMP_AGE_S = 3600


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    relative_path: str
    size_bytes: int


class PendingBlob:
    """A fully written, fsynced temporary file that is not yet in the store.

    Inspect it through ``path`` (e.g. to decode audio), then ``commit()`` or ``discard()``.
    """

    def __init__(self, store: "BlobStore", temp_path: Path, sha256: str, size_bytes: int):
        self.store = store
        self.path = temp_path
        self.sha256 = sha256
        self.size_bytes = size_bytes

    def commit(self) -> StoredBlob:
        """Move the file to its content address; identical content is stored once."""
        final_path = self.store.path_for(self.sha256)
        final_path.parent.mkdir(parents=True, exist_ok=True)
        if final_path.exists():
            self.path.unlink()
        else:
            os.replace(self.path, final_path)
            fsync_directory(final_path.parent)
        return StoredBlob(self.sha256, final_path.relative_to(self.store.root).as_posix(), self.size_bytes)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "PendingBlob":
        return self

    def __exit__(self, *exc_info) -> None:
        # Whatever was not committed must not linger.
        if self.path.exists():
            self.discard()


class BlobStore:
    """Raw files under ``root``, addressed by their SHA-256."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.temp_dir = self.root / "tmp"

    def initialise(self, *, older_than_s: float = 0.0) -> int:
        """Create the folders and remove temporary files left by a crash; return how many.

        ``older_than_s`` keeps files touched more recently: the service's own start clears every
        leftover (0), while a command run beside a serving process passes
        :data:`STALE_TEMP_AGE_S` so it never deletes the recording being received."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - older_than_s
        stale = []
        for path in self.temp_dir.glob(f"*{TEMP_SUFFIX}"):
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink(missing_ok=True)
                    stale.append(path)
            except FileNotFoundError:  # committed or discarded meanwhile
                continue
        if stale:
            logger.warning("removed %s unfinished upload file(s) left by an interrupted write", len(stale))
        return len(stale)

    def path_for(self, sha256: str) -> Path:
        if not SHA256_PATTERN.match(sha256):
            raise NotFound(f"not a stored file address: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def write_pending(self, stream: BinaryIO, *, max_bytes: int) -> PendingBlob:
        """Copy ``stream`` to a temporary file while hashing it, then fsync it.

        Raises
        ------
        PayloadTooLarge
            When the stream is longer than ``max_bytes`` (nothing is kept).
        """
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        temp_path = self.temp_dir / f"{secrets.token_hex(16)}{TEMP_SUFFIX}"
        digest = hashlib.sha256()
        size = 0
        try:
            with temp_path.open("xb") as handle:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"file is larger than the {max_bytes} byte limit")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temp_path.unlink(missing_ok=True)
            raise
        return PendingBlob(self, temp_path, digest.hexdigest(), size)

    def path_of(self, relative_path: str) -> Path:
        """The stored file at the relative path recorded in the database (inside the store)."""
        path = (self.root / relative_path).resolve()
        if self.root.resolve() not in path.parents:
            raise NotFound(f"stored file path outside the store: {relative_path!r}")
        if not path.is_file():
            raise StorageError(f"stored file is missing: {relative_path}")
        return path

    def open(self, relative_path: str) -> BinaryIO:
        """Open a stored file by the relative path recorded in the database."""
        path = self.path_of(relative_path)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise StorageError(f"stored file is missing: {relative_path}") from exc

    def remove(self, relative_path: str) -> None:
        """Delete a stored file (its last database row is gone); a missing file is not an error."""
        try:
            self.path_of(relative_path).unlink()
        except StorageError:
            return  # already missing
        fsync_directory((self.root / relative_path).parent)

    def check_writable(self) -> None:
        """Raise ``StorageError`` unless a file can be created and removed in the store."""
        probe = self.temp_dir / f"probe-{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"file store {self.root} is not writable: {exc}") from exc


def fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
