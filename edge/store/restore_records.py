"""A restore keeps what already left the clinic: the audit entries written after the backup, the
referrals the hospital knows about, and the confirmed outcomes and ends of monitoring a clinician entered.

An older backup put in place as it is would cut the audit trail at the backup (an auditor expects one
unbroken trail, the restore included) and forget the referrals made or changed after it: the hospital
has them, the patient may be on the CT table, and their results would never be polled back. So
:func:`edge.store.backup.restore_database` reads them from the database it replaces before the swap
(:func:`read_after_backup`, compared again before the swap) and writes them into the staged copy
(:func:`carry_records`), in the same transaction that audits the restore:

- every audit entry newer than the backup's newest is copied as it was (id, time, actor, detail), so
  the trail runs on without a gap; the restore's own entry follows them. The trail is a plain table,
  not hash-chained, so keeping each row as it was keeps it whole;
- every referral of the replaced database takes its place in the copy with its outbox state (a
  referral the backup has as ``queued`` may be ``delivered``, ``withdrawn`` or ``reported`` since),
  with its CT results; unless the backup's row was updated later (a current file that an earlier
  release restored from an older backup), which then stays. A referral made after the backup comes
  with what it stands on: its visit, the assessment it was made from, and its patient when the
  backup does not have them. Only those rows: the visit's recordings, labs and readings made after
  the backup are gone with the restore, as everything else is (the assessment keeps the inputs it
  used). The outbox then polls the referral as before and its result lands on the patient's timeline.

- every confirmed outcome (an HRCT or PFT result entered by a clinician, :mod:`edge.outcomes`) the
  backup lacks is carried, with its patient when the backup does not have them. Outcomes decide
  advice now (triage reads the last negative HRCT, monitoring the PFT dates, the site calibration
  all of them): losing one would silently change what a patient is told. An outcome is never
  edited, so one the backup already has stays as it is. An outcome read from a hospital CT report
  is not a row of its own: it is the referral's CT result, carried above.
- every end of ILD monitoring a clinician recorded (:mod:`edge.monitoring_ends`) is carried the same
  way, for the same reason (it decides the advice: no PFT reminders for a patient who died or was
  transferred, screening again after an MDT ruled ILD out). An end is only ever resumed, never
  otherwise edited: one the backup has in force that was resumed after the backup is resumed in the
  copy too (listed as updated).

- every visit's and account's ``version`` is raised above the highest the replaced database gave any
  of them (:data:`VERSIONED_TABLES`): the backup's rows are older than what a client read before the
  restore, and a client still holding a version read then would otherwise overwrite them unseen
  once the backup's version had caught up with it (an edit against it must be refused, 409). A
  patient's version is its trail's newest edit or restore entry (``edge.patients.SELECT_PATIENTS``),
  so the restore's own entry, the trail's newest, raises every patient's.

The least surprising choice: the referral and its result are facts at the hospital, and an outcome
a clinician entered is a fact about the patient, whatever the clinic restores. A referral or outcome
whose patient code the backup gives to another patient (or whose patient's id the backup gives to
another patient: a patient is the same row when its id and creation time agree), or whose id the
backup gives to another referral or outcome, is not carried (no record is ever merged): it is listed
by id, for a person to resolve from ``.before-restore``. An account a carried row names that the
backup does not have is left unnamed (NULL); the audit entries still say who did what.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import sqlite_utils

from edge.store.database import read_only_tables

#: What a referral stands on, in the order its rows are written (each references the one before).
REFERRAL_CHAIN = ("patients", "visits", "risk_assessments", "referrals", "imaging_results")
#: The tables whose rows carry the ``version`` a client sends back with an edit (migration 17).
VERSIONED_TABLES = ("visits", "users")


@dataclass(frozen=True)
class AfterBackup:
    """What the database a restore replaces holds that the restore keeps (read once, compared again
    before the swap so that a change made meanwhile stops the restore)."""

    #: The audit entries newer than the backup's newest, oldest first, every column.
    audit_entries: tuple[dict, ...]
    #: Table of :data:`REFERRAL_CHAIN` -> its rows that the replaced database's referrals stand on.
    referral_rows: dict[str, tuple[dict, ...]]
    #: ``outcomes`` -> every confirmed outcome of the replaced database, ``patients`` -> their patients.
    outcome_rows: dict[str, tuple[dict, ...]] = field(default_factory=dict)
    #: ``monitoring_ends`` -> every end of monitoring of the replaced database, ``patients`` -> their patients.
    monitoring_end_rows: dict[str, tuple[dict, ...]] = field(default_factory=dict)
    #: Table of :data:`VERSIONED_TABLES` -> the highest ``version`` the replaced database gave a row of it.
    versions: dict[str, int] = field(default_factory=dict)


def highest_audit_id(connection: sqlite3.Connection) -> int:
    """The newest audit entry's id in the database of ``connection`` (0: none, or no trail)."""
    if not connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").fetchone():
        return 0
    return connection.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0]


