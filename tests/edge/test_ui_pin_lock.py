"""The shared tablet's PIN re-lock (issue 16): a nurse sets a PIN with her password; an idle
lock keeps her session but locks it server-side until her PIN opens it; wrong PINs are counted
and end the session; a PIN never logs anyone in; password changes and resets clear it."""
from __future__ import annotations

import logging
import re

import pytest
import requests

from edge import audit, auth
from edge.app import create_app
from edge.config import load_settings
from edge.errors import AuthenticationError, ValidationError
from edge.users import check_pin_policy, clear_pin, create_user, find_user, reset_password
from served import ServedProcess, run_cli
from support import PASSWORD, birth_year_for_age, csrf_of, login

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN = birth_year_for_age(76)  # 1950 when written (2026)

PIN = "4071"


def set_pin(client, csrf, pin=PIN, repeat=None, password=PASSWORD):
    return client.post("/account/pin", data={"csrf_token": csrf, "pin_password": password, "pin": pin,
                                             "repeat_pin": pin if repeat is None else repeat, "action": "set"})


@pytest.fixture
def locked(ui):
    """A nurse with a PIN whose tablet locked on the new-patient page."""
    client, csrf = ui
    assert set_pin(client, csrf).status_code == 302
    response = client.post("/lock", data={"csrf_token": csrf, "next": "/patients/new"})
    assert response.status_code == 302 and response.headers["Location"] == "/unlock?next=/patients/new"
    return client, csrf


def audit_actions(db) -> list[str]:
    return [row[0] for row in db.execute("SELECT action FROM audit_log WHERE entity IN ('session', 'user') ORDER BY id")]


@pytest.mark.parametrize("pin,accepted", [
    ("4071", True), ("90210", True), ("13572468", True), ("1243", True), ("0101", True),
    (" 4071\n", True),  # as set and tried: surrounding whitespace dropped (edge.users.normalize_pin)
    ("123", False), ("123456789", False), ("12a4", False), ("", False), ("١٢٣٤٥", False), ("40 71", False),
    (" 123 ", False),
    ("0000", False), ("77777777", False), ("1234", False), ("0123", False), ("3456789", False),
    ("9876", False), ("43210", False),
])
def test_the_pin_rule_refuses_short_long_non_digit_repeated_and_run_pins(pin, accepted):
    if accepted:
        check_pin_policy(pin)
    else:
        with pytest.raises(ValidationError) as refused:
            check_pin_policy(pin)
        assert refused.value.fields[0]["field"] == "pin"
        assert not pin.strip() or pin.strip() not in refused.value.message  # the PIN is never echoed


def test_setting_a_pin_needs_the_password_and_a_pin_under_the_rule_and_shows_each_error(ui, db, nurse):
    client, csrf = ui
    refused = set_pin(client, csrf, pin="1234", repeat="1243", password="wrong password")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert all(f'id="error-{name}"' in text for name in ("pin_password", "pin", "repeat_pin"))
    assert 'id="pin-error-summary"' in text and "Fields to correct: 3" in text
    client.set_cookie("lang", "zh-CN")
    assert "连续数字" in set_pin(client, csrf, pin="9876").get_data(as_text=True)
    client.set_cookie("lang", "en")
    assert find_user(db, "nurse1")["pin_hash"] is None  # nothing was stored
    page = client.get("/account/password").get_data(as_text=True)
    assert 'inputmode="numeric"' in page and 'autocomplete="off"' in page and "No PIN yet" in page
    saved = set_pin(client, csrf)
    assert saved.status_code == 302 and "PIN saved" in client.get(saved.headers["Location"]).get_data(as_text=True)
    stored = find_user(db, "nurse1")["pin_hash"]
    assert stored.startswith("$argon2id$") and PIN not in stored
    assert "set_pin" in audit_actions(db)
    removed = client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, "action": "remove"})
    assert removed.status_code == 302 and find_user(db, "nurse1")["pin_hash"] is None


