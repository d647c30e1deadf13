"""Every read of a clinical record is audited, by whichever client and route (issue 15: an admin
could mint a nurse's token and read records unaudited; reads were never in the trail)."""
from edge import audit
from edge.auth import create_api_token
from support import PATIENT, login


def reads(db) -> list[dict]:
    return [entry for entry in audit.list_entries(db, limit=1000) if entry["action"] == "read"]


def test_api_reads_by_session_and_by_token_are_audited_with_route_and_record_id(app, client, nurse, db, make_user):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    assert reads(db) == []
    assert client.get(f"/api/v1/patients/{patient['id']}").status_code == 200
    assert client.get(f"/api/v1/visits/{visit['id']}/recordings").status_code == 200
    user = make_user("importer", "clinician")
    _, token = create_api_token(db, audit.CLI_OPERATOR, user["id"], "script")
    listing = app.test_client().post("/api/v1/patients/search", json={"code": "CL01"},
                                     headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200
    newest_first = reads(db)
    assert [(entry["username"], entry["entity"], entry["entity_id"], entry["detail"]["route"])
            for entry in reversed(newest_first)] == [
        ("nurse1", "patient", str(patient["id"]), "/api/v1/patients/<int:patient_id>"),
        ("nurse1", "visit", str(visit["id"]), "/api/v1/visits/<int:visit_id>/recordings"),
        ("importer", "record_list", None, "/api/v1/patients/search"),
    ]
    assert all("CL01" not in str(entry) for entry in newest_first)  # never the code searched for


def test_tablet_page_reads_are_audited_too(client, nurse, db):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    assert client.get(f"/patients/{patient['id']}").status_code == 200
    assert [(entry["entity"], entry["entity_id"]) for entry in reads(db)] == [("patient", str(patient["id"]))]


def test_refused_reads_and_reads_without_clinical_data_leave_no_read_entry(app, client, nurse, admin, db):
    nurse_client = app.test_client()
    login(nurse_client, "nurse1")
    assert nurse_client.get("/api/v1/patients/999").status_code == 404
    assert nurse_client.get("/api/v1/auth/me").status_code == 200
    assert client.get("/api/v1/users").status_code == 200  # the admin's session (client's latest login)
    assert client.get("/api/v1/patients").status_code == 403
    assert reads(db) == []


def test_the_tablet_patient_search_is_audited_without_the_code(client, nurse, db):
    """Issue 26: the tablet's search (a POST to / so the code stays out of URLs) was not audited."""
    client.post("/api/v1/patients", json=PATIENT, headers=nurse)
    before = len(reads(db))
    posted = client.post("/", data={"code": PATIENT["code"][:4], "csrf_token": nurse["X-CSRF-Token"]})
    assert posted.status_code == 302  # POST-redirect-GET (issue 27): the GET reads, and is audited once
    response = client.get(posted.headers["Location"])
    assert response.status_code == 200 and PATIENT["code"] in response.get_data(as_text=True)
    new = reads(db)[: len(reads(db)) - before]
    assert [(entry["username"], entry["entity"], entry["detail"]["route"]) for entry in new] == [
        ("nurse1", "record_list", "/")]
    assert PATIENT["code"][:4] not in str(new)
