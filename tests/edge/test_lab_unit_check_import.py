"""Every way lab results come in is unit-checked, not only typing: a lab file (API upload, the
tablet's import) or a FHIR Bundle holding a likely unit slip is refused whole, naming the analyte,
value and unit, and stores nothing until it comes again confirmed; a confirmed slip is stored marked
confirmed_unusual, listed so by the API and shown beside the value on the visit page and the letter."""
import io
import json

import pytest

from edge.web.i18n import translate
from imaging_client.referral import CONFIRMED_UNUSUAL_NOTE
from support import PATIENT
from test_lab_unit_check_entry import SLIP, USUAL, labs_audit, tablet_visit, visit_id  # noqa: F401 (visit_id: a fixture)

# The slip of test_lab_unit_check_entry (bilirubin 0.8 typed as umol/L) beside a usual haemoglobin.
CSV = b"analyte,value,unit\nhgb,125,g/L\nbilirubin,0.8,umol/L\n"


def rows(db, visit_id):
    return db.execute("SELECT analyte, value, unit, confirmed_unusual FROM lab_results WHERE visit_id = ? ORDER BY id",
                      [visit_id]).fetchall()


def upload(client, nurse, visit_id, body: bytes = CSV, **form):
    return client.post(f"/api/v1/visits/{visit_id}/labs/file", headers=nurse, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(body), "panel.csv"), **form})


def bundle(*results: dict) -> dict:
    codes = {"hgb": "718-7", "bilirubin": "1975-2", "creatinine": "2160-0"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": codes[r["analyte"]]}]},
                      "valueQuantity": {"value": r["value"], "unit": r["unit"], "code": r["unit"]}}}
        for r in results]}


def test_a_lab_file_with_a_likely_slip_is_refused_whole_naming_it_and_keeps_what_was_stored(
        client, nurse, visit_id, db):
    assert client.post(f"/api/v1/visits/{visit_id}/labs", json={"results": USUAL}, headers=nurse).status_code == 201
    before = rows(db, visit_id)
    refused = upload(client, nurse, visit_id)
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "unit_check" and [f["field"] for f in error["fields"]] == ["bilirubin"]
    assert "bilirubin (Bilirubin, total) 0.8 umol/L is far below the reference range (3-21 umol/L)" in error["message"]
    assert "0.8 mg/dL would be within or near it" in error["message"]
    assert error["message"].endswith("send it again with confirm_unusual=bilirubin")
    assert [(f["analyte"], f["value"], f["unit"], f["usual_unit"]) for f in error["unit_check"]] == \
        [("bilirubin", 0.8, "umol/L", "mg/dL")]
    assert rows(db, visit_id) == before  # nothing of the file (not the usual haemoglobin either), nothing lost
    assert labs_audit(db) == [{"results": 2}]


def test_a_lab_file_confirmed_for_the_analyte_is_stored_marked_and_listed_so(client, nurse, visit_id, db):
    other = upload(client, nurse, visit_id, confirm_unusual="urea")
    assert other.status_code == 422 and rows(db, visit_id) == []  # confirming another analyte confirms nothing
    saved = upload(client, nurse, visit_id, confirm_unusual="bilirubin")
    assert saved.status_code == 201, saved.json
    assert rows(db, visit_id) == [("hgb", 125.0, "g/L", 0), ("bilirubin", 0.8, "umol/L", 1)]
    assert labs_audit(db) == [{"results": 2, "confirmed_unusual": ["bilirubin"]}]
    listed = client.get(f"/api/v1/visits/{visit_id}/labs", headers=nurse).json["results"]
    assert [(r["analyte"], r["confirmed_unusual"]) for r in listed] == [("hgb", False), ("bilirubin", True)]


def test_a_confirmation_of_a_usual_value_marks_nothing(client, nurse, visit_id, db):
    saved = upload(client, nurse, visit_id, b"analyte,value,unit\nbilirubin,12,umol/L\n", confirm_unusual="bilirubin")
    assert saved.status_code == 201 and rows(db, visit_id) == [("bilirubin", 12.0, "umol/L", 0)]
    assert labs_audit(db) == [{"results": 1}]


@pytest.mark.parametrize("named", ["kryptonite", "bilirubin,,kryptonite"])
def test_an_unknown_analyte_in_the_confirmation_is_refused_naming_it(client, nurse, visit_id, db, named):
    refused = upload(client, nurse, visit_id, confirm_unusual=named)
    assert refused.status_code == 422 and refused.json["error"]["fields"][0]["field"] == "confirm_unusual"
    assert "'kryptonite' is not a known analyte" in refused.json["error"]["message"] and rows(db, visit_id) == []


def test_a_json_lab_file_confirms_per_result_as_the_api_body_does(client, nurse, visit_id, db):
    body = json.dumps({"results": [USUAL[0], {**SLIP, "confirm_unusual": True}]}).encode()
    saved = upload(client, nurse, visit_id, body)
    assert saved.status_code == 201, saved.json
    assert rows(db, visit_id) == [("hgb", 12.5, "g/dL", 0), ("bilirubin", 0.8, "umol/L", 1)]


