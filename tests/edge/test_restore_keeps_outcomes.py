"""A restore keeps the confirmed outcomes (HRCT, PFT) entered after the backup: they decide advice
now (a negative HRCT answers the screening line), so losing one would silently change what a patient
is told. An outcome comes back with its patient when the backup lacks them, and is never merged into
another patient."""
import contextlib
import datetime as dt
import json
import sqlite3

import pytest

from edge import audit
from edge.errors import StorageError
from edge.outcomes import list_outcomes, record_outcome
from edge.patients import create_patient, create_visit
from edge.screening import assess_visit
from edge.store import backup as backup_module
from edge.store.backup import backup_database, restore_database
from edge.store.database import open_database
from edge.users import create_user
from support import PASSWORD, PATIENT
from test_restore_keeps_trail_and_referrals import clinician, restore  # noqa: F401 (clinician: a fixture)

A_MONTH_AGO = (dt.date.today() - dt.timedelta(days=30)).isoformat()
NO_ILD = {"date": A_MONTH_AGO, "source": "hrct", "ild": "absent"}


def restore_entry(settings) -> dict:
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        detail = restored.execute("SELECT detail FROM audit_log WHERE action = 'restore' ORDER BY id DESC"
                                  ).fetchone()[0]
    return json.loads(detail)["kept_from_replaced"]


def test_an_hrct_without_ild_entered_after_the_backup_still_answers_the_next_assessment_after_the_restore(
        app, settings, db, runner, clinician):
    thresholds = settings.triage_thresholds
    patient = create_patient(db, clinician, {**PATIENT, "symptoms": []})
    visit = create_visit(db, clinician, patient["id"])
    assert assess_visit(db, clinician, visit["id"], thresholds=thresholds)["recommendation"]["advice"] == "hrct_pfts"
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    outcome = record_outcome(db, clinician, patient["id"], NO_ILD)
    assert assess_visit(db, clinician, visit["id"], thresholds=thresholds)["recommendation"]["advice"] == "pfts"
    db.close()

    output = restore(runner, settings, backup)

    restored = open_database(settings.database_path)
    try:
        advice = assess_visit(restored, clinician, visit["id"], thresholds=thresholds)["recommendation"]
        assert advice["advice"] == "pfts" and advice["negative_hrct"]["date"] == A_MONTH_AGO
        assert [(item["id"], item["ild"]) for item in list_outcomes(restored, patient["id"])] == \
               [(outcome["id"], "absent")]
    finally:
        restored.close()
    assert "confirmed outcomes (HRCT, PFT) entered after the backup kept, so the advice they decide stays: " \
           f"ids {outcome['id']} (0 patient(s) came with them)" in output
    assert restore_entry(settings)["outcomes_carried"] == [outcome["id"]]


def test_a_patient_registered_after_the_backup_comes_back_with_their_outcomes(app, settings, db, runner):
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    user, _ = create_user(db, audit.CLI_OPERATOR, username="dr-new", role="clinician", password=PASSWORD)
    newcomer = audit.Actor(user_id=user["id"], username=user["username"], role=user["role"])
    patient = create_patient(db, newcomer, {**PATIENT, "code": "CL01-0042"})
    first = record_outcome(db, newcomer, patient["id"], {"date": A_MONTH_AGO, "source": "pft", "ild": "indeterminate",
                                                         "fvc_percent": 78.0, "dlco_percent": 61.0})
    second = record_outcome(db, newcomer, patient["id"], NO_ILD)
    db.close()

    output = restore(runner, settings, backup)

    assert f"ids {first['id']}, {second['id']} (1 patient(s) came with them)" in output
    assert "outcomes NOT kept" not in output
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT id, code, created_by FROM patients").fetchall() == \
               [(patient["id"], "CL01-0042", None)]  # the account is not in the backup: left unnamed
        assert restored.execute("SELECT id, source, fvc_percent, dlco_percent, created_by FROM outcomes ORDER BY id"
                                ).fetchall() == [(first["id"], "pft", 78.0, 61.0, None), (second["id"], "hrct", None,
                                                                                          None, None)]
        # The next outcome's id is above every id handed out.
        assert restored.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outcomes'").fetchone()[0] >= second["id"]


def test_an_outcome_whose_patient_code_the_backup_gives_another_patient_is_listed_not_merged(
        app, settings, db, runner, clinician):
    create_patient(db, clinician, {**PATIENT, "code": "CL01-0007"})
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.execute("UPDATE patients SET code = 'CL01-0008' WHERE code = 'CL01-0007'")  # a typo fixed since
    db.conn.commit()
    newcomer = create_patient(db, clinician, {**PATIENT, "code": "CL01-0007"})
    outcome = record_outcome(db, clinician, newcomer["id"], NO_ILD)
    db.close()

    output = restore(runner, settings, backup)

    assert "outcomes NOT kept, never merged (their patient's code or id is another patient's in the backup, or " \
           "the backup has another outcome under the id); resolve them from the .before-restore file: ids " \
           f"{outcome['id']}" in output
    assert restore_entry(settings)["outcomes_not_carried"] == [outcome["id"]]
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1
        assert restored.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 0


