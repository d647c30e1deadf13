"""Versioned schema migrations, applied in order at start and by ``ildscreen db migrate``.

A migration is never edited once released: the schema moves forward by appending one.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, Optional

import sqlite_utils

from common.migrations import migration_order_problem
from edge.errors import StorageError
from tabular_models.text_formats import json_depth
from edge.store.database import utc_now, write_transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL statements, then an optional data step in the same transaction."""

    version: int
    name: str
    statements: tuple[str, ...]
    data_step: Optional[Callable[[sqlite_utils.Database], None]] = None
    #: The step rebuilds tables that other tables reference: it runs with foreign-key enforcement
    #: off (SQLite switches it only outside a transaction) and the transaction commits only when it
    #: broke no reference (SQLite's procedure, https://www.sqlite.org/lang_altertable.html#otheralter).
    rebuilds_referenced_tables: bool = False


IDENTITY_AND_AUDIT = Migration(
    1,
    "users, sessions, API tokens, audit log",
    (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('nurse', 'clinician', 'admin')),
            password_hash TEXT NOT NULL,
            must_change_password INTEGER NOT NULL DEFAULT 0,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        )""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id INTEGER,
            username TEXT,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT,
            detail TEXT
        )""",
        "CREATE INDEX audit_log_entity ON audit_log (entity, entity_id)",
        "CREATE TABLE service_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)",
    ),
)

CLINICAL_RECORD = Migration(
    2,
    "patients, visits, recordings, breath, labs, risk, referrals, imaging results",
    (
        """CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            birth_year INTEGER NOT NULL,
            sex TEXT NOT NULL CHECK (sex IN ('F', 'M')),
            ctd_diagnosis TEXT NOT NULL,
            autoantibodies TEXT NOT NULL DEFAULT '[]',
            smoking TEXT NOT NULL DEFAULT 'never',
            pack_years REAL,
            symptoms TEXT NOT NULL DEFAULT '[]',
            medications TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        )""",
        """CREATE TABLE visits (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'cancelled')),
            notes TEXT NOT NULL DEFAULT '',
            draft TEXT NOT NULL DEFAULT '{}',
            started_at TEXT NOT NULL,
            completed_at TEXT,
            created_by INTEGER REFERENCES users(id),
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX visits_patient ON visits (patient_id)",
        """CREATE TABLE recordings (
            id INTEGER PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            chest_site TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'upload',
            device_id TEXT,
            sha256 TEXT NOT NULL,
            file_path TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            sample_rate INTEGER NOT NULL,
            channels INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            quality TEXT,
            crackle_probability REAL,
            model_version TEXT,
            result TEXT,
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        )""",
        "CREATE INDEX recordings_visit ON recordings (visit_id)",
        """CREATE TABLE breath_readings (
            id INTEGER PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            source TEXT NOT NULL DEFAULT 'upload',
            device_id TEXT,
            sha256 TEXT,
            file_path TEXT,
            features TEXT,
            quality TEXT,
            probability REAL,
            model_version TEXT,
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        )""",
        """CREATE TABLE lab_results (
            id INTEGER PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            loinc TEXT NOT NULL,
            analyte TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL,
            si_value REAL,
            si_unit TEXT,
            collected_at TEXT,
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        )""",
        "CREATE INDEX lab_results_visit ON lab_results (visit_id)",
        """CREATE TABLE risk_assessments (
            id INTEGER PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            probability REAL NOT NULL,
            score INTEGER NOT NULL,
            interval_low REAL,
            interval_high REAL,
            tier TEXT NOT NULL,
            recommendation TEXT NOT NULL,
            contributions TEXT NOT NULL DEFAULT '{}',
            missing TEXT NOT NULL DEFAULT '[]',
            model_versions TEXT NOT NULL DEFAULT '{}',
            inputs TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        )""",
        """CREATE TABLE referrals (
            id INTEGER PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            code TEXT NOT NULL UNIQUE,
            priority TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued',
            payload TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            delivered_at TEXT,
            created_by INTEGER REFERENCES users(id)
        )""",
        """CREATE TABLE imaging_results (
            id INTEGER PRIMARY KEY,
            referral_id INTEGER NOT NULL REFERENCES referrals(id),
            received_at TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',
            report TEXT
        )""",
    ),
)

