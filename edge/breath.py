"""Breath readings of a visit: the raw e-nose file stored, its quality checked, features and score kept.

The score a reading keeps is the one the breath model served when it was read (its ``probability`` and
``model_version``, for the record, with ``scored_at``: when that model gave it, or, for a reading kept
unscored, when Calculate first scored it; NULL for a score given before schema migration 20, whose time is
not recorded). An assessment does not weigh that score: Calculate scores the reading's stored features
with the breath model served then (:func:`score_stored_features`, read by
``edge.modalities.breath_evidence``), as blood tests are scored when the result is calculated, so the
probability and the manifest entry that weighs it are of one model.

Order of operations for an upload, as for recordings: stream the file to a temporary blob
(hashed, size-capped), parse and check it, commit the blob, then insert the row. A file that
cannot be parsed is refused with nothing stored. A reading that parses but fails the quality
checks is stored with its reasons and no probability, so the nurse sees why and repeats it.
A reading that passes them while the breath model is unavailable is stored with its features
and no probability, and scored before the visit is assessed; one whose features the model then served
cannot take stays unscored and does not count, the result saying why, as for a reading scored when read, and
the reading says the same (:func:`why_unscored`); so does a reading of an open visit that kept the score of the
model it was read with, when the served model cannot take its features (:func:`why_not_rescored`).
"""
from __future__ import annotations

import json
import logging
from typing import BinaryIO, NamedTuple, Optional

import sqlite_utils

from edge import audit
from edge.errors import NotFound, ValidationError
from edge.labs import BundledModel, ModelUnavailable, bundled_model, input_error
from edge.patients import get_visit, require_open_visit
from edge.store.blobs import BlobStore
from edge.store.database import utc_now, write_transaction
from tabular_models.breath_io import read_breath_reading
from tabular_models.breath_signal import (
    breath_feature_names,
    breath_feature_vector,
    breath_features,
    check_breath_quality,
)
from tabular_models.errors import TabularInputError

logger = logging.getLogger(__name__)
# Why a reading that passed its checks has no score (``score_unavailable_code``), and its words in the API
# (``score_unavailable``); the page words each from its catalog (``not_scorable``: the words the result gives
# the same reason, i18n ``not_counted_not_scorable``).
UNSCORED = "not scored yet: the breath model is unavailable (see /readyz); scored once it is back"
NOT_SCORED_YET = "not scored yet: read while the breath model was unavailable; assessing the visit scores it"
CLOSED_UNSCORED = ("not scored: read while the breath model was unavailable, and the visit is closed (a closed "
                   "visit is not assessed again)")
UNSCORED_CODES = ("model_unavailable", "not_scorable", "not_scored_yet", "visit_closed")


def score_breath_reading(text: str, *, model: Optional[BundledModel] = None) -> dict:
    """Parse, check and score a reading's file text.

    Returns ``{"probability", "features", "quality", "warnings", "model"}``; ``probability``
    is None (with the reasons in ``warnings``) when the quality checks fail.

    Raises
    ------
    ValidationError
        Naming the column or key when the file is not a readable breath reading.
    ModelUnavailable
        When the breath model cannot be loaded or takes another number of sensors.
    """
    checked = check_breath_file(text)
    model = breath_model(model)
    probability = None if checked["features"] is None else breath_probability(checked["features"], model)
    return {**checked, "probability": probability, "model": model.stamp()}


def check_breath_file(text: str) -> dict:
    """Parse a reading and run its quality checks and features; no model needed.

    Returns ``{"features", "quality", "warnings"}``; ``features`` is None when quality fails.
    """
    try:
        reading = read_breath_reading(text)
        quality = check_breath_quality(reading)
        features = breath_features(reading) if quality["ok"] else None
    except TabularInputError as exc:
        raise input_error(exc) from exc
    return {"features": features, "quality": quality, "warnings": [issue["reason"] for issue in quality["issues"]]}


def breath_model(model: Optional[BundledModel] = None) -> BundledModel:
    """The served breath model, checked against the features this software computes."""
    model = model or bundled_model("breath")
    if model.feature_order != breath_feature_names(int(model.entry["n_sensors"])):
        raise ModelUnavailable("the installed breath model expects other features than this software computes")
    return model


def breath_probability(features: dict, model: BundledModel) -> float:
    """Calibrated ILD probability of a reading's features."""
    try:
        row = breath_feature_vector(features, n_sensors=int(model.entry["n_sensors"]))
    except TabularInputError as exc:
        raise input_error(exc) from exc
    return float(model.probability(row)[0])