def test_an_outcome_whose_patient_id_is_another_patient_in_the_backup_is_listed_not_merged(
        app, settings, db, runner, clinician):
    """A current file of another lineage (its patient under the same id was created at another time,
    e.g. at another clinic's install): the outcome is not given to the backup's patient."""
    patient = create_patient(db, clinician, dict(PATIENT))
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.execute("UPDATE patients SET created_at = '2020-01-01T00:00:00.000+00:00'")
    db.conn.commit()
    outcome = record_outcome(db, clinician, patient["id"], NO_ILD)
    db.close()

    output = restore(runner, settings, backup)

    assert f"resolve them from the .before-restore file: ids {outcome['id']}" in output
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 0


def test_an_outcome_the_backup_already_has_is_neither_carried_nor_listed(app, settings, db, runner, clinician):
    patient = create_patient(db, clinician, dict(PATIENT))
    record_outcome(db, clinician, patient["id"], NO_ILD)
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.close()

    output = restore(runner, settings, backup)

    assert "confirmed outcomes" not in output and "outcomes NOT kept" not in output
    assert restore_entry(settings)["outcomes_carried"] == []
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 1


def test_an_outcome_whose_id_the_backup_gives_another_outcome_is_listed_not_merged(app, settings, db, runner,
                                                                                    clinician):
    """A current file of another lineage holds another outcome under an id the backup uses: the
    backup's row stays and the current one is listed."""
    patient = create_patient(db, clinician, dict(PATIENT))
    outcome = record_outcome(db, clinician, patient["id"], NO_ILD)
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.execute("UPDATE outcomes SET created_at = '2020-01-01T00:00:00.000+00:00'")
    db.conn.commit()
    db.close()

    output = restore(runner, settings, backup)

    assert f"resolve them from the .before-restore file: ids {outcome['id']}" in output
    assert restore_entry(settings)["outcomes_not_carried"] == [outcome["id"]]
    with contextlib.closing(sqlite3.connect(settings.database_path)) as restored:
        assert restored.execute("SELECT created_at FROM outcomes").fetchall() == [(outcome["created_at"],)]


def test_an_outcome_entered_while_the_backup_is_prepared_stops_the_restore(app, settings, db, clinician,
                                                                           monkeypatch):
    patient = create_patient(db, clinician, dict(PATIENT))
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.close()
    prepare = backup_module._prepare_copy

    def prepare_while_entered(*args):
        prepared = prepare(*args)
        writer = open_database(settings.database_path)
        writer.execute("INSERT INTO outcomes (patient_id, date, source, ild, created_at) VALUES (?, ?, 'hrct', "
                       "'absent', 'now')", [patient["id"], A_MONTH_AGO])
        writer.conn.commit()
        writer.close()
        return prepared

    monkeypatch.setattr(backup_module, "_prepare_copy", prepare_while_entered)
    with pytest.raises(StorageError, match="was opened or written while the backup was being prepared"):
        restore_database(backup, settings.database_path)
    assert not (settings.data_dir / "ildscreen.db.before-restore").exists()


def test_an_end_of_monitoring_recorded_or_resumed_after_the_backup_still_decides_the_advice_after_the_restore(
        app, settings, db, runner, clinician):
    """Brief h84: an end of ILD monitoring decides the advice as an outcome does (no PFT reminders for a
    patient transferred or dead), so a restore keeps the ends recorded after the backup, and the
    resumption of an end the backup still holds in force."""
    from edge.monitoring_ends import end_in_force, end_monitoring, resume_monitoring

    thresholds = settings.triage_thresholds
    patient = create_patient(db, clinician, dict(PATIENT))
    record_outcome(db, clinician, patient["id"], {**NO_ILD, "ild": "present"})
    first = end_monitoring(db, clinician, patient["id"], ended_on=A_MONTH_AGO, reason="declined").end
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    resume_monitoring(db, clinician, first["id"])
    second = end_monitoring(db, clinician, patient["id"], ended_on=A_MONTH_AGO, reason="transferred").end
    db.close()

    output = restore(runner, settings, backup)

    restored = open_database(settings.database_path)
    try:
        assert end_in_force(restored, patient["id"])["id"] == second["id"]
        visit = create_visit(restored, clinician, patient["id"])
        advice = assess_visit(restored, clinician, visit["id"], thresholds=thresholds)["recommendation"]
        assert advice["advice"] == "monitoring_ended" and advice["monitoring_ended"]["reason"] == "transferred"
    finally:
        restored.close()
    assert f"ends of ILD monitoring recorded after the backup kept, so the advice they decide stays: ids {second['id']}" \
           in output
    assert f"ends of ILD monitoring resumed after the backup stay resumed: ids {first['id']}" in output
    kept = restore_entry(settings)
    assert (kept["monitoring_ends_carried"], kept["monitoring_ends_updated"]) == ([second["id"]], [first["id"]])
