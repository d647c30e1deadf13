"""The whole referral path with real parts: a real edge service refers a high-risk patient; its
outbox delivers the FHIR referral to a real CT server; the HRCT series arrives in a real Orthanc
with the referral code as accession number; the server quantifies it; the edge polls the
results back and shows them in the patient's timeline. HAA% within 1 point of the phantom's
truth, lung volume within 5%."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / "imaging_server"), str(TESTS / "edge")]
from ct_fixtures import phantom  # noqa: E402,F401 - fixture
from orthanc_pacs import PASSWORD, USER, orthanc  # noqa: E402,F401 - fixture
from referring_clinic import refer_a_patient, referral_at_clinic  # noqa: E402
from served import ServedProcess, ildscreen_command, nurse_token  # noqa: E402
from support import PATIENT, clean_env, wait_for  # noqa: E402
from test_ct_serve_process import CtServer  # noqa: E402

from imaging_server.phantom import write_series  # noqa: E402

pytestmark = pytest.mark.slow


def test_refer_image_quantify_and_show_the_result_at_the_clinic(orthanc, phantom, tmp_path):  # noqa: F811
    base_env = clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")
    ct_env = {**base_env, "ILDSCREEN_IMAGING_ORTHANC_URL": orthanc.url, "ILDSCREEN_IMAGING_ORTHANC_USERNAME": USER,
              "ILDSCREEN_IMAGING_ORTHANC_PASSWORD": PASSWORD, "ILDSCREEN_IMAGING_POLL_INTERVAL_S": "0.5",
              "ILDSCREEN_IMAGING_SERIES_STABLE_S": "3"}
    ct_data = tmp_path / "hospital"
    clinic_token = subprocess.run([*ildscreen_command(), "imaging-server", "clinics", "add", "clinic-north",
                                   "--data-dir", str(ct_data)], env=ct_env, capture_output=True, text=True,
                                  check=True).stdout.strip()
    hospital = CtServer(ct_data, ct_env)
    edge_data = tmp_path / "clinic"
    headers = nurse_token(edge_data)
    edge = ServedProcess(edge_data, env={"ILDSCREEN_REFERRAL_SERVER_URL": hospital.url,
                                         "ILDSCREEN_REFERRAL_SERVER_TOKEN": clinic_token,
                                         "ILDSCREEN_OUTBOX_INTERVAL_S": "1",
                                         "ILDSCREEN_IMAGING_POLL_INTERVAL_S": "0.5"})  # a box running both
    try:
        patient, _, referral = refer_a_patient(edge.url, headers)
        code = referral["code"]
        orthanc.upload(write_series(phantom, tmp_path / "hrct", accession_number=code))
        shown = wait_for(lambda: (state := referral_at_clinic(edge.url, headers, referral))["status"] == "reported"
                         and state, timeout_s=120, what="CT results back at the clinic")
        metrics = shown["imaging_result"]["metrics"]
        assert abs(metrics["haa_percent"] - phantom.truth["haa_percent"]) <= 1.0
        assert abs(metrics["lung_volume_ml"] / phantom.truth["lung_volume_ml"] - 1) <= 0.05

        with requests.Session() as browser:  # the nurse's timeline shows them
            login_page = browser.get(edge.url + "/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
            browser.post(edge.url + "/login", data={"csrf_token": csrf, "username": "nurse1",
                                                    "password": "nurse password 1"})
            timeline = browser.get(f"{edge.url}/patients/{patient['id']}").text
        from edge.web.i18n import CATALOG

        assert code in timeline and CATALOG["ct_haa_percent"]["en"] in timeline  # the metric in words
        assert f"{metrics['haa_percent']:.1f}" in timeline
        # The new findings travel with the metrics, and the ILD extent index starts the CT trend.
        assert {"ild_extent", "nodules", "consolidation", "bone"} <= set(metrics)
        assert 'id="ild-extent-trend"' in timeline and f"{metrics['ild_extent']['percent']:.1f}%" in timeline
    finally:
        edge.stop()
        hospital.stop()
    assert PATIENT["code"] not in "".join(hospital.lines)  # nothing identifying reached the hospital's log
