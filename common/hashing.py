"""The sha256 of a file, the one way every package computes it (model manifests, bundles,
downloaded data sets). Standard library only: the serving path imports it without torch."""
from __future__ import annotations

import hashlib
import json
import os

#: Bytes read per step: a model or a data archive is hashed without being held in memory.
READ_BLOCK_BYTES = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MB blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     file = pathlib.Path(folder, "empty")
    ...     _ = file.write_bytes(b"")
    ...     sha256_file(file)
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(READ_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def json_digest(value) -> str:
    """Hex sha256 of ``value`` as canonical JSON (keys sorted, no spaces, ASCII): the digest of a model's
    manifest entry that results keep (``edge.inference.models.entry_digest``) and that a re-issue names
    (``results_unchanged_from``, :mod:`audio_models.export`).

    Examples
    --------
    >>> json_digest({"b": 1, "a": [1.5, None]}) == json_digest({"a": [1.5, None], "b": 1})
    True
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
