"""A reader's browser sign-in against a served ``imaging-server serve`` over HTTP (issue h88): the
operator's command sets the password, the form's CSRF cookie and field round-trip through a real
client, the session cookie is Secure under the ``secure_cookies`` setting as the programme's, and the
sign-in lockout settings lock a reader's name with a 429 saying the wait. The server is configured with the
settings' former names (``programme_sign_in_*``, brief h111): an admin's environment from before the rename
still applies, with one warning each at start naming the current name."""
from __future__ import annotations

import re

import pytest
import requests

from ct_served import CtServed
from imaging_server.programme_i18n import CATALOG

PASSWORD = "a long reader password"
THRESHOLD = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CtServed(tmp_path_factory.mktemp("reader-sign-in") / "data",
                      ILDSCREEN_IMAGING_SECURE_COOKIES="true",
                      # The former names, as an admin's environment from before the rename holds them.
                      ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_LOCKOUT_THRESHOLD=str(THRESHOLD),
                      ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_LOCKOUT_MINUTES="10")
    served.cli("readers", "add", "dr-wang")
    served.cli("readers", "set-password", "dr-wang", "--password-stdin", stdin=f"{PASSWORD}\n")
    served.start()
    yield served
    served.stop()


def sign_in(server, session: requests.Session, name: str, password: str, **headers):
    """Open the form as a browser does, then send it with its CSRF token (cookie and field)."""
    form = session.get(server.url + "/reader", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    # requests keeps a Secure cookie for https only: hand the form's cookie back as the browser would.
    cookie = re.search(r"ildscreen_reader_sign_in=([^;]+)", form.headers["Set-Cookie"]).group(1)
    return session.post(server.url + "/reader/sign-in", data={"name": name, "password": password,
                                                              "csrf_token": token},
                        cookies={"ildscreen_reader_sign_in": cookie}, headers=headers, allow_redirects=False,
                        timeout=30)


def test_a_reader_signs_in_over_http_with_a_secure_session_cookie_and_signs_out(server):
    session = requests.Session()
    signed = sign_in(server, session, "dr-wang", PASSWORD)
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/reader/referrals")
    cookie = next(value for value in signed.raw.headers.getlist("Set-Cookie") if value.startswith("ildscreen_reader="))
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/reader", "Secure"):
        assert attribute in cookie, cookie
    session_id = re.match(r"ildscreen_reader=([^;]+)", cookie).group(1)
    page = requests.get(server.url + "/reader/referrals", cookies={"ildscreen_reader": session_id}, timeout=30)
    assert page.status_code == 200 and 'id="reader-name">dr-wang</span>' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    out = requests.post(server.url + "/reader/sign-out", data={"csrf_token": token},
                        cookies={"ildscreen_reader": session_id}, allow_redirects=False, timeout=30)
    assert out.status_code == 303
    assert requests.get(server.url + "/reader/referrals", cookies={"ildscreen_reader": session_id},
                        timeout=30).status_code == 401


def test_a_post_without_the_forms_token_is_refused_before_the_password_is_checked(server):
    refused = requests.post(server.url + "/reader/sign-in", data={"name": "dr-wang", "password": PASSWORD},
                            allow_redirects=False, timeout=30)
    assert refused.status_code == 403 and CATALOG["form_expired"]["en"] in refused.text
    assert "ildscreen_reader=" not in refused.headers.get("Set-Cookie", "")


def test_wrong_passwords_lock_a_readers_name_with_the_wait_in_plain_words(server):
    session = requests.Session()
    server.cli("readers", "add", "dr-li")
    server.cli("readers", "set-password", "dr-li", "--password-stdin", stdin=f"{PASSWORD}\n")
    for _ in range(THRESHOLD):
        assert sign_in(server, session, "dr-li", "not the password").status_code == 401
    locked = sign_in(server, session, "dr-li", PASSWORD)
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 600
    assert CATALOG["too_many_attempts"]["en"].format(minutes=10) in locked.text
    server.cli("readers", "set-password", "dr-li", "--password-stdin", stdin=f"{PASSWORD}\n")  # lifts the lock
    assert sign_in(server, session, "dr-li", PASSWORD).status_code == 303


def test_the_former_setting_names_warn_once_each_at_start_naming_the_current_name(server):
    """The lockout test above shows their values apply (3 wrong passwords, 10 minutes, not the defaults)."""
    for setting in ("LOCKOUT_THRESHOLD", "LOCKOUT_MINUTES"):
        warned = [line for line in server.output.splitlines()
                  if f"ILDSCREEN_IMAGING_PROGRAMME_SIGN_IN_{setting} is a former name" in line]
        assert len(warned) == 1 and warned[0].endswith(f"rename it ILDSCREEN_IMAGING_SIGN_IN_{setting}"), warned


def test_a_referral_link_opened_signed_out_leads_there_after_signing_in_and_another_host_never(server):
    """Over HTTP: the referral page's sign-in form carries it as ``next`` and the sign-in's redirect leads
    there; a ``next`` of another host or of the programme view leads to the worklist."""
    session = requests.Session()
    asked = session.get(server.url + "/reader/referrals/ILD-AAAAAAAAAA", timeout=30)
    assert asked.status_code == 401 and 'name="next" value="/reader/referrals/ILD-AAAAAAAAAA"' in asked.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', asked.text).group(1)
    cookie = re.search(r"ildscreen_reader_sign_in=([^;]+)", asked.headers["Set-Cookie"]).group(1)
    for target, landing in (("/reader/referrals/ILD-AAAAAAAAAA", "/reader/referrals/ILD-AAAAAAAAAA"),
                            ("//evil.example/reader", "/reader/referrals"), ("/programme", "/reader/referrals")):
        signed = session.post(server.url + "/reader/sign-in", data={"name": "dr-wang", "password": PASSWORD,
                                                                    "csrf_token": token, "next": target},
                              cookies={"ildscreen_reader_sign_in": cookie}, allow_redirects=False, timeout=30)
        assert signed.status_code == 303 and signed.headers["Location"] == landing, target
