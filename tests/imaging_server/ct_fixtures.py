"""Fixtures of the CT service tests (imported by name in each test module; a second conftest.py
would shadow the root one, which other tests import as `conftest`)."""
from __future__ import annotations

import pytest

from imaging_server.phantom import make_phantom, write_series
from pg_server import database_url, postgres  # noqa: F401 - fixtures imaging_settings needs
from referral_bundle import REFERRAL_CODE, referral_bundle


@pytest.fixture(scope="session")
def phantom():
    """The default test phantom: 60 x 128 x 128, 25% of the lower-zone parenchyma fibrotic."""
    return make_phantom()


@pytest.fixture(scope="session")
def series_dir(phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ct-series")
    write_series(phantom, folder, accession_number="ILD-ABCDEFGHIJ")
    return folder


@pytest.fixture
def imaging_settings(tmp_path, monkeypatch, database_url):
    """Settings of a CT server in the test's folder, on SQLite and on PostgreSQL (each test that
    uses them runs on both)."""
    from imaging_server.config import load_settings

    for key in [key for key in __import__("os").environ if key.startswith("ILDSCREEN_")]:
        monkeypatch.delenv(key)
    return load_settings(data_dir=tmp_path / "imaging-data", series_stable_s=0, database_url=database_url)


@pytest.fixture
def referred(imaging_settings):
    """A CT server that has received the referral ``REFERRAL_CODE`` from clinic-north and has a reader,
    dr-wang: its test client, an open database (closed after the test), clinic and reader headers."""
    from imaging_server.app import create_app
    from imaging_server.nodule_review import add_reader
    from imaging_server.store import add_clinic, open_database

    client = create_app(imaging_settings).test_client()
    db = open_database(imaging_settings.database_target)
    clinic, reader = add_clinic(db, "clinic-north"), add_reader(db, "dr-wang")
    response = client.post("/api/v1/referrals", json=referral_bundle(),
                           headers={"Authorization": f"Bearer {clinic}", "Idempotency-Key": REFERRAL_CODE})
    assert response.status_code == 201
    yield client, db, {"Authorization": f"Bearer {clinic}"}, {"Authorization": f"Bearer {reader}"}
    db.close()
