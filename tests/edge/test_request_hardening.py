"""Bad input is refused before anything is written, and nothing stored can break a read (issue 15):
null fields, deep JSON, ids beyond SQLite's integers, a write that fails after writing; patient
codes never in a URL and case-folded; 405s say what is allowed."""
import json

import pytest

from support import PATIENT, birth_year_for_age

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN = birth_year_for_age(76)  # 1950 when written (2026)


@pytest.fixture
def patient(client, nurse):
    return client.post("/api/v1/patients", json=PATIENT, headers=nurse).json


@pytest.fixture
def visit(client, nurse, patient):
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("field", ["birth_year", "sex", "ctd_diagnosis", "autoantibodies", "smoking", "symptoms",
                                   "medications"])
def test_a_null_field_is_refused_and_the_patient_still_reads(client, nurse, patient, db, field):
    before = db.execute("SELECT * FROM patients").fetchall()
    response = client.patch(f"/api/v1/patients/{patient['id']}", json={field: None, "version": patient["version"]},
                            headers=nurse)
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == field
    assert db.execute("SELECT * FROM patients").fetchall() == before
    assert client.get("/api/v1/patients", headers=nurse).status_code == 200
    assert client.get(f"/api/v1/patients/{patient['id']}", headers=nurse).status_code == 200


def test_pack_years_may_be_cleared_with_null(client, nurse, patient):
    smoker = client.patch(f"/api/v1/patients/{patient['id']}",
                          json={"smoking": "former", "pack_years": 10, "version": patient["version"]}, headers=nurse)
    cleared = client.patch(f"/api/v1/patients/{patient['id']}", json={"pack_years": None,
                                                                      "version": smoker.json["version"]}, headers=nurse)
    assert cleared.status_code == 200 and cleared.json["pack_years"] is None


def test_an_over_deep_visit_draft_is_a_400_and_the_visit_still_reads(client, nurse, visit, db):
    response = client.patch(f"/api/v1/visits/{visit['id']}", data=json.dumps({"draft": nested(800)}),
                            content_type="application/json", headers=nurse)
    assert response.status_code == 400 and "deeper than 20 levels" in response.json["error"]["message"]
    assert db.execute("SELECT draft FROM visits").fetchone()[0] == "{}"
    assert client.get(f"/api/v1/visits/{visit['id']}", headers=nurse).status_code == 200
    assert client.get(f"/visits/{visit['id']}").status_code == 200
    kept = client.patch(f"/api/v1/visits/{visit['id']}", json={"draft": nested(19), "version": visit["version"]},
                        headers=nurse)
    assert kept.status_code == 200


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 100_000, '{"pack_years": NaN}', '{"x": Infinity}'])
def test_json_the_parser_cannot_or_should_not_take_is_a_400(client, nurse, patient, body):
    response = client.patch(f"/api/v1/patients/{patient['id']}", data=body, content_type="application/json",
                            headers=nurse)
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_request"


@pytest.mark.parametrize("path", ["/api/v1/patients/{n}", "/api/v1/visits/{n}", "/api/v1/visits/{n}/labs",
                                  "/api/v1/recordings/{n}/audio", "/api/v1/referrals/{n}", "/visits/{n}"])
def test_ids_beyond_sqlite_integers_are_a_404(client, nurse, path):
    response = client.get(path.format(n=2**63), headers=nurse)
    assert response.status_code == 404
    assert client.get(path.format(n=2**63 - 1), headers=nurse).status_code == 404


def test_ids_beyond_sqlite_integers_in_queries_are_a_422(client, nurse):
    assert client.get(f"/api/v1/referrals?patient_id={2**63}", headers=nurse).status_code == 422


