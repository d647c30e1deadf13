"""A restore keeps what already left the clinic: the audit entries written after the backup (one
unbroken trail, the restore's own entry last) and the referrals the hospital knows about, whose CT
results keep coming back; a refused restore leaves the data folder as it was, with no journal files
made by its reads."""
import contextlib
import re
import sqlite3

import pytest

from edge import audit, outbox
from edge.cli import cli
from edge.errors import StorageError
from edge.patients import create_patient, create_visit
from edge.screening import assess_visit
from edge.store import backup as backup_module
from edge.store.backup import backup_database, restore_database
from edge.store.database import open_database, read_only
from edge.store.restore_records import read_after_backup
from edge.users import create_user
from support import PASSWORD, PATIENT, damage_past_the_header
from test_outbox import hospital, worker  # noqa: F401 (hospital: the outbox tests' fixture)


# Through the service's functions on the test's own connection, which it closes before restoring: a
# request's connection stays open with its thread, as a serving thread's does, and a restore refuses it.
@pytest.fixture
def clinician(db) -> audit.Actor:
    user, _ = create_user(db, audit.CLI_OPERATOR, username="dr-lee", role="clinician", password=PASSWORD)
    return audit.Actor(user_id=user["id"], username=user["username"], role=user["role"])


def assessed_visit(db, settings, actor, code: str = PATIENT["code"]) -> dict:
    patient = create_patient(db, actor, {**PATIENT, "code": code})
    visit = create_visit(db, actor, patient["id"])
    assess_visit(db, actor, visit["id"], thresholds=settings.triage_thresholds)
    return visit


def refer(app, db, actor, visit: dict) -> dict:
    return outbox.create_referral(db, actor, visit["id"], site_secret=app.extensions["ildscreen"].folder.site_secret)