ASSESSMENT_AND_OUTBOX = Migration(
    3,
    "full assessment result; referral outbox state",
    (
        "ALTER TABLE risk_assessments ADD COLUMN result TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE referrals ADD COLUMN assessment_id INTEGER REFERENCES risk_assessments(id)",
        "ALTER TABLE referrals ADD COLUMN server_status TEXT",
        "ALTER TABLE referrals ADD COLUMN last_polled_at TEXT",
        "CREATE INDEX referrals_due ON referrals (status, next_attempt_at)",
        "CREATE INDEX risk_assessments_visit ON risk_assessments (visit_id)",
    ),
)

# Kept in service_state: groups of patient ids whose codes differ only in case.
CODE_COLLISIONS_KEY = "patient_code_collisions"
# The deepest JSON the API accepted when this migration was written (edge.api.operations.
# MAX_JSON_DEPTH); a literal, because a released migration never changes. Deeper drafts, which
# an earlier release stored, broke every read of their visit.
DRAFT_MAX_DEPTH = 20
PATIENT_LIST_COLUMNS = ("autoantibodies", "symptoms", "medications")


def _unreadable_draft(text: str) -> bool:
    try:
        draft = json.loads(text)
    except (ValueError, RecursionError):
        return True
    return not isinstance(draft, dict) or json_depth(draft) > DRAFT_MAX_DEPTH


def fold_codes_and_repair_records(db: sqlite_utils.Database) -> None:
    """Patient codes to upper case, except codes that would then clash: those patients are left
    as they are and listed (ids only) in service_state and the log, for a person to resolve;
    nothing is merged. Values an earlier release let through and that broke reads are reset:
    a null list to [], a draft nested deeper than the API accepts to {}."""
    groups = [json.loads(row[0]) for row in db.execute(
        "SELECT json_group_array(id) FROM patients GROUP BY upper(code) HAVING COUNT(*) > 1 ORDER BY MIN(id)")]
    colliding = [patient_id for group in groups for patient_id in group]
    db.execute(f"UPDATE patients SET code = upper(code) WHERE code != upper(code) "
               f"AND id NOT IN ({','.join('?' * len(colliding))})", colliding)
    if groups:
        db.execute("INSERT OR REPLACE INTO service_state (key, value, updated_at) VALUES (?, ?, ?)",
                   [CODE_COLLISIONS_KEY, json.dumps(groups), utc_now()])
        logger.warning("patient codes that differ only in case were left unchanged, not merged: patient ids %s",
                       groups)
    for column in PATIENT_LIST_COLUMNS:
        db.execute(f"UPDATE patients SET {column} = '[]' WHERE {column} IS NULL OR json_type({column}) != 'array'")
    too_deep = [row[0] for row in db.execute("SELECT id, draft FROM visits WHERE draft != '{}'")
                if _unreadable_draft(row[1])]
    for visit_id in too_deep:
        db.execute("UPDATE visits SET draft = '{}' WHERE id = ?", [visit_id])
    if too_deep:
        logger.warning("reset the unreadable drafts of %s visit(s): ids %s", len(too_deep), too_deep)


CASE_FOLDED_CODES = Migration(
    4,
    "patient codes case-folded (collisions reported, not merged); unreadable stored values repaired",
    ("CREATE INDEX patients_code_folded ON patients (upper(code))",),
    fold_codes_and_repair_records,
)

