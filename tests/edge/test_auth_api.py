"""Logging in, lockout, one-time passwords, roles, CSRF and bearer tokens."""
from support import PASSWORD, login, patch_user


def test_wrong_password_and_unknown_user_get_the_same_answer(client, make_user):
    make_user("nurse1", "nurse")
    wrong = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": "not it at all"})
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "not it at all"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json == {"error": {"code": "authentication_failed",
                                                    "message": "wrong username or password"}}


def test_lockout_after_repeated_failures_refuses_even_the_right_password(client, make_user, settings):
    make_user("nurse1", "nurse")
    for _ in range(settings.lockout_threshold):
        assert client.post("/api/v1/auth/login", json={"username": "nurse1", "password": "wrong pass"}).status_code == 401
    locked = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD})
    assert locked.status_code == 401 and client.get("/api/v1/patients").status_code == 401


def test_a_locked_account_answers_exactly_like_a_wrong_password_or_an_unknown_user(client, make_user, settings,
                                                                                     monkeypatch):
    """Issue 15: a locked account answered 423 at once, which told anyone which accounts exist
    (and let them keep 'admin' locked knowingly). Now the answer and the hashing work are those
    of a wrong password: argon2 verification runs in every case (counted, not timed)."""
    from edge import auth

    make_user("nurse1", "nurse")
    for _ in range(settings.lockout_threshold):
        client.post("/api/v1/auth/login", json={"username": "nurse1", "password": "wrong pass"})
    verified = []
    real_verify = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda *args: verified.append(1) or real_verify(*args))
    answers = [client.post("/api/v1/auth/login", json={"username": name, "password": password})
               for name, password in (("nurse1", PASSWORD), ("nurse1", "wrong pass"), ("nobody", PASSWORD))]
    assert {answer.status_code for answer in answers} == {401}
    assert answers[0].json == answers[1].json == answers[2].json == {
        "error": {"code": "authentication_failed", "message": "wrong username or password"}}
    assert answers[0].headers.get("Content-Type") == answers[2].headers.get("Content-Type")
    assert len(verified) == 3


