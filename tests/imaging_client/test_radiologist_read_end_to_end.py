"""The outcome loop with real parts: a real edge service refers a patient to a real CT server; the
automated, preliminary CT report reaches the clinic and confirms nothing; a radiologist records the
ILD read on the CT server; the clinic's next polls show it as a confirmed hospital outcome and the
next assessment has ``confirmed_ild``. The CT series is quantified by the server's own ingest code
into the served database (no PACS needed: the images' path is covered by
test_referral_end_to_end.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / "imaging_server"), str(TESTS / "edge")]
from ct_fixtures import phantom, series_dir  # noqa: E402,F401 - fixtures
from referring_clinic import refer_a_patient, referral_at_clinic  # noqa: E402
from served import ServedProcess, ildscreen_command, nurse_token  # noqa: E402
from support import PATIENT, clean_env, wait_for  # noqa: E402
from test_ct_serve_process import CtServer  # noqa: E402

from imaging_server.dicom_io import read_folder  # noqa: E402
from imaging_server.ingest import _store_report, quantify_datasets  # noqa: E402
from imaging_server.segmentation import ClassicalLungSegmenter  # noqa: E402
from imaging_server.store import open_database  # noqa: E402

pytestmark = pytest.mark.slow


def _cli(*args: str, env: dict) -> str:
    return subprocess.run([*ildscreen_command(), *args], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_radiologists_read_on_the_ct_server_becomes_a_confirmed_outcome_at_the_clinic(series_dir,  # noqa: F811
                                                                                       tmp_path):
    base_env = clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")
    ct_data = tmp_path / "hospital"
    clinic_token = _cli("imaging-server", "clinics", "add", "clinic-north", "--data-dir", str(ct_data), env=base_env)
    reader_token = _cli("imaging-server", "readers", "add", "dr-wang", "--data-dir", str(ct_data), env=base_env)
    hospital = CtServer(ct_data, base_env, "--no-watch")
    edge_data = tmp_path / "clinic"
    headers = nurse_token(edge_data)
    edge = ServedProcess(edge_data, env={"ILDSCREEN_REFERRAL_SERVER_URL": hospital.url,
                                         "ILDSCREEN_REFERRAL_SERVER_TOKEN": clinic_token,
                                         "ILDSCREEN_OUTBOX_INTERVAL_S": "1"})
    reader = {"Authorization": f"Bearer {reader_token}"}
    try:
        patient, visit, referral = refer_a_patient(edge.url, headers)
        code = referral["code"]

        def referral_state():
            return referral_at_clinic(edge.url, headers, referral)

        def outcomes():
            return requests.get(f"{edge.url}/api/v1/patients/{patient['id']}/outcomes",
                                headers=headers).json()["outcomes"]

        read_url = f"{hospital.url}/api/v1/reader/referrals/{code}/ild-read"
        assert requests.post(read_url, json={"ild": "present"}, headers=reader).status_code == 409  # no report yet
        db = open_database(ct_data / "imaging.db")
        try:  # the hospital's ingest quantifies the HRCT series into the served database
            _store_report(db, code, quantify_datasets(code, read_folder(series_dir), ClassicalLungSegmenter()))
        finally:
            db.close()
        wait_for(lambda: referral_state()["status"] == "reported", timeout_s=60, what="the automated report")
        assert outcomes() == []  # preliminary: confirms nothing

        # A clinic's token cannot read; a bad value changes nothing; then the radiologist's read.
        assert requests.post(read_url, json={"ild": "present"},
                             headers={"Authorization": f"Bearer {clinic_token}"}).status_code == 401
        bad = requests.post(read_url, json={"ild": "present", "extent_percent": 150}, headers=reader)
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "extent_percent"
        assert requests.post(f"{hospital.url}/api/v1/reader/referrals/ILD-ZZZZZZZZZZ/ild-read",
                             json={"ild": "present"}, headers=reader).status_code == 404
        read = requests.post(read_url, json={"ild": "present", "pattern": "NSIP", "extent_percent": 20},
                             headers=reader)
        assert read.status_code == 201, read.text

        shown = wait_for(lambda: outcomes(), timeout_s=30, what="the read at the clinic")
        assert [(o["origin"], o["source"], o["ild"], o["pattern"], o["extent_percent"], o["confirmed"])
                for o in shown] == [("hospital", "hrct", "present", "NSIP", 20.0, True)]
        state = referral_state()
        assert state["server_status"] == "final" and state["imaging_result"]["metrics"]["ild_extent"]
        assessed = requests.post(f"{edge.url}/api/v1/visits/{visit['id']}/assessments", json={},
                                 headers=headers).json()
        assert assessed["confirmed_ild"]["source"] == "hrct_report"
        assert assessed["confirmed_ild"]["referral_id"] == referral["id"]

        # The read changed: the amended report replaces it at the clinic, still one outcome.
        assert requests.post(read_url, json={"ild": "indeterminate"}, headers=reader).status_code == 201
        wait_for(lambda: [o["ild"] for o in outcomes()] == ["indeterminate"], timeout_s=30,
                 what="the amended read at the clinic")
        assert referral_state()["server_status"] == "amended"
    finally:
        edge.stop()
        hospital.stop()
    assert PATIENT["code"] not in "".join(hospital.lines)  # nothing identifying reached the hospital's log
