"""A lab value that looks like a unit slip is asked about before it is stored: the API answers
422 unit_check until the result is sent again confirmed, the tablet's lab form says it in the
nurse's language beside the field, keeps what she typed and stores it once she ticks the box."""
import json
import re

import pytest

from edge.config import load_settings
from edge.errors import ConfigError
from edge.web.i18n import translate
from support import PATIENT, birth_year_for_age, csrf_of

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN = birth_year_for_age(76)  # 1950 when written (2026)

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
    # A corrected haemoglobin (a new panel, not the same one again), nothing unusual: nothing confirmed.
    plain = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": [{**USUAL[0], "value": 12.6}, USUAL[1]]},
                        headers=nurse)
    assert plain.status_code == 201 and labs_audit(db)[-1] == {"results": 2}


def test_the_setting_decides_what_is_far(client, nurse, visit_id, db, app, monkeypatch):
    monkeypatch.setattr(app.extensions["ildscreen"].settings, "lab_unit_check_factor", 4.0)
    # 0.8 umol/L lies within [3 / 4, 21 x 4]: not far under this programme's setting.
    response = client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": [SLIP]}, headers=nurse)
    assert response.status_code == 201 and labs_audit(db) == [{"results": 1}]


def test_a_factor_below_1_is_refused_at_start_up_naming_the_setting(tmp_path, no_env_settings):
    with pytest.raises(ConfigError, match="lab_unit_check_factor: Input should be greater than or equal to 1"):
        load_settings(data_dir=tmp_path, lab_unit_check_factor=0.5)


def tablet_visit(client) -> tuple[int, str]:
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    registered = client.post("/patients/new", data={"csrf_token": csrf, "code": "CL70-0001", "birth_year": str(BORN),
                                                    "sex": "F", "ctd_diagnosis": "SSc", "smoking": "never"})
    patient_id = int(registered.headers["Location"].rsplit("/", 1)[1])
    started = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf})
    return int(started.headers["Location"].rsplit("/", 1)[1]), csrf


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "0.8 µmol/L is far below the reference range (3–21 µmol/L); 0.8 mg/dL would be within or near it."),
    ("zh-CN", "0.8 µmol/L 远低于参考范围（3–21 µmol/L）；若为 0.8 mg/dL，则在参考范围内或接近。"),
])
def test_the_tablet_asks_in_the_nurses_language_keeps_what_she_typed_and_stores_once_confirmed(
        ui, db, lang, words):
    client, _ = ui
    client.set_cookie("lang", lang)
    visit_id, csrf = tablet_visit(client)
    form = {"csrf_token": csrf, "lab_bilirubin": "0.8", "unit_bilirubin": "umol/L",
            "lab_hgb": "125", "unit_hgb": "g/L"}
    asked = client.post(f"/visits/{visit_id}/labs", data=form)
    location = asked.headers["Location"]
    assert "lab_errors=bilirubin:unit" in location and "0.8" not in location  # the key only, never the value
    page = client.get(location).get_data(as_text=True)
    assert stored(db, visit_id) == []  # not stored on the first submit, nor the usual haemoglobin
    message = re.search(r'<span class="field-error" id="lab-error-bilirubin">([^<]+)</span>', page).group(1)
    assert words in message and message.endswith({"en": "Check the unit.", "zh-CN": "请核对单位。"}[lang])
    assert 'name="confirm_bilirubin"' in page and translate("confirm_unusual", lang) in page
    # Nothing to correct yet, one value to check: the summary says so, in her language.
    assert translate("check_values", lang, count=1) in page and translate("fix_errors", lang, count=1) not in page
    assert 'name="confirm_hgb"' not in page  # asked only about the value that looks like a slip
    assert re.search(r'id="lab_bilirubin"[^>]*value="0.8"', page) and re.search(r'id="lab_hgb"[^>]*value="125"', page)
    assert re.search(r'<option value="umol/L" selected>', page.split('name="unit_bilirubin"')[1])

    assert 'name="confirm_bilirubin" value="0.8 umol/L"' in page  # the box confirms what she was asked about
    changed = client.post(f"/visits/{visit_id}/labs", data={**form, "lab_bilirubin": "0.9",
                                                          "confirm_bilirubin": "0.8 umol/L"})
    assert "lab_errors=bilirubin:unit" in changed.headers["Location"] and stored(db, visit_id) == []
    saved = client.post(f"/visits/{visit_id}/labs", data={**form, "confirm_bilirubin": "0.8 umol/L"})
    assert "lab_errors" not in saved.headers["Location"]
    assert stored(db, visit_id) == [("hgb", 125.0, "g/L"), ("bilirubin", 0.8, "umol/L")]
    assert labs_audit(db) == [{"results": 2, "confirmed_unusual": ["bilirubin"]}]


def test_the_tablet_reports_a_slip_with_the_other_errors_at_once(ui, db):
    client, _ = ui
    visit_id, csrf = tablet_visit(client)
    form = {"csrf_token": csrf, "lab_urea": "20", "unit_urea": "mmol/L", "lab_wbc": "seven", "unit_wbc": "10*9/L"}
    location = client.post(f"/visits/{visit_id}/labs", data=form).headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert 'id="lab-error-urea"' in page and 'id="lab-error-wbc"' in page and 'name="confirm_urea"' in page
    assert "20 mg/dL would be within or near it" in page and stored(db, visit_id) == []
    assert translate("fix_errors", "en", count=2) in page  # a field to correct besides the check
    corrected = client.post(f"/visits/{visit_id}/labs", data={**form, "lab_wbc": "7", "unit_urea": "mg/dL"})
    assert "lab_errors" not in corrected.headers["Location"]  # the unit corrected: nothing more to ask
    assert stored(db, visit_id) == [("wbc", 7.0, "10*9/L"), ("urea", 20.0, "mg/dL")]
    assert labs_audit(db) == [{"results": 2}]
