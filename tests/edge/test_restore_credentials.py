"""A restore of an older backup never brings back a credential revoked since: accounts and API
tokens keep the replaced database's security state, every session ends, and a failure on the way
leaves the current database byte for byte as it was."""
import contextlib
import hashlib
import json
import re
import sqlite3

import pytest

from edge import audit
from edge.app import create_app
from edge.api.operations import SESSION_COOKIE
from edge.auth import create_api_token, start_session, token_user
from edge.cli import cli
from edge.config import load_settings
from edge.errors import AuthenticationError, StorageError
from edge.store import backup as backup_module
from edge.store.backup import backup_database, restore_database
from edge.store.restore_credentials import read_credentials
from edge.store.database import open_database, utc_now
from edge.users import create_user, set_password, set_pin, update_user
from support import PASSWORD, damage_past_the_header, login

NEW_PASSWORD = "staple battery horse correct"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client, username: str, password: str = PASSWORD) -> int:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


def add_user(db, username: str, role: str = "nurse") -> dict:
    user, _ = create_user(db, audit.CLI_OPERATOR, username=username, role=role, password=PASSWORD)
    return user


def restore(runner, settings, backup) -> str:
    result = runner.invoke(cli, ["db", "restore", str(backup), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_restore_keeps_every_revocation_made_after_the_backup(app, settings, db, runner):
    amy, ben, cal = add_user(db, "amy"), add_user(db, "ben"), add_user(db, "cal", "admin")
    dan, eve = add_user(db, "dan"), add_user(db, "eve")
    set_pin(db, audit.CLI_OPERATOR, amy["id"], "482913")
    _, ben_token = create_api_token(db, audit.CLI_OPERATOR, ben["id"], "importer")
    dan_token_id, dan_token = create_api_token(db, audit.CLI_OPERATOR, dan["id"], "importer")
    _, eve_token = create_api_token(db, audit.CLI_OPERATOR, eve["id"], "importer")
    # Started in the database, not through an app: a serving thread keeps its connection open,
    # which a restore rightly refuses.
    session = start_session(db, amy, hours=8).token
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")

    # After the backup: what an admin does after an incident.
    set_password(db, audit.CLI_OPERATOR, amy["id"], NEW_PASSWORD)  # also clears her PIN
    update_user(db, audit.CLI_OPERATOR, ben["id"], version=ben["version"], disabled=True)
    update_user(db, audit.CLI_OPERATOR, cal["id"], version=cal["version"], role="nurse")
    # As auth.verify_current_password revokes a token after wrong current passwords.
    db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [utc_now(), dan_token_id])
    db.conn.commit()
    add_user(db, "fay")
    create_api_token(db, audit.CLI_OPERATOR, eve["id"], "second importer")
    db.close()

    output = restore(runner, settings, backup)

    assert "everyone signs in again: 1 session(s) ended" in output
    assert "lost with the restore (created after the backup): 1 account(s), 1 API token(s)" in output
    client = create_app(settings).test_client()
    assert sign_in(client, "amy") == 401
    assert sign_in(client, "amy", NEW_PASSWORD) == 200
    assert sign_in(client, "ben") == 401
    assert client.get("/api/v1/auth/me", headers=bearer(ben_token)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(dan_token)).status_code == 401
    assert sign_in(client, "fay") == 401  # created after the backup: lost
    cal_client = create_app(settings).test_client()
    login(cal_client, "cal")
    assert cal_client.get("/api/v1/auth/me").json["role"] == "nurse"
    assert client.get("/api/v1/auth/me", headers=bearer(eve_token)).json["username"] == "eve"
    client.set_cookie(SESSION_COOKIE, session)
    assert client.get("/api/v1/auth/me").status_code == 401  # the session from before is gone

    restored = open_database(settings.database_path)
    try:
        assert restored.execute("SELECT pin_hash FROM users WHERE id = ?", [amy["id"]]).fetchone()[0] is None
        with pytest.raises(AuthenticationError):
            token_user(restored, dan_token)
        detail = restored.execute("SELECT detail FROM audit_log WHERE action = 'restore'").fetchone()[0]
    finally:
        restored.close()
    assert json.loads(detail)["credentials"] == {  # six: the first admin too
        "sessions_ended": 1, "users_given_current_state": 6, "users_disabled_not_in_current": 0,
        "api_tokens_revoked": 2, "users_lost_created_after_backup": 1, "api_tokens_lost_created_after_backup": 1}
    assert "argon2" not in detail and "amy" not in detail  # counts only


def test_an_account_the_current_database_no_longer_has_is_disabled(app, settings, db, runner):
    add_user(db, "amy")
    gone = add_user(db, "gus")
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    # Removed by hand (the service has no delete): the restore must not bring the account back.
    db.execute("DELETE FROM audit_log WHERE entity = 'user' AND entity_id = ?", [str(gone["id"])])
    db.execute("DELETE FROM users WHERE id = ?", [gone["id"]])
    db.conn.commit()
    db.close()

    output = restore(runner, settings, backup)

    assert "1 account(s) it did not have are disabled" in output
    client = create_app(settings).test_client()
    assert sign_in(client, "gus") == 401
    assert sign_in(client, "amy") == 200


def test_the_current_database_decides_role_enablement_and_lockout_both_ways(app, settings, db, runner):
    """The current state wins, not the least privilege: a promotion and a re-enabling made after the
    backup stand (the admin's latest decision), and a lockout running now is not lifted."""
    promoted, back, locked = add_user(db, "pat"), add_user(db, "rob"), add_user(db, "lou")
    back = update_user(db, audit.CLI_OPERATOR, back["id"], disabled=True, version=back["version"])
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    update_user(db, audit.CLI_OPERATOR, promoted["id"], version=promoted["version"], role="clinician")
    update_user(db, audit.CLI_OPERATOR, back["id"], disabled=False, version=back["version"])
    db.execute("UPDATE users SET failed_logins = 5, locked_until = '2999-01-01T00:00:00+00:00' WHERE id = ?",
               [locked["id"]])
    db.conn.commit()
    db.close()

    restore(runner, settings, backup)

    client = create_app(settings).test_client()
    login(client, "pat")
    assert client.get("/api/v1/auth/me").json["role"] == "clinician"
    assert sign_in(client, "rob") == 200
    assert sign_in(client, "lou") == 401


def test_a_restore_with_no_change_since_the_backup_lets_everyone_sign_in_again(app, settings, db, runner):
    amy = add_user(db, "amy")
    cal = add_user(db, "cal", "clinician")
    _, token = create_api_token(db, audit.CLI_OPERATOR, cal["id"], "importer")
    session = start_session(db, amy, hours=8).token
    db.close()
    backup = backup_database(settings.database_path, settings.data_dir / "now.db")

    output = restore(runner, settings, backup)

    assert "0 API token(s) it had revoked or did not have are revoked" in output and "lost with" not in output
    client = create_app(settings).test_client()
    client.set_cookie(SESSION_COOKIE, session)
    assert client.get("/api/v1/auth/me").status_code == 401
    assert sign_in(client, "amy") == 200 and sign_in(client, "cal") == 200
    assert client.get("/api/v1/auth/me", headers=bearer(token)).json["username"] == "cal"


def test_a_restore_into_an_empty_folder_keeps_the_backups_accounts(app, settings, db, runner, tmp_path):
    start_session(db, add_user(db, "amy"), hours=8)
    db.close()
    backup = backup_database(settings.database_path, tmp_path / "saved.db")
    drill = load_settings(data_dir=tmp_path / "drill")
    drill.data_dir.mkdir()

    output = restore(runner, drill, backup)

    assert "1 session(s) ended" in output and "no database to replace" in output
    assert sign_in(create_app(drill).test_client(), "amy") == 200


def current_file(settings) -> tuple:
    """The database file's bytes, and what else the data folder holds. The read-only reads of the
    current database leave an empty -wal and its -shm index (SQLite cannot remove them from a
    read-only connection): nothing in them is part of the database."""
    wal = settings.database_path.with_name(settings.database_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    names = sorted(path.name for path in settings.data_dir.iterdir() if not path.name.endswith(("-wal", "-shm")))
    return names, hashlib.sha256(settings.database_path.read_bytes()).hexdigest()


def test_a_failure_during_the_carry_over_leaves_the_current_database_byte_identical(app, settings, db, monkeypatch):
    amy = add_user(db, "amy")
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    set_password(db, audit.CLI_OPERATOR, amy["id"], NEW_PASSWORD)
    db.close()
    before = current_file(settings)
    carry = backup_module.carry_credentials

    def disk_full_half_way(*args):
        carry(*args)  # the copy's sessions and accounts are already changed when it fails
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(backup_module, "carry_credentials", disk_full_half_way)
    with pytest.raises(StorageError, match="the database was not replaced: database or disk is full"):
        restore_database(backup, settings.database_path)
    assert current_file(settings) == before


def test_a_credential_changed_while_the_copy_is_prepared_stops_the_restore(app, settings, db, monkeypatch):
    """A token revoked (here without an audit entry, so no id moves) while the copy was prepared
    would come back: the restore stops and the current database keeps the revocation."""
    amy = add_user(db, "amy")
    token_id, _ = create_api_token(db, audit.CLI_OPERATOR, amy["id"], "importer")
    backup = backup_database(settings.database_path, settings.data_dir / "morning.db")
    db.close()
    prepare = backup_module._prepare_copy

    def prepare_while_a_token_is_revoked(*args):
        restored = prepare(*args)
        with contextlib.closing(sqlite3.connect(settings.database_path)) as writer:
            writer.execute("UPDATE api_tokens SET revoked_at = 'now' WHERE id = ?", [token_id])
            writer.commit()
        return restored

    monkeypatch.setattr(backup_module, "_prepare_copy", prepare_while_a_token_is_revoked)
    with pytest.raises(StorageError, match="was opened or written while the backup was being prepared"):
        restore_database(backup, settings.database_path)
    assert not (settings.data_dir / "ildscreen.db.before-restore").exists()
    with contextlib.closing(sqlite3.connect(settings.database_path)) as current:
        assert current.execute("SELECT revoked_at FROM api_tokens WHERE id = ?", [token_id]).fetchone()[0] == "now"


def test_unreadable_accounts_stop_the_restore_naming_the_file_and_the_revocations_at_stake(settings, db):
    """A current database whose accounts do not read is not taken as having none: a restore could
    otherwise bring back a credential revoked since the backup."""
    db.close()
    damage_past_the_header(settings.database_path)
    with pytest.raises(StorageError) as raised:
        read_credentials(settings.database_path)
    assert re.fullmatch(rf"cannot read the accounts and API tokens of {re.escape(str(settings.database_path))} "
                        r"\(.+\), so a restore could bring back a revoked credential; if the file is damaged, move it "
                        r"out of the data folder and restore again \(nothing was changed\)", str(raised.value))
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
