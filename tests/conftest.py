"""Fixtures shared by every test package: a temporary data folder, the app, clients, users."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from edge import audit
from edge.app import create_app
from edge.config import load_settings
from edge.inference.bundles import select_bundle, selected_bundle
from edge.users import create_user
from support import PASSWORD, csrf_of, drop_env_settings, login


@pytest.fixture(autouse=True)
def served_bundle_restored():
    """A test that starts an app or a command on an installed bundle leaves the process serving
    what it served before (the bundle a process serves is chosen once, process-wide)."""
    before = selected_bundle()
    yield
    select_bundle(before)


@pytest.fixture
def no_env_settings(monkeypatch):
    """The test runs without the runner's ``ILDSCREEN_`` settings (``support.drop_env_settings``)."""
    drop_env_settings(monkeypatch)


@pytest.fixture
def settings(tmp_path, no_env_settings):
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


@pytest.fixture
def nurse(client, make_user):
    make_user("nurse1", "nurse")
    return login(client, "nurse1")


@pytest.fixture
def ui(client, nurse):
    """A logged-in tablet (the API login sets the same session cookie) and its CSRF token."""
    return client, csrf_of(client.get("/").get_data(as_text=True))


@pytest.fixture
def admin(client, make_user):
    make_user("admin2", "admin")
    return login(client, "admin2")
