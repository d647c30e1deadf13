"""A closed visit's result is its record (brief h110, point 1): once a visit is completed or cancelled, nothing
calculates its result again (edge.patients.require_open_visit, the one rule the API's assessments and
the tablet's Calculate pass), nor scores its takes or readings for one. The API answers 409 ``visit_closed``, the
tablet its page (409) saying so in the nurse's language, and the stored result stays as it was. Nothing reopens a
visit: a new result is a new visit's. The closed visit's page offers no Calculate, and a result out of date says
so with what changed and what gives a current one (a new visit), never "Calculate again".

The real flow: the app on a data folder's SQLite file, the nurse's API session and tablet pages.
"""
from __future__ import annotations

import io
import json
import re

import pytest
from markupsafe import escape

from edge import audit, screening
from edge.errors import VisitClosed
from edge.web.i18n import CATALOG, join_list
from support import PATIENT, csrf_of, login, patch_visit
from test_breath_api import breath_csv


def new_visit(client, headers, *, breath=False) -> int:
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]
    labs = client.post(f"/api/v1/visits/{visit_id}/labs", headers=headers,
                       json={"results": [{"analyte": "crp", "value": 4, "unit": "mg/L"}]})
    assert labs.status_code == 201, labs.json
    if breath:
        response = client.post(f"/api/v1/visits/{visit_id}/breath", headers=headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(breath_csv().encode()), "reading.csv")})
        assert response.status_code == 201, response.json
    return visit_id


def assess(client, headers, visit_id: int):
    return client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)


def closed(client, headers, visit_id: int, status: str = "completed") -> None:
    response = patch_visit(client, visit_id, {"status": status}, headers)
    assert response.status_code == 200 and response.json["status"] == status, response.json


def stored(db) -> dict:
    """What a refused Calculate must leave as it was: every result, breath reading, take and write in the trail."""
    return {table: db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in ("risk_assessments", "breath_readings", "recordings", "audit_log")}


def assert_nothing_stored(db, before: dict) -> None:
    after = stored(db)
    for table in ("risk_assessments", "breath_readings", "recordings"):
        assert after[table] == before[table], table
    audit_columns = [row[1] for row in db.execute("PRAGMA table_info(audit_log)").fetchall()]
    action = audit_columns.index("action")
    assert ([row for row in after["audit_log"] if row[action] != "read"]
            == [row for row in before["audit_log"] if row[action] != "read"])


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_the_api_refuses_to_calculate_a_closed_visit_again_naming_it(client, nurse, db, status):
    visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id)
    assert first.status_code == 201, first.json
    closed(client, nurse, visit_id, status)
    before = stored(db)

    refused = assess(client, nurse, visit_id)

    assert refused.status_code == 409, refused.json
    error = refused.json["error"]
    assert error["code"] == "visit_closed"
    assert f"visit {visit_id} is {status}" in error["message"] and "start a new visit" in error["message"]
    assert_nothing_stored(db, before)
    listed = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=nurse).json["assessments"]
    assert [(item["id"], item["probability"]) for item in listed] == [(first.json["id"], first.json["probability"])]


def test_a_closed_visit_never_assessed_gets_no_first_result(client, nurse, db):
    visit_id = new_visit(client, nurse)
    closed(client, nurse, visit_id, "cancelled")
    refused = assess(client, nurse, visit_id)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "visit_closed", refused.json
    assert db.execute("SELECT COUNT(*) FROM risk_assessments").fetchone() == (0,)


def test_nothing_of_a_closed_visit_is_scored_for_a_refused_calculate(client, nurse, db):
    """A reading kept unscored (read while the breath model was unavailable) would get its first score before
    the visit is assessed: on a closed visit the rule comes first, so it stays as it was recorded."""
    visit_id = new_visit(client, nurse, breath=True)
    db.execute("UPDATE breath_readings SET probability = NULL, model_version = NULL")
    db.conn.commit()
    closed(client, nurse, visit_id)
    before = stored(db)
    assert assess(client, nurse, visit_id).status_code == 409
    assert_nothing_stored(db, before)
    assert db.execute("SELECT probability, model_version FROM breath_readings").fetchall() == [(None, None)]


def test_a_visit_closed_while_it_is_calculated_stores_no_result(client, nurse, db, app):
    """Another tab finishes the visit while its evidence is read: the result is not stored (the rule is checked
    again in the transaction that would store it)."""
    visit_id = new_visit(client, nurse)

    def closes_the_visit(db_, visit_id_, picture, options):
        db.execute("UPDATE visits SET status = 'completed' WHERE id = ?", [visit_id])
        db.conn.commit()

    settings = app.extensions["ildscreen"].settings
    with pytest.raises(VisitClosed, match=f"visit {visit_id} is completed"):
        screening.assess_visit(db, audit.CLI_OPERATOR, visit_id, thresholds=settings.triage_thresholds,
                               scorers={"labs": closes_the_visit})
    assert db.execute("SELECT COUNT(*) FROM risk_assessments").fetchone() == (0,)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_tablet_offers_no_calculate_on_a_closed_visit_and_refuses_a_page_shown_before(ui, nurse, db, lang):
    client, csrf = ui
    client.set_cookie("lang", lang)
    visit_id = new_visit(client, nurse)
    assert client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf}).status_code == 302
    shown_open = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="assess-button"' in shown_open and 'id="closed-result-out-of-date"' not in shown_open
    closed(client, nurse, visit_id)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="assess-button"' not in page and 'id="visit-closed"' in page
    assert 'id="closed-result-out-of-date"' not in page  # current: nothing to say
    before = stored(db)

    refused = client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf_of(shown_open)})

    answer = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert (f'<p class="field-error" role="alert" id="assess-error">'
            f'{escape(CATALOG["err_assess_visit_closed"][lang])}</p>') in answer
    assert 'id="assess-button"' not in answer and 'id="assessment"' in answer  # the result, as it was
    assert_nothing_stored(db, before)


