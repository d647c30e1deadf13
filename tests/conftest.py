"""Fixtures shared by every test package: a temporary data folder, the app, clients, users."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from edge import audit
from edge.app import create_app
from edge.config import load_settings
from edge.users import create_user

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for key in [key for key in __import__("os").environ if key.startswith("ILDSCREEN_")]:
        monkeypatch.delenv(key)
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def db(app):
    database = app.extensions["ildscreen"].folder.connect()
    yield database
    database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def make_user(db):
    def make(username: str, role: str, password: str = PASSWORD) -> dict:
        user, _ = create_user(db, audit.CLI_OPERATOR, username=username, role=role, password=password)
        return user

    return make


def login(client, username: str, password: str = PASSWORD) -> dict:
    """Log the test client in; return headers carrying the session's CSRF token."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return {"X-CSRF-Token": response.json["csrf_token"]}


@pytest.fixture
def nurse(client, make_user):
    make_user("nurse1", "nurse")
    return login(client, "nurse1")


@pytest.fixture
def admin(client, make_user):
    make_user("admin2", "admin")
    return login(client, "admin2")


def wav_bytes(seconds: float = 2.0, rate: int = 4000, channels: int = 1, subtype: str = "PCM_16") -> bytes:
    """A short breath-like recording: band-limited noise, enough to pass header checks."""
    rng = np.random.default_rng(0)
    signal = 0.1 * rng.standard_normal((int(seconds * rate), channels))
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


PATIENT = {
    "code": "CL01-0001",
    "birth_year": 1952,
    "sex": "F",
    "ctd_diagnosis": "SSc",
    "autoantibodies": ["anti-Scl-70"],
    "smoking": "former",
    "pack_years": 10,
    "symptoms": ["exertional_dyspnoea", "dry_cough"],
    "medications": ["mycophenolate"],
}