def test_a_write_whose_response_fails_leaves_nothing_written(client, nurse, patient, db, monkeypatch):
    """One transaction per request: the write and the reading back of its result commit together."""
    from edge import patients

    real = patients.get_patient
    monkeypatch.setattr(patients, "get_patient", lambda db, patient_id: {**real(db, patient_id), "sex": "?"})
    response = client.patch(f"/api/v1/patients/{patient['id']}", json={"smoking": "current", "version": patient["version"]},
                            headers=nurse)
    assert response.status_code == 500
    assert db.execute("SELECT smoking FROM patients").fetchone()[0] == PATIENT["smoking"] != "current"
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'update'").fetchone()[0] == 0


def test_patients_are_found_by_post_and_a_code_in_the_url_is_refused(client, nurse, patient):
    found = client.post("/api/v1/patients/search", json={"code": "cl01-00"}, headers=nurse)
    assert found.status_code == 200 and [p["id"] for p in found.json["patients"]] == [patient["id"]]
    assert client.post("/api/v1/patients/search", json={"code": "ZZ"}, headers=nurse).json["total"] == 0
    refused = client.get("/api/v1/patients?code=CL01", headers=nurse)
    assert refused.status_code == 422 and "POST /api/v1/patients/search" in refused.json["error"]["message"]
    assert client.get("/api/v1/patients?limit=1", headers=nurse).json["total"] == 1


def test_a_code_differing_only_in_case_is_the_same_patient(client, nurse, db):
    created = client.post("/api/v1/patients", json={**PATIENT, "code": "cl09-0001"}, headers=nurse)
    assert created.status_code == 201 and created.json["code"] == "CL09-0001"
    again = client.post("/api/v1/patients", json={**PATIENT, "code": "Cl09-0001"}, headers=nurse)
    assert again.status_code == 409
    assert db.execute("SELECT code FROM patients").fetchall() == [("CL09-0001",)]


def test_a_method_not_allowed_says_which_are(client, nurse):
    response = client.delete("/api/v1/patients", headers=nurse)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.json["error"]["code"] == "method_not_allowed"


def test_a_patient_whose_panel_includes_kl6_can_be_referred(client, nurse, visit):
    """KL-6 (no LOINC code) is measured exactly in the patients most likely to be referred."""
    labs = client.post(f"/api/v1/visits/{visit['id']}/labs", headers=nurse,
                       json={"results": [{"analyte": "kl6", "value": 1500, "unit": "U/mL"}]})
    assert labs.status_code == 201, labs.json
    assert client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).status_code == 201
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert referral.status_code == 201, referral.json


def test_the_tablet_form_still_registers_a_patient_from_text_fields(client, nurse, db):
    """The JSON API's types are strict; the registration form sends text and is parsed from it."""
    form = {"csrf_token": nurse["X-CSRF-Token"], "code": "cl77-0001", "birth_year": str(BORN), "sex": "F",
            "ctd_diagnosis": "RA", "smoking": "never"}
    response = client.post("/patients/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert db.execute("SELECT code, birth_year FROM patients").fetchall() == [("CL77-0001", BORN)]


def test_an_unexpected_error_is_a_500_with_a_request_id_and_no_patient_data(client, nurse, patient, monkeypatch,
                                                                             caplog):
    """The clinic service answers with the shared handlers (common.web): the id in the answer is the
    one in the log line, and the exception's text (which may name the patient) is in neither."""
    import logging
    import re

    from edge import patients

    def broken(db, patient_id):
        raise KeyError(f"{PATIENT['code']} {PATIENT.get('name', '')}")

    monkeypatch.setattr(patients, "get_patient", broken)
    with caplog.at_level(logging.ERROR, logger="edge.app"):
        response = client.get(f"/api/v1/patients/{patient['id']}", headers=nurse)
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    request_id = re.search(r"request id ([0-9a-f]{12})", response.json["error"]["message"]).group(1)
    logged = [record.getMessage() for record in caplog.records if record.name == "edge.app"]
    assert [message.splitlines()[0] for message in logged] == [
        f"unhandled KeyError in /api/v1/patients/<int:patient_id> (request id {request_id})"]
    assert "in broken" in logged[0]  # the stack is logged, for the admin
    assert PATIENT["code"] not in response.get_data(as_text=True) + caplog.text