def test_a_fhir_bundle_with_a_likely_slip_is_refused_until_confirmed_by_name_or_loinc(client, nurse, visit_id, db):
    url = f"/api/v1/visits/{visit_id}/labs/fhir"
    refused = client.post(url, json=bundle(USUAL[0], SLIP), headers=nurse)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "unit_check"
    assert "0.8 umol/L is far below" in refused.json["error"]["message"]
    assert refused.json["error"]["message"].endswith("confirm_unusual=bilirubin") and rows(db, visit_id) == []
    saved = client.post(f"{url}?confirm_unusual=1975-2", json=bundle(USUAL[0], SLIP), headers=nurse)
    assert saved.status_code == 201, saved.json
    assert rows(db, visit_id) == [("hgb", 12.5, "g/dL", 0), ("bilirubin", 0.8, "umol/L", 1)]
    assert [r["confirmed_unusual"] for r in saved.json["results"]] == [False, True]


def test_the_json_api_stores_its_confirmation_with_the_result(client, nurse, visit_id, db):
    response = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                           json={"results": [{**USUAL[0], "confirm_unusual": True}, {**SLIP, "confirm_unusual": True}]})
    assert response.status_code == 201
    assert rows(db, visit_id) == [("hgb", 12.5, "g/dL", 0), ("bilirubin", 0.8, "umol/L", 1)]  # only the slip


def import_on_tablet(client, csrf, visit_id, body: bytes, **form):
    return client.post(f"/visits/{visit_id}/labs/file", content_type="multipart/form-data",
                       data={"csrf_token": csrf, "file": (io.BytesIO(body), "panel.csv"), **form})


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "0.8 µmol/L is far below the reference range (3–21 µmol/L); 0.8 mg/dL would be within or near it."),
    ("zh-CN", "0.8 µmol/L 远低于参考范围（3–21 µmol/L）；若为 0.8 mg/dL，则在参考范围内或接近。"),
])
def test_the_tablet_import_names_the_slip_in_her_language_and_stores_what_she_confirmed(ui, db, lang, words):
    client, _ = ui
    client.set_cookie("lang", lang)
    visit_id, csrf = tablet_visit(client)
    location = import_on_tablet(client, csrf, visit_id, CSV).headers["Location"]
    assert "lab_file_check=1" in location and "0.8" not in location  # values stay out of the URL
    page = client.get(location).get_data(as_text=True)
    assert rows(db, visit_id) == []
    box = page.split('id="lab-file-check"')[1].split("</div>")[0]
    assert words in box and translate("analyte_bilirubin", lang) in box and 'name="confirm_unusual"' in box
    assert translate("confirm_unusual_file", lang) in box

    # The box confirms what she was shown: a file with another slip is asked about, not stored.
    other = import_on_tablet(client, csrf, visit_id, CSV.replace(b"0.8", b"0.7"), confirm_unusual="1")
    assert "lab_file_check=1" in other.headers["Location"] and rows(db, visit_id) == []
    assert words.replace("0.8", "0.7") in client.get(other.headers["Location"]).get_data(as_text=True)
    saved = import_on_tablet(client, csrf, visit_id, CSV.replace(b"0.8", b"0.7"), confirm_unusual="1")
    assert "lab_file_check" not in saved.headers["Location"]
    assert rows(db, visit_id) == [("hgb", 125.0, "g/L", 0), ("bilirubin", 0.7, "umol/L", 1)]
    assert labs_audit(db) == [{"results": 2, "confirmed_unusual": ["bilirubin"]}]
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    table = page.split('id="lab-results"')[1].split("</table>")[0]
    assert table.count(translate("confirmed_unusual", lang)) == 1  # beside the bilirubin, not the haemoglobin
    assert 'id="lab-file-check"' not in page
    draft = json.loads(db.execute("SELECT draft FROM visits WHERE id = ?", [visit_id]).fetchone()[0])
    assert "lab_file_check" not in draft  # asked and answered: nothing left to confirm


def test_the_letter_and_the_referral_sent_to_the_hospital_say_the_value_was_confirmed(client, nurse, db):
    patient = client.post("/api/v1/patients", json={**PATIENT, "code": "CL77-0001"}, headers=nurse).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]
    assert upload(client, nurse, visit_id, confirm_unusual="bilirubin").status_code == 201
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse).status_code == 201
    referral = client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": "checking"}, headers=nurse)
    assert referral.status_code == 201, referral.json
    letter = client.get(f"/referrals/{referral.json['id']}/letter").get_data(as_text=True)
    labs_line = letter.split('id="letter-labs">')[1].split("</dd>")[0]
    assert "0.8 µmol/L (confirmed by the nurse as unusual)" in labs_line and labs_line.count("confirmed by") == 1
    payload = json.loads(db.execute("SELECT payload FROM referrals WHERE id = ?",
                                    [referral.json["id"]]).fetchone()[0])
    notes = {entry["resource"]["code"]["coding"][0].get("code"): entry["resource"].get("note")
             for entry in payload["entry"] if entry["resource"]["resourceType"] == "Observation"}
    assert notes["1975-2"] == [{"text": CONFIRMED_UNUSUAL_NOTE}] and notes["718-7"] is None
