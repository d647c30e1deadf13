"""Issue 26: the hospital's pages and API answers carry the clinic service's security headers
(CSP, X-Frame-Options, no-store), and proxy trust comes from configuration: only with
``trusted_proxy`` set does X-Forwarded-Proto: https make the sign-in cookie Secure."""
from __future__ import annotations

import re

import pytest
import requests

from ct_served import CtServed
from common.http_security import CONTENT_SECURITY_POLICY

#: A programme viewer signs in to the page with a name and password (issue 27); tokens are for machines.
PASSWORD = "a long programme password"


@pytest.fixture(scope="module", params=["trusted", "untrusted"])
def served(request, tmp_path_factory):
    env = {"ILDSCREEN_IMAGING_TRUSTED_PROXY": "127.0.0.1"} if request.param == "trusted" else {}
    server = CtServed(tmp_path_factory.mktemp(request.param) / "data", **env)
    token = server.cli("programme-viewers", "add", "region")
    server.cli("programme-viewers", "set-password", "region", "--password-stdin", stdin=f"{PASSWORD}\n")
    server.start()
    yield request.param, server, token
    server.stop()


@pytest.mark.parametrize("path", ["/programme", "/api/v1/programme/dashboard", "/healthz"])
def test_pages_and_answers_carry_the_security_headers_and_are_not_cached(served, path):
    _, server, token = served
    response = requests.get(server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_sign_in_cookie_is_secure_only_behind_the_configured_proxy(served):
    kind, server, _ = served
    form = requests.get(server.url + "/programme", headers={"X-Forwarded-Proto": "https"}, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    form_cookie = form.headers["Set-Cookie"]
    assert ("; Secure" in form_cookie) == (kind == "trusted"), form_cookie
    # requests keeps a Secure cookie for https only: hand the form's cookie back as the browser would.
    response = requests.post(server.url + "/programme/sign-in",
                             data={"name": "region", "password": PASSWORD, "csrf_token": token},
                             cookies={"ildscreen_programme_sign_in": token}, headers={"X-Forwarded-Proto": "https"},
                             allow_redirects=False, timeout=30)
    assert response.status_code == 303
    cookie = next(value for value in response.raw.headers.getlist("Set-Cookie")
                  if value.startswith("ildscreen_programme="))
    assert ("; Secure" in cookie) == (kind == "trusted"), cookie


def test_a_body_over_the_limit_is_refused_by_the_server_as_json_before_it_is_buffered(served):
    """waitress buffers a body before the app runs: over 1 MB (+64 KB) it answers the JSON 413
    itself (common.serving.serve_json_errors), instead of spooling up to its 1 GB default."""
    _, server, token = served
    response = requests.post(server.url + "/api/v1/referrals", data=b"x" * (3 * 1024 * 1024),
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                             timeout=30)
    assert response.status_code == 413 and response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "payload_too_large"
