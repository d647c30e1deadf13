"""An edit of a patient's details never overwrites a newer edit unseen (brief h68, point 3): the
tablet's form carries the record version it showed and a stale tab's save is refused, showing the
details saved meanwhile and keeping what was typed; the API's PATCH does the same with the ``version``
the client read, and refuses an edit that names none (brief h74)."""
from __future__ import annotations

import re

from markupsafe import escape

from edge import patients
from edge.web.i18n import CATALOG
from support import PATIENT, birth_year_for_age, version_shown

# Ages, not years: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN, BORN_EDITED = birth_year_for_age(76), birth_year_for_age(75)  # 1950 and 1951 when written (2026)

FORM = {"birth_year": str(BORN), "sex": "F", "ctd_diagnosis": "SSc", "smoking": "never"}


def test_a_stale_tab_does_not_overwrite_a_newer_edit(ui, db):
    client, csrf = ui
    client.set_cookie("lang", "en")
    location = client.post("/patients/new", data={"csrf_token": csrf, "code": "CL68-0001", **FORM}).headers["Location"]
    patient_id = int(location.rsplit("/", 1)[1])
    edit = f"/patients/{patient_id}/edit"
    stale_tab = version_shown(client.get(edit).get_data(as_text=True))
    fresh_tab = version_shown(client.get(edit).get_data(as_text=True))
    saved = client.post(edit, data={"csrf_token": csrf, **FORM, "version": fresh_tab, "symptoms": ["dry_cough"],
                                    "autoantibodies": ["anti-Scl-70"]})
    assert saved.status_code == 302
    refused = client.post(edit, data={"csrf_token": csrf, **FORM, "version": stale_tab, "birth_year": str(BORN_EDITED),
                                      "smoking": "former"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert str(escape(CATALOG["err_patient_edited"]["en"])) in page
    shown = re.search(r'id="patient-edited">(.*?)</div>', page, re.S).group(1)
    assert CATALOG["symptom_dry_cough"]["en"] in shown  # the newer edit is shown
    assert f'value="{BORN_EDITED}"' in page and re.search(r'value="former"\s+checked', page)  # what was typed is kept
    row = db.execute("SELECT birth_year, smoking, symptoms FROM patients WHERE id = ?", [patient_id]).fetchone()
    assert row == (BORN, "never", '["dry_cough"]')  # nothing overwritten
    # The refused form now names the version it showed: saving again is the nurse's choice, and goes.
    again = client.post(edit, data={"csrf_token": csrf, **FORM, "version": version_shown(page),
                                     "birth_year": str(BORN_EDITED), "symptoms": ["dry_cough"]})
    assert again.status_code == 302
    assert db.execute("SELECT birth_year FROM patients WHERE id = ?", [patient_id]).fetchone()[0] == BORN_EDITED


def test_the_api_refuses_a_patch_against_an_older_version(client, nurse, db):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    read = patient["version"]
    first = client.patch(f"/api/v1/patients/{patient['id']}", json={"smoking": "current", "version": read},
                         headers=nurse)
    assert first.status_code == 200 and first.json["version"] > read
    stale = client.patch(f"/api/v1/patients/{patient['id']}", json={"smoking": "never", "version": read},
                         headers=nurse)
    assert stale.status_code == 409
    assert stale.json["error"]["code"] == "edit_conflict"
    assert stale.json["error"]["current_version"] == first.json["version"]
    assert client.get(f"/api/v1/patients/{patient['id']}", headers=nurse).json["smoking"] == "current"


def test_the_api_refuses_a_patch_without_a_version_naming_it_and_saves_nothing(client, nurse, db):
    """Brief h74: a PATCH that names no version could overwrite an edit saved since, unseen, as the
    tablet's form without one could (h71): refused with 422 naming `version`, nothing stored or audited."""
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    url = f"/api/v1/patients/{patient['id']}"
    stored, trail = db.execute("SELECT * FROM patients").fetchall(), db.execute("SELECT * FROM audit_log").fetchall()
    for body in ({"smoking": "former"}, {}, {"symptoms": ["dry_cough"], "pack_years": None}):
        refused = client.patch(url, json=body, headers=nurse)
        assert refused.status_code == 422, body
        assert refused.json["error"]["code"] == "validation_error"
        assert [field["field"] for field in refused.json["error"]["fields"]] == ["version"]
        assert "version" in refused.json["error"]["message"]
    assert db.execute("SELECT * FROM patients").fetchall() == stored
    assert db.execute("SELECT * FROM audit_log").fetchall() == trail
    # The same edit naming the version it read is saved.
    saved = client.patch(url, json={"smoking": "former", "version": patient["version"]}, headers=nurse)
    assert saved.status_code == 200 and saved.json["smoking"] == "former"


def test_the_document_says_version_is_required(client):
    schema = client.get("/api/v1/openapi.json").json["components"]["schemas"]["PatientUpdate"]
    assert "version" in schema["required"]


def test_a_version_that_is_not_a_number_is_refused_by_name(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    for bad in ("x", -1, None):
        response = client.patch(f"/api/v1/patients/{patient['id']}", json={"smoking": "never", "version": bad},
                                headers=nurse)
        assert response.status_code == 422
        assert [field["field"] for field in response.json["error"]["fields"]] == ["version"]


def test_a_tablet_edit_without_the_version_is_refused_and_nothing_is_stored(ui, db):
    """Brief h71: the tablet's form always names the version it showed; a post without it (a page
    cached before versions existed, a hand-made post) could overwrite an edit unseen. It is refused
    (409), nothing is stored, and the form comes back with the patient as saved and its version."""
    client, csrf = ui
    client.set_cookie("lang", "en")
    location = client.post("/patients/new", data={"csrf_token": csrf, "code": "CL71-0001", **FORM}).headers["Location"]
    patient_id = int(location.rsplit("/", 1)[1])
    visit = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf}).headers["Location"]
    visit_id = int(visit.rsplit("/", 1)[1])
    edit = f"/patients/{patient_id}/edit?visit={visit_id}"
    saved_version = patients.get_patient(db, patient_id)["version"]
    trail = db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    for version in ({}, {"version": ""}, {"version": "  "}):
        refused = client.post(edit, data={"csrf_token": csrf, **FORM, "birth_year": str(BORN_EDITED), "smoking": "former",
                                          "symptoms": ["dry_cough"], **version})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 409
        assert str(escape(CATALOG["err_patient_form_out_of_date"]["en"])) in page
        assert 'id="patient-form-out-of-date"' in page
        assert f'value="{BORN}"' in page and re.search(r'value="never"\s+checked', page)  # the patient as saved
        assert version_shown(page) == str(saved_version)
        assert f'name="visit" value="{visit_id}"' in page  # still the visit's form
    row = db.execute("SELECT birth_year, smoking, symptoms FROM patients WHERE id = ?", [patient_id]).fetchone()
    assert row == (BORN, "never", "[]")
    assert db.execute("SELECT symptoms_reviewed_at FROM visits WHERE id = ?", [visit_id]).fetchone()[0] is None
    assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == trail  # nothing written, not even a review
    # The form as it came back saves (with the version it now carries).
    saved = client.post(edit, data={"csrf_token": csrf, **FORM, "birth_year": str(BORN_EDITED), "version": version_shown(page)})
    assert saved.status_code == 302
    assert db.execute("SELECT birth_year FROM patients WHERE id = ?", [patient_id]).fetchone()[0] == BORN_EDITED