def restore(runner, settings, backup) -> str:
    result = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def audit_rows(path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute("SELECT * FROM audit_log ORDER BY id").fetchall()


def referral_in(settings, referral_id: int) -> dict:
    restored = open_database(settings.database_path)
    try:
        return outbox.get_referral(restored, referral_id)
    finally:
        restored.close()


def test_the_audit_entries_written_after_the_backup_are_kept_and_the_restore_entry_follows(app, settings, db,
                                                                                              runner):
    create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    in_backup = audit_rows(backup)
    for n in range(2, 5):
        create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": f"CL01-000{n}"})
    db.close()
    before = audit_rows(settings.database_path)
    assert len(before) == len(in_backup) + 3

    output = restore(runner, settings, backup)

    assert "3 entry(ies) written after the backup kept" in output
    after = audit_rows(settings.database_path)
    assert after[:-1] == before  # every entry as it was: id, time, actor, action, entity, detail
    assert after[-1][0] > before[-1][0] and after[-1][4:6] == ("restore", "database")
    assert '"audit_entries_kept": 3' in after[-1][7]


def test_a_referral_made_after_the_backup_still_gets_its_ct_result(app, settings, db, runner, clinician, hospital):
    visit = assessed_visit(db, settings, clinician)
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    referral = refer(app, db, clinician, visit)
    assert worker(app, hospital.url).run_once()["delivery"]["delivered"] == 1
    db.close()

    output = restore(runner, settings, backup)

    assert f"referrals made after the backup kept, with their visit, assessment and (if new) patient, so their CT " \
           f"results keep coming: ids {referral['id']}" in output
    assert referral_in(settings, referral["id"])["status"] == "delivered"
    hospital.report(referral["code"], haa_percent=11.0)
    assert worker(app, hospital.url).run_once()["results"]["reported"] == 1
    shown = referral_in(settings, referral["id"])
    assert shown["status"] == "reported" and shown["imaging_result"]["metrics"]["haa_percent"] == 11.0
    assert hospital.accepted_codes == [referral["code"]]  # delivered once, not again


def test_a_patient_registered_after_the_backup_comes_back_with_the_referral_and_its_result(
        app, settings, db, runner, clinician, hospital):
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    visit = assessed_visit(db, settings, clinician, "CL01-0042")
    referral = refer(app, db, clinician, visit)
    worker(app, hospital.url).run_once()
    hospital.report(referral["code"], haa_percent=7.5)
    worker(app, hospital.url).run_once()  # the result arrived before the restore: it is kept too
    db.close()

    output = restore(runner, settings, backup)

    assert "(1 patient(s), 1 visit(s) came with them" in output
    restored = open_database(settings.database_path)
    try:
        assert [row[0] for row in restored.execute("SELECT code FROM patients")] == ["CL01-0042"]
        assert restored.execute("SELECT COUNT(*) FROM risk_assessments WHERE visit_id = ?",
                                [visit["id"]]).fetchone()[0] == 1
        assert outbox.list_referrals(restored, patient_id=visit["patient_id"])[0]["imaging_result"]["metrics"][
            "haa_percent"] == 7.5
        # The clinician's account is in the backup: the rows still name them.
        assert restored.execute("SELECT created_by FROM referrals").fetchone()[0] == clinician.user_id
    finally:
        restored.close()
    hospital.report(referral["code"], haa_percent=8.0)  # the radiologist's read, later
    restored = open_database(settings.database_path)
    restored.execute("UPDATE referrals SET next_attempt_at = NULL")
    restored.conn.commit()
    restored.close()
    assert worker(app, hospital.url).run_once()["results"]["updated"] == 1


def test_a_referral_by_an_account_created_after_the_backup_is_kept_with_the_account_left_unnamed(
        app, settings, db, runner, hospital):
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    user, _ = create_user(db, audit.CLI_OPERATOR, username="dr-new", role="clinician", password=PASSWORD)
    newcomer = audit.Actor(user_id=user["id"], username=user["username"], role=user["role"])
    referral = refer(app, db, newcomer, assessed_visit(db, settings, newcomer))
    db.close()

    output = restore(runner, settings, backup)

    assert f"ids {referral['id']}" in output and "1 account(s)" in output  # the account itself is lost
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT created_by FROM referrals").fetchall() == [(None,)]
        assert restored.execute("SELECT created_by FROM patients").fetchall() == [(None,)]
        assert restored.execute("SELECT username FROM audit_log WHERE entity = 'referral' AND action = 'create'"
                                ).fetchall() == [("dr-new",)]  # the trail still says who referred


def test_a_referral_withdrawn_after_the_backup_stays_withdrawn(app, settings, db, runner, clinician, hospital):
    referral = refer(app, db, clinician, assessed_visit(db, settings, clinician))
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    assert outbox.withdraw_referral(db, clinician, referral["id"], reason="moved away").referral["status"] == "withdrawn"
    db.close()

    output = restore(runner, settings, backup)

    assert f"keep it: ids {referral['id']}" in output
    assert referral_in(settings, referral["id"])["status"] == "withdrawn"
    assert worker(app, hospital.url).run_once()["delivery"]["delivered"] == 0
    assert hospital.accepted_codes == []  # the backup's 'queued' would have sent it


def test_a_poll_after_the_backup_is_kept_but_not_listed_as_a_change(app, settings, db, runner, clinician, hospital):
    referral = refer(app, db, clinician, assessed_visit(db, settings, clinician))
    worker(app, hospital.url).run_once()  # delivered
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    assert worker(app, hospital.url).run_once()["results"]["waiting"] == 1
    polled_at = db.execute("SELECT last_polled_at FROM referrals").fetchone()[0]
    db.close()

    output = restore(runner, settings, backup)

    assert "keep it: ids" not in output
    assert referral_in(settings, referral["id"])["last_polled_at"] == polled_at is not None


def test_a_referral_state_older_than_the_backups_does_not_replace_it(app, settings, db, runner, clinician,
                                                                        hospital):
    """A current file restored by an earlier release from an older backup holds stale referral states."""
    referral = refer(app, db, clinician, assessed_visit(db, settings, clinician))
    worker(app, hospital.url).run_once()
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.execute("UPDATE referrals SET status = 'queued', updated_at = '2000-01-01T00:00:00.000+00:00'")
    db.conn.commit()
    db.close()

    output = restore(runner, settings, backup)

    assert "keep it: ids" not in output
    assert referral_in(settings, referral["id"])["status"] == "delivered"


def test_a_referral_whose_patient_code_the_backup_gives_another_patient_is_listed_not_merged(
        app, settings, db, runner, clinician):
    create_patient(db, audit.CLI_OPERATOR, {**PATIENT, "code": "CL01-0007"})
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.execute("UPDATE patients SET code = 'CL01-0008' WHERE code = 'CL01-0007'")  # a typo fixed since
    db.conn.commit()
    referral = refer(app, db, clinician, assessed_visit(db, settings, clinician, "CL01-0007"))
    db.close()

    output = restore(runner, settings, backup)

    assert "referrals NOT kept, never merged (their patient's code or id is another patient's in the backup" in output
    assert f"resolve them from the .before-restore file: ids {referral['id']}" in output
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1
        assert restored.execute("SELECT COUNT(*) FROM referrals").fetchone()[0] == 0


def test_a_referral_whose_patient_id_is_another_patient_in_the_backup_is_listed_not_merged(
        app, settings, db, runner, clinician):
    """A current file of another lineage (its patient under the same id was created at another
    time): the referral, its visit and its assessment are not given to the backup's patient."""
    patient = create_patient(db, clinician, dict(PATIENT))
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.execute("UPDATE patients SET created_at = '2020-01-01T00:00:00.000+00:00'")
    db.conn.commit()
    visit = create_visit(db, clinician, patient["id"])
    assess_visit(db, clinician, visit["id"], thresholds=settings.triage_thresholds)
    referral = refer(app, db, clinician, visit)
    db.close()

    output = restore(runner, settings, backup)

    assert f"resolve them from the .before-restore file: ids {referral['id']}" in output
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 0
        assert restored.execute("SELECT COUNT(*) FROM referrals").fetchone()[0] == 0


def test_a_referral_polled_while_the_backup_is_prepared_stops_the_restore(app, settings, db, clinician,
                                                                          monkeypatch):
    """A change to a referral's state (a command polling the hospital) made while the copy was
    prepared would be lost: the restore stops and the current database stays."""
    referral = refer(app, db, clinician, assessed_visit(db, settings, clinician))
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.close()
    prepare = backup_module._prepare_copy

    def prepare_while_polled(*args):
        prepared = prepare(*args)
        writer = open_database(settings.database_path)
        writer.execute("UPDATE referrals SET last_polled_at = 'now' WHERE id = ?", [referral["id"]])
        writer.conn.commit()
        writer.close()
        return prepared

    monkeypatch.setattr(backup_module, "_prepare_copy", prepare_while_polled)
    with pytest.raises(StorageError, match="was opened or written while the backup was being prepared"):
        restore_database(backup, settings.database_path)
    assert not (settings.data_dir / "ildscreen.db.before-restore").exists()


def _newer(path):
    with contextlib.closing(sqlite3.connect(path)) as newer:
        newer.execute("PRAGMA journal_mode = WAL")
        newer.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
        newer.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 't')")
        newer.commit()


