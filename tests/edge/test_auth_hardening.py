"""Issue 26: one password normalisation for the tablet and the API; PIN attempts counted under
the write lock; a password change over a bearer token neither locks the password login nor
lets a token holder guess the current password without limit; the stand-in hash of an unknown name
is made when a server starts, not when the command line imports."""
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

from common.passwords import stand_in_hash
from edge import audit, auth
from edge.app import create_app
from edge.store.database import open_database
from edge.users import password_hasher, set_pin
from support import PASSWORD

PIN = "2580"


def audit_actions(db, *actions):
    marks = ",".join("?" for _ in actions)
    return [row[0] for row in db.execute(f"SELECT action FROM audit_log WHERE action IN ({marks}) ORDER BY id",
                                         list(actions)).fetchall()]


def test_a_password_set_on_the_tablet_with_surrounding_spaces_works_on_the_api_and_the_tablet(client, make_user, db,
                                                                                             app):
    from edge.users import set_password

    user = make_user("nurse1", "nurse")
    set_password(db, audit.CLI_OPERATOR, user["id"], "  tablet pass phrase  ")  # as the tablet form sends it
    api = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": "  tablet pass phrase  "})
    assert api.status_code == 200, api.json
    policy = app.extensions["ildscreen"].lockout_policy
    for typed in ("tablet pass phrase", " tablet pass phrase\t"):  # the tablet's form passes text as typed
        assert auth.verify_login(db, "nurse1", typed, policy)["id"] == user["id"]
    assert db["users"].get(user["id"])["failed_logins"] == 0


def test_31_concurrent_wrong_pins_record_at_most_the_limit(app, make_user, db, settings):
    user = make_user("nurse1", "nurse")
    set_pin(db, audit.CLI_OPERATOR, user["id"], PIN)
    grant = auth.start_session(db, db["users"].get(user["id"]), hours=1)
    auth.lock_session(db, grant.token)

    def wrong_pin(_):
        connection = open_database(settings.database_path)
        try:
            auth.unlock_session(connection, grant.token, "9753", max_attempts=5)
        except auth.AuthenticationError as exc:
            return type(exc).__name__
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=31) as pool:
        outcomes = list(pool.map(wrong_pin, range(31)))
    recorded = audit_actions(db, "unlock_failed", "pin_lockout")
    assert recorded == ["unlock_failed"] * 4 + ["pin_lockout"], recorded
    assert outcomes.count("WrongPin") == 4
    session = db.execute("SELECT revoked, failed_pins FROM sessions WHERE token_hash = ?",
                         [auth.hash_token(grant.token)]).fetchone()
    assert session == (1, 5)


def test_a_right_pin_after_the_session_ended_does_not_unlock_it(make_user, db):
    user = make_user("nurse1", "nurse")
    set_pin(db, audit.CLI_OPERATOR, user["id"], PIN)
    grant = auth.start_session(db, db["users"].get(user["id"]), hours=1)
    auth.lock_session(db, grant.token)
    db.execute("UPDATE sessions SET revoked = 1 WHERE token_hash = ?", [auth.hash_token(grant.token)])
    try:
        auth.unlock_session(db, grant.token, PIN, max_attempts=5)
    except auth.AuthenticationError:
        pass
    else:
        raise AssertionError("a revoked session was unlocked")
    assert audit_actions(db, "unlock") == []


def test_wrong_current_passwords_over_a_token_revoke_the_token_not_the_password_login(client, make_user, db, app):
    user = make_user("nurse1", "nurse")
    _, token = auth.create_api_token(db, audit.CLI_OPERATOR, user["id"], "integration")
    bearer = {"Authorization": f"Bearer {token}"}
    threshold = app.extensions["ildscreen"].settings.lockout_threshold
    answers = [client.post("/api/v1/auth/password", headers=bearer,
                           json={"current_password": f"guess number {i}", "new_password": "a new pass phrase"}).status_code
               for i in range(threshold + 2)]
    assert answers == [401] * (threshold + 2)
    row = db["users"].get(user["id"])
    assert row["failed_logins"] == 0 and row["locked_until"] is None
    # the token is gone after `threshold` guesses; the password still logs in
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD}).status_code == 200
    assert audit_actions(db, "wrong_current_password").count("wrong_current_password") == threshold
    assert audit_actions(db, "revoke_token") == ["revoke_token"]


def test_a_token_password_change_still_needs_the_right_current_password(client, make_user, db):
    user = make_user("nurse1", "nurse")
    _, token = auth.create_api_token(db, audit.CLI_OPERATOR, user["id"], "integration")
    bearer = {"Authorization": f"Bearer {token}"}
    changed = client.post("/api/v1/auth/password", headers=bearer,
                          json={"current_password": PASSWORD, "new_password": "a new pass phrase"})
    assert changed.status_code == 200, changed.json
    assert client.post("/api/v1/auth/login", json={"username": "nurse1", "password": "a new pass phrase"}).status_code == 200


def test_no_password_hash_is_made_until_a_server_starts():
    """The command line imports every command without argon2 work (common.passwords: one hash costs
    0.1-0.6 s on the clinic box); each app makes its stand-in hash when it is created, so its first
    unknown sign-in name costs what any other does."""
    code = textwrap.dedent("""
        import argon2
        calls = []
        original = argon2.PasswordHasher.hash
        argon2.PasswordHasher.hash = lambda self, *args, **kwargs: calls.append(1) or original(self, *args, **kwargs)
        import edge.cli, imaging_server.browser_sign_in
        print(len(calls))
        from common.passwords import stand_in_hash
        from edge.users import password_hasher
        import imaging_server.browser_sign_in as viewers
        print(stand_in_hash(password_hasher) is stand_in_hash(password_hasher), len(calls))
        print(stand_in_hash(viewers.password_hasher) is not stand_in_hash(password_hasher), len(calls))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split("\n")[:3] == ["0", "True 1", "True 2"], run.stdout + run.stderr


def test_the_app_makes_the_stand_in_hash_when_it_is_created(settings):
    stand_in_hash.cache_clear()
    create_app(settings)
    assert stand_in_hash.cache_info().currsize == 1
    before = stand_in_hash.cache_info().hits
    stand_in_hash(password_hasher)
    assert stand_in_hash.cache_info().hits == before + 1
