"""The tablet's input limits and the answers a hand-made post gets (brief h101), against a real
``ildscreen serve``: a PIN longer than any PIN is never hashed and answers as a wrong one.
"""
from __future__ import annotations

import pytest
import requests

from edge import auth
from edge.users import PIN_LENGTHS
from served import ServedProcess, run_cli
from support import PASSWORD

NURSE_PASSWORD = "nurse password 1"
PIN = "4071"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("served") / "data"
    run_cli(data_dir, "db", "init")
    run_cli(data_dir, "users", "add", "nurse1", "--role", "nurse", "--password-stdin", input=NURSE_PASSWORD + "\n")
    process = ServedProcess(data_dir)
    yield process
    process.stop()


class Tablet:
    """A browser session of nurse1 on the served tablet: its CSRF token, and posts as its forms send them."""

    def __init__(self, served: ServedProcess):
        self.url = served.url
        self.session = requests.Session()
        self.csrf = self.session.post(f"{self.url}/api/v1/auth/login", timeout=10,
                                      json={"username": "nurse1", "password": NURSE_PASSWORD}).json()["csrf_token"]

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=10)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.session.post(self.url + path, data={"csrf_token": self.csrf, **data}, allow_redirects=False,
                                 timeout=30)

    def api(self, method: str, path: str, body: dict) -> dict:
        answer = self.session.request(method, f"{self.url}/api/v1{path}", json=body,
                                      headers={"X-CSRF-Token": self.csrf}, timeout=30)
        assert answer.status_code < 300, answer.text
        return answer.json()


def locked_tablet(served) -> Tablet:
    """nurse1 with a PIN, her tablet locked on the home page."""
    tablet = Tablet(served)
    assert tablet.post("/account/pin", {"pin_password": NURSE_PASSWORD, "pin": PIN, "repeat_pin": PIN}).status_code == 302
    assert tablet.post("/lock", {"next": "/"}).headers["Location"] == "/unlock?next=/"
    return tablet


def test_a_pin_longer_than_any_pin_answers_and_counts_as_a_wrong_pin(served):
    """Counted, like any guess posted to a locked session: its answer (attempts left) is a wrong PIN's,
    and the fifth wrong answer, overlong or not, ends the session."""
    tablet = locked_tablet(served)
    overlong = "7" * 1_000_000
    for left, pin in zip((4, 3, 2, 1), ("9999", overlong, "9" * (PIN_LENGTHS.stop), overlong)):
        answer = tablet.post("/unlock", {"pin": pin})
        assert answer.status_code == 401 and f"Attempts left before the session ends: {left}." in answer.text
    ended = tablet.post("/unlock", {"pin": overlong})
    assert ended.status_code == 302 and ended.headers["Location"] == "/login?pin_ended=1"
    assert tablet.post("/unlock", {"pin": PIN}).headers["Location"].startswith("/login")  # over: the password it is


def test_a_pin_of_a_length_no_pin_has_is_never_hashed(ui, monkeypatch):
    client, csrf = ui
    client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, "pin": PIN, "repeat_pin": PIN})
    client.post("/lock", data={"csrf_token": csrf, "next": "/"})
    hashed = []
    checked = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda stored, pin: hashed.append(len(pin)) or checked(stored, pin))
    for pin in ("7" * 100_000, "9" * PIN_LENGTHS.stop, "9999"):
        assert client.post("/unlock", data={"csrf_token": csrf, "pin": pin}).status_code == 401
    assert hashed == [4]  # only the PIN that could be one
    assert client.post("/unlock", data={"csrf_token": csrf, "pin": PIN}).status_code == 302