def read_after_backup(database: Path, backup_audit_id: int) -> Optional[AfterBackup]:
    """The audit entries of ``database`` newer than ``backup_audit_id``, its referrals with what
    they stand on and its confirmed outcomes with their patients, read-only; None when there is no
    database.

    Raises
    ------
    StorageError
        When the file cannot be read as a database.
    """
    if not database.exists():
        return None
    with read_only_tables(database, "cannot read the audit trail, referrals and outcomes of {database} ({exc}), so "
                                    "a restore would lose them; if the file is damaged, move it out of the data "
                                    "folder and restore again (nothing was changed)") as (connection, tables):
        connection.row_factory = sqlite3.Row

        def rows(sql: str, params=()) -> tuple[dict, ...]:
            return tuple(dict(row) for row in connection.execute(sql, params))

        entries = rows("SELECT * FROM audit_log WHERE id > ? ORDER BY id", [backup_audit_id]) \
            if "audit_log" in tables else ()
        chain: dict[str, tuple[dict, ...]] = {}
        if {"referrals", "visits", "patients"} <= tables:
            chain["referrals"] = rows("SELECT * FROM referrals ORDER BY id")
            chain["visits"] = rows("SELECT * FROM visits WHERE id IN (SELECT visit_id FROM referrals) ORDER BY id")
            chain["patients"] = rows("SELECT * FROM patients WHERE id IN (SELECT patient_id FROM visits "
                                     "WHERE id IN (SELECT visit_id FROM referrals)) ORDER BY id")
            has_assessment = "assessment_id" in {row["name"] for row in
                                                 connection.execute('PRAGMA table_info("referrals")')}
            chain["risk_assessments"] = rows(
                "SELECT * FROM risk_assessments WHERE id IN (SELECT assessment_id FROM referrals) ORDER BY id"
            ) if has_assessment and "risk_assessments" in tables else ()
            chain["imaging_results"] = rows("SELECT * FROM imaging_results ORDER BY id") \
                if "imaging_results" in tables else ()
        per_patient: dict[str, dict[str, tuple[dict, ...]]] = {}
        for table in ("outcomes", "monitoring_ends"):
            if {table, "patients"} <= tables:
                per_patient[table] = {
                    table: rows(f"SELECT * FROM {table} ORDER BY id"),
                    "patients": rows(f"SELECT * FROM patients WHERE id IN (SELECT patient_id FROM {table}) ORDER BY id")}
        versions = {table: connection.execute(f'SELECT COALESCE(MAX(version), 0) FROM "{table}"').fetchone()[0]
                    for table in VERSIONED_TABLES if table in tables
                    and "version" in {row["name"] for row in connection.execute(f'PRAGMA table_info("{table}")')}}
    return AfterBackup(audit_entries=entries, referral_rows=chain, outcome_rows=per_patient.get("outcomes", {}),
                       monitoring_end_rows=per_patient.get("monitoring_ends", {}), versions=versions)