def test_an_idle_lock_with_a_pin_keeps_the_session_locked_until_the_right_pin(locked, db):
    client, csrf = locked
    for path in ("/", "/patients/new", "/account/password"):
        refused = client.get(path)
        assert refused.status_code == 302 and refused.headers["Location"].startswith("/unlock")
    assert client.get("/api/v1/patients").json["error"]["code"] == "session_locked"
    assert client.post("/patients/new", data={"csrf_token": csrf, "code": "X-1"}).status_code == 302  # not stored
    screen = client.get("/unlock?next=/patients/new").get_data(as_text=True)
    assert "Session of nurse1" in screen and 'id="logout-button"' not in screen and "data-idle-seconds" not in screen
    assert 'inputmode="numeric"' in screen and 'autocomplete="off"' in screen
    wrong = client.post("/unlock?next=/patients/new", data={"csrf_token": csrf, "pin": "9999"})
    assert wrong.status_code == 401 and "Attempts left before the session ends: 4" in wrong.get_data(as_text=True)
    right = client.post("/unlock?next=/patients/new", data={"csrf_token": csrf, "pin": PIN})
    assert right.status_code == 302 and right.headers["Location"] == "/patients/new"
    assert client.get("/patients/new").status_code == 200 and client.get("/api/v1/patients").status_code == 200
    assert audit_actions(db)[-3:] == ["lock", "unlock_failed", "unlock"]


@pytest.mark.parametrize("set_as, tried_as", [("4071", " 4071 "), (" 4071\t", "4071"), ("4071", "\u30004071\n")])
def test_a_pin_opens_the_lock_however_it_is_padded_as_set_or_as_typed(ui, db, set_as, tried_as):
    """Setting a PIN and unlocking with it drop surrounding whitespace alike (one normalisation,
    edge.users.normalize_pin): a padded PIN is not counted as wrong; a wrong one padded still is."""
    client, csrf = ui
    assert set_pin(client, csrf, pin=set_as, repeat=set_as.strip()).status_code == 302
    client.post("/lock", data={"csrf_token": csrf, "next": "/patients/new"})
    wrong = client.post("/unlock?next=/patients/new", data={"csrf_token": csrf, "pin": " 4072 "})
    assert wrong.status_code == 401 and "Attempts left before the session ends: 4" in wrong.get_data(as_text=True)
    right = client.post("/unlock?next=/patients/new", data={"csrf_token": csrf, "pin": tried_as})
    assert right.status_code == 302 and right.headers["Location"] == "/patients/new"
    assert client.get("/patients/new").status_code == 200
    assert audit_actions(db)[-3:] == ["lock", "unlock_failed", "unlock"]


def test_the_fifth_wrong_pin_ends_the_session_and_the_password_login_follows(locked, db, caplog):
    client, csrf = locked
    caplog.set_level(logging.DEBUG)
    for attempt in range(4):
        assert client.post("/unlock", data={"csrf_token": csrf, "pin": f"55{attempt}9"}).status_code == 401
    ended = client.post("/unlock", data={"csrf_token": csrf, "pin": "5549"})
    assert ended.status_code == 302 and ended.headers["Location"] == "/login?pin_ended=1"
    assert "Too many wrong PINs" in client.get(ended.headers["Location"]).get_data(as_text=True)
    assert client.get("/").headers["Location"].startswith("/login")  # the session is over
    assert client.post("/unlock", data={"csrf_token": csrf, "pin": PIN}).headers["Location"].startswith("/login")
    assert audit_actions(db)[-6:] == ["lock"] + ["unlock_failed"] * 4 + ["pin_lockout"]
    details = " ".join(str(row) for row in db.execute("SELECT detail FROM audit_log"))
    assert not re.search(r"55\d9|" + PIN, details + caplog.text)  # no PIN in the audit trail or the log


def test_the_pin_setting_decides_how_many_wrong_pins_end_the_session(tmp_path, monkeypatch, make_user):
    monkeypatch.setenv("ILDSCREEN_PIN_MAX_ATTEMPTS", "2")
    app = create_app(load_settings(data_dir=tmp_path / "strict"))
    client = app.test_client()
    database = app.extensions["ildscreen"].folder.connect()
    create_user(database, audit.CLI_OPERATOR, username="nurse9", role="nurse", password=PASSWORD)
    login(client, "nurse9")
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    set_pin(client, csrf)
    client.post("/lock", data={"csrf_token": csrf, "next": "/"})
    assert "Attempts left before the session ends: 1" in client.post("/unlock", data={"csrf_token": csrf, "pin": "1111"}).get_data(as_text=True)
    assert client.post("/unlock", data={"csrf_token": csrf, "pin": "1112"}).headers["Location"] == "/login?pin_ended=1"


