"""Every way lab results come in is unit-checked, not only typing: a lab file (API upload, the
tablet's import) or a FHIR Bundle holding a likely unit slip is refused whole, naming the analyte,
value and unit, and stores nothing until it comes again confirmed; a confirmed slip is stored marked
confirmed_unusual, listed so by the API and shown beside the value on the visit page and the letter."""
import io
import json

import pytest

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