def hrct_outcome(client, make_user, patient_id: int) -> None:
    make_user("doctor1", "clinician")
    doctor = login(client, "doctor1")
    response = client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=doctor,
                           json={"date": "2026-01-15", "source": "hrct", "ild": "absent"})
    assert response.status_code == 201, response.json


def closed_line(page: str) -> str:
    found = re.search(r'id="closed-result-out-of-date">([^<]+)<', page)
    return found.group(1) if found else ""


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_closed_visits_result_out_of_date_says_so_and_what_gives_a_current_one(client, nurse, app, db, make_user,
                                                                                 monkeypatch, lang):
    """An HRCT outcome recorded and a programme setting changed after the visit closed: its page says the result
    is out of date, naming both, and that a new visit gives a current one; it invites no Calculate."""
    headers = nurse
    visit_id = new_visit(client, headers)
    assert assess(client, headers, visit_id).status_code == 201
    closed(client, headers, visit_id)
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=headers).json["patient_id"]
    hrct_outcome(client, make_user, patient_id)
    client = app.test_client()  # the nurse's tablet again (the clinician signed in on the other)
    headers = login(client, "nurse1")
    settings = app.extensions["ildscreen"].settings
    monkeypatch.setattr(settings, "triage_high", settings.triage_high + 0.05)
    client.set_cookie("lang", lang)

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)

    changes = join_list([CATALOG["changed_outcomes"][lang], CATALOG["changed_settings"][lang]], lang)
    assert closed_line(page) == str(escape(CATALOG["closed_result_out_of_date"][lang].format(changes=changes)))
    assert CATALOG["assess_again"][lang] not in page and 'id="assess-button"' not in page
    for open_only in ("result-out-of-date", "settings-changed", "refer-needs-current"):
        assert f'id="{open_only}"' not in page
    # The API says the same of it, and a referral of it asks for a new visit, not for a Calculate it refuses.
    verdict = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=headers).json["assessments"][-1]
    assert (verdict["freshness"]["changed"], verdict["freshness"]["settings_changed"]) == (
        ["outcomes"], ["thresholds.high"])
    refused = client.post(f"/api/v1/visits/{visit_id}/referrals", headers=headers, json={"reason": "new cough"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "result_out_of_date", refused.json
    message = refused.json["error"]["message"]
    assert "the visit is completed: start a new visit of the patient and assess it before referring" in message
    assert "assess the visit again" not in message


def test_every_change_a_closed_result_can_name_has_words_in_both_languages():
    from edge.freshness import CHANGE_KINDS, MODEL_CHANGES

    for lang in ("en", "zh-CN"):
        for key in ("changed_settings", *(f"changed_{kind}" for kind in CHANGE_KINDS),
                    *(f"changed_model_{name}" for name in MODEL_CHANGES)):
            assert CATALOG[key][lang].strip(), (key, lang)


def test_a_new_visit_of_the_patient_is_calculated(client, nurse, db):
    """What the refusal points to works: the closed visit's result stays, the new visit gets its own."""
    visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id).json
    closed(client, nurse, visit_id)
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=nurse).json["patient_id"]
    new = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=nurse).json["id"]
    again = assess(client, nurse, new)
    assert again.status_code == 201, again.json
    rows = db.execute("SELECT id, visit_id, result FROM risk_assessments ORDER BY id").fetchall()
    assert [(row[0], row[1]) for row in rows] == [(first["id"], visit_id), (again.json["id"], new)]
    assert json.loads(rows[0][2])["probability"] == first["probability"]


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_a_closed_visits_notes_are_shown_read_only(ui, nurse, db, status):
    """Brief h114, point 2: the notes are kept in the visit's draft as typed; once the visit is closed its page
    shows them as text, with no field to type in or autosave from (each edit would only be refused)."""
    client, csrf = ui
    visit_id = new_visit(client, nurse)
    typed = "walks slowly\n<b>dry cough</b>"
    assert client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": typed}},
                       headers={"X-CSRF-Token": csrf}).status_code == 200
    assert 'data-draft="notes"' in client.get(f"/visits/{visit_id}").get_data(as_text=True)
    closed(client, nurse, visit_id, status)

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)

    assert 'name="notes"' not in page and "data-draft=" not in page
    assert f'<span class="notes">{escape(typed)}</span>' in page
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=nurse).json["patient_id"]
    empty = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=nurse).json["id"]
    closed(client, nurse, empty, status)
    assert 'id="visit-notes"' not in client.get(f"/visits/{empty}").get_data(as_text=True)  # none typed: nothing
