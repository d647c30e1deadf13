"""Schema migration 15 on a version-14 database: lab results gain ``confirmed_unusual``; every row
and column stays, a result the audit trail says was confirmed as unusual (the unit check, before the
column existed) is marked, no other is, and the column takes 0 or 1 only."""
import json
import sqlite3

import pytest

from edge import audit
from edge.patients import create_patient, create_visit
from edge.store.migrations import apply_migrations
from support import PATIENT, database_at, migrations_up_to

LOINC = {"hgb": "718-7", "bilirubin": "1975-2"}


def nurse(db, username):
    user_id = db["users"].insert({"username": username, "role": "nurse", "password_hash": "h",
                                  "created_at": "t"}).last_pk
    return audit.Actor(user_id, username, "nurse")


def panel(db, actor, visit_id, at, results, confirmed=()):
    """Rows and audit entry as add_lab_panel wrote them before migration 15."""
    for analyte, value, unit in results:
        db["lab_results"].insert({"visit_id": visit_id, "loinc": LOINC[analyte], "analyte": analyte, "value": value,
                                  "unit": unit, "si_value": value, "si_unit": unit, "collected_at": None,
                                  "created_at": at, "created_by": actor.user_id})
    db.execute("INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, detail) "
               "VALUES (?, ?, ?, 'add_labs', 'visit', ?, ?)",
               [at.replace(".000", ".004"), actor.user_id, actor.username, str(visit_id),
                json.dumps({"results": len(results), **({"confirmed_unusual": list(confirmed)} if confirmed else {})},
                           sort_keys=True)])


def test_results_keep_everything_and_only_those_confirmed_in_the_audit_are_marked(tmp_path):
    db = database_at(tmp_path / "v14.db", 14)
    patient = create_patient(db, audit.CLI_OPERATOR, PATIENT)["id"]
    first, second = (create_visit(db, audit.CLI_OPERATOR, patient)["id"] for _ in range(2))
    NURSE, OTHER_NURSE = nurse(db, "nurse7"), nurse(db, "nurse8")
    slip = ("bilirubin", 0.8, "umol/L")
    panel(db, NURSE, first, "2026-12-01T09:00:00.000+00:00", [("hgb", 125, "g/L"), slip], confirmed=["bilirubin"])
    panel(db, NURSE, first, "2026-12-01T09:05:00.000+00:00", [slip])  # the same value later: not confirmed then
    panel(db, OTHER_NURSE, first, "2026-12-01T08:59:00.000+00:00", [slip])  # before, by someone else
    panel(db, NURSE, second, "2026-12-01T09:00:00.000+00:00", [slip])  # the same time, another visit
    db.conn.commit()
    before = db.execute("SELECT * FROM lab_results ORDER BY id").fetchall()

    assert apply_migrations(db, migrations=migrations_up_to(15)) == [15]
    after = db.execute("SELECT * FROM lab_results ORDER BY id").fetchall()
    assert [row[:-1] for row in after] == before  # every row and column kept, the new one last
    marked = db.execute("SELECT visit_id, created_at, analyte FROM lab_results WHERE confirmed_unusual = 1").fetchall()
    assert marked == [(first, "2026-12-01T09:00:00.000+00:00", "bilirubin")]
    assert {row[-1] for row in after} == {0, 1}
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE lab_results SET confirmed_unusual = 2")
    db.close()
