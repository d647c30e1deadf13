"""Schema migration 13 on a version-12 database: every table whose ids leave the database is rebuilt
with AUTOINCREMENT (as ``recordings`` was by migration 11), so a restore can keep its ids out of use;
every row, column, index and foreign key stays as it was, references still name the real tables,
and foreign keys are enforced again afterwards."""
import pytest

from edge import audit
from edge.errors import StorageError
from edge.patients import create_patient, create_visit
from edge.store.migrations import KEPT_ID_TABLES, Migration, apply_migrations, current_version, rebuild_with_autoincrement
from support import PATIENT, database_at, migrations_up_to

UP_TO_12, UP_TO_13 = migrations_up_to(12), migrations_up_to(13)


def version_12_database(path):
    return database_at(path, 12)


def schema(db) -> dict:
    """What SQLite says about every table, index and foreign key, keyed by object."""
    described = {(row[0], row[1]): (row[2], row[3]) for row in
                 db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'")}
    for table in db.table_names():
        for pragma in ("table_xinfo", "foreign_key_list", "index_list"):
            described[(pragma, table)] = db.execute(f'PRAGMA {pragma}("{table}")').fetchall()
    return described


def test_every_table_keeps_its_rows_and_schema_and_its_ids_from_now_on(tmp_path):
    db = version_12_database(tmp_path / "v12.db")
    patients = [create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": f"CL13-000{n}"})["id"] for n in (1, 2)]
    visit = create_visit(db, audit.CLI_OPERATOR, patients[0])["id"]
    audit.record(db, audit.CLI_OPERATOR, "create", "patient", 40)  # a patient lost before this migration
    db.conn.commit()
    # The tables a version-12 database has (a later migration adds its own table to KEPT_ID_TABLES).
    kept = [table for table in KEPT_ID_TABLES if table in db.table_names()]
    rows_before = {table: list(db[table].rows) for table in kept}
    schema_before = schema(db)

    assert apply_migrations(db, migrations=UP_TO_13) == [13]

    assert {table: list(db[table].rows) for table in kept} == rows_before
    after = schema(db)
    for table in kept:
        if table == "recordings":  # AUTOINCREMENT since migration 11
            continue
        kind, text = schema_before.pop(("table", table))
        assert after.pop(("table", table)) == (kind, text.replace("id INTEGER PRIMARY KEY,",
                                                                  "id INTEGER PRIMARY KEY AUTOINCREMENT,", 1)), table
    assert after == schema_before  # foreign keys of visits, recordings... still name patients, visits, users
    assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": "CL13-0003"})["id"] == 41
    with pytest.raises(Exception, match="FOREIGN KEY"):
        db["visits"].insert({"patient_id": 999, "started_at": "t", "updated_at": "t"})
    db.execute("DELETE FROM visits WHERE id = ?", [visit])
    assert create_visit(db, audit.CLI_OPERATOR, patients[1])["id"] == visit + 1
    assert apply_migrations(db, migrations=UP_TO_13) == []  # applied once


def test_a_referenced_table_is_not_rebuilt_while_foreign_keys_are_enforced(tmp_path):
    db = version_12_database(tmp_path / "v12.db")
    step = Migration(13, "rebuild patients", (), lambda d: rebuild_with_autoincrement(d, "patients"))
    with pytest.raises(StorageError, match="'patients' is referenced by visits, outcomes"):
        apply_migrations(db, migrations=(*UP_TO_12, step))
    assert current_version(db) == 12 and "AUTOINCREMENT" not in db["patients"].schema


def test_a_step_that_would_break_a_reference_is_rolled_back(tmp_path):
    db = version_12_database(tmp_path / "v12.db")
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))["id"]
    create_visit(db, audit.CLI_OPERATOR, patient)
    db.conn.commit()

    def lose_a_patient(d):
        rebuild_with_autoincrement(d, "patients")
        d.execute("DELETE FROM patients WHERE id = ?", [patient])

    step = Migration(13, "lossy", (), lose_a_patient, rebuilds_referenced_tables=True)
    with pytest.raises(StorageError, match=r"migration 13 \(lossy\) would break 1 reference\(s\), e.g. \('visits'"):
        apply_migrations(db, migrations=(*UP_TO_12, step))
    assert current_version(db) == 12 and db["patients"].count == 1
    assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
