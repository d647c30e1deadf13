"""What a model's manifest entry says in words and what its results are made of: the one home of
the rule by which a re-issue that changed only its words gives the results of the entry it replaces
(``results_unchanged_from``). The export writes the list (:mod:`audio_models.export`); the clinic
reads it (:mod:`edge.inference.models`, :mod:`edge.freshness`) and checks it at install
(:mod:`edge.inference.bundles`). It is also the one writer of a ``manifest.json`` (:func:`write_entries`), which
both trainings call (:mod:`audio_models.export`, :mod:`tabular_models.training.train`). Standard library only:
the serving path imports it."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

#: The entry's list of earlier entries' digests (``common.hashing.json_digest``, as results keep them:
#: ``edge.inference.models.entry_digest``) whose results it gives unchanged.
RESULTS_UNCHANGED_FROM = "results_unchanged_from"

#: The parts of an entry that are words about the model, not what its results are made of: a re-issue that
#: changes only these (the same weights, files, calibration, thresholds and figures) gives every stored result
#: unchanged. Each is ``(key, sub-key or None)``.
WORDING = (("validation_status", "statement"), ("validation_status", "caveats"),
           ("validation_status", "training_population"), ("training_data", "population"),
           ("training_data", "datasets"), ("evaluation_data", None), (RESULTS_UNCHANGED_FROM, None))


def without_words(entry: dict) -> dict:
    """``entry`` as JSON reads it back (tuples are lists), without :data:`WORDING`: what its results are made of.

    Examples
    --------
    >>> without_words({"threshold": 0.2, "validation_status": {"statement": "words", "unit": "patient"}})
    {'threshold': 0.2, 'validation_status': {'unit': 'patient'}}
    """
    entry = json.loads(json.dumps(entry))
    for key, sub in WORDING:
        if sub is None:
            entry.pop(key, None)
        elif isinstance(entry.get(key), dict):
            entry[key].pop(sub, None)
    return entry


def differences_beyond_words(earlier: dict, entry: dict) -> list[str]:
    """The top-level keys (``key.sub`` inside a changed object) in which ``entry`` and ``earlier`` differ beyond
    :data:`WORDING`, sorted: empty when ``entry`` may name ``earlier`` in its ``results_unchanged_from``.

    Examples
    --------
    >>> differences_beyond_words({"threshold": 0.2, "calibration": {"a": 1.0, "b": 0.0}},
    ...                          {"threshold": 0.3, "calibration": {"a": 1.0, "b": 0.1}})
    ['calibration.b', 'threshold']
    """
    before, after = without_words(earlier), without_words(entry)
    changed = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [f"{key}.{sub}" for sub in sorted(set(old) | set(new)) if old.get(sub) != new.get(sub)]
        else:
            changed.append(key)
    return changed


def write_entries(manifest_path: Path, entries: dict) -> Path:
    """Insert or replace ``entries`` (model name: entry) in ``manifest_path``, keeping the other models'
    entries and the order the manifest has them in. Deterministic: keys as the entries are built, floats as
    ``json`` writes them (the shortest text that reads back as the same float: rounding would change
    ``edge.inference.models.entry_digest``, which results keep and ``edge.freshness`` compares).

    Written to a temporary file beside it and renamed over it, so a run stopped halfway (a crash, Ctrl-C, a
    full disk) leaves the manifest as it was, never a torn one that no clinic could read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "manifest.json"
    >>> _ = write_entries(path, {"labs": {"version": "1.0.0"}})
    >>> _ = write_entries(path, {"auscultation": {"version": "0.6.0"}})
    >>> list(json.loads(path.read_text())["models"])
    ['labs', 'auscultation']
    """
    manifest_path = Path(manifest_path)
    exists = manifest_path.is_file()
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if exists else {}
    manifest.setdefault("models", {}).update(entries)
    # mkstemp makes the file readable by its owner only: keep the manifest's own mode (a new one, 0644).
    mode = manifest_path.stat().st_mode & 0o777 if exists else 0o644
    fd, temporary = tempfile.mkstemp(dir=manifest_path.parent, prefix=f".{manifest_path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, manifest_path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return manifest_path
