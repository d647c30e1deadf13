"""Lung-sound recordings of a visit: stored atomically and content-addressed, then registered.

Order of operations for an upload: stream to a temporary file (hashing, size-capped), fsync,
decode the header to check it is audio, rename to the content address, then insert the row.
A crash at any point leaves either nothing registered or a complete file with its row.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Collection, NamedTuple, Optional

import sqlite_utils

from audio_models.errors import AudioLimitError, ModelError, UnreadableAudioError
from audio_models.io import read_header
from audio_models.limits import DEFAULT_AUDIO_LIMITS, AudioLimits
from edge import audit
from edge.auscultation import score_recording, served_stethoscope_validation, windows_with_crackles
from edge.fusion.evidence import ValidationRule
from edge.errors import (ModelUnavailable, NotFound, PayloadTooLarge, ServiceBusy, StorageError, TakeAudioMissing,
                         TakeDiscarded, ValidationError)
from edge.inference.models import same_results, version_label
from edge.patients import require_open_visit
from edge.store.blob_sweep import is_referenced
from edge.store.blobs import BlobStore, PendingBlob
from edge.store.database import utc_now, write_transaction
from edge.vocabulary import (CHEST_PIECE_NOT_STATED, CHEST_PIECES, CHEST_SITES, CRACKLES_HEARD, STETHOSCOPE_NOT_STATED,
                             stethoscope_name_problem, unknown_word_message)

logger = logging.getLogger(__name__)
AUDIO_MEDIA_TYPES = {"WAV": "audio/wav", "FLAC": "audio/flac"}
# A plain file name: no folders, no parent references, no control characters.
SAFE_FILE_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")
SHORTEST_RECORDING_S = 0.5
# The ``reason`` of a refused take's ``file`` field, for the tablet to tell "no file was sent" from
# "the sound sent cannot be used" (edge.web.visit_views words each for the nurse).
NO_FILE_REASON = "a file part is required"
TOO_SHORT_REASON = "too short"


def limit_reason(limit: str) -> str:
    """The ``reason`` of a take refused by the audio limit setting ``limit`` (e.g. ``min_sample_rate``)."""
    return f"outside {limit}"


def check_file_name(name: Optional[str]) -> None:
    """Refuse names that try to reach outside a folder; the name is never used as a path anyway."""
    if not name:
        raise ValidationError("the upload has no file", fields=[{"field": "file", "reason": NO_FILE_REASON}])
    if not SAFE_FILE_NAME.match(name) or name in (".", "..") or ".." in name.split("."):
        raise ValidationError(
            "file name must be a plain name without folders or '..'",
            fields=[{"field": "file", "reason": "file name contains a path"}],
        )


def audio_error(exc: UnreadableAudioError) -> ValidationError:
    """The 413/422 for a recording that cannot be used, naming the limit; never a file path."""
    if isinstance(exc, AudioLimitError):
        error = PayloadTooLarge if exc.too_large else ValidationError
        return error(f"recording refused: {exc}", fields=[{"field": "file", "reason": limit_reason(exc.limit)}])
    return ValidationError("file is not readable audio (WAV or FLAC expected)",
                           fields=[{"field": "file", "reason": "not WAV or FLAC audio"}])


def describe_audio(pending: PendingBlob, limits: AudioLimits = DEFAULT_AUDIO_LIMITS) -> dict:
    """Read and check the audio header of a pending upload; nothing is decoded.

    Raises
    ------
    PayloadTooLarge
        When the header declares a recording longer, or with more channels, than ``limits``.
    ValidationError
        When the file is empty, not WAV or FLAC audio, at a rate outside ``limits``, or shorter
        than half a second.
    """
    if pending.size_bytes == 0:
        raise ValidationError("the uploaded file is empty", fields=[{"field": "file", "reason": "0 bytes"}])
    try:
        header = read_header(pending.path, limits=limits)
    except UnreadableAudioError as exc:
        raise audio_error(exc) from exc
    if header.format not in AUDIO_MEDIA_TYPES:
        raise ValidationError(
            f"unsupported audio format {header.format!r}",
            fields=[{"field": "file", "reason": "WAV or FLAC audio expected"}],
        )
    if header.frames == 0:  # a header and no sound: a recording cut off, not another format
        raise ValidationError(f"the {header.format} file holds no audio samples (only its header)",
                              fields=[{"field": "file", "reason": "no audio samples"}])
    if header.duration_s < SHORTEST_RECORDING_S:
        raise ValidationError(
            f"recording is {header.duration_s:.2f} s long; at least {SHORTEST_RECORDING_S} s is needed",
            fields=[{"field": "file", "reason": TOO_SHORT_REASON}],
        )
    return {
        "media_type": AUDIO_MEDIA_TYPES[header.format],
        "sample_rate": header.sample_rate,
        "channels": header.channels,
        "duration_s": round(header.duration_s, 3),
    }


class DecodeSlots:
    """A process-wide cap on recordings decoded at once.

    Decoding and scoring hold the mono signal and its resampled copies (up to a few hundred MB
    for a long recording at 192 kHz); with one decode per worker thread, memory would grow with
    ``threads``. Waiting callers get a slot in turn, or :class:`ServiceBusy` (503) after
    ``wait_s``. ``create_app`` sets the size from ``audio_max_concurrent_decodes``.
    """

    def __init__(self, slots: int = 1, wait_s: float = 60.0):
        self.configure(slots, wait_s)

    def configure(self, slots: int, wait_s: float) -> None:
        """Resize (at start-up, before any request is served)."""
        self.slots, self.wait_s = slots, wait_s
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def held(self):
        semaphore = self._semaphore
        if not semaphore.acquire(timeout=self.wait_s):
            raise ServiceBusy(f"all {self.slots} decode slots stayed busy for {self.wait_s:g} s; send the recording "
                              "again", fields=[{"field": "file", "reason": "other recordings are being decoded"}])
        try:
            yield
        finally:
            semaphore.release()


#: The one cap every decode of the service goes through (uploads, board captures, rescoring).
DECODE_SLOTS = DecodeSlots()


def score(path, chest_site: str, model, limits: Optional[AudioLimits] = DEFAULT_AUDIO_LIMITS) -> dict:
    """The columns a crackle score fills; empty without a model. Decodes in one of ``DECODE_SLOTS``."""
    if model is None:
        return {}
    try:
        with DECODE_SLOTS.held():
            result = score_recording(str(path), chest_site=chest_site, backend=model, limits=limits)
    except UnreadableAudioError as exc:
        raise audio_error(exc) from exc
    except ModelError as exc:
        logger.error("crackle model failed; recording kept unscored: %s", exc)
        return {}
    stamp = result["model"]
    return {
        "quality": json.dumps(result["quality"]),
        "crackle_probability": result["crackle_probability"],
        "model_version": version_label(stamp["name"], stamp["version"], stamp["variant"]),
        "result": json.dumps({key: result[key] for key in ("windows", "frame_map", "crackle_detected", "model")}),
    }


def _recording_from_row(row: dict, rule: Optional[ValidationRule] = None) -> dict:
    row["quality"] = json.loads(row["quality"]) if row["quality"] else None
    result = json.loads(row["result"]) if row.get("result") else {}
    stamp = result.get("model") or {}
    row["windows"] = (None if result.get("windows") is None else
                      windows_with_crackles(result["windows"], stamp, probability=row["crackle_probability"]))
    row["crackle_threshold"] = stamp.get("threshold")
    row["earlier_scores"] = result.get("earlier_scores", [])
    row["stethoscope_validation"] = served_stethoscope_validation(row["stethoscope"], row["chest_piece"], rule)
    for private in ("file_path", "result", "created_by", "device_id", "crackles_heard_by"):
        row.pop(private, None)
    return row


def open_recording_audio(db: sqlite_utils.Database, blobs: BlobStore, recording_id: int) -> tuple[BinaryIO, str]:
    """The stored audio file of a recording and its media type."""
    row = get_recording(db, recording_id)
    return blobs.open(row["file_path"]), row["media_type"]


def get_recording(db: sqlite_utils.Database, recording_id: int) -> dict:
    rows = db.execute_returning_dicts("SELECT * FROM recordings WHERE id = ?", [recording_id])
    if not rows:
        raise NotFound(f"no recording with id {recording_id}")
    return rows[0]


class Discard(NamedTuple):
    """What a discard found: the take's visit and chest site, and whether an earlier request had
    already discarded it (``already``: then nothing was changed)."""

    recording_id: int
    visit_id: int
    chest_site: str
    already: bool


def discard_recording(db: sqlite_utils.Database, blobs: BlobStore, actor: audit.Actor, recording_id: int) -> Discard:
    """Take a recording out of its open visit (the nurse re-records the site); audited.

    Its audio file is removed from the store unless another row holds the same content (files
    are stored once per content): a discarded take leaves no sound of the patient behind. The
    audit entry keeps the file's SHA-256, so the trail still accounts for what was recorded.
    A take already discarded (the request sent twice) is found by that entry and changes nothing.

    Raises
    ------
    NotFound
        When no take ever had this id.
    VisitClosed
        When the take's visit is no longer open.
    """
    with write_transaction(db):
        try:
            row = get_recording(db, recording_id)
        except NotFound:
            # Read under the same lock as the delete: one check decides "already discarded".
            earlier = _discarded(db, recording_id)
            if earlier is None:
                raise
            return earlier
        require_open_visit(db, row["visit_id"])
        db.execute("DELETE FROM recordings WHERE id = ?", [recording_id])
        # The take's device and verdict stay in the audit entry so that discarded takes still
        # count in the quality-gate figures (edge.programme.quality_refusals).
        quality = json.loads(row["quality"]) if row["quality"] else {}
        audit.record(db, actor, "discard", "recording", recording_id,
                     {"visit_id": row["visit_id"], "chest_site": row["chest_site"], "sha256": row["sha256"],
                      "device": row["device_id"] or "upload", "refused": quality.get("ok") is False})
        # Under the write lock: an upload of the same content commits its file and its row
        # under this lock too (add_recording), so it never finds its file removed.
        if not is_referenced(db.conn, row["file_path"]):
            blobs.remove(row["file_path"])
    return Discard(recording_id, row["visit_id"], row["chest_site"], already=False)


def _discarded(db: sqlite_utils.Database, recording_id: int) -> Optional[Discard]:
    """The discard of this take as its audit entry keeps it (the row is gone), or None when no
    take with that id was discarded (recording ids are never handed out again)."""
    row = db.execute("SELECT json_extract(detail, '$.visit_id'), json_extract(detail, '$.chest_site') FROM audit_log "
                     "WHERE entity = 'recording' AND action = 'discard' AND entity_id = ?",
                     [str(recording_id)]).fetchone()
    return None if row is None else Discard(recording_id, int(row[0]), row[1], already=True)


def label_crackles_heard(db: sqlite_utils.Database, actor: audit.Actor, recording_id: int, answer: str) -> dict:
    """Record a clinician's answer (``CRACKLES_HEARD``: yes, no, unsure) to "are crackles heard on
    listening to this take?"; the last answer wins and each one is audited with the one it replaced.

    The label is the reference the crackle model is checked against ('ildscreen audio export-labelled');
    it is no input of the visit's result, risk or advice (edge.freshness does not count it as a change).
    The take's visit may be closed: a clinician listens after the visit, and a label is no input of the
    closed visit's result (its record), so ``edge.patients.require_open_visit`` does not apply. Who may label
    is the caller's check (the clinician role).

    Raises
    ------
    ValidationError
        When ``answer`` is not one of ``CRACKLES_HEARD``.
    NotFound
        When no take ever had this id.
    TakeDiscarded
        When the take was discarded: its sound is gone, so there is nothing to listen to.
    """
    if answer not in CRACKLES_HEARD:
        raise ValidationError(unknown_word_message("answer", str(answer), CRACKLES_HEARD),
                              fields=[{"field": "crackles_heard", "reason": f"one of {list(CRACKLES_HEARD)}"}])
    with write_transaction(db):
        try:
            row = get_recording(db, recording_id)
        except NotFound:
            if _discarded(db, recording_id) is None:
                raise
            raise TakeDiscarded(f"take {recording_id} was discarded: its sound is gone, so it cannot be labelled") from None
        db["recordings"].update(recording_id, {"crackles_heard": answer, "crackles_heard_by": actor.user_id,
                                               "crackles_heard_at": utc_now()})
        audit.record(db, actor, "label", "recording", recording_id,
                     {"visit_id": row["visit_id"], "crackles_heard": answer, "replaced": row["crackles_heard"]})
    return _recording_from_row(get_recording(db, recording_id))


def list_recordings(db: sqlite_utils.Database, visit_id: int, *, rule: Optional[ValidationRule] = None) -> list[dict]:
    """The visit's takes, each with its ``stethoscope_validation`` by the served crackle model under ``rule``
    (the programme's ``evidence_validation_rule``, which judges a take by its device's own figures:
    :func:`edge.auscultation.stethoscope_validation`; None: the rule's defaults)."""
    rows = db.execute_returning_dicts("SELECT * FROM recordings WHERE visit_id = ? ORDER BY id", [visit_id])
    return [_recording_from_row(row, rule) for row in rows]


def is_accepted(recording: dict) -> bool:
    """Whether a recording passed the quality gate and was scored: the only recordings that may
    reach the risk, the letter, the referral and the crackle map."""
    quality = recording.get("quality")
    return bool(quality and quality.get("ok")) and recording.get("crackle_probability") is not None


def awaits_score(recording: dict) -> bool:
    """Whether a recording waits to be scored: it has no crackle probability and the quality gate did
    not refuse it (stored while the crackle model was unavailable, or the model failed on it; the
    gate's verdict needs the model's quality head). It makes no chest site heard and counts for
    nothing until :func:`score_unscored_recordings` scores it, when the risk is next calculated
    with the model back; recording the site again also helps."""
    quality = recording.get("quality")
    return recording.get("crackle_probability") is None and (not quality or bool(quality.get("ok")))


def accepted_recordings(db: sqlite_utils.Database, visit_id: int, *, rule: Optional[ValidationRule] = None) -> list[dict]:
    """The visit's recordings that passed the quality gate and were scored (see ``is_accepted``)."""
    return [recording for recording in list_recordings(db, visit_id, rule=rule) if is_accepted(recording)]


def score_unscored_recordings(db: sqlite_utils.Database, blobs: BlobStore, visit_id: int, model,
                              actor: audit.Actor) -> int:
    """Score the visit's recordings that were stored while the crackle model was unavailable.

    Called before a visit is assessed, so a recording captured during a model outage counts
    once the model is back instead of being left out of the risk. Each score filled in is audited
    (action ``score``, by ``actor``: the user who asked for the assessment) with the visit, chest
    site and the model's version, threshold and probability, in the transaction that writes it, so
    the trail shows when and by which model a stored clinical score first appeared (as ``rescore``
    does for a replaced one). Returns how many were scored.

    Raises
    ------
    ModelUnavailable
        When some recordings are unscored and there is still no usable model: the visit is
        not assessed as if they did not exist.
    """
    rows = _unscored_takes(db, visit_id)
    if not rows:
        return 0
    if model is None:
        raise ModelUnavailable(f"{len(rows)} recording(s) of visit {visit_id} are not scored: the crackle model is "
                               "unavailable (see /readyz); they are kept and scored once it is back")
    for row in rows:
        # Stored files passed the limits when they were uploaded; a later, stricter setting must
        # not leave them unscorable (and the visit unassessable).
        scored = score(take_audio_path(blobs, row), row["chest_site"], model, limits=None)
        if not scored:
            raise ModelUnavailable(f"the crackle model failed on recording {row['id']}; it stays unscored")
        _write_score_if_unchanged(db, actor, row["id"], scored_from=None, columns=scored, action="score", detail={
            "visit_id": visit_id, "chest_site": row["chest_site"], "model_version": scored["model_version"],
            "threshold": (json.loads(scored["result"]).get("model") or {}).get("threshold"),
            "crackle_probability": scored["crackle_probability"]})
    logger.info("scored %s recording(s) stored while the crackle model was unavailable", len(rows))
    return len(rows)


def _write_score_if_unchanged(db: sqlite_utils.Database, actor: audit.Actor, recording_id: int, *,
                              scored_from: Optional[str], columns: dict, action: str, detail: dict) -> None:
    """Write a take's new score (``columns``) and its audit entry (``action``, ``detail``) in one write
    transaction, if the take still holds the result it was scored from (``scored_from``: None for a
    take stored unscored). Scoring runs outside the write lock, so meanwhile the take may have been
    discarded (the nurse re-recorded the site) or another request may have scored it first (and
    audited that): then nothing is written, so each score is written, and audited, once."""
    with write_transaction(db):
        now = db.execute("SELECT result FROM recordings WHERE id = ?", [recording_id]).fetchone()
        if now is not None and now[0] == scored_from:
            db["recordings"].update(recording_id, columns)
            audit.record(db, actor, action, "recording", recording_id, detail)


def _unscored_takes(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    """The visit's takes stored while the crackle model was unavailable (no result yet)."""
    return db.execute_returning_dicts(
        "SELECT id, chest_site, file_path, created_at FROM recordings WHERE visit_id = ? AND result IS NULL ORDER BY id",
        [visit_id])


def _takes_of_other_models(db: sqlite_utils.Database, visit_id: int, model) -> list[dict]:
    """The visit's scored takes whose score another crackle model than ``model`` gave."""
    rows = db.execute_returning_dicts(
        "SELECT id, chest_site, file_path, created_at, quality, crackle_probability, model_version, result "
        "FROM recordings WHERE visit_id = ? AND result IS NOT NULL ORDER BY id", [visit_id])
    return [row for row in rows if scored_by_another_model(json.loads(row["result"]).get("model") or {}, model.entry)]


def take_audio_path(blobs: BlobStore, take: dict) -> Path:
    """The stored sound of a take that is to be scored (again).

    Raises
    ------
    TakeAudioMissing
        When its file is gone from the store (a disk fault, a restore without the audio): it names
        the take by id, chest site and time (never the patient), so the nurse can discard that take
        and record its site again. The service's log says which file, for whoever looks after it.
    """
    try:
        return blobs.path_of(take["file_path"])
    except StorageError as exc:
        logger.error("the sound file of recording %s is missing from the store: %s", take["id"], take["file_path"])
        raise TakeAudioMissing(
            f"take {take['id']} ({take['chest_site']}, recorded {take['created_at']}) cannot be scored again: its "
            "sound file is missing from the store. Nothing was changed; discard that take (on the visit page, or "
            f"through the API: DELETE /api/v1/recordings/{take['id']}) and record the site again, then assess the "
            "visit again.",
            recording_id=take["id"], chest_site=take["chest_site"], recorded_at=take["created_at"]) from exc


def check_takes_readable(db: sqlite_utils.Database, blobs: BlobStore, visit_id: int, model) -> None:
    """Refuse (``TakeAudioMissing``, naming the first such take) before anything of the visit is scored
    when a take that must be scored (stored unscored, or scored by another model) has lost its sound:
    the refused assessment then leaves every stored score as it was. Nothing to check without a
    served model (nothing would be scored)."""
    if model is None:
        return
    for take in [*_unscored_takes(db, visit_id), *_takes_of_other_models(db, visit_id, model)]:
        take_audio_path(blobs, take)


def judging_model(stamp: dict) -> tuple[str, str, Optional[float]]:
    """What a crackle score means, from a model's stamp or manifest entry: its name, version and
    threshold. A version carries its calibration and its validation (the likelihood ratio the
    evidence model applies); its variants (fp32, fp16...) share them, so a variant alone does not
    make two scores of a take different. A stamp without a threshold (none is stored so) is read
    as its version's."""
    return stamp.get("name"), stamp.get("version"), stamp.get("threshold")


def scored_by_another_model(stamp: dict, served: dict) -> bool:
    """Whether a take's score (its model ``stamp``) came from another crackle model than ``served``
    (a manifest entry): another name or version, another threshold for the same version, or the same
    version re-issued with another entry (``edge.freshness`` reads the result out of date then too):
    the stamp's ``entry_sha256`` (:func:`edge.inference.models.entry_digest`; not when the served entry names it
    as giving the same results, :func:`edge.inference.models.same_results`), or, for a take scored before
    stamps kept it, its calibration."""
    name, version, threshold = judging_model(stamp)
    served_name, served_version, served_threshold = judging_model(served)
    if (name, version) != (served_name, served_version) or (threshold is not None and threshold != served_threshold):
        return True
    if stamp.get("entry_sha256") is not None:
        return not same_results(stamp["entry_sha256"], served)
    return stamp.get("calibration") is not None and stamp["calibration"] != served.get("calibration")


def rescore_takes_of_other_models(db: sqlite_utils.Database, blobs: BlobStore, visit_id: int, model,
                                  actor: audit.Actor) -> int:
    """Score again, with the served crackle model, the visit's takes another model scored.

    Called before a visit is assessed (``edge.screening.score_kept_inputs``). After a model update
    (a new version: new calibration, new threshold, new validation) a take's stored probability
    means what its own model meant: read against the new threshold it can turn a take its model
    found positive into a clear one (or the reverse), and the likelihood ratio applied would be
    the new model's validation of a finding it did not make. The audio of every stored take is
    kept (only a discard removes it), so the take is scored again from it and one model judges
    the whole visit. The earlier score is kept with the take (``earlier_scores`` in its result:
    model version, threshold, probability, quality verdict), so the record still shows what the
    nurse was told when it was taken. Without a served model nothing is rescored (the assessment
    is refused elsewhere). Each replaced score is audited (action ``rescore``, by ``actor``: the user
    who asked for the assessment) with the visit, chest site and both models' versions, thresholds
    and probabilities, in the transaction that replaces it. Returns how many takes were scored again.

    Raises
    ------
    ModelUnavailable
        When the served model fails on a take: it keeps its earlier score, and the visit is not
        assessed as if one model had judged it.
    TakeAudioMissing
        When a take's audio is missing from the store: discard the take and record the site again.
    """
    if model is None:
        return 0
    stale = _takes_of_other_models(db, visit_id, model)
    for row in stale:
        earlier = json.loads(row["result"])
        scored = score(take_audio_path(blobs, row), row["chest_site"], model, limits=None)
        if not scored:
            raise ModelUnavailable(f"the crackle model failed on recording {row['id']}; it keeps the score of "
                                   f"{row['model_version']}")
        result = json.loads(scored["result"])
        quality = json.loads(row["quality"]) if row["quality"] else {}
        result["earlier_scores"] = [*earlier.get("earlier_scores", []), {
            "model_version": row["model_version"], "threshold": (earlier.get("model") or {}).get("threshold"),
            "crackle_probability": row["crackle_probability"], "quality_ok": quality.get("ok"),
            "rescored_at": utc_now()}]
        _write_score_if_unchanged(db, actor, row["id"], scored_from=row["result"],
                       columns={**scored, "result": json.dumps(result)}, action="rescore", detail={
                           "visit_id": visit_id, "chest_site": row["chest_site"],
                           "from_model_version": row["model_version"], "to_model_version": scored["model_version"],
                           "from_threshold": result["earlier_scores"][-1]["threshold"],
                           "to_threshold": result["model"]["threshold"],
                           "from_crackle_probability": row["crackle_probability"],
                           "to_crackle_probability": scored["crackle_probability"]})
    if stale:
        logger.info("scored %s recording(s) again with the served crackle model %s-%s", len(stale),
                    model.entry.get("name"), model.entry.get("version"))
    return len(stale)


def check_recording_target(db: sqlite_utils.Database, visit_id: int, chest_site: str) -> None:
    """Refuse a recording for an unknown chest site (``ValidationError``) or a visit that is not
    open (``NotFound``, ``VisitClosed``): checked before any audio is read or a board is asked."""
    if chest_site not in CHEST_SITES:
        raise ValidationError(
            f"unknown chest site {chest_site!r}",
            fields=[{"field": "chest_site", "reason": f"one of {list(CHEST_SITES)}"}],
        )
    require_open_visit(db, visit_id)


def check_chest_piece(chest_piece: str) -> None:
    """Refuse a chest piece outside ``CHEST_PIECES`` (``ValidationError`` naming it)."""
    if chest_piece not in CHEST_PIECES:
        raise ValidationError(unknown_word_message("chest piece", str(chest_piece), CHEST_PIECES),
                              fields=[{"field": "chest_piece", "reason": f"one of {list(CHEST_PIECES)}"}])


def check_stethoscope(stethoscope: str, stethoscopes: Collection[str]) -> None:
    """Refuse a stethoscope that is not a name (``edge.vocabulary.stethoscope_name_problem``) or not one
    of the clinic's ``stethoscopes`` (the setting), nor ``not_stated`` (``ValidationError`` naming it)."""
    problem = stethoscope_name_problem(stethoscope)
    if problem is None and stethoscope != STETHOSCOPE_NOT_STATED and stethoscope not in stethoscopes:
        problem = unknown_word_message("stethoscope", stethoscope, [*stethoscopes, STETHOSCOPE_NOT_STATED])
    if problem:
        raise ValidationError(problem, fields=[{"field": "stethoscope", "reason": problem}])


class AddedRecording(NamedTuple):
    """What :func:`add_recording` did: the recording, and whether this call stored it (False when
    the same take of the visit and chest site was already stored, and that one is returned)."""

    recording: dict
    created: bool


def _same_take(db: sqlite_utils.Database, visit_id: int, chest_site: str, sha256: str) -> Optional[dict]:
    """The visit's stored recording of this chest site with exactly this content, if any."""
    rows = db.execute_returning_dicts(
        "SELECT * FROM recordings WHERE visit_id = ? AND chest_site = ? AND sha256 = ? ORDER BY id LIMIT 1",
        [visit_id, chest_site, sha256])
    return rows[0] if rows else None


def add_recording(
    db: sqlite_utils.Database,
    blobs: BlobStore,
    actor: audit.Actor,
    visit_id: int,
    *,
    chest_site: str,
    chest_piece: str = CHEST_PIECE_NOT_STATED,
    stethoscope: str = STETHOSCOPE_NOT_STATED,
    stethoscopes: Collection[str] = (),
    stream: BinaryIO,
    max_bytes: int,
    source: str = "upload",
    device_id: Optional[str] = None,
    model=None,
    limits: AudioLimits = DEFAULT_AUDIO_LIMITS,
) -> AddedRecording:
    """Store a recording for a visit and chest site, scored by ``model`` when one is loaded.

    ``limits`` (``Settings.audio_limits``) are checked on the header before any decoding.
    ``chest_piece`` (``CHEST_PIECES``) is what the nurse said the stethoscope was set to; a board
    capture's wire protocol carries none, so it stays ``not_stated``. ``stethoscope`` is the make and
    model it went through, one of the clinic's ``stethoscopes`` (setting ``stethoscopes``) or ``not_stated``.

    Without a model (it failed its integrity check, say: ``/readyz`` says why) the recording
    is still kept, unscored, so nothing the nurse captured is lost.

    Idempotent per take: the same bytes (SHA-256) for the same visit and chest site as a stored
    recording (a double tap, a re-send after a timeout) store nothing (no row, no file, no audit
    entry) and return that recording with ``created`` False. The same bytes for another site or
    another visit are stored as a new recording (re-using a take elsewhere is the nurse's call),
    and so is a take uploaded again after it was discarded (its row is gone).
    """
    check_recording_target(db, visit_id, chest_site)
    check_chest_piece(chest_piece)
    check_stethoscope(stethoscope, stethoscopes)
    with blobs.write_pending(stream, max_bytes=max_bytes) as pending:
        same = _same_take(db, visit_id, chest_site, pending.sha256)
        if same is not None:  # checked before decoding, so a re-sent take takes no decode slot
            return AddedRecording(_recording_from_row(same), created=False)
        audio = describe_audio(pending, limits)
        scored = score(pending.path, chest_site, model, limits)
        with write_transaction(db):
            require_open_visit(db, visit_id)
            # Again under the write lock: a twin upload may have been stored while this one was scored.
            same = _same_take(db, visit_id, chest_site, pending.sha256)
            if same is not None:
                return AddedRecording(_recording_from_row(same), created=False)
            # File and row under one write lock: a discard of a take with the same content
            # (discard_recording) cannot remove the file between the two.
            stored = pending.commit()
            recording_id = db["recordings"].insert(
                {
                    "visit_id": visit_id,
                    "chest_site": chest_site,
                    "chest_piece": chest_piece,
                    "stethoscope": stethoscope,
                    "source": source,
                    "device_id": device_id,
                    "sha256": stored.sha256,
                    "file_path": stored.relative_path,
                    "size_bytes": stored.size_bytes,
                    **audio,
                    **scored,
                    "created_at": utc_now(),
                    "created_by": actor.user_id,
                }
            ).last_pk
            audit.record(db, actor, "create", "recording", recording_id,
                         {"visit_id": visit_id, "chest_site": chest_site, "chest_piece": chest_piece,
                          "stethoscope": stethoscope})
    return AddedRecording(_recording_from_row(get_recording(db, recording_id)), created=True)
