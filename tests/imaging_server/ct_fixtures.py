"""Fixtures of the CT service tests (imported by name in each test module; a second conftest.py
would shadow the root one, which other tests import as `conftest`)."""
from __future__ import annotations

import pytest

from imaging_server.phantom import make_phantom, write_series
from pg_server import database_url, postgres  # noqa: F401 - fixtures imaging_settings needs


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