OUTCOMES_AND_SITE_CALIBRATION = Migration(
    7,
    "confirmed outcomes (HRCT, PFT); the site calibration each assessment used",
    (
        """CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            date TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('hrct', 'pft')),
            ild TEXT NOT NULL CHECK (ild IN ('present', 'absent', 'indeterminate')),
            pattern TEXT,
            extent_percent REAL,
            fvc_percent REAL,
            dlco_percent REAL,
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        )""",
        "CREATE INDEX outcomes_patient ON outcomes (patient_id, date)",
        # Assessments made before site calibration existed used the shipped calibration.
        "ALTER TABLE risk_assessments ADD COLUMN calibration_version TEXT NOT NULL DEFAULT 'bundled'",
    ),
)


VISIT_CHECKLIST = Migration(
    6,
    "visit checklist: skipped steps and lung function entered on the tablet",
    (
        # JSON list of step codes the nurse marked as skipped (edge.patients.VISIT_STEPS).
        "ALTER TABLE visits ADD COLUMN skipped_steps TEXT NOT NULL DEFAULT '[]'",
        # JSON object {fvc_percent, dlco_percent, dlco_not_performed} or '{}' when not entered.
        "ALTER TABLE visits ADD COLUMN lung_function TEXT NOT NULL DEFAULT '{}'",
        "CREATE INDEX IF NOT EXISTS visits_started ON visits (started_at)",
    ),
)

TABLET_PIN_LOCK = Migration(
    8,
    "shared-tablet PIN: the nurse's hashed PIN, and the lock state of a browser session",
    (
        # argon2id hash of the account's re-lock PIN (edge.users.set_pin); NULL: no PIN set.
        "ALTER TABLE users ADD COLUMN pin_hash TEXT",
        # When the tablet locked this session (NULL: unlocked) and the wrong PINs since.
        "ALTER TABLE sessions ADD COLUMN locked_at TEXT",
        "ALTER TABLE sessions ADD COLUMN failed_pins INTEGER NOT NULL DEFAULT 0",
    ),
)

PROGRAMME_REPORTS = Migration(
    9,
    "programme figures waiting in the outbox for the hospital's programme view",
    (
        # One row per queued payload (aggregates only); the id is the payload's sequence.
        """CREATE TABLE programme_reports (
            id INTEGER PRIMARY KEY,
            period TEXT NOT NULL,
            payload TEXT NOT NULL,
            payload_sha256 TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'retrying', 'delivered', 'rejected', 'superseded')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            delivered_at TEXT
        )""",
        "CREATE INDEX programme_reports_due ON programme_reports (status, next_attempt_at)",
    ),
)

REFERRAL_REASON_AND_WITHDRAWAL = Migration(
    10,
    "referrals: the clinician's stated reason, and withdrawal (queued) or revocation (delivered); "
    "the tablet's last search kept with its session",
    (
        # Free text the clinician gave for a referral the advice did not call for (NULL: none given).
        "ALTER TABLE referrals ADD COLUMN reason TEXT",
        "ALTER TABLE referrals ADD COLUMN withdrawn_at TEXT",
        "ALTER TABLE referrals ADD COLUMN withdrawn_by INTEGER REFERENCES users(id)",
        "ALTER TABLE referrals ADD COLUMN withdraw_reason TEXT",
        # The tablet's last patient search, kept with the browser session (never in a URL): the
        # search form posts, stores it here and redirects to a plain GET (POST-redirect-GET).
        "ALTER TABLE sessions ADD COLUMN last_search TEXT",
        # The name a referral letter prints beside the role ("Referred by"); NULL: not given.
        "ALTER TABLE users ADD COLUMN full_name TEXT",
        # When the nurse reviewed the patient's symptoms at this visit (NULL: not yet): a patient
        # with no symptoms has the step done once they are reviewed, not "to do" forever.
        "ALTER TABLE visits ADD COLUMN symptoms_reviewed_at TEXT",
    ),
)

