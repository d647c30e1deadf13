"""A real ``ildscreen serve`` process on an installed model bundle: it reports and stamps the new
versions, serves the bundled ones again after a rollback and a restart, and refuses to serve
on a corrupt active pointer."""
from __future__ import annotations


import pytest
import requests

from served import ServedProcess, nurse_token, run_cli
from support import PATIENT, model_bundle, trust_test_key, wav_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path):
    trust_test_key(tmp_path / "data")
    return tmp_path / "data"




def screen_once(server: ServedProcess, headers: dict, patient_id: int) -> tuple[dict, dict]:
    """A visit with one recording and one lab result: ``(recording, lab score)`` as the API returns them."""
    visit = requests.post(f"{server.url}/api/v1/patients/{patient_id}/visits", json={}, headers=headers,
                          timeout=10).json()
    recording = requests.post(f"{server.url}/api/v1/visits/{visit['id']}/recordings", headers=headers, timeout=30,
                              data={"chest_site": "posterior_left_base"},
                              files={"file": ("base.wav", wav_bytes(seconds=10), "audio/wav")})
    assert recording.status_code == 201, recording.text
    labs = requests.post(f"{server.url}/api/v1/visits/{visit['id']}/labs", headers=headers, timeout=10,
                         json={"results": [{"analyte": "718-7", "value": 12.1, "unit": "g/dL"}]})
    assert labs.status_code == 201, labs.text
    return recording.json(), labs.json()["score"]


def models_check(server: ServedProcess) -> tuple[int, dict]:
    ready = requests.get(server.url + "/readyz", timeout=30)
    return ready.status_code, ready.json()["checks"]["models"]


def test_an_installed_bundle_is_served_and_stamped_until_rolled_back(data_dir, tmp_path):
    headers = nurse_token(data_dir)
    source = model_bundle(tmp_path / "bundle", auscultation="9.0.0", labs="0.2.0")
    installed = run_cli(data_dir, "models", "install", str(source))
    bundle_id = installed.splitlines()[0].split(": ", 1)[1]
    assert "* " + bundle_id in run_cli(data_dir, "models", "list")

    server = ServedProcess(data_dir)
    try:
        status, check = models_check(server)
        assert status == 200 and check["bundle"] == bundle_id
        assert check["models"]["auscultation"]["version"] == "9.0.0" and check["models"]["labs"]["version"] == "0.2.0"
        patient = requests.post(server.url + "/api/v1/patients", json=PATIENT, headers=headers, timeout=10).json()
        recording, lab_score = screen_once(server, headers, patient["id"])
        assert recording["model_version"] == "auscultation-9.0.0-fp32"
        assert lab_score["model"]["version"] == "0.2.0"
        assert "rolled back to bundled" in run_cli(data_dir, "models", "rollback")
        status, check = models_check(server)  # still serving what it started with, until restarted
        assert status == 200 and check["bundle"] == bundle_id and "restart" in " ".join(check["notes"])
    finally:
        server.stop()

    restarted = ServedProcess(data_dir)
    try:
        status, check = models_check(restarted)
        assert status == 200 and check["bundle"] == "bundled"
        assert check["models"]["auscultation"]["version"] == "0.6.0"
        recording, lab_score = screen_once(restarted, headers, patient["id"])
        assert recording["model_version"] == "auscultation-0.6.0-fp32"
        assert lab_score["model"]["version"] == "0.1.0"
    finally:
        restarted.stop()


def test_a_corrupt_active_pointer_fails_readyz_naming_it(data_dir):
    (data_dir / "models").mkdir(parents=True)
    (data_dir / "models" / "active").write_bytes(b"\x00\x01 not a bundle id")
    server = ServedProcess(data_dir)
    try:
        status, check = models_check(server)
        assert status == 503 and check["ok"] is False and check["bundle"] is None
        assert f"active model pointer {data_dir / 'models' / 'active'} is corrupt" in check["reason"]
    finally:
        server.stop()
    assert "no model bundle served" in server.output