def test_admin_re_enabling_clears_a_lockout(client, make_user, settings, runner):
    make_user("nurse1", "nurse")
    for _ in range(settings.lockout_threshold):
        client.post("/api/v1/auth/login", json={"username": "nurse1", "password": "wrong pass"})
    from edge.cli import cli

    result = runner.invoke(cli, ["users", "enable", "nurse1", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    login(client, "nurse1")


def test_first_admin_must_change_the_one_time_password(app, client):
    password = app.extensions["ildscreen"].first_admin_password
    assert password and len(password) >= 16
    headers = login(client, "admin", password)
    blocked = client.get("/api/v1/users")
    assert blocked.status_code == 403 and blocked.json["error"]["code"] == "password_change_required"
    changed = client.post("/api/v1/auth/password", headers=headers,
                          json={"current_password": password, "new_password": "a much better secret"})
    assert changed.status_code == 200 and changed.headers["Content-Type"] == "application/json"
    assert changed.json == {"password_changed": True, "sessions_and_tokens_ended": 0}
    assert client.get("/api/v1/users").status_code == 200
    client.post("/api/v1/auth/logout", headers=headers)
    assert client.post("/api/v1/auth/login", json={"username": "admin", "password": password}).status_code == 401


def test_a_nurse_cannot_manage_users(client, nurse):
    listing = client.get("/api/v1/users")
    creating = client.post("/api/v1/users", headers=nurse, json={"username": "x1", "role": "admin"})
    assert listing.status_code == creating.status_code == 403
    assert "nurse role cannot do this" in creating.json["error"]["message"]
    assert client.get("/api/v1/audit").status_code == 403


def test_an_admin_cannot_read_patient_records(client, admin):
    assert client.get("/api/v1/patients").status_code == 403


def test_requests_without_credentials_are_refused(client):
    response = client.get("/api/v1/patients")
    assert response.status_code == 401 and "log in first" in response.json["error"]["message"]


def test_state_changes_with_a_session_cookie_need_the_csrf_token(client, nurse):
    from support import PATIENT

    missing = client.post("/api/v1/patients", json=PATIENT)
    wrong = client.post("/api/v1/patients", json=PATIENT, headers={"X-CSRF-Token": "forged"})
    assert missing.status_code == wrong.status_code == 403
    assert missing.json["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/patients").json["total"] == 0
    assert client.post("/api/v1/patients", json=PATIENT, headers=nurse).status_code == 201


def test_session_endpoint_returns_the_csrf_token_after_a_reload(client, nurse):
    session = client.get("/api/v1/auth/session")
    assert session.status_code == 200 and session.json["csrf_token"] == nurse["X-CSRF-Token"]


def test_bearer_tokens_work_without_csrf_and_stop_when_the_user_is_disabled(app, client, admin, make_user, db):
    from edge import audit
    from edge.auth import create_api_token

    nurse_user = make_user("importer", "nurse")
    _, token = create_api_token(db, audit.CLI_OPERATOR, nurse_user["id"], "lab importer")
    bearer = {"Authorization": f"Bearer {token}"}
    other = app.test_client()
    from support import PATIENT

    assert other.post("/api/v1/patients", json=PATIENT, headers=bearer).status_code == 201
    patch_user(client, nurse_user['id'], {"disabled": True}, admin)
    refused = other.get("/api/v1/patients", headers=bearer)
    assert refused.status_code == 401


def test_disabling_a_user_ends_their_browser_session(app, client, admin, make_user):
    nurse_user = make_user("nurse9", "nurse")
    nurse_client = app.test_client()
    login(nurse_client, "nurse9")
    assert nurse_client.get("/api/v1/patients").status_code == 200
    patch_user(client, nurse_user['id'], {"disabled": True}, admin)
    assert nurse_client.get("/api/v1/patients").status_code == 401


def test_logout_ends_the_session(client, nurse):
    assert client.post("/api/v1/auth/logout", headers=nurse).status_code == 200
    assert client.get("/api/v1/patients").status_code == 401


def test_admin_creates_a_user_with_a_one_time_password(client, admin):
    created = client.post("/api/v1/users", headers=admin, json={"username": "nurse2", "role": "nurse"})
    assert created.status_code == 201 and created.json["must_change_password"] is True
    assert "password_hash" not in created.json
    other_login = client.post("/api/v1/auth/login",
                              json={"username": "nurse2", "password": created.json["one_time_password"]})
    assert other_login.status_code == 200


def test_an_admin_cannot_lock_themselves_out(client, admin):
    me = client.get("/api/v1/auth/me").json
    response = patch_user(client, me['id'], {"disabled": True}, admin)
    assert response.status_code == 409


def test_weak_password_is_refused_naming_the_field(client, admin):
    response = client.post("/api/v1/users", headers=admin, json={"username": "nurse3", "role": "nurse",
                                                                  "password": "short"})
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["field"] == "password"


def test_common_passwords_and_passwords_containing_the_user_name_are_refused(client, admin):
    """Issue 15: the rule was length only, so 'password123' and 'nurse3nurse3' were accepted."""
    for password, reason in (("password123", "most common passwords"), ("Password1234", "most common passwords"),
                             ("my-NURSE3-pass", "must not contain the user name")):
        response = client.post("/api/v1/users", headers=admin,
                               json={"username": "nurse3", "role": "nurse", "password": password})
        assert response.status_code == 422, password
        assert reason in response.json["error"]["fields"][0]["reason"]
    accepted = client.post("/api/v1/users", headers=admin,
                           json={"username": "nurse3", "role": "nurse", "password": "ward seven kettle"})
    assert accepted.status_code == 201


def test_the_bundled_common_password_list_is_loaded_and_lower_case():
    from edge.users import MIN_PASSWORD_LENGTH, common_passwords

    passwords = common_passwords()
    assert len(passwords) > 1000 and "password123" in passwords
    assert all(word == word.lower() and len(word) >= MIN_PASSWORD_LENGTH for word in passwords)


def test_an_admin_cannot_mint_a_token_for_a_clinical_account(client, admin, make_user):
    """Issue 15: an admin minted a nurse's token over the API and read clinical records with it."""
    for role in ("nurse", "clinician"):
        user = make_user(f"{role}7", role)
        refused = client.post(f"/api/v1/users/{user['id']}/tokens", headers=admin, json={"name": "sneaky"})
        assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
        assert "cannot issue tokens for the " + role in refused.json["error"]["message"]
    other_admin = make_user("admin3", "admin")
    assert client.post(f"/api/v1/users/{other_admin['id']}/tokens", headers=admin,
                       json={"name": "backup job"}).status_code == 201


def test_changing_a_password_ends_every_other_session_and_token_of_the_user(app, client, make_user, db):
    """Issue 15: after a password change the user's other sessions and tokens still worked."""
    from edge import audit
    from edge.auth import create_api_token

    user = make_user("nurse1", "nurse")
    kept = login(client, "nurse1")
    other = app.test_client()
    login(other, "nurse1")
    _, token = create_api_token(db, audit.CLI_OPERATOR, user["id"], "importer")
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/patients", headers=bearer).status_code == 200
    changed = client.post("/api/v1/auth/password", headers=kept,
                          json={"current_password": PASSWORD, "new_password": "ward seven kettle"})
    assert changed.status_code == 200 and changed.json["sessions_and_tokens_ended"] == 2
    assert other.get("/api/v1/patients").status_code == 401
    assert app.test_client().get("/api/v1/patients", headers=bearer).status_code == 401
    assert client.get("/api/v1/patients").status_code == 200  # the session that changed it stays


def test_a_role_change_ends_the_accounts_tokens(client, admin, make_user, db, app):
    """A token minted while an account was an admin must not keep working once it is a nurse."""
    from edge import audit
    from edge.auth import create_api_token

    user = make_user("helper", "admin")
    _, token = create_api_token(db, audit.CLI_OPERATOR, user["id"], "script")
    assert patch_user(client, user['id'], {"role": "nurse"}, admin).status_code == 200
    assert app.test_client().get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"}).status_code == 401
