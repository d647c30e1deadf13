"""A restore of an older backup never hands out again an id the replaced database handed out (the
audit trail in ``.before-restore``, open pages, links and the programme figures' ``sequence`` at the
hospital still name them), whatever the backup's schema; a refused or failed restore leaves the
current database exactly as it was."""
import contextlib
import hashlib
import sqlite3

import pytest

from edge import audit
from edge.cli import cli
from edge.errors import StorageError
from edge.outbox import queue_programme_figures
from edge.patients import create_patient, create_visit
from edge.store import backup as backup_module
from edge.store.backup import backup_database, restore_database
from edge.store.database import open_database
from edge.store.migrations import KEPT_ID_TABLES, LATEST_VERSION, current_version
from edge.users import create_user
from support import PASSWORD, PATIENT, damage_past_the_header, database_at


def add_recording(db, visit_id: int) -> int:
    return db["recordings"].insert({
        "visit_id": visit_id, "chest_site": "posterior_left_base", "sha256": "ab" * 32, "file_path": "ab/cd",
        "media_type": "audio/wav", "size_bytes": 1000, "sample_rate": 4000, "channels": 1, "duration_s": 20.0,
        "created_at": "t"}).last_pk


def add_record(db, code: str) -> dict:
    """One row in each of the tables a nurse's day fills, through the service's own functions where
    they are cheap to call; returns the new ids by table."""
    patient = create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": code})
    visit = create_visit(db, audit.CLI_OPERATOR, patient["id"])
    user, _ = create_user(db, audit.CLI_OPERATOR, username=f"nurse-{code}", role="nurse", password=PASSWORD)
    report = queue_programme_figures(db, {"period": "2026-11", "figures": code})
    recording = add_recording(db, visit["id"])
    db.conn.commit()
    return {"patients": patient["id"], "visits": visit["id"], "users": user["id"], "programme_reports": report["id"],
            "recordings": recording,
            "audit_log": db.execute("SELECT MAX(id) FROM audit_log").fetchone()[0]}