def test_switch_user_ends_the_locked_session(locked):
    client, csrf = locked
    switched = client.post("/unlock/switch", data={"csrf_token": csrf})
    assert switched.status_code == 302 and switched.headers["Location"] == "/login"
    assert client.get("/").headers["Location"].startswith("/login")


def test_a_pin_never_logs_anyone_in(client, make_user, db):
    make_user("nurse1", "nurse")
    assert client.get("/unlock").headers["Location"].startswith("/login")  # no session: nothing to unlock
    assert client.post("/unlock", data={"pin": PIN}).headers["Location"].startswith("/login")
    login_page = client.get("/login").get_data(as_text=True)
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    assert client.post("/login", data={"csrf_token": login_csrf, "username": "nurse1", "password": PIN}).status_code == 401


def test_an_unlocked_session_has_nothing_to_unlock(ui):
    client, csrf = ui
    response = client.get("/unlock?next=/patients/new")
    assert response.status_code == 302 and response.headers["Location"] == "/patients/new"


def test_without_a_pin_the_lock_still_ends_the_session(ui):
    client, csrf = ui
    locked = client.post("/lock", data={"csrf_token": csrf, "next": "/"})
    assert "locked=1" in locked.headers["Location"] and client.get("/").headers["Location"].startswith("/login")


def test_changing_or_resetting_the_password_clears_the_pin(ui, db):
    client, csrf = ui
    set_pin(client, csrf)
    user = find_user(db, "nurse1")
    assert user["pin_hash"]
    changed = client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                      "new_password": "another good password",
                                                      "repeat_password": "another good password"})
    assert changed.status_code == 302 and find_user(db, "nurse1")["pin_hash"] is None
    set_pin(client, csrf, password="another good password")
    assert find_user(db, "nurse1")["pin_hash"]
    reset_password(db, audit.CLI_OPERATOR, user["id"])
    assert find_user(db, "nurse1")["pin_hash"] is None


def test_lock_state_lives_on_the_session_not_the_account(ui, db, app):
    """Another tablet's session of the same nurse is not locked by this one's idle lock."""
    client, csrf = ui
    set_pin(client, csrf)
    other = app.test_client()
    other.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD})
    client.post("/lock", data={"csrf_token": csrf, "next": "/"})
    assert other.get("/api/v1/patients").status_code == 200
    assert client.get("/api/v1/patients").status_code == 401
    with pytest.raises(AuthenticationError, match="session expired or unknown"):
        auth.unlock_session(db, "not-a-session", PIN, max_attempts=5)  # a PIN opens only an existing session


def test_a_served_locked_session_is_refused_pages_and_api_until_its_pin(tmp_path):
    """Against a real ``ildscreen serve``: the lock is server state, not a client overlay."""
    run_cli(tmp_path / "data", "db", "init")
    run_cli(tmp_path / "data", "users", "add", "nurse1", "--role", "nurse", "--password-stdin", input=PASSWORD + "\n")
    served = ServedProcess(tmp_path / "data")
    try:
        tablet = requests.Session()
        csrf = tablet.post(f"{served.url}/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD},
                           timeout=10).json()["csrf_token"]
        patient = tablet.post(f"{served.url}/api/v1/patients", headers={"X-CSRF-Token": csrf}, timeout=10,
                              json={"code": "CL8-LOCK", "birth_year": BORN, "sex": "F", "ctd_diagnosis": "SSc"}).json()
        assert tablet.post(f"{served.url}/account/pin", timeout=10, allow_redirects=False,
                           data={"csrf_token": csrf, "pin_password": PASSWORD, "pin": PIN, "repeat_pin": PIN}
                           ).status_code == 302
        page = f"/patients/{patient['id']}"
        assert tablet.post(f"{served.url}/lock", data={"csrf_token": csrf, "next": page}, timeout=10,
                           allow_redirects=False).headers["Location"] == f"/unlock?next={page}"

        api = tablet.get(f"{served.url}/api/v1/patients/{patient['id']}", timeout=10)
        assert api.status_code == 401 and api.json()["error"]["code"] == "session_locked"
        write = tablet.post(f"{served.url}/api/v1/patients", headers={"X-CSRF-Token": csrf}, timeout=10,
                            json={"code": "CL8-NEW", "birth_year": BORN, "sex": "F", "ctd_diagnosis": "SSc"})
        assert write.status_code == 401
        back = tablet.get(served.url + page, timeout=10)  # what Back reloads (every page is no-store)
        assert back.url.endswith(f"/unlock?next={page}") and "CL8-LOCK" not in back.text and "nurse1" in back.text
        assert back.headers["Cache-Control"] == "no-store"

        unlocked = tablet.post(f"{served.url}/unlock?next={page}", data={"csrf_token": csrf, "pin": PIN}, timeout=10)
        assert unlocked.url.endswith(page) and "CL8-LOCK" in unlocked.text
        assert tablet.get(f"{served.url}/api/v1/patients/{patient['id']}", timeout=10).status_code == 200
        assert "CL8-NEW" not in tablet.get(f"{served.url}/api/v1/patients", timeout=10).text  # the locked write stored nothing
    finally:
        served.stop()


