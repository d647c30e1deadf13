"""A lab value that looks like a unit slip is asked about before it is stored: the API answers
422 unit_check until the result is sent again confirmed."""
import io
import json

import pytest

from edge.config import load_settings
from edge.errors import ConfigError
from support import PATIENT

# Bilirubin 0.8 typed into umol/L from a report in mg/dL: plausible, far below 3-21 umol/L.
SLIP = {"analyte": "bilirubin", "value": 0.8, "unit": "umol/L"}
USUAL = [{"analyte": "hgb", "value": 12.5, "unit": "g/dL"}, {"analyte": "creatinine", "value": 80, "unit": "umol/L"}]


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def stored(db, visit_id):
    return db.execute("SELECT analyte, value, unit FROM lab_results WHERE visit_id = ? ORDER BY id",
                      [visit_id]).fetchall()


def labs_audit(db):
    rows = db.execute("SELECT detail FROM audit_log WHERE action = 'add_labs' ORDER BY id").fetchall()
    return [json.loads(row[0]) for row in rows]


def test_the_api_refuses_a_likely_unit_slip_with_unit_check_and_stores_nothing(client, nurse, visit_id, db):
    response = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": USUAL + [SLIP]}, headers=nurse)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "unit_check" and error["fields"][0]["field"] == "bilirubin"
    assert "0.8 umol/L" in error["message"] and "0.8 mg/dL" in error["message"] and "confirm_unusual" in error["message"]
    (finding,) = error["unit_check"]
    assert (finding["analyte"], finding["value"], finding["unit"]) == ("bilirubin", 0.8, "umol/L")
    assert (finding["direction"], finding["usual_unit"]) == ("low", "mg/dL")
    assert finding["reference"] == [3.0, 21.0] and finding["usual_reference"] == pytest.approx([3 / 17.1, 21 / 17.1])
    assert stored(db, visit_id) == [] and labs_audit(db) == []  # the usual results were not kept either


def test_the_api_stores_a_confirmed_value_and_the_audit_says_it_was_confirmed(client, nurse, visit_id, db):
    confirmed_elsewhere = USUAL[:1] + [{**USUAL[1], "confirm_unusual": True}, SLIP]
    refused = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": confirmed_elsewhere}, headers=nurse)
    assert refused.status_code == 422  # confirming another result confirms nothing about this one
    response = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                           json={"results": USUAL + [{**SLIP, "confirm_unusual": True}]})
    assert response.status_code == 201, response.json
    assert ("bilirubin", 0.8, "umol/L") in stored(db, visit_id) and len(stored(db, visit_id)) == 3
    assert labs_audit(db) == [{"results": 3, "confirmed_unusual": ["bilirubin"]}]
    plain = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": USUAL}, headers=nurse)
    assert plain.status_code == 201 and labs_audit(db)[-1] == {"results": 2}  # nothing unusual: nothing confirmed


def test_the_setting_decides_what_is_far(client, nurse, visit_id, db, app, monkeypatch):
    monkeypatch.setattr(app.extensions["ildscreen"].settings, "lab_unit_check_factor", 4.0)
    # 0.8 umol/L lies within [3 / 4, 21 x 4]: not far under this programme's setting.
    response = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": [SLIP]}, headers=nurse)
    assert response.status_code == 201 and labs_audit(db) == [{"results": 1}]


def test_a_factor_below_1_is_refused_at_start_up_naming_the_setting(tmp_path, no_env_settings):
    with pytest.raises(ConfigError, match="lab_unit_check_factor: Input should be greater than or equal to 1"):
        load_settings(data_dir=tmp_path, lab_unit_check_factor=0.5)


def test_a_lab_file_is_not_asked_it_carries_the_laboratorys_units(client, nurse, visit_id, db):
    upload = client.post(f"/api/v1/visits/{visit_id}/labs/file", headers=nurse, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(b"analyte,value,unit\nbilirubin,0.8,umol/L\n"), "panel.csv")})
    assert upload.status_code == 201 and stored(db, visit_id) == [("bilirubin", 0.8, "umol/L")]