def state(path) -> tuple:
    """The data folder's files and the database's rows, to prove that nothing changed."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = {table: connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall() for table in KEPT_ID_TABLES}
        sequences = connection.execute("SELECT * FROM sqlite_sequence ORDER BY name").fetchall()
    return sorted(p.name for p in path.parent.iterdir()), rows, sequences


def test_after_a_restore_of_an_older_backup_no_id_is_handed_out_twice(app, settings, db, runner):
    add_record(db, "CL01-0001")
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    lost = add_record(db, "CL01-0002")  # after the backup: gone with the restore
    db.execute("DELETE FROM recordings WHERE id = ?", [lost["recordings"]])  # a discarded take, too
    db.conn.commit()
    db.close()

    result = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert f"patients up to {lost['patients']}" in result.output

    restored = open_database(settings.database_path)
    try:
        assert [row[0] for row in restored.execute("SELECT code FROM patients")] == ["CL01-0001"]
        fresh = add_record(restored, "CL01-0003")
        for table, lost_id in lost.items():
            assert fresh[table] > lost_id, table
        entry = restored.execute("SELECT action, entity, detail FROM audit_log WHERE action = 'restore'").fetchone()
        assert entry[:2] == ("restore", "database") and '"backup": "morning.db"' in entry[2]
    finally:
        restored.close()
    with sqlite3.connect(settings.data_dir / "ildscreen.db.before-restore") as previous:
        assert previous.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 2  # the lost rows, kept


def test_a_backup_from_before_the_ids_were_kept_is_migrated_and_still_skips_them(app, settings, db, tmp_path):
    old = database_at(tmp_path / "v10.db", 10)
    create_patient(old, audit.CLI_OPERATOR, dict(PATIENT))
    old.close()
    for n in range(2, 6):
        create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": f"CL01-000{n}"})
    highest = db.execute("SELECT MAX(id) FROM patients").fetchone()[0]
    db.close()

    raised = restore_database(tmp_path / "v10.db", settings.database_path).ids_raised

    assert raised["patients"] == highest
    restored = open_database(settings.database_path)
    try:
        assert current_version(restored) == LATEST_VERSION
        assert create_patient(restored, audit.CLI_OPERATOR, {**PATIENT, "code": "CL01-0009"})["id"] == highest + 1
    finally:
        restored.close()


def test_a_restore_of_the_newest_backup_raises_nothing(app, settings, db, runner):
    add_record(db, "CL01-0001")
    db.close()
    backup = backup_database(settings.database_path, settings.data_dir / "now.db")
    result = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0 and "stay unused" not in result.output


def _not_ildscreen(path):
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        other.commit()


def _newer(path):
    with contextlib.closing(sqlite3.connect(path)) as newer:
        newer.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
        newer.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 't')")
        newer.commit()


def _corrupt(path):
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100 + b"garbage" * 500)


@pytest.mark.parametrize("make, message", [
    (_corrupt, "is not a usable SQLite database"),
    (_not_ildscreen, "is not an ildscreen database"),
    (_newer, "newer than this software supports"),
])
def test_a_bad_backup_is_refused_with_its_reason_and_nothing_changes(app, settings, db, runner, tmp_path, make,
                                                                     message):
    add_record(db, "CL01-0001")
    db.close()
    before = state(settings.database_path)
    make(tmp_path / "bad.db")
    result = runner.invoke(cli, ["db", "restore", str(tmp_path / "bad.db"), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert state(settings.database_path) == before


def test_a_failure_while_the_ids_are_raised_leaves_the_current_database(app, settings, db, monkeypatch):
    add_record(db, "CL01-0001")
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    add_record(db, "CL01-0002")
    db.close()
    before = state(settings.database_path)
    digest = hashlib.sha256(settings.database_path.read_bytes()).hexdigest()

    def disk_full(*_args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(backup_module, "raise_id_sequence", disk_full)
    with pytest.raises(StorageError, match="the database was not replaced: database or disk is full"):
        restore_database(backup, settings.database_path)
    assert state(settings.database_path) == before
    assert hashlib.sha256(settings.database_path.read_bytes()).hexdigest() == digest


def test_an_unreadable_current_database_is_named_and_left_for_a_person_to_move(app, settings, db, tmp_path):
    db.close()
    backup = backup_database(settings.database_path, tmp_path / "ok.db")
    damaged = damage_past_the_header(settings.database_path)  # it opens and locks; its tables do not read
    with pytest.raises(StorageError, match="cannot read which ids .* has handed out .* move it out of the data folder"):
        restore_database(backup, settings.database_path)
    assert settings.database_path.read_bytes() == damaged
    assert not (settings.data_dir / "ildscreen.db.before-restore").exists()
    settings.database_path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # not even the header
    with pytest.raises(StorageError, match="cannot check whether .* is in use .* move it out of the data folder"):
        restore_database(backup, settings.database_path)

    settings.database_path.rename(tmp_path / "damaged.db")
    assert restore_database(backup, settings.database_path).ids_raised == {}


def test_a_write_to_the_current_database_while_the_backup_is_prepared_stops_the_restore(app, settings, db,
                                                                                        monkeypatch):
    """A command (or a service) that wrote while the copy was migrated may have handed out ids the
    copy does not keep out of use: the restore stops, and what it wrote stays."""
    add_record(db, "CL01-0001")
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.close()
    prepare = backup_module._prepare_copy

    def prepare_while_a_patient_is_registered(*args):
        raised = prepare(*args)
        writer = open_database(settings.database_path)
        create_patient(writer, audit.CLI_OPERATOR, {**PATIENT, "code": "CL01-0002"})
        writer.close()
        return raised

    monkeypatch.setattr(backup_module, "_prepare_copy", prepare_while_a_patient_is_registered)
    with pytest.raises(StorageError, match="was opened or written while the backup was being prepared"):
        restore_database(backup, settings.database_path)
    with contextlib.closing(sqlite3.connect(settings.database_path)) as current:
        assert current.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 2
    assert not (settings.data_dir / "ildscreen.db.before-restore").exists()
