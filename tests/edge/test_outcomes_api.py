"""Outcomes through the API: clinicians record HRCT/PFT results, everything is validated and
audited, nurses read, admins neither; radiologist-confirmed hospital CT reports join the list;
only an HRCT read present/absent confirms an ILD status."""
import json

import pytest

from support import PATIENT, login
from edge.outcomes import (
    ILD_EXTENT_EXTENSION,
    ILD_PATTERN_SYSTEM,
    ILD_STATUS_SYSTEM,
    confirmed_outcomes,
    ct_report_outcome,
)

HRCT = {"date": "2024-03-05", "source": "hrct", "ild": "present", "pattern": "NSIP", "extent_percent": 12.5}


@pytest.fixture
def patient_id(client, nurse):
    return client.post("/api/v1/patients", json=PATIENT, headers=nurse).json["id"]


@pytest.fixture
def clinician(client, make_user, patient_id):
    make_user("clin1", "clinician")
    return login(client, "clin1")


def test_a_clinician_records_an_hrct_outcome_that_is_listed_confirmed_and_audited(client, clinician, patient_id, db):
    response = client.post(f"/api/v1/patients/{patient_id}/outcomes", json=HRCT, headers=clinician)
    assert response.status_code == 201, response.json
    created = response.json
    assert created["origin"] == "clinician" and created["confirmed"] is True and created["pattern"] == "NSIP"
    listed = client.get(f"/api/v1/patients/{patient_id}/outcomes").json["outcomes"]
    assert [item["id"] for item in listed] == [created["id"]]
    entry = db.execute("SELECT username, action, detail FROM audit_log WHERE entity = 'outcome'").fetchone()
    assert entry[0] == "clin1" and entry[1] == "create"
    assert json.loads(entry[2]) == {"patient_id": patient_id, "source": "hrct", "ild": "present"}
    assert PATIENT["code"] not in entry[2]


def test_pft_and_indeterminate_outcomes_are_kept_but_confirm_nothing(client, clinician, patient_id, db):
    for body in ({"date": "2024-01-10", "source": "pft", "ild": "present", "fvc_percent": 72, "dlco_percent": 55},
                 {"date": "2024-02-10", "source": "hrct", "ild": "indeterminate"}):
        assert client.post(f"/api/v1/patients/{patient_id}/outcomes", json=body, headers=clinician).status_code == 201
    listed = client.get(f"/api/v1/patients/{patient_id}/outcomes").json["outcomes"]
    assert [item["confirmed"] for item in listed] == [False, False]
    assert confirmed_outcomes(db, patient_id) == []


@pytest.mark.parametrize("change, field", [
    ({"date": "05/03/2024"}, "date"),
    ({"date": "2024-02-30"}, "date"),
    ({"date": "2024-W10-2"}, "date"),  # an ISO week date (of 2024-03-05) Python 3.11 reads; 3.10 and the API do not
    ({"date": "2999-01-01"}, "date"),
    ({"date": "1940-01-01"}, "date"),
    ({"source": "xray"}, "source"),
    ({"ild": "maybe"}, "ild"),
    ({"pattern": "honeycomb"}, "pattern"),
    ({"extent_percent": 140}, "extent_percent"),
    ({"fvc_percent": 80}, "fvc_percent"),
    ({"source": "pft", "pattern": None, "extent_percent": None, "dlco_percent": 2}, "dlco_percent"),
    ({"source": "pft", "extent_percent": None}, "pattern"),
    ({"surgeon": "x"}, "surgeon"),
])
def test_invalid_outcomes_are_refused_naming_the_field_and_nothing_is_stored(client, clinician, patient_id, db,
                                                                              change, field):
    response = client.post(f"/api/v1/patients/{patient_id}/outcomes", json={**HRCT, **change}, headers=clinician)
    assert response.status_code == 422, response.json
    assert field in [item["field"] for item in response.json["error"]["fields"]]
    assert db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 0


def test_missing_required_fields_and_unknown_patients_are_refused(client, clinician, patient_id):
    response = client.post(f"/api/v1/patients/{patient_id}/outcomes", json={"date": "2024-01-01"}, headers=clinician)
    assert response.status_code == 422
    assert {"source", "ild"} <= {item["field"] for item in response.json["error"]["fields"]}
    missing = client.post("/api/v1/patients/9999/outcomes", json=HRCT, headers=clinician)
    assert missing.status_code == 404 and "no patient with id 9999" in missing.json["error"]["message"]


def test_only_clinicians_record_nurses_read_admins_neither(app, client, nurse, patient_id, make_user, db):
    make_user("admin2", "admin")
    headers = login(client, "nurse1")
    refused = client.post(f"/api/v1/patients/{patient_id}/outcomes", json=HRCT, headers=headers)
    assert refused.status_code == 403 and "needs one of: clinician" in refused.json["error"]["message"]
    assert client.get(f"/api/v1/patients/{patient_id}/outcomes").status_code == 200
    headers = login(client, "admin2")
    assert client.post(f"/api/v1/patients/{patient_id}/outcomes", json=HRCT, headers=headers).status_code == 403
    assert client.get(f"/api/v1/patients/{patient_id}/outcomes").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get(f"/api/v1/patients/{patient_id}/outcomes").status_code == 401
    assert db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 0


def radiologist_report(status="final", ild="absent"):
    return {"referral_code": "R-1", "status": "reported", "metrics": {},
            "diagnostic_report": {
                "resourceType": "DiagnosticReport", "status": status, "effectiveDateTime": "2024-04-02T09:00:00Z",
                "conclusionCode": [{"coding": [{"system": ILD_STATUS_SYSTEM, "code": ild}]},
                                   {"coding": [{"system": ILD_PATTERN_SYSTEM, "code": "UIP"}]}],
                "extension": [{"url": ILD_EXTENT_EXTENSION, "valueDecimal": 20}]}}


def test_a_final_radiologist_read_is_an_outcome_and_the_automated_preliminary_report_is_not():
    assert ct_report_outcome(radiologist_report()) == {"date": "2024-04-02", "source": "hrct", "ild": "absent",
                                                       "pattern": "UIP", "extent_percent": 20.0}
    assert ct_report_outcome(radiologist_report(status="preliminary")) is None
    assert ct_report_outcome(radiologist_report(ild="probably")) is None


def test_hospital_ct_reads_join_the_patient_outcomes(client, clinician, nurse, patient_id, db):
    headers = login(client, "nurse1")
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=headers).json["id"]
    client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    referral = client.post(f"/api/v1/visits/{visit_id}/referrals", json={}, headers=headers).json
    for report in (radiologist_report(status="preliminary"), radiologist_report(ild="present")):
        db["imaging_results"].insert({"referral_id": referral["id"], "received_at": "2024-04-03T00:00:00Z",
                                      "metrics": "{}", "report": json.dumps(report)})
    db.conn.commit()
    listed = client.get(f"/api/v1/patients/{patient_id}/outcomes").json["outcomes"]
    assert [(item["origin"], item["ild"], item["referral_id"]) for item in listed] == [
        ("hospital", "present", referral["id"])]
    assert [item["ild"] for item in confirmed_outcomes(db, patient_id)] == ["present"]
