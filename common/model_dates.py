"""A model manifest entry's ``created``: the date its weights were made, not the day of the run that
wrote the entry, so that re-issuing the same weights (the same data and seed, or the crackle model's
``--reuse-weights``) writes the same bytes on any day. The crackle export (torch) and the tabular
training (scikit-learn) both date their entries here. Standard library only."""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Callable, Optional


def weights_created(manifest_path: Path, model: str, *, weights: Path, digest: str,
                    recorded_digest: Callable[[dict], Optional[str]]) -> str:
    """The ``created`` date (ISO) of ``model``'s entry about to be written to ``manifest_path``.

    That is the entry the manifest holds now's ``created`` when the weights it records
    (``recorded_digest(entry)``) are ``digest``, the sha256 of ``weights`` (these very weights), else the
    UTC date ``weights`` was last written: a run that made them wrote the file today.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> weights = folder / "m.onnx"
    >>> _ = weights.write_bytes(b"w")
    >>> os.utime(weights, (1893585600, 1893585600))  # written 2030-01-02 12:00 UTC
    >>> def recorded(entry):
    ...     return entry["sha256"]
    >>> weights_created(folder / "manifest.json", "m", weights=weights, digest="ab", recorded_digest=recorded)
    '2030-01-02'
    >>> _ = (folder / "manifest.json").write_text('{"models": {"m": {"created": "2026-11-22", "sha256": "ab"}}}')
    >>> weights_created(folder / "manifest.json", "m", weights=weights, digest="ab", recorded_digest=recorded)
    '2026-11-22'
    """
    manifest_path = Path(manifest_path)
    models = json.loads(manifest_path.read_text(encoding="utf-8")).get("models", {}) if manifest_path.is_file() else {}
    existing = models.get(model) or {}
    if existing.get("created") and recorded_digest(existing) == digest:
        return existing["created"]
    written = Path(weights).stat().st_mtime
    return datetime.datetime.fromtimestamp(written, datetime.timezone.utc).date().isoformat()