class StoredFeaturesScore(NamedTuple):
    """A stored reading's features scored by the served breath model (:func:`score_stored_features`):
    ``probability`` (None when that model cannot score them), ``model_version`` (the served model's
    label) and ``unscorable`` (why not, in plain words; None when scored)."""

    probability: Optional[float]
    model_version: str
    unscorable: Optional[str]


def score_stored_features(features: dict) -> StoredFeaturesScore:
    """Score a reading's stored features with the served breath model, as Calculate weighs it.

    Features the served model cannot take (it expects other features than this software computes, or
    another number of sensors than the reading has, or one the reading lacks) give no probability and
    say why: the reading then does not count, rather than its old score being weighed as the new model's.

    Raises
    ------
    ModelUnavailable
        When no breath model can be loaded: the assessment is refused, as it is for blood tests.
    """
    model = bundled_model("breath")
    try:
        model = breath_model(model)
        return StoredFeaturesScore(breath_probability(features, model), model.version_label, None)
    except ModelUnavailable as exc:  # breath_model: loaded, but its feature order is not this software's
        return StoredFeaturesScore(None, model.version_label, exc.message)
    except ValidationError as exc:  # breath_probability: another number of sensors
        return StoredFeaturesScore(None, model.version_label, f"the served breath model cannot score the "
                                   f"reading's features: {exc.message}")
    except KeyError as exc:
        return StoredFeaturesScore(None, model.version_label, f"the reading's features lack {exc.args[0]!r}, "
                                   "which the served breath model takes")


def score_unscored_breath_readings(db: sqlite_utils.Database, visit_id: int) -> int:
    """Give the visit's readings stored while the breath model was unavailable their first score, for the
    record (before assessing; returns how many were scored). Each is scored as Calculate weighs a reading
    (:func:`score_stored_features`), by one rule for every reading: one whose features the served model
    cannot take stays unscored, and the result leaves it out saying why (``not_scorable``), as it does a
    reading scored when it was read; Calculate goes on.

    Raises
    ------
    ModelUnavailable
        When such readings exist and no breath model can be loaded.
    """
    rows = db.execute_returning_dicts(
        "SELECT id, features FROM breath_readings WHERE visit_id = ? AND features IS NOT NULL "
        "AND probability IS NULL ORDER BY id", [visit_id])
    scored = 0
    for row in rows:
        try:
            score = score_stored_features(json.loads(row["features"]))
        except ModelUnavailable as exc:
            raise ModelUnavailable(f"{len(rows)} breath reading(s) of visit {visit_id} are not scored: {exc.message}; "
                                   "they are kept and scored once the model is back") from exc
        if score.probability is None:
            logger.warning("breath reading kept unscored: %s", score.unscorable)
            continue
        with write_transaction(db):
            db["breath_readings"].update(row["id"], {"probability": score.probability,
                                                     "model_version": score.model_version, "scored_at": utc_now()})
        scored += 1
    if scored:
        logger.info("scored %s breath reading(s) stored while the breath model was unavailable", scored)
    return scored


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("breath reading is not UTF-8 text (CSV or JSON expected)",
                              fields=[{"field": "file", "reason": "not UTF-8 text"}]) from exc


def why_unscored(features: dict, *, visit_open: bool) -> tuple[str, str]:
    """Why a reading with ``features`` (it passed its checks) has no score, as the served breath model now
    finds it: ``(code, words)``, ``code`` one of :data:`UNSCORED_CODES`. ``not_scorable``: the served model
    cannot take its features (:func:`score_stored_features`'s reason, the one the result leaves it out for);
    else, of a closed visit (``visit_open`` False), ``visit_closed``: nothing scores it any more
    (``edge.patients.require_open_visit``); of an open one, ``model_unavailable``: no breath model
    can be loaded (Calculate scores it once one is back), or ``not_scored_yet``: the served model can score
    it, and Calculate does (:func:`score_unscored_breath_readings`)."""
    score = _served_score(features)
    if score is not None and score.probability is None:
        return "not_scorable", score.unscorable
    if not visit_open:
        return "visit_closed", CLOSED_UNSCORED
    if score is None:
        return "model_unavailable", UNSCORED
    return "not_scored_yet", NOT_SCORED_YET