def carry_records(db: sqlite_utils.Database, after: Optional[AfterBackup]) -> dict:
    """Write ``after`` into the staged, migrated copy ``db``, inside the caller's transaction (before
    the restore's own audit entry); returns what was done: counts, and referral ids (no patient
    codes: it goes into the audit entry and the command's output): carried (made after the backup),
    updated (their status, or the hospital's, changed since; a poll's new time alone is written
    but not listed) and not carried; outcome ids carried (entered after the backup) and not carried;
    ``versions_above``: per table of :data:`VERSIONED_TABLES`, the replaced database's highest
    version, which every row's version now exceeds.

    A row that cannot be written otherwise (a broken reference, a clash the module docstring does
    not describe) raises ``sqlite3.Error``, which stops the restore with nothing changed.
    """
    if after is None:
        return {}
    if after.audit_entries:  # a month of read audits is tens of thousands of rows: one statement for all
        columns = list(_fit(db, "audit_log", after.audit_entries[0]))
        db.conn.executemany(f'INSERT INTO audit_log ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})',
                            [[entry[column] for column in columns] for entry in after.audit_entries])
    rows = after.referral_rows
    by_id = {table: {row["id"]: row for row in rows.get(table, ())} for table in REFERRAL_CHAIN}
    counts = {"audit_entries_kept": len(after.audit_entries), "referrals_carried": [], "referrals_updated": [],
              "referrals_not_carried": [], "patients_carried": 0, "visits_carried": 0, "assessments_carried": 0,
              "imaging_results_kept": 0, "outcomes_carried": [], "outcomes_not_carried": [],
              "outcome_patients_carried": 0, "monitoring_ends_carried": [], "monitoring_ends_updated": [],
              "monitoring_ends_not_carried": [], "monitoring_end_patients_carried": 0}
    carried = set()
    for referral in rows.get("referrals", ()):
        stored = _row(db, "referrals", referral["id"])
        if stored is None:
            if not _carry_chain(db, referral, by_id, counts):
                counts["referrals_not_carried"].append(referral["id"])
                continue
            _insert(db, "referrals", referral)
            counts["referrals_carried"].append(referral["id"])
        elif stored["code"] != referral["code"]:
            counts["referrals_not_carried"].append(referral["id"])  # another lineage's row: never merged
            continue
        elif stored["updated_at"] > referral["updated_at"]:
            continue  # the backup's state is the newer one (the current file was itself restored from an older one)
        elif _update(db, "referrals", referral, stored) and _status(stored) != _status(referral):
            counts["referrals_updated"].append(referral["id"])  # not for a poll's new time alone
        carried.add(referral["id"])
    for result in rows.get("imaging_results", ()):
        if result["referral_id"] not in carried:
            continue
        stored = _row(db, "imaging_results", result["id"])
        if stored is None:
            _insert(db, "imaging_results", result)
            counts["imaging_results_kept"] += 1
        elif _update(db, "imaging_results", result, stored):
            counts["imaging_results_kept"] += 1
    _carry_patient_rows(db, "outcomes", after.outcome_rows, counts, patients_key="outcome_patients_carried")
    _carry_patient_rows(db, "monitoring_ends", after.monitoring_end_rows, counts,
                        patients_key="monitoring_end_patients_carried", resumed=True)
    counts["versions_above"] = _raise_versions(db, after.versions)
    return counts


def _raise_versions(db: sqlite_utils.Database, highest: dict[str, int]) -> dict[str, int]:
    """Give every row of :data:`VERSIONED_TABLES` a version above ``highest`` (the replaced
    database's, per table; 0 where it had none), the rows carried from it included; returns the
    bound each table's versions now exceed."""
    for table in VERSIONED_TABLES:
        db.execute(f'UPDATE "{table}" SET version = MAX(version, ?) + 1', [highest.get(table, 0)])
    return {table: highest.get(table, 0) for table in VERSIONED_TABLES}


def _carry_patient_rows(db: sqlite_utils.Database, table: str, rows: dict[str, tuple[dict, ...]], counts: dict, *,
                        patients_key: str, resumed: bool = False) -> None:
    """Write each row of ``rows[table]`` (an outcome, an end of monitoring) the copy lacks, with its patient
    where the copy lacks them (after the referrals: a patient a referral brought back is then the same
    patient). Such a row is never edited, except that with ``resumed`` a row the copy holds unresumed takes
    the replaced database's resumption (``resumed_at``, ``resumed_by``; listed in ``<table>_updated``)."""
    patients = {row["id"]: row for row in rows.get("patients", ())}
    for row in rows.get(table, ()):
        stored = _row(db, table, row["id"])
        if stored is not None:
            if any(stored[column] != row[column] for column in ("patient_id", "created_at")):
                counts[f"{table}_not_carried"].append(row["id"])  # another lineage's row: never merged
            elif resumed and stored["resumed_at"] is None and row["resumed_at"] is not None:
                _update(db, table, {"id": row["id"], "resumed_at": row["resumed_at"], "resumed_by": row["resumed_by"]},
                        stored)
                counts[f"{table}_updated"].append(row["id"])
            continue  # otherwise the backup's row is this one
        patient = patients.get(row["patient_id"])
        placed = _place_patient(db, patient) if patient is not None else None
        if placed is None:
            counts[f"{table}_not_carried"].append(row["id"])
            continue
        if placed == "carried":
            counts[patients_key] += 1
        _insert(db, table, row)
        counts[f"{table}_carried"].append(row["id"])


