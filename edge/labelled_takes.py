"""The clinic's labelled takes, written out as a folder that ``ildscreen audio evaluate`` scores
(issue 24: the crackle model's evidence is earned per stethoscope, on the clinic's own patients).

Every stored take (a discarded take has no row) that a clinician labelled ``yes`` or ``no`` on
listening to it (:func:`edge.recordings.label_crackles_heard`) becomes one audio file under a new
neutral name and one row of ``labels.csv`` in the format of :mod:`audio_models.datasets.generic`.
``unsure`` takes are left out and counted. What a row carries: the file's neutral name, the
patient's pseudonym (HMAC of the clinic's code under the site secret for the purpose
:data:`PSEUDONYM_PURPOSE`, so a name, code or MRN never leaves, and the rows cannot be linked to the
referrals the hospital holds without the secret), the chest site, the device (the stethoscope's make and model when
the take states it, else the board's id as the programme figures carry it or ``upload``; then the chest piece), the label, the age in whole years at the visit and
the sex. No name, code, date of birth, visit date, take id or stored path.

The audio is patient data: the folder stays on the clinic's box unless the clinic's governance
approves sharing it (audio_models/README.md, *Your own recordings*).
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
import shutil
from pathlib import Path

import sqlite_utils

from audio_models.datasets.generic import REQUIRED_COLUMNS, TABLE
from edge import audit
from edge.errors import StorageError, ValidationError
from edge.programme import device_label
from edge.recordings import AUDIO_MEDIA_TYPES
from edge.screening import possible_ages
from edge.store.blobs import BlobStore
from edge.store.database import write_transaction
from edge.vocabulary import STETHOSCOPE_NOT_STATED
from imaging_client.referral import pseudonym

logger = logging.getLogger(__name__)
#: The pseudonyms' purpose (imaging_client.referral.pseudonym): not the referrals', so an export
#: shared for evaluation cannot be joined to the hospital's referrals.
PSEUDONYM_PURPOSE = "labelled-takes"
EXPORT_COLUMNS = (*REQUIRED_COLUMNS, "age_y", "sex")
#: The labels a row is written for; ``unsure`` takes are counted, never written.
EXPORTED_LABELS = ("yes", "no")
SUFFIXES = {media_type: "." + name.lower() for name, media_type in AUDIO_MEDIA_TYPES.items()}


def labelled_takes(db: sqlite_utils.Database) -> list[dict]:
    """Every stored take with a clinician's label, oldest first, with what its row needs."""
    return db.execute_returning_dicts(
        "SELECT r.id, r.chest_site, r.chest_piece, r.stethoscope, r.device_id, r.media_type, r.file_path, r.crackles_heard,"
        " v.started_at, p.code, p.birth_year, p.sex FROM recordings r JOIN visits v ON v.id = r.visit_id"
        " JOIN patients p ON p.id = v.patient_id WHERE r.crackles_heard IS NOT NULL ORDER BY r.id")


def take_device(take: dict) -> str:
    """The stethoscope a take went through and its chest piece, as ``audio evaluate`` reports devices
    apart: the stethoscope's make and model when the take states one (a name from the clinic's settings,
    ``stethoscopes``, written as the crackle model's manifest names its devices, e.g. ``Littmann 3200
    diaphragm``), else the board's id (through :func:`edge.programme.device_label`, so free text a
    board reports never leaves) or ``upload`` for a file the nurse uploaded; then the chest piece."""
    if take.get("stethoscope", STETHOSCOPE_NOT_STATED) != STETHOSCOPE_NOT_STATED:
        return f"{take['stethoscope']} {take['chest_piece']}"
    board = device_label(take["device_id"]) if take["device_id"] else "upload"
    return f"{board} {take['chest_piece']}"


def age_at_visit(birth_year: int, started_at: str) -> int:
    """Whole years the patient had certainly reached at the visit: only the birth year is on record,
    so the younger of the two possible ages (:func:`edge.screening.possible_ages`)."""
    return possible_ages(birth_year, dt.date.fromisoformat(started_at[:10]))[0]


def _require_empty(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError(f"{out} is not an empty folder: export into a new or empty folder (nothing was written)",
                              fields=[{"field": "out", "reason": "not an empty folder"}])


def export_labelled_takes(db: sqlite_utils.Database, blobs: BlobStore, out: Path, *, site_secret: bytes,
                          actor: audit.Actor = audit.CLI_OPERATOR) -> dict:
    """Write the labelled takes into ``out`` (created; it must be new or empty) and audit the export
    (counts only, no identifiers). Returns the summary: takes and patients written, takes per label
    and per device, and the takes left out (``unsure``; ``missing_audio``: a take whose sound file is
    gone from the store, named by id in the service's log).

    Raises
    ------
    ValidationError
        When ``out`` exists and is not an empty folder; nothing is written.
    StorageError
        When ``out`` cannot be created or written.
    """
    out = Path(out)
    _require_empty(out)
    takes = labelled_takes(db)
    rows, missing = [], 0
    try:
        out.mkdir(parents=True, exist_ok=True)
        for take in (take for take in takes if take["crackles_heard"] in EXPORTED_LABELS):
            try:
                source = blobs.path_of(take["file_path"])
            except StorageError:
                logger.error("take %s is labelled but its sound file is missing from the store; left out", take["id"])
                missing += 1
                continue
            name = f"take-{len(rows) + 1:05d}{SUFFIXES.get(take['media_type'], '')}"
            shutil.copyfile(source, out / name)
            rows.append({"file": name, "patient_id": pseudonym(take["code"], site_secret, purpose=PSEUDONYM_PURPOSE),
                         "chest_site": take["chest_site"], "device": take_device(take), "label": take["crackles_heard"],
                         "age_y": age_at_visit(take["birth_year"], take["started_at"]), "sex": take["sex"]})
        with open(out / TABLE, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise StorageError(f"cannot write the labelled takes to {out}: {exc}") from exc
    summary = {
        "folder": str(out), "takes": len(rows), "patients": len({row["patient_id"] for row in rows}),
        "labels": {label: sum(row["label"] == label for row in rows) for label in EXPORTED_LABELS},
        "devices": {device: sum(row["device"] == device for row in rows) for device in sorted({r["device"] for r in rows})},
        "left_out": {"unsure": sum(take["crackles_heard"] == "unsure" for take in takes), "missing_audio": missing},
    }
    with write_transaction(db):
        audit.record(db, actor, "export", "labelled_takes", None,
                     {key: summary[key] for key in ("takes", "patients", "labels", "left_out")})
    return summary