def highest_audited_id(db: sqlite_utils.Database, entities: tuple[str, ...]) -> int:
    """The highest numeric id the audit trail names for any of ``entities`` (0: none): ids of rows
    deleted before a table kept its ids, which SQLite itself no longer knows."""
    if not entities:
        return 0
    row = db.execute(f"SELECT MAX(CAST(entity_id AS INTEGER)) FROM audit_log WHERE entity IN "
                     f"({', '.join('?' * len(entities))}) AND entity_id != '' AND entity_id NOT GLOB '*[^0-9]*'",
                     list(entities)).fetchone()
    return row[0] or 0


def raise_id_sequence(db: sqlite_utils.Database, table: str, floor: int) -> None:
    """Make the next id SQLite hands out in the AUTOINCREMENT ``table`` at least ``floor + 1``."""
    if not db.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", [floor, table]).rowcount:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", [table, floor])


def _referencing_tables(db: sqlite_utils.Database, table: str) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != ?", [table])
            if any(reference[2] == table for reference in db.execute(f'PRAGMA foreign_key_list("{name}")'))]


def rebuild_with_autoincrement(db: sqlite_utils.Database, table: str, *, audit_entities: tuple[str, ...] = ()) -> None:
    """Rebuild ``table`` with ``id INTEGER PRIMARY KEY AUTOINCREMENT``, so that the id of a deleted
    row is never handed out again; its rows, columns, defaults, constraints, indexes and triggers
    stay exactly as stored (the new definition is the stored one plus AUTOINCREMENT). The
    sequence starts above the highest id in the table and the highest the audit trail names under
    ``audit_entities``.

    Runs inside the migration's transaction. The old table is renamed away before the new one is
    created under the real name, so the stored definition keeps its text (a rename of the new
    table would rewrite it). A table that other tables reference is rebuilt only with foreign-key
    enforcement off (a migration with ``rebuilds_referenced_tables``), and the rename is then made
    the legacy way, so that their ``REFERENCES`` keep naming the real table, not the renamed one.

    Raises
    ------
    StorageError
        When the stored definition does not have exactly one plain ``id INTEGER PRIMARY KEY``, or
        other tables reference ``table`` while foreign keys are enforced.
    """
    definition = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    rebuilt, found = re.subn(r"\bid INTEGER PRIMARY KEY\b(?! AUTOINCREMENT)", "id INTEGER PRIMARY KEY AUTOINCREMENT",
                             definition)
    if found != 1:
        raise StorageError(f"table {table!r} has {found} plain 'id INTEGER PRIMARY KEY' columns, expected 1")
    referencing = _referencing_tables(db, table)
    if referencing and db.execute("PRAGMA foreign_keys").fetchone()[0]:
        raise StorageError(f"table {table!r} is referenced by {', '.join(referencing)}: rebuild it in a migration "
                           "with rebuilds_referenced_tables")
    # Saved before the rename, which rewrites them to name the old table; automatic (UNIQUE) indexes
    # have no SQL and come back with the table.
    dependents = [row[0] for row in db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL "
        "ORDER BY rowid", [table])]
    columns = ", ".join(f'"{row[1]}"' for row in db.execute(f'PRAGMA table_info("{table}")'))
    old = f"{table}_before_autoincrement"
    db.execute("PRAGMA legacy_alter_table = ON")
    try:
        db.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    finally:
        db.execute("PRAGMA legacy_alter_table = OFF")
    db.execute(rebuilt)
    db.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{old}" ORDER BY id')
    db.execute(f'DROP TABLE "{old}"')
    for statement in dependents:
        db.execute(statement)
    # The copy set the sequence to the highest row; a discarded last take may have been higher.
    raise_id_sequence(db, table, max(db.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0],
                                     highest_audited_id(db, audit_entities)))


def recording_ids_never_reused(db: sqlite_utils.Database) -> None:
    """Migration 11's step: ``recordings`` keeps its ids (a discard deletes the row, and its id lives
    on in the audit trail, capture jobs, open pages and ``/recordings/<id>/audio`` links)."""
    rebuild_with_autoincrement(db, "recordings", audit_entities=("recording",))


