"""Schema migration 19 on a version-17 database: the table of ends of ILD monitoring (brief h84). Rows
stored before are untouched; the table refuses a reason outside the vocabulary and a second end in force
for one patient, keeps an id that is never handed out again, and a resumed end leaves room for a new one."""
import sqlite3

import pytest

from edge import audit
from edge.patients import create_patient
from edge.store.migrations import apply_migrations
from edge.vocabulary import MONITORING_END_REASONS
from support import PATIENT, database_at, migrations_up_to

UP_TO_19 = migrations_up_to(19)


def end_row(patient_id: int, reason: str = "transferred") -> dict:
    return {"patient_id": patient_id, "ended_on": "2026-03-01", "reason": reason, "created_at": "t"}


def test_the_table_holds_one_end_in_force_per_patient_with_a_known_reason(tmp_path):
    db = database_at(tmp_path / "v17.db", 17)
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))["id"]
    db.conn.commit()
    before = list(db["patients"].rows)

    assert 19 in apply_migrations(db, migrations=UP_TO_19)

    assert list(db["patients"].rows) == before
    assert "AUTOINCREMENT" in db["monitoring_ends"].schema
    for reason in MONITORING_END_REASONS:  # the CHECK lists the vocabulary, no more, no less
        end_id = db["monitoring_ends"].insert(end_row(patient, reason)).last_pk
        db.execute("UPDATE monitoring_ends SET resumed_at = 't' WHERE id = ?", [end_id])
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db["monitoring_ends"].insert(end_row(patient, "moved_away"))
    db["monitoring_ends"].insert(end_row(patient))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        db["monitoring_ends"].insert(end_row(patient))
    assert apply_migrations(db, migrations=UP_TO_19) == []  # applied once
