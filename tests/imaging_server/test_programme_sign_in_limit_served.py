"""Issue 27: the programme view's sign-in limits wrong passwords as the clinic's logins do
(common.lockout): after the threshold a sign-in name is refused with HTTP 429 and Retry-After, a
plain page in the page's language or JSON for a client that asks for it, even with the right
password; an unknown name is limited the same way (a lock never tells whether a viewer exists);
every attempt is audited without its password. Against a served ``imaging-server serve``."""
from __future__ import annotations

import re
import sqlite3

import pytest
import requests

from ct_served import CtServed

PASSWORD = "a long programme password"
THRESHOLD = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CtServed(tmp_path_factory.mktemp("sign-in-limit") / "data",
                      ILDSCREEN_IMAGING_SIGN_IN_LOCKOUT_THRESHOLD=str(THRESHOLD),
                      ILDSCREEN_IMAGING_SIGN_IN_LOCKOUT_MINUTES="10")
    served.cli("programme-viewers", "add", "region")
    served.cli("programme-viewers", "set-password", "region", "--password-stdin", stdin=f"{PASSWORD}\n")
    served.start()
    yield served
    served.stop()


def sign_in(server, name, password, **headers):
    """Open the form as a browser does, then send it with its CSRF token (cookie and field)."""
    session = requests.Session()
    form = session.get(server.url + "/programme", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return session.post(server.url + "/programme/sign-in", data={"name": name, "password": password,
                                                                 "csrf_token": token},
                        headers=headers, allow_redirects=False, timeout=30)


def audit(server, name):
    with sqlite3.connect(server.data_dir / "imaging.db") as db:
        rows = db.execute("SELECT outcome, client FROM programme_sign_in_audit WHERE name = ? ORDER BY id",
                          [name]).fetchall()
    return rows


def test_wrong_passwords_lock_the_name_with_a_429_even_for_the_right_password(server):
    for _ in range(THRESHOLD):
        assert sign_in(server, "region", "not the password").status_code == 401
    page = sign_in(server, "region", PASSWORD, **{"Accept-Language": "zh-CN"})
    assert page.status_code == 429 and page.headers["Content-Type"].startswith("text/html")
    assert 0 < int(page.headers["Retry-After"]) <= 600
    assert "该名称的密码错误次数过多：请在 10 分钟后再试。" in page.text and 'id="sign-in"' in page.text
    assert "ildscreen_programme=" not in page.headers.get("Set-Cookie", "")  # no session (the form has its token)
    answer = sign_in(server, "region", PASSWORD, Accept="application/json")
    assert answer.status_code == 429 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "too_many_attempts" and answer.json()["error"]["retry_after_s"] > 0
    outcomes = [outcome for outcome, _client in audit(server, "region")]
    assert outcomes == ["wrong_password"] * (THRESHOLD - 1) + ["locked", "refused_locked", "refused_locked"]
    assert {client for _outcome, client in audit(server, "region")} == {"127.0.0.1"}
    with sqlite3.connect(server.data_dir / "imaging.db") as db:
        assert PASSWORD not in str(db.execute("SELECT * FROM programme_sign_in_audit").fetchall())


def test_an_unknown_name_is_limited_the_same_way(server):
    for _ in range(THRESHOLD):
        assert sign_in(server, "nobody", "any password at all").status_code == 401
    assert sign_in(server, "nobody", "any password at all").status_code == 429


def test_a_new_password_from_the_operator_lifts_the_lock(server):
    server.cli("programme-viewers", "set-password", "region", "--password-stdin", stdin=f"{PASSWORD}\n")
    signed = sign_in(server, "region", PASSWORD)
    assert signed.status_code == 303 and "ildscreen_programme=" in signed.headers["Set-Cookie"]
    assert audit(server, "region")[-1][0] == "signed_in"


def test_a_right_password_before_the_threshold_resets_the_count(server):
    server.cli("programme-viewers", "add", "lead")
    server.cli("programme-viewers", "set-password", "lead", "--password-stdin", stdin=f"{PASSWORD}\n")
    for _ in range(THRESHOLD - 1):
        assert sign_in(server, "lead", "not the password").status_code == 401
    assert sign_in(server, "lead", PASSWORD).status_code == 303
    for _ in range(THRESHOLD - 1):
        assert sign_in(server, "lead", "not the password").status_code == 401
    assert sign_in(server, "lead", PASSWORD).status_code == 303