RECORDING_IDS_NEVER_REUSED = Migration(
    11,
    "recording ids are never handed out again (a discarded take's id stays its own)",
    (),
    recording_ids_never_reused,
)

TYPED_BEFORE_THE_LOCK = Migration(
    12,
    "the patient form's typed, unsaved values kept with the browser session when the tablet locks",
    (
        # JSON {"path": the form's page, "fields": {name: [values]}} (NULL: none). Written by the idle
        # lock, read once when that form is shown again, cleared when the session ends by logout.
        "ALTER TABLE sessions ADD COLUMN form_draft TEXT",
    ),
)

#: Every table whose integer ids leave the database (URLs, the audit trail, the outbox, the
#: programme figures' ``sequence`` sent to the hospital), with the audit entities that name its
#: ids. Migration 13 gives each its own id sequence; a restore raises those sequences above what
#: the replaced database handed out (:func:`edge.store.backup.restore_database`). A later table
#: adds its row here in its own migration; a row is never changed.
KEPT_ID_TABLES: dict[str, tuple[str, ...]] = {
    "users": ("user",),
    "api_tokens": ("api_token", "token"),
    "patients": ("patient",),
    "visits": ("visit",),
    "recordings": ("recording",),  # since migration 11
    "breath_readings": (),
    "lab_results": (),
    "risk_assessments": ("assessment",),
    "referrals": ("referral",),
    "imaging_results": (),
    "outcomes": ("outcome",),
    "programme_reports": (),
    "audit_log": (),
    "monitoring_ends": ("monitoring_end",),  # since migration 19
}
# What migration 13 rebuilds: fixed when it was released.
_REBUILT_BY_13 = ("users", "api_tokens", "patients", "visits", "breath_readings", "lab_results", "risk_assessments",
                  "referrals", "imaging_results", "outcomes", "programme_reports", "audit_log")


def ids_never_reused(db: sqlite_utils.Database) -> None:
    """Migration 13's step: every table whose ids leave the database keeps them, as ``recordings``
    does since migration 11, so that a restore of an older backup can put its sequences back above
    the ids the replaced database handed out (a plain ``INTEGER PRIMARY KEY`` reuses the highest id
    as soon as that row is gone)."""
    for table in _REBUILT_BY_13:
        rebuild_with_autoincrement(db, table, audit_entities=KEPT_ID_TABLES[table])


IDS_NEVER_REUSED = Migration(
    13,
    "ids that leave the database (patients, visits, users, referrals, audit entries...) are never handed out "
    "again, also after a restore",
    (),
    ids_never_reused,
    rebuilds_referenced_tables=True,
)

RECORDING_CHEST_PIECE = Migration(
    14,
    "each recording says which chest piece (filter mode) it was taken through",
    (
        # edge.vocabulary.CHEST_PIECES. Rows stored before: 'not_stated' (nobody was asked). A clear
        # recording through the bell does not make its site heard (edge.modalities.counts_for_its_site).
        "ALTER TABLE recordings ADD COLUMN chest_piece TEXT NOT NULL DEFAULT 'not_stated' "
        "CHECK (chest_piece IN ('diaphragm', 'bell', 'extended', 'not_stated'))",
    ),
)


def confirmations_from_the_audit(db: sqlite_utils.Database) -> None:
    """Migration 15's step: a result confirmed as unusual before the column existed is marked from
    the audit trail, which named its analyte (``add_labs`` entries' ``confirmed_unusual``). A panel's
    rows share one ``created_at`` written just before its audit entry, by the same user: the rows of
    that visit and user with the latest ``created_at`` not after the entry are its rows."""
    entries = db.execute("SELECT at, user_id, entity_id, detail FROM audit_log WHERE action = 'add_labs' "
                         "AND entity = 'visit' AND detail LIKE '%confirmed_unusual%'").fetchall()
    for at, user_id, visit_id, detail in entries:
        analytes = json.loads(detail).get("confirmed_unusual") or []
        if not analytes:
            continue
        db.execute(
            "UPDATE lab_results SET confirmed_unusual = 1 WHERE visit_id = ? AND created_by IS ? "
            f"AND analyte IN ({', '.join('?' for _ in analytes)}) AND created_at = (SELECT MAX(created_at) "
            "FROM lab_results WHERE visit_id = ? AND created_by IS ? AND created_at <= ?)",
            [int(visit_id), user_id, *analytes, int(visit_id), user_id, at])