def why_not_rescored(features: dict) -> Optional[str]:
    """Why the served breath model cannot score a reading that kept a score (read with another model), in
    plain words; None when it can, or when no breath model loads. The kept score is the record of the model
    it was read with; Calculate does not weigh it but scores the features with the served model
    (:func:`score_stored_features`), which leaves such a reading out (``not_scorable``): the reading of an open
    visit says so before Calculate, as the result will, so a reading shown as fine never meets a result that
    leaves it out unsaid. A closed visit's readings are not: nothing calculates its result again."""
    score = _served_score(features)
    return score.unscorable if score is not None and score.probability is None else None


def _served_score(features: dict) -> Optional[StoredFeaturesScore]:
    """The reading's features scored by the served breath model; None when no breath model loads."""
    try:
        return score_stored_features(features)
    except ModelUnavailable:
        return None


def _public(row: dict, *, visit_open: bool) -> dict:
    for column in ("features", "quality"):
        row[column] = json.loads(row[column]) if row[column] else None
    row["score_unavailable_code"], row["score_unavailable"] = None, None
    if row["features"] is not None and row["probability"] is None:
        row["score_unavailable_code"], row["score_unavailable"] = why_unscored(row["features"], visit_open=visit_open)
    elif row["features"] is not None and visit_open and (reason := why_not_rescored(row["features"])):
        row["score_unavailable_code"], row["score_unavailable"] = "not_scorable", reason
    for private in ("file_path", "created_by", "device_id"):
        row.pop(private, None)
    return row


def get_breath_reading(db: sqlite_utils.Database, reading_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM breath_readings WHERE id = ?", [reading_id])
    if not rows:
        raise NotFound(f"no breath reading with id {reading_id}")
    return _public(rows[0], visit_open=get_visit(db, rows[0]["visit_id"])["status"] == "open")


def list_breath_readings(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    visit_open = get_visit(db, visit_id)["status"] == "open"
    rows = db.execute_returning_dicts("SELECT * FROM breath_readings WHERE visit_id = ? ORDER BY id", [visit_id])
    return [_public(row, visit_open=visit_open) for row in rows]


#: Largest breath reading file: checked while the upload streams to disk, before anything is
#: parsed. A capture at 10 Hz for 5 minutes from 8 sensors is about 0.2 MB; 4 MB leaves room
#: for 20 times that (programme assumption) while parsing stays within tens of MB.
MAX_BREATH_FILE_BYTES = 4 * 1024 * 1024


def add_breath_reading(
    db: sqlite_utils.Database, blobs: BlobStore, actor: audit.Actor, visit_id: int, *,
    stream: BinaryIO, max_bytes: int, source: str = "upload", device_id: Optional[str] = None,
) -> dict:
    """Store a breath reading file for an open visit with its quality, features and probability.

    The file streams to disk and is refused (413) past ``max_bytes`` or ``MAX_BREATH_FILE_BYTES``,
    whichever is smaller, before it is read.
    """
    require_open_visit(db, visit_id)
    with blobs.write_pending(stream, max_bytes=min(max_bytes, MAX_BREATH_FILE_BYTES)) as pending:
        scored = check_breath_file(_decode(pending.path.read_bytes()))
        try:
            model = breath_model()
            scored["probability"] = (None if scored["features"] is None
                                     else breath_probability(scored["features"], model))
            model_version = model.version_label
        except ModelUnavailable as exc:
            # Kept unscored: scored before the visit is assessed, once the model is back.
            logger.warning("breath reading kept unscored: %s", exc)
            scored["probability"], model_version = None, None
        with write_transaction(db):
            require_open_visit(db, visit_id)
            # File and row under one write lock (as add_recording): a discard or a blob sweep
            # never finds the file committed but not yet referenced.
            stored = pending.commit()
            now = utc_now()
            reading_id = db["breath_readings"].insert({
                "visit_id": visit_id, "source": source, "device_id": device_id, "sha256": stored.sha256,
                "file_path": stored.relative_path,
                "features": json.dumps(scored["features"]) if scored["features"] is not None else None,
                "quality": json.dumps(scored["quality"]), "probability": scored["probability"],
                "model_version": model_version, "scored_at": now if scored["probability"] is not None else None,
                "created_at": now, "created_by": actor.user_id,
            }).last_pk
            audit.record(db, actor, "add_breath_reading", "visit", visit_id, {"breath_reading_id": reading_id})
    logger.info("stored breath reading %s (quality ok: %s)", reading_id, scored["quality"]["ok"])
    return get_breath_reading(db, reading_id)
