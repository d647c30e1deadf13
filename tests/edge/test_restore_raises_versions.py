"""After a restore, an edit saved against a version read before it is refused (brief h85, point 5):
the backup's rows are older than what a client read, so every patient's, visit's and account's
version is raised above any the replaced database gave out, through the real backup and restore."""
import pytest

from edge import audit
from edge.cli import cli
from edge.errors import EditConflict
from edge.patients import create_patient, create_visit, get_patient, get_visit, update_patient, update_visit
from edge.store.backup import backup_database
from edge.store.database import open_database
from edge.users import create_user, get_user, update_user
from support import PASSWORD, PATIENT


@pytest.fixture
def restored(settings, db, runner):
    """A patient, a visit and an account edited after the morning's backup, then the backup restored
    through the CLI: (the database restored, the versions a client read just before the restore)."""
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))
    visit = create_visit(db, audit.CLI_OPERATOR, patient["id"], notes="morning")
    account, _ = create_user(db, audit.CLI_OPERATOR, username="nurse-b", role="nurse", password=PASSWORD)
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    read = {
        "patient": update_patient(db, audit.CLI_OPERATOR, patient["id"], {"smoking": "current"},
                                  version=patient["version"])["version"],
        "visit": update_visit(db, audit.CLI_OPERATOR, visit["id"], {"notes": "afternoon"},
                              version=visit["version"])["version"],
        "user": update_user(db, audit.CLI_OPERATOR, account["id"], full_name="Nurse B", version=account["version"])[
            "version"],
    }
    db.close()
    result = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "read again before an edit" in result.output
    database = open_database(settings.database_path)
    yield database, {"patient": patient["id"], "visit": visit["id"], "user": account["id"]}, read
    database.close()


def test_every_version_read_before_the_restore_is_older_than_the_restored_rows(restored):
    database, ids, read = restored
    patient, visit = get_patient(database, ids["patient"]), get_visit(database, ids["visit"])
    user = get_user(database, ids["user"])
    assert (patient["smoking"], visit["notes"], user["full_name"]) == (PATIENT["smoking"], "morning", None)
    assert patient["version"] > read["patient"] and visit["version"] > read["visit"] and user["version"] > read["user"]


def test_an_edit_against_a_version_read_before_the_restore_is_refused_and_saves_nothing(restored):
    """Old code gave the visit and the account the backup's version back and the patient the version
    of the edit the trail kept: the stale client's edit then overwrote the restored rows unseen, at once
    (patient) or after one edit of the restored visit or account (their version caught up)."""
    database, ids, read = restored
    visit = get_visit(database, ids["visit"])
    redone = update_visit(database, audit.CLI_OPERATOR, ids["visit"], {"notes": "redone"}, version=visit["version"])
    account = get_user(database, ids["user"])
    update_user(database, audit.CLI_OPERATOR, ids["user"], full_name="B.", version=account["version"])
    edits = [
        lambda: update_patient(database, audit.CLI_OPERATOR, ids["patient"], {"smoking": "former"},
                               version=read["patient"]),
        lambda: update_visit(database, audit.CLI_OPERATOR, ids["visit"], {"notes": "stale"}, version=read["visit"]),
        lambda: update_user(database, audit.CLI_OPERATOR, ids["user"], full_name="Stale", version=read["user"]),
    ]
    for edit in edits:
        with pytest.raises(EditConflict):
            edit()
    assert get_patient(database, ids["patient"])["smoking"] == PATIENT["smoking"]
    assert get_visit(database, ids["visit"])["notes"] == redone["notes"] == "redone"
    assert get_user(database, ids["user"])["full_name"] == "B."
    # Read again, the restored records are edited as usual.
    patient = get_patient(database, ids["patient"])
    assert update_patient(database, audit.CLI_OPERATOR, ids["patient"], {"smoking": "former"},
                          version=patient["version"])["smoking"] == "former"