LAB_RESULT_CONFIRMED_UNUSUAL = Migration(
    15,
    "each lab result says whether it was confirmed as unusual (it looked like a unit slip, and the value and "
    "unit were checked)",
    (
        # 1: stored although tabular_models.lab_panels.unit_slip found it a likely slip, because whoever
        # entered or imported it confirmed value and unit (edge.labs.add_lab_panel); shown with the value.
        "ALTER TABLE lab_results ADD COLUMN confirmed_unusual INTEGER NOT NULL DEFAULT 0 "
        "CHECK (confirmed_unusual IN (0, 1))",
    ),
    confirmations_from_the_audit,
)

TAKE_CRACKLES_HEARD = Migration(
    16,
    "a clinician's label of a take: crackles heard on listening to it (yes, no, unsure), by whom and when",
    (
        # edge.vocabulary.CRACKLES_HEARD; NULL: not labelled. The reference standard the crackle model is
        # checked against ('ildscreen audio export-labelled'); it never enters a visit's result. The last
        # label wins; each one is in the audit trail.
        "ALTER TABLE recordings ADD COLUMN crackles_heard TEXT CHECK (crackles_heard IN ('yes', 'no', 'unsure'))",
        "ALTER TABLE recordings ADD COLUMN crackles_heard_by INTEGER REFERENCES users(id)",
        "ALTER TABLE recordings ADD COLUMN crackles_heard_at TEXT",
    ),
)

