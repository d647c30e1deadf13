"""The programme view's federated section: the newest result the federation's ServerApp wrote is
shown to programme viewers (rounds, the clinic that went missing, the region's validation of each
target, in English and Chinese); an unreadable result is an error naming the file, never a crash;
without the setting there is no section."""
from __future__ import annotations

import json
import os

import pytest

from imaging_server.app import create_app
from imaging_server.config import load_settings
from imaging_server.programme import add_viewer
from imaging_server.programme_federation import latest_federation
from imaging_server.store import open_database

RESULT = {
    "clinics": ["clinic-01", "clinic-02", "clinic-03"], "missing_clinics": ["clinic-02"],
    "rounds": [{"round": 1, "stage": "statistics", "completed": True, "clinics": 3, "missing_clinics": [],
                "wall_s": 41.2},
               {"round": 2, "stage": "newton", "completed": True, "clinics": 2, "missing_clinics": ["clinic-02"],
                "wall_s": 97.0, "retried": True}],
    "validation": {"federated_labs_model": {"n": 181, "events": 54, "auc": 0.889, "ece": 0.042},
                   "labs": {"n": 240, "events": 60, "clinics": 2, "auc": 0.812, "auc_ci95": [0.751, 0.873],
                            "ece": 0.05},
                   "breath": {"n": 12, "events": 0, "auc": None, "ece": None}},
    "theta": [0.0] * 34,
}


def write(folder, name, content, mtime):
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def test_the_newest_result_is_read_and_an_unreadable_one_is_named(tmp_path):
    assert latest_federation(None) is None and latest_federation(tmp_path) is None
    write(tmp_path, "2026-11.json", RESULT, 1_000_000)
    newest = latest_federation(tmp_path)
    assert newest["file"] == "2026-11.json" and newest["missing_clinics"] == ["clinic-02"]
    assert newest["validation"]["federated_labs_model"] == {"n": 181.0, "events": 54.0, "clinics": None, "auc": 0.889,
                                                            "auc_ci95": None, "ece": 0.042}  # a result before intervals
    assert newest["validation"]["labs"]["auc_ci95"] == [0.751, 0.873] and newest["validation"]["labs"]["clinics"] == 2
    assert [item["stage"] for item in newest["rounds"]] == ["statistics", "newton"]
    write(tmp_path, "2026-12.json", "{not json", 2_000_000)
    broken = latest_federation(tmp_path)
    assert broken["file"] == "2026-12.json" and broken["error"].startswith("2026-12.json: ")
    write(tmp_path, "2027-01.json", {"rounds": "none"}, 3_000_000)
    assert "not a federation result" in latest_federation(tmp_path)["error"]


@pytest.fixture
def hospital(tmp_path, no_env_settings):
    results = tmp_path / "federation"
    results.mkdir()
    write(results, "2026-12.json", RESULT, 1_000_000)
    settings = load_settings(data_dir=tmp_path / "imaging-data", programme_federation_dir=results)
    app = create_app(settings)
    db = open_database(settings.database_target)
    token = add_viewer(db, "programme-lead")
    db.close()
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_programme_viewers_see_the_latest_run_its_missing_clinic_and_the_regional_validation(hospital):
    client, headers = hospital
    view = client.get("/api/v1/programme/dashboard", headers=headers).get_json()
    assert view["federation"]["missing_clinics"] == ["clinic-02"]
    page = client.get("/programme", headers=headers).get_data(as_text=True)
    assert 'id="federation"' in page and "Went missing during the run: clinic-02" in page
    assert "regional blood-test model" in page and "0.889" in page and "181 (54)" in page
    assert "too few to show" in page  # breath: no events in the region
    assert "0.812 (0.751–0.873)" in page and "240 (60) · 2 clinics" in page
    client.get("/programme/language?to=zh-CN")
    chinese = client.get("/programme", headers=headers).get_data(as_text=True)
    assert "联邦学习与区域验证" in chinese and "运行中掉线的诊所：clinic-02" in chinese


def test_the_view_needs_a_programme_viewer(hospital):
    client, _ = hospital
    assert client.get("/api/v1/programme/dashboard").status_code == 401
