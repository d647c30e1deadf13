"""Clinic tokens of the hospital CT server are revocable and rotatable, and the old token stops at
once, against a real ``ildscreen imaging-server serve`` (issue 15: tokens could not be revoked)."""
from __future__ import annotations

import json
import os
import sys

import pytest
import requests

from pg_server import database_url, postgres  # noqa: F401 - fixtures
from test_ct_serve_process import CtServer, ildscreen
from support import clean_env

pytestmark = pytest.mark.slow


@pytest.fixture
def env():
    return clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")


def status_of(server: CtServer, token: str) -> int:
    return requests.get(f"{server.url}/api/v1/referrals/ILD-SSSSSSSSSS",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_revoke_and_rotate_stop_the_old_token_at_once_on_a_running_server(env, tmp_path, database_url):  # noqa: F811
    data = ["--data-dir", str(tmp_path / "hospital"), "--database-url", database_url]
    north = ildscreen("imaging-server", "clinics", "add", "clinic-north", *data, env=env).stdout.strip()
    south = ildscreen("imaging-server", "clinics", "add", "clinic-south", *data, env=env).stdout.strip()
    server = CtServer(tmp_path / "hospital", env, "--no-watch", "--database-url", database_url)
    try:
        assert status_of(server, north) == status_of(server, south) == 404  # known clinics, no such referral
        rotated = ildscreen("imaging-server", "clinics", "rotate", "clinic-north", *data, env=env)
        assert rotated.returncode == 0, rotated.stderr
        new_north = rotated.stdout.strip()
        assert new_north.startswith("ildct_") and new_north != north
        assert status_of(server, north) == 401 and status_of(server, new_north) == 404
        revoked = ildscreen("imaging-server", "clinics", "revoke", "clinic-south", *data, env=env)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert status_of(server, south) == 401 and status_of(server, new_north) == 404
    finally:
        server.stop()
    listed = json.loads(ildscreen("imaging-server", "clinics", "list", "--json", *data, env=env).stdout)
    assert {row["name"]: row["revoked"] for row in listed} == {"clinic-north": False, "clinic-south": True}


def test_revoking_an_unknown_clinic_or_folder_is_a_one_line_error(env, tmp_path, database_url):  # noqa: F811
    data = ["--data-dir", str(tmp_path / "hospital"), "--database-url", database_url]
    missing_folder = ildscreen("imaging-server", "clinics", "revoke", "clinic-x", *data, env=env)
    assert missing_folder.returncode == 1 and "no CT server database" in missing_folder.stderr
    assert not (tmp_path / "hospital").exists() and not (tmp_path / "imaging-data").exists()
    assert "Traceback" not in missing_folder.stderr
    ildscreen("imaging-server", "clinics", "add", "clinic-north", *data, env=env)
    unknown = ildscreen("imaging-server", "clinics", "rotate", "clinic-x", *data, env=env)
    assert unknown.returncode == 1 and "no clinic named 'clinic-x'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