def _place_patient(db: sqlite_utils.Database, patient: dict) -> Optional[str]:
    """Make sure the copy holds ``patient`` (a row of the replaced database): ``"there"`` when the
    copy has the same patient (same id and creation time; the code may have been corrected since),
    ``"carried"`` when it was written now, None (nothing written) when the copy gives the id or
    the code to another patient."""
    stored = _row(db, "patients", patient["id"])
    if stored is not None:
        return "there" if stored["created_at"] == patient["created_at"] else None
    if db.execute("SELECT 1 FROM patients WHERE upper(code) = upper(?)", [patient["code"]]).fetchone():
        return None
    _insert(db, "patients", patient)
    return "carried"


def _carry_chain(db: sqlite_utils.Database, referral: dict, by_id: dict, counts: dict) -> bool:
    """Write the patient, visit and assessment ``referral`` stands on where the copy lacks them;
    False (nothing written) when its patient's code or id belongs to another patient in the copy, or the
    replaced database itself lacks a row it stands on."""
    visit = by_id["visits"].get(referral["visit_id"])
    patient = by_id["patients"].get(visit["patient_id"]) if visit else None
    assessment_id = referral.get("assessment_id")
    new_assessment = assessment_id is not None and _row(db, "risk_assessments", assessment_id) is None
    if patient is None or (new_assessment and assessment_id not in by_id["risk_assessments"]):
        return False
    placed = _place_patient(db, patient)
    if placed is None:
        return False
    if placed == "carried":
        counts["patients_carried"] += 1
    if _row(db, "visits", visit["id"]) is None:
        _insert(db, "visits", visit)
        counts["visits_carried"] += 1
    if new_assessment:
        _insert(db, "risk_assessments", by_id["risk_assessments"][assessment_id])
        counts["assessments_carried"] += 1
    return True


def _status(referral: dict) -> tuple:
    return referral["status"], referral.get("server_status")


def _row(db: sqlite_utils.Database, table: str, row_id: int) -> Optional[dict]:
    found = db.execute_returning_dicts(f'SELECT * FROM "{table}" WHERE id = ?', [row_id])
    return found[0] if found else None


def _fit(db: sqlite_utils.Database, table: str, row: dict) -> dict:
    """``row`` cut to the copy's columns, an account the copy does not have left unnamed."""
    columns = {info[1] for info in db.execute(f'PRAGMA table_info("{table}")')}
    fitted = {column: value for column, value in row.items() if column in columns}
    for reference in db.execute(f'PRAGMA foreign_key_list("{table}")').fetchall():
        parent, column = reference[2], reference[3]
        if parent == "users" and fitted.get(column) is not None and _row(db, "users", fitted[column]) is None:
            fitted[column] = None
    return fitted


def _insert(db: sqlite_utils.Database, table: str, row: dict) -> None:
    fitted = _fit(db, table, row)
    columns = ", ".join(f'"{column}"' for column in fitted)
    db.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(fitted))})', list(fitted.values()))


def _update(db: sqlite_utils.Database, table: str, row: dict, stored: dict) -> bool:
    """Give the stored row ``row``'s values; False when they were equal already."""
    changes = {column: value for column, value in _fit(db, table, row).items()
               if column != "id" and stored.get(column) != value}
    if changes:
        assignments = ", ".join(f'"{column}" = ?' for column in changes)
        db.execute(f'UPDATE "{table}" SET {assignments} WHERE id = ?', [*changes.values(), row["id"]])
    return bool(changes)