EDIT_VERSIONS = Migration(
    17,
    "visits and user accounts carry the version an edit is checked against, as patients do",
    (
        # Raised by each edit of what the API's PATCH writes (edge.patients.update_visit: status, notes,
        # the draft, merged into the stored one as a JSON Merge Patch, RFC 7396, since h85; edge.users.
        # update_user: role, full name, disabled), never by the service's own writes (autosaved drafts,
        # logins): a PATCH naming an older one is refused (409).
        # Rows stored before start at 1, as a new row does.
        "ALTER TABLE visits ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    ),
)

RECORDING_STETHOSCOPE = Migration(
    18,
    "each recording says which stethoscope (make and model) it went through",
    (
        # As the clinic's settings name it (stethoscopes; edge.vocabulary.STETHOSCOPE_NAME, at most 64
        # characters). Rows stored before: 'not_stated' (nobody was asked). Each take's crackle result says
        # whether the crackle model was validated on this stethoscope and chest piece (its manifest's
        # validation.populations.*.devices); 'ildscreen audio export-labelled' writes it as the take's device.
        "ALTER TABLE recordings ADD COLUMN stethoscope TEXT NOT NULL DEFAULT 'not_stated' "
        "CHECK (length(stethoscope) BETWEEN 1 AND 64)",
    ),
)

MONITORING_ENDS = Migration(
    19,
    "a clinician's record that ILD monitoring ended at this clinic (date, reason, note), and its undoing",
    (
        # edge.monitoring_ends. reason: edge.vocabulary.MONITORING_END_REASONS (a note is required for
        # 'other'). A row is never deleted: resuming monitoring sets resumed_at / resumed_by, so the
        # history stays; at most one end per patient is in force (not resumed) at a time.
        """CREATE TABLE monitoring_ends (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            ended_on TEXT NOT NULL,
            reason TEXT NOT NULL CHECK (reason IN ('transferred', 'mdt_no_ild', 'died', 'declined', 'other')),
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id),
            resumed_at TEXT,
            resumed_by INTEGER REFERENCES users(id)
        )""",
        "CREATE UNIQUE INDEX monitoring_ends_in_force ON monitoring_ends (patient_id) WHERE resumed_at IS NULL",
    ),
)

BREATH_SCORED_AT = Migration(
    20,
    "each breath reading's score says when it was given",
    (
        # UTC (edge.store.database.utc_now), set with probability and model_version: when the reading was read, or
        # when Calculate first scored one kept unscored (edge.breath.score_unscored_breath_readings); nothing scores
        # a stored reading again (Calculate weighs its own score of the features, kept with the result). NULL while
        # it has no score, and for a score given before this column existed: the time is not recorded, and none is
        # made up (the audit trail does not say which readings were scored when read).
        "ALTER TABLE breath_readings ADD COLUMN scored_at TEXT",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (IDENTITY_AND_AUDIT, CLINICAL_RECORD, ASSESSMENT_AND_OUTBOX,
                                     CASE_FOLDED_CODES, VISIT_CHECKLIST, OUTCOMES_AND_SITE_CALIBRATION,
                                     TABLET_PIN_LOCK, PROGRAMME_REPORTS, REFERRAL_REASON_AND_WITHDRAWAL,
                                     RECORDING_IDS_NEVER_REUSED, TYPED_BEFORE_THE_LOCK, IDS_NEVER_REUSED,
                                     RECORDING_CHEST_PIECE, LAB_RESULT_CONFIRMED_UNUSUAL, TAKE_CRACKLES_HEARD,
                                     EDIT_VERSIONS, RECORDING_STETHOSCOPE, MONITORING_ENDS, BREATH_SCORED_AT)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(db: sqlite_utils.Database) -> int:
    """Schema version of the database file; 0 for an empty file."""
    if "schema_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0


@contextlib.contextmanager
def _foreign_keys_off(db: sqlite_utils.Database, off: bool) -> Iterator[None]:
    """Foreign-key enforcement off for the block when ``off`` (it can only change outside a
    transaction), and back on after it, whatever happens."""
    if not off:
        yield
        return
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def apply_migrations(
    db: sqlite_utils.Database, *, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied.

    Safe when two processes start at once: the version is re-read under the write lock.

    Raises
    ------
    StorageError
        When the file is newer than this software, a migration it lacks is older than one it
        has (out of order, see :mod:`common.migrations`), or a migration fails (that migration
        is rolled back; earlier ones stay applied).
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    known = max((m.version for m in migrations), default=0)
    found = current_version(db)
    if found > known:
        raise StorageError(
            f"database schema version {found} is newer than this software supports ({known}); "
            "upgrade ildscreen instead of downgrading the database"
        )
    declared = [(m.version, m.name) for m in migrations]
    applied = []
    for migration in migrations:
        with _foreign_keys_off(db, migration.rebuilds_referenced_tables), write_transaction(db):
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            problem = migration_order_problem(declared, done)
            if problem:
                raise StorageError(f"cannot migrate the database: {problem}")
            if migration.version in done:
                continue
            try:
                checked = migration.rebuilds_referenced_tables
                broken_before = set(db.execute("PRAGMA foreign_key_check").fetchall()) if checked else set()
                for statement in migration.statements:
                    db.execute(statement)
                if migration.data_step is not None:
                    migration.data_step(db)
                if checked:
                    broken = set(db.execute("PRAGMA foreign_key_check").fetchall()) - broken_before
                    if broken:
                        raise StorageError(f"migration {migration.version} ({migration.name}) would break "
                                           f"{len(broken)} reference(s), e.g. {sorted(broken)[0]}")
            except sqlite3.Error as exc:
                raise StorageError(f"migration {migration.version} ({migration.name}) failed: {exc}") from exc
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                [migration.version, migration.name, utc_now()],
            )
        applied.append(migration.version)
        logger.info("applied schema migration %s: %s", migration.version, migration.name)
    return applied
