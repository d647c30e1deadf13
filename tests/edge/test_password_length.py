"""A password over ``common.passwords.MAX_PASSWORD_LENGTH`` characters is refused before it is hashed,
at every door of the clinic (brief h100): the tablet's login, password change and PIN forms, the
API's login and password change, account creation (API and CLI). Without the cap, megabytes posted
to the tablet's login form made the box run argon2 over them. The refusal looks at the text alone,
so it is the same for a known name and an unknown one, and counts nothing toward a lockout.
"""
from __future__ import annotations

import subprocess

import pytest
import requests
from markupsafe import escape

from common.lockout import LockoutPolicy
from common.passwords import MAX_PASSWORD_LENGTH
from edge import auth
from edge.errors import PasswordTooLong
from edge.web.i18n import CATALOG
from served import ildscreen_command, run_cli, serving_nurse
from support import PASSWORD

NURSE_PASSWORD = "nurse password 1"
OVERLONG = "p" * (MAX_PASSWORD_LENGTH + 1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serving_nurse(tmp_path_factory.mktemp("served") / "data", NURSE_PASSWORD)


def tablet_login(served, username: str, password: str, lang: str = "en") -> requests.Response:
    """Post the tablet's login form as a browser does (its form token first)."""
    session = requests.Session()
    session.cookies.set("lang", lang)
    page = session.get(served.url + "/login", timeout=10)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    return session.post(served.url + "/login", data={"csrf_token": token, "username": username, "password": password},
                        allow_redirects=False, timeout=10)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_tablet_login_refuses_an_overlong_password_naming_the_limit_for_any_name(served, lang):
    message = str(escape(CATALOG["err_password_too_long"][lang].format(max=MAX_PASSWORD_LENGTH)))
    known, unknown = (tablet_login(served, name, OVERLONG, lang) for name in ("nurse1", "nobody"))
    for answer in (known, unknown):
        assert answer.status_code == 422 and message in answer.text and 'name="password"' in answer.text
        assert "ildscreen_session" not in answer.headers.get("Set-Cookie", "")
    # Nothing in the answer tells the names apart (the form's token aside).
    strip_token = lambda text: text.split('name="csrf_token" value="')[0]  # noqa: E731
    assert strip_token(known.text) == strip_token(unknown.text)


def test_overlong_passwords_count_nothing_toward_the_lockout(served):
    """More overlong attempts than the lockout threshold (5 by default): the right password still logs in."""
    for _ in range(6):
        assert tablet_login(served, "nurse1", OVERLONG).status_code == 422
    assert tablet_login(served, "nurse1", NURSE_PASSWORD).status_code == 302


def test_the_api_login_refuses_an_overlong_password_naming_the_field_and_the_limit(served):
    refused = requests.post(served.url + "/api/v1/auth/login", json={"username": "nurse1", "password": OVERLONG},
                            timeout=10)
    assert refused.status_code == 422
    fields = refused.json()["error"]["fields"]
    assert [field["field"] for field in fields] == ["password"] and str(MAX_PASSWORD_LENGTH) in fields[0]["reason"]


def test_the_cli_refuses_to_create_an_account_with_an_overlong_password(served):
    result = subprocess.run([*ildscreen_command(), "users", "add", "nurse2", "--role", "nurse", "--password-stdin",
                             "--data-dir", str(served.data_dir)], input=OVERLONG + "\n", capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert f"at most {MAX_PASSWORD_LENGTH}" in result.stderr + result.stdout and "Traceback" not in result.stderr
    listed = run_cli(served.data_dir, "users", "list")
    assert "nurse2" not in listed


def test_an_overlong_password_is_never_hashed(db, make_user, settings, monkeypatch):
    """The cap comes before any argon2 work, for a known name and an unknown one alike."""
    user = make_user("nurse1", "nurse")
    hashed = []
    real_verify = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda *args: hashed.append(1) or real_verify(*args))
    policy = LockoutPolicy(settings.lockout_threshold, settings.lockout_minutes)
    for name in ("nurse1", "nobody"):
        with pytest.raises(PasswordTooLong) as refused:
            auth.verify_login(db, name, OVERLONG, policy)
        assert refused.value.fields == [{"field": "password", "reason": f"{len(OVERLONG)} characters; at most "
                                                                        f"{MAX_PASSWORD_LENGTH}"}]
    with pytest.raises(PasswordTooLong) as refused:
        auth.verify_current_password(db, user, OVERLONG, policy, token_hash="not looked up")
    assert refused.value.fields[0]["field"] == "current_password"
    assert hashed == []
    # At the limit it is an ordinary wrong password: hashed, and refused as one.
    with pytest.raises(auth.AuthenticationError):
        auth.verify_login(db, "nurse1", "p" * MAX_PASSWORD_LENGTH, policy)
    assert hashed == [1]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_tablet_password_form_names_the_limit_beside_the_overlong_field(ui, db, lang):
    client, csrf = ui
    client.set_cookie("lang", lang)
    message = str(escape(CATALOG["err_password_too_long"][lang].format(max=MAX_PASSWORD_LENGTH)))
    before = db.execute("SELECT password_hash, failed_logins FROM users").fetchall()
    new_too_long = client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                          "new_password": OVERLONG, "repeat_password": OVERLONG})
    current_too_long = client.post("/account/password", data={
        "csrf_token": csrf, "current_password": OVERLONG, "new_password": "a much better secret",
        "repeat_password": "a much better secret"})
    pin_password_too_long = client.post("/account/pin", data={"csrf_token": csrf, "pin_password": OVERLONG,
                                                              "pin": "2580", "repeat_pin": "2580"})
    for answer, field in ((new_too_long, "new_password"), (current_too_long, "current_password"),
                          (pin_password_too_long, "pin_password")):
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422 and message in page, field
        assert page.count(message) == 1, field
    assert db.execute("SELECT password_hash, failed_logins FROM users").fetchall() == before
    assert db.execute("SELECT pin_hash FROM users").fetchone()[0] is None


def test_the_api_refuses_an_overlong_new_password_naming_the_field_and_the_limit(client, nurse):
    changed = client.post("/api/v1/auth/password", headers=nurse,
                          json={"current_password": PASSWORD, "new_password": OVERLONG})
    assert changed.status_code == 422
    assert [field["field"] for field in changed.json["error"]["fields"]] == ["new_password"]
    assert str(MAX_PASSWORD_LENGTH) in changed.json["error"]["fields"][0]["reason"]

