"""A never-smoker has no pack-years (brief h133): ``smoking: "never"`` with ``pack_years`` above 0 contradicts itself
(edge.patients.check_smoking; edge.vocabulary.SMOKING_WITH_PACK_YEARS). The API refuses it with a 422 naming both
fields, nothing stored, whether both are sent or an edit sends one against the other as stored; former and current
smokers keep their pack-years, and a never-smoker's may be empty or 0. The tablet's patient form asks for pack-years
and says what to correct, in English and Chinese. A record stored before the rule is not rewritten: an edit of its
other fields is saved as before, and one of its smoking or pack-years must resolve the two."""
from __future__ import annotations

import re

import pytest
from markupsafe import escape

from edge.web.i18n import CATALOG, translate
from support import PATIENT, version_shown

NEVER_WITH_PACK_YEARS = {**PATIENT, "smoking": "never", "pack_years": 10}


def refused_fields(response) -> list[str]:
    assert response.status_code == 422, response.json
    return [item["field"] for item in response.json["error"]["fields"]]


def test_registering_a_never_smoker_with_pack_years_is_refused_naming_both_fields(client, nurse, db):
    response = client.post("/api/v1/patients", json=NEVER_WITH_PACK_YEARS, headers=nurse)
    assert refused_fields(response) == ["smoking", "pack_years"]
    assert "pack-years are for former or current smokers" in response.json["error"]["message"]
    assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 0  # nothing stored


@pytest.mark.parametrize("smoking, pack_years", [("former", 10), ("current", 0.5), ("current", 200), ("never", 0),
                                                 ("never", None), ("former", None)])
def test_each_smoking_state_takes_the_pack_years_it_can_have(client, nurse, smoking, pack_years):
    response = client.post("/api/v1/patients", json={**PATIENT, "smoking": smoking, "pack_years": pack_years},
                           headers=nurse)
    assert response.status_code == 201, response.json
    assert (response.json["smoking"], response.json["pack_years"]) == (smoking, pack_years)


def test_an_edit_is_checked_against_the_field_it_does_not_send(client, nurse, db):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json  # former, 10 pack-years
    url = f"/api/v1/patients/{patient['id']}"
    refused = client.patch(url, json={"smoking": "never", "version": patient["version"]}, headers=nurse)
    assert refused_fields(refused) == ["smoking", "pack_years"]
    assert "pack_years as stored" in refused.json["error"]["message"]
    assert client.get(url, headers=nurse).json == patient  # nothing saved, not even the version
    both = client.patch(url, json={"smoking": "never", "pack_years": None, "version": patient["version"]},
                        headers=nurse)
    assert both.status_code == 200 and (both.json["smoking"], both.json["pack_years"]) == ("never", None)
    again = client.patch(url, json={"pack_years": 5, "version": both.json["version"]}, headers=nurse)
    assert refused_fields(again) == ["smoking", "pack_years"] and "smoking as stored" in again.json["error"]["message"]


def test_a_record_stored_before_the_rule_is_kept_and_an_edit_of_its_smoking_must_resolve_it(client, nurse, db):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    db.execute("UPDATE patients SET smoking = 'never' WHERE id = ?", [patient["id"]])  # as an older version stored
    db.conn.commit()
    url = f"/api/v1/patients/{patient['id']}"
    stored = client.get(url, headers=nurse).json
    assert (stored["smoking"], stored["pack_years"]) == ("never", 10)  # read as stored, not rewritten
    symptoms = client.patch(url, json={"symptoms": ["fatigue"], "version": stored["version"]}, headers=nurse)
    assert symptoms.status_code == 200 and (symptoms.json["smoking"], symptoms.json["pack_years"]) == ("never", 10)
    same = client.patch(url, json={"smoking": "never", "version": symptoms.json["version"]}, headers=nurse)
    assert refused_fields(same) == ["smoking", "pack_years"]
    former = client.patch(url, json={"smoking": "former", "version": symptoms.json["version"]}, headers=nurse)
    assert former.status_code == 200 and (former.json["smoking"], former.json["pack_years"]) == ("former", 10)


FORM = {"code": "CL133-001", "birth_year": str(PATIENT["birth_year"]), "sex": "F", "ctd_diagnosis": "SSc"}


def pack_years_error(page: str) -> str:
    found = re.search(r'<span class="field-error" role="alert" id="error-pack_years">(.*?)</span>', page, re.S)
    return found.group(1) if found else ""


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_form_refuses_a_never_smoker_with_pack_years_saying_what_to_correct(ui, db, lang):
    client, csrf = ui
    client.set_cookie("lang", lang)
    refused = client.post("/patients/new", data={"csrf_token": csrf, **FORM, "smoking": "never", "pack_years": "10"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    message = translate("err_pack_years_never", lang, former=CATALOG["smoking_former"][lang],
                        current=CATALOG["smoking_current"][lang])
    assert pack_years_error(page) == str(escape(message))
    assert CATALOG["smoking_former"][lang] in message and CATALOG["smoking_current"][lang] in message
    assert 'name="pack_years" inputmode="decimal" value="10"' in page  # what was typed is kept
    assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 0
    saved = client.post("/patients/new", data={"csrf_token": csrf, **FORM, "smoking": "former", "pack_years": "10"})
    assert saved.status_code == 302
    assert db.execute("SELECT smoking, pack_years FROM patients").fetchone() == ("former", 10)


def test_the_edit_form_shows_a_stored_contradiction_and_saves_once_resolved(ui, db):
    client, csrf = ui
    client.set_cookie("lang", "en")
    location = client.post("/patients/new", data={"csrf_token": csrf, **FORM, "smoking": "former",
                                                  "pack_years": "12.5"}).headers["Location"]
    patient_id = int(location.rsplit("/", 1)[1])
    db.execute("UPDATE patients SET smoking = 'never' WHERE id = ?", [patient_id])  # as an older version stored
    db.conn.commit()
    edit = f"/patients/{patient_id}/edit"
    page = client.get(edit).get_data(as_text=True)
    assert 'name="pack_years" inputmode="decimal" value="12.5"' in page and re.search(r'value="never"\s+checked', page)
    form = {"csrf_token": csrf, **FORM, "smoking": "never", "version": version_shown(page)}
    refused = client.post(edit, data={**form, "pack_years": "12.5"})
    assert refused.status_code == 422 and pack_years_error(refused.get_data(as_text=True))
    assert db.execute("SELECT smoking, pack_years FROM patients").fetchone() == ("never", 12.5)
    cleared = client.post(edit, data={**form, "pack_years": ""})  # an emptied input clears them: not known
    assert cleared.status_code == 302
    assert db.execute("SELECT smoking, pack_years FROM patients").fetchone() == ("never", None)
