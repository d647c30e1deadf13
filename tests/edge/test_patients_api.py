"""Patients and visits through the API: validation, refusals, audit, nothing stored on error."""
import pytest

from support import PATIENT, patch_visit


def count(db, table):
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_register_find_and_update_a_patient(client, nurse):
    created = client.post("/api/v1/patients", json=PATIENT, headers=nurse)
    assert created.status_code == 201
    patient = created.json
    assert patient["code"] == "CL01-0001" and patient["autoantibodies"] == ["anti-Scl-70"]
    found = client.post("/api/v1/patients/search", json={"code": "cl01"}, headers=nurse).json
    assert found["total"] == 1 and found["patients"][0]["id"] == patient["id"]
    updated = client.patch(f"/api/v1/patients/{patient['id']}", json={"smoking": "current", "version": patient["version"]},
                           headers=nurse)
    assert updated.json["smoking"] == "current" and updated.json["birth_year"] == PATIENT["birth_year"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"birth_year": 1800}, "birth_year", "greater than or equal to"),
        ({"sex": "X"}, "sex", "unknown value 'X'; input should be 'F' or 'M'"),
        ({"ctd_diagnosis": "gout"}, "ctd_diagnosis", "unknown CTD diagnosis 'gout'; expected one of ['IIM', 'MCTD', 'RA', 'SLE', 'SSc', 'SjD', 'undetermined']"),
        ({"autoantibodies": ["anti-foo"]}, "autoantibodies.0", "unknown autoantibody 'anti-foo'"),
        ({"symptoms": ["dry_cough", "sneezing"]}, "symptoms.1", "unknown symptom 'sneezing'"),
        ({"medications": ["<script>"]}, "medications.0", "should match pattern"),
        ({"favourite_colour": "blue"}, "favourite_colour", "unknown field"),
    ],
)
def test_invalid_fields_are_named_with_the_reason_and_nothing_is_stored(client, nurse, db, change, field, reason):
    response = client.post("/api/v1/patients", json={**PATIENT, **change}, headers=nurse)
    assert response.status_code == 422
    problems = {item["field"]: item["reason"] for item in response.json["error"]["fields"]}
    assert reason in problems[field]
    assert count(db, "patients") == 0


@pytest.mark.parametrize("code", ["x'; DROP TABLE patients;--", "<script>alert(1)</script>", "a b", "../etc", "AB"])
def test_injection_looking_codes_are_refused_and_the_table_is_intact(client, nurse, db, code):
    client.post("/api/v1/patients", json={**PATIENT, "code": "SAFE-001"}, headers=nurse)
    response = client.post("/api/v1/patients", json={**PATIENT, "code": code}, headers=nurse)
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["field"] == "code"
    assert db.execute("SELECT code FROM patients").fetchall() == [("SAFE-001",)]


def test_malformed_json_is_a_400(client, nurse, db):
    response = client.post("/api/v1/patients", data="{not json", content_type="application/json", headers=nurse)
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_request"
    array = client.post("/api/v1/patients", json=[PATIENT], headers=nurse)
    assert array.status_code == 400 and "must be a JSON object" in array.json["error"]["message"]
    assert count(db, "patients") == 0


def test_a_form_post_to_a_json_endpoint_is_a_415(client, nurse):
    response = client.post("/api/v1/patients", data={"code": "X-1"}, headers=nurse)
    assert response.status_code == 415


def test_duplicate_code_is_a_conflict(client, nurse, db):
    client.post("/api/v1/patients", json=PATIENT, headers=nurse)
    again = client.post("/api/v1/patients", json=PATIENT, headers=nurse)
    assert again.status_code == 409 and count(db, "patients") == 1


def test_unknown_query_parameter_and_missing_patient(client, nurse):
    assert client.get("/api/v1/patients?cod=1").json["error"]["fields"][0]["field"] == "query.cod"
    missing = client.get("/api/v1/patients/999")
    assert missing.status_code == 404 and missing.json["error"]["message"] == "no patient with id 999"


def test_visit_lifecycle_and_closed_visits_refuse_edits(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse)
    assert visit.status_code == 201 and visit.json["status"] == "open"
    visit_id = visit.json["id"]
    draft = patch_visit(client, visit_id, {"draft": {"step": "labs"}}, nurse)
    assert draft.json["draft"] == {"step": "labs"}
    done = patch_visit(client, visit_id, {"status": "completed"}, nurse)
    assert done.json["completed_at"]
    assert patch_visit(client, visit_id, {"notes": "late"}, nurse).status_code == 409
    assert [v["id"] for v in client.get(f"/api/v1/patients/{patient['id']}/visits").json["visits"]] == [visit_id]


def test_every_write_is_audited_with_who_and_what(app, client, nurse, admin):
    nurse_client = app.test_client()
    from support import login

    headers = login(nurse_client, "nurse1")
    patient = nurse_client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    nurse_client.patch(f"/api/v1/patients/{patient['id']}", json={"smoking": "current", "version": patient["version"]},
                       headers=headers)
    nurse_client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers)
    entries = client.get("/api/v1/audit?entity=patient").json["entries"]
    assert [(e["action"], e["username"]) for e in entries] == [("update", "nurse1"), ("create", "nurse1")]
    assert entries[0]["detail"] == {"changed": ["smoking"]}
    visits = client.get("/api/v1/audit?entity=visit").json["entries"]
    assert visits[0]["detail"] == {"patient_id": patient["id"]}
    assert all(PATIENT["code"] not in str(entry) for entry in client.get("/api/v1/audit").json["entries"])