def test_a_refused_restore_leaves_no_journal_files_beside_the_database_or_the_backup(app, settings, db, runner,
                                                                                      tmp_path):
    """Refused after it read the current database (and the backup, both in WAL mode): the read-only
    reads left empty -wal and -shm files behind."""
    create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    db.close()
    data_files = sorted(path.name for path in settings.data_dir.iterdir())
    (tmp_path / "backups").mkdir()
    _newer(tmp_path / "backups" / "future.db")
    backup_files = sorted(path.name for path in (tmp_path / "backups").iterdir())

    result = runner.invoke(cli, ["db", "restore", str(tmp_path / "backups" / "future.db"),
                                 "--data-dir", str(settings.data_dir)])

    assert result.exit_code == 1 and "newer than this software supports" in result.output
    assert sorted(path.name for path in settings.data_dir.iterdir()) == data_files
    assert sorted(path.name for path in (tmp_path / "backups").iterdir()) == backup_files


def test_a_read_only_read_keeps_journal_files_another_connection_holds(settings, db):
    """The tidy-up is SQLite's own last-close: files of a database still open elsewhere stay."""
    wal, shm = (settings.data_dir / "ildscreen.db-wal"), (settings.data_dir / "ildscreen.db-shm")
    with read_only(settings.database_path) as connection:
        connection.execute("SELECT COUNT(*) FROM users").fetchone()
    assert wal.exists() and shm.exists()  # the open service connection (db) still uses them
    db.close()
    assert not wal.exists() and not shm.exists()


def test_an_unreadable_trail_stops_the_restore_naming_the_file_and_what_it_would_lose(settings, db):
    """A current database whose audit trail and referrals do not read is not taken as having none:
    the restore would lose the entries and referrals written after the backup."""
    db.close()
    damage_past_the_header(settings.database_path)
    with pytest.raises(StorageError) as raised:
        read_after_backup(settings.database_path, 0)
    assert re.fullmatch(rf"cannot read the audit trail, referrals and outcomes of "
                        rf"{re.escape(str(settings.database_path))} \(.+\), so a restore would lose them; if the "
                        r"file is damaged, move it out of the data folder and restore again \(nothing was changed\)",
                        str(raised.value))
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