def test_a_locked_clinicians_dashboard_and_recordings_are_refused_too(app, make_user):
    make_user("doc1", "clinician")
    client = app.test_client()
    login(client, "doc1")
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    set_pin(client, csrf)
    assert client.get("/dashboard").status_code == 200
    client.post("/lock", data={"csrf_token": csrf, "next": "/dashboard"})
    for path in ("/dashboard", "/dashboard/export.csv", "/recordings/1/audio"):
        assert client.get(path).headers["Location"].startswith("/unlock"), path
    fetch = client.get("/visits/1", headers={"X-Requested-With": "fetch"})  # a page script gets JSON, not a page
    assert fetch.status_code == 401 and fetch.json["error"]["code"] == "session_locked"


def test_another_nurse_logging_in_on_a_locked_tablet_ends_the_session_left_behind(locked, make_user, db):
    client, csrf = locked
    make_user("nurse2", "nurse")
    login_page = client.get("/login").get_data(as_text=True)
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    assert client.post("/login", data={"csrf_token": login_csrf, "username": "nurse2", "password": PASSWORD}
                       ).status_code == 302
    assert client.get("/").status_code == 200
    nurse1 = find_user(db, "nurse1")["id"]
    assert db.execute("SELECT revoked FROM sessions WHERE user_id = ?", [nurse1]).fetchall() == [(1,)]


def test_a_locked_session_whose_pin_was_removed_meanwhile_asks_for_the_password(locked, db):
    client, _ = locked
    user = find_user(db, "nurse1")
    clear_pin(db, audit.Actor(user["id"], user["username"], user["role"]), user["id"])
    response = client.get("/unlock?next=/patients/new")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/patients/new&locked=1"
    assert client.get("/").headers["Location"].startswith("/login")  # that session is over


@pytest.mark.parametrize("set_as, tried_as", [("４０７１", "4071"), ("4071", "４０７１"), ("４０７１", "\u3000４０７１")])
def test_a_pin_typed_in_full_width_digits_is_set_and_opens_the_lock(ui, db, set_as, tried_as):
    """Brief h114, point 4: a Chinese keyboard types full-width digits; NFKC (edge.users.normalize_pin) makes them
    the digits they are, when setting and when unlocking, and a wrong full-width PIN is still counted."""
    client, csrf = ui
    assert set_pin(client, csrf, pin=set_as, repeat=set_as).status_code == 302
    client.post("/lock", data={"csrf_token": csrf, "next": "/patients/new"})
    wrong = client.post("/unlock?next=/patients/new", data={"csrf_token": csrf, "pin": "４０７２"})
    assert wrong.status_code == 401 and "Attempts left before the session ends: 4" in wrong.get_data(as_text=True)
    right = client.post("/unlock?next=/patients/new", data={"csrf_token": csrf, "pin": tried_as})
    assert right.status_code == 302 and right.headers["Location"] == "/patients/new"
    assert audit_actions(db)[-4:] == ["set_pin", "lock", "unlock_failed", "unlock"]


def test_a_full_width_pin_is_held_to_the_same_rule():
    from edge.errors import ValidationError
    from edge.users import check_pin_policy

    with pytest.raises(ValidationError, match="ascending or descending run"):
        check_pin_policy("１２３４")
    with pytest.raises(ValidationError, match="4 to 8 digits"):
        check_pin_policy("٤٠٧١")  # Arabic-Indic digits stay themselves under NFKC: not the ASCII digits a PIN is
