"""Schema migration 11 on a version-10 database: ``recordings`` is rebuilt with AUTOINCREMENT, so a
discarded take's id is never handed to the next take; every row, column, index, foreign key and
trigger stays as it was, and ids the audit trail names (discarded before the migration) stay used."""
import threading

import pytest

from edge import audit
from edge.errors import StorageError
from edge.store.database import open_database
from edge.store.migrations import Migration, apply_migrations, current_version, rebuild_with_autoincrement
from support import database_at, migrations_up_to

UP_TO_10, UP_TO_11 = migrations_up_to(10), migrations_up_to(11)


def version_10_database(path):
    return database_at(path, 10)


def add_visit(db) -> int:
    patient = db["patients"].insert({"code": "CL11-0001", "birth_year": 1950, "sex": "F", "ctd_diagnosis": "SSc",
                                     "created_at": "t", "updated_at": "t"}).last_pk
    return db["visits"].insert({"patient_id": patient, "started_at": "t", "updated_at": "t"}).last_pk


def add_take(db, visit_id, site="posterior_left_base", **columns) -> int:
    row = {"visit_id": visit_id, "chest_site": site, "sha256": f"{site}-sha", "file_path": f"ab/{site}",
           "media_type": "audio/wav", "size_bytes": 1000, "sample_rate": 4000, "channels": 1, "duration_s": 20.0,
           "created_at": "t", **columns}
    recording_id = db["recordings"].insert(row).last_pk
    audit.record(db, audit.CLI_OPERATOR, "create", "recording", recording_id, {"visit_id": visit_id})
    return recording_id


def schema(db) -> dict:
    """Everything SQLite says about the schema, ``recordings`` included, keyed by object."""
    described = {(row[0], row[1]): (row[2], row[3]) for row in
                 db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'")}
    for pragma in ("table_xinfo", "foreign_key_list", "index_list"):
        described[("pragma", pragma)] = db.execute(f"PRAGMA {pragma}(recordings)").fetchall()
    return described


def test_every_row_and_schema_object_is_kept_and_the_next_id_is_above_row_and_audited_discard(tmp_path):
    db = version_10_database(tmp_path / "v10.db")
    # A trigger and a second index (none ship today) prove that the rebuild keeps what hangs on the table.
    db.execute("CREATE INDEX recordings_sha ON recordings (sha256)")
    db.execute("CREATE TRIGGER recordings_no_resize BEFORE UPDATE OF size_bytes ON recordings "
               "BEGIN SELECT RAISE(ABORT, 'size is fixed'); END")
    visit = add_visit(db)
    takes = [add_take(db, visit, site, quality='{"ok": true}', crackle_probability=0.25, model_version="m-1",
                      result='{"windows": []}', device_id="steth-1", source="board")
             for site in ("posterior_left_base", "posterior_right_base")]
    takes.append(add_take(db, visit, "trachea"))
    discarded = add_take(db, visit, "trachea")
    # The last take discarded as edge.recordings.discard_recording did at version 10.
    db.execute("DELETE FROM recordings WHERE id = ?", [discarded])
    audit.record(db, audit.CLI_OPERATOR, "discard", "recording", discarded, {"visit_id": visit})
    audit.record(db, audit.CLI_OPERATOR, "view", "recording", "15b")  # not an id: ignored
    db.conn.commit()
    assert discarded > max(takes)
    rows_before, schema_before = list(db["recordings"].rows), schema(db)

    assert apply_migrations(db, migrations=UP_TO_11) == [11]

    assert list(db["recordings"].rows) == rows_before and [row["id"] for row in rows_before] == takes
    after = schema(db)
    table_before = schema_before.pop(("table", "recordings"))
    table_after = after.pop(("table", "recordings"))
    assert table_after == (table_before[0], table_before[1].replace("id INTEGER PRIMARY KEY,",
                                                                    "id INTEGER PRIMARY KEY AUTOINCREMENT,", 1))
    assert after == schema_before
    assert db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'recordings'").fetchone() == (discarded,)
    fresh = add_take(db, visit, "trachea")
    assert fresh == discarded + 1
    db.execute("DELETE FROM recordings WHERE id = ?", [fresh])
    assert add_take(db, visit, "trachea") == fresh + 1  # from now on SQLite keeps the sequence itself
    with pytest.raises(Exception, match="size is fixed"):
        db.execute("UPDATE recordings SET size_bytes = 1 WHERE id = ?", [takes[0]])
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert apply_migrations(db, migrations=UP_TO_11) == []  # applied once


def test_an_empty_table_still_skips_the_ids_the_audit_trail_names(tmp_path):
    db = version_10_database(tmp_path / "v10.db")
    visit = add_visit(db)
    only = add_take(db, visit)
    db.execute("DELETE FROM recordings WHERE id = ?", [only])
    audit.record(db, audit.CLI_OPERATOR, "discard", "recording", only)
    db.conn.commit()
    apply_migrations(db, migrations=UP_TO_11)
    assert list(db["recordings"].rows) == []
    assert add_take(db, visit) == only + 1


def test_a_fresh_database_starts_recordings_at_one_and_never_reuses(tmp_path):
    db = open_database(tmp_path / "new.db")
    apply_migrations(db)
    visit = add_visit(db)
    first = add_take(db, visit)
    assert first == 1
    db.execute("DELETE FROM recordings WHERE id = ?", [first])
    assert add_take(db, visit) == 2


def test_two_processes_starting_at_once_rebuild_the_table_once(tmp_path):
    path = tmp_path / "v10.db"
    db = version_10_database(path)
    visit = add_visit(db)
    takes = [add_take(db, visit, site) for site in ("posterior_left_base", "trachea")]
    db.conn.commit()
    rows_before = list(db["recordings"].rows)
    applied, errors = [], []

    def start():
        try:
            applied.append(apply_migrations(open_database(path), migrations=UP_TO_11))
        except Exception as exc:  # collected: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and sorted(applied) == [[], [11]]
    assert list(db["recordings"].rows) == rows_before
    assert add_take(db, visit) == max(takes) + 1


def test_a_table_without_one_plain_integer_id_is_refused_and_the_migration_rolled_back(tmp_path):
    db = version_10_database(tmp_path / "v10.db")
    step = Migration(11, "rebuild service_state", (), lambda d: rebuild_with_autoincrement(
        d, "service_state", audit_entities=("service_state",)))
    with pytest.raises(StorageError, match="'service_state' has 0 plain 'id INTEGER PRIMARY KEY' columns"):
        apply_migrations(db, migrations=(*UP_TO_10, step))
    assert current_version(db) == 10 and "service_state_before_autoincrement" not in db.table_names()
