"""The idle lock never loses what the nurse typed (issue 36): the lock form carries the page's
typed, unsaved values; visit forms come back from the visit's draft, the patient form from its
session (shown once), after the PIN unlock and after the password login of a nurse without a
PIN. A typed value that cannot be kept never stops the lock. The visit draft endpoint refuses
bad input with a 4xx JSON naming the field."""
from __future__ import annotations

import json
import logging
import re

import pytest

from support import PASSWORD, birth_year_for_age, csrf_of, login, post_visit_status, shown_result_of, version_shown

# Ages, not years: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN, TYPED_BORN, BORN_EDITED = birth_year_for_age(76), birth_year_for_age(78), birth_year_for_age(75)  # 1950, 1948, 1951 in 2026

PIN = "4071"
TYPED_CODE = "CL36-TYPED"


def open_visit(client, csrf, **extra) -> tuple[int, int]:
    form = {"csrf_token": csrf, "code": "CL36-0001", "birth_year": str(BORN), "sex": "F", "ctd_diagnosis": "SSc",
            "smoking": "never", **extra}
    patient_id = int(client.post("/patients/new", data=form).headers["Location"].rsplit("/", 1)[1])
    visit = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf})
    return patient_id, int(visit.headers["Location"].rsplit("/", 1)[1])


def lock(client, csrf, next_path, typed) -> str:
    response = client.post("/lock", data={"csrf_token": csrf, "next": next_path,
                                          "typed": typed if isinstance(typed, str) else json.dumps(typed)})
    assert response.status_code == 302
    return response.headers["Location"]


def page_login(client, username="nurse1", next_path="/"):
    """The tablet's password login (the page, not the API): the way back after a lock without a PIN."""
    client.get(f"/login?next={next_path}")
    login_csrf = client.get_cookie("ildscreen_login_csrf").value
    response = client.post(f"/login?next={next_path}",
                           data={"csrf_token": login_csrf, "username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


PATIENT_TYPED = {"path": "/patients/new", "fields": {
    "code": [TYPED_CODE], "birth_year": [str(TYPED_BORN)], "sex": ["M"], "ctd_diagnosis": ["RA"],
    "autoantibodies": ["anti-SSA", "ANA"], "smoking": ["former"], "symptoms": ["dry_cough"], "medications": ["mtx"]}}


def assert_patient_form_refilled(page: str) -> None:
    assert 'id="patient-unsaved"' in page and 'data-unsaved="yes"' in page
    assert f'value="{TYPED_CODE}"' in page and f'value="{TYPED_BORN}"' in page and 'value="mtx"' in page
    assert re.search(r'value="M"\s+checked', page) and re.search(r'value="former"\s+checked', page)
    assert re.search(r'value="RA" selected', page) and re.search(r'value="ANA"\s+checked', page)


def test_with_a_pin_the_lung_function_referral_reason_and_patient_form_come_back_after_unlock(ui, db):
    client, csrf = ui
    client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, "pin": PIN,
                                      "repeat_pin": PIN, "action": "set"})
    _, visit_id = open_visit(client, csrf)
    typed = {"visit": {"id": str(visit_id), "fields": {"lung_fvc_percent": "72", "lung_dlco_percent": "",
                                                       "lung_dlco_not_performed": "1", "refer_reason": "sister has IPF"}},
             "patient_form": PATIENT_TYPED}
    assert lock(client, csrf, f"/visits/{visit_id}", typed) == f"/unlock?next=/visits/{visit_id}"
    assert client.get(f"/visits/{visit_id}").status_code == 302  # locked: nothing shows before the PIN
    assert client.post("/unlock", data={"csrf_token": csrf, "pin": PIN}).status_code == 302

    visit_page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    lung_form = visit_page.split('id="lung-form"')[1].split("</form>")[0]
    assert 'id="lung-unsaved"' in lung_form and 'name="fvc_percent" inputmode="decimal" value="72"' in lung_form
    assert re.search(r'name="dlco_not_performed" value="1"\s+checked', lung_form)
    assert TYPED_CODE not in visit_page  # the patient form's values stay with that form

    assert_patient_form_refilled(client.get("/patients/new").get_data(as_text=True))
    again = client.get("/patients/new").get_data(as_text=True)  # shown once: a reload is a fresh form
    assert TYPED_CODE not in again and 'id="patient-unsaved"' not in again

    saved = client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "72",
                                                                   "dlco_not_performed": "1"})
    assert saved.status_code == 302
    draft = json.loads(db.execute("SELECT draft FROM visits WHERE id = ?", [visit_id]).fetchone()[0])
    assert draft == {"refer_reason": "sister has IPF"}  # saved lung function forgets its typed copy
    assert 'id="lung-unsaved"' not in client.get(f"/visits/{visit_id}").get_data(as_text=True)


def test_without_a_pin_the_patient_form_comes_back_after_the_password_login_of_the_same_nurse(ui, make_user):
    client, csrf = ui
    target = lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    assert target == "/login?next=/patients/new&locked=1"  # no PIN: the session ended
    assert page_login(client, next_path="/patients/new") == "/patients/new"
    assert_patient_form_refilled(client.get("/patients/new").get_data(as_text=True))

    # Another nurse logging in after the lock never sees what the first one typed.
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    make_user("nurse2", "nurse")
    page_login(client, "nurse2", "/patients/new")
    assert TYPED_CODE not in client.get("/patients/new").get_data(as_text=True)


def test_logging_out_or_saving_drops_the_kept_patient_form(ui, db):
    client, csrf = ui
    client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, "pin": PIN,
                                      "repeat_pin": PIN, "action": "set"})
    lock(client, csrf, "/patients/new", {"patient_form": PATIENT_TYPED})
    client.post("/unlock", data={"csrf_token": csrf, "pin": PIN})
    client.post("/logout", data={"csrf_token": csrf})
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE form_draft IS NOT NULL").fetchone()[0] == 0
    page_login(client)
    assert TYPED_CODE not in client.get("/patients/new").get_data(as_text=True)

    csrf = csrf_of(client.get("/").get_data(as_text=True))
    lock(client, csrf, "/patients/new", {"patient_form": {"path": "/patients/new", "fields": {"code": [TYPED_CODE]}}})
    client.post("/unlock", data={"csrf_token": csrf, "pin": PIN})
    form = {"csrf_token": csrf, "code": TYPED_CODE, "birth_year": str(BORN), "sex": "F", "ctd_diagnosis": "SSc"}
    assert client.post("/patients/new", data=form).status_code == 302  # saved before the form was opened again
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE form_draft IS NOT NULL").fetchone()[0] == 0


def test_the_edit_form_opened_from_a_visit_returns_with_its_visit_and_saving_marks_symptoms_reviewed(ui, db):
    client, csrf = ui
    patient_id, visit_id = open_visit(client, csrf)
    edit = f"/patients/{patient_id}/edit"
    page = client.get(f"{edit}?visit={visit_id}").get_data(as_text=True)
    assert f'name="next" value="{edit}?visit={visit_id}"' in page  # the lock returns to this very page
    shown = version_shown(page)
    # Every field of the form, hidden ones included, as static/app.js sends them.
    typed = {"patient_form": {"path": edit, "fields": {"birth_year": [str(BORN_EDITED)], "symptoms": ["dry_cough"],
                                                       "visit": [str(visit_id)], "version": [shown]}}}
    assert lock(client, csrf, f"{edit}?visit={visit_id}", typed).startswith("/login?next=")
    page_login(client, next_path=edit)
    page = client.get(edit).get_data(as_text=True)  # even without the query, the kept visit comes back
    assert f'value="{BORN_EDITED}"' in page and re.search(r'value="dry_cough"\s+checked', page)
    assert f'name="visit" value="{visit_id}"' in page
    assert version_shown(page) == shown  # the save is still checked against the version first shown
    saved = client.post(edit, data={"csrf_token": csrf_of(page), "visit": str(visit_id), "birth_year": str(BORN_EDITED),
                                    "sex": "F", "ctd_diagnosis": "SSc", "symptoms": "dry_cough",
                                    "version": version_shown(page)})
    assert saved.headers["Location"] == f"/visits/{visit_id}#checklist"
    assert db.execute("SELECT symptoms_reviewed_at FROM visits WHERE id = ?", [visit_id]).fetchone()[0]


@pytest.mark.parametrize("typed", [
    "not json",
    "[1, 2]",
    {"visit": {"id": "abc", "fields": {"lung_fvc_percent": "72"}}},
    {"visit": {"id": "999", "fields": {"lung_fvc_percent": "72"}}},
    {"visit": {"id": "VISIT", "fields": {"lung_fvc_percent": {"nested": "72"}}}},
    {"patient_form": {"path": "/patients/../admin", "fields": {"code": [TYPED_CODE]}}},
    {"patient_form": {"path": "/patients/new", "fields": {"password": [TYPED_CODE]}}},
    {"patient_form": {"path": "/patients/new", "fields": {"code": TYPED_CODE}}},
    json.dumps({"patient_form": {"path": "/patients/new", "fields": {"medications": ["x" * 1999] * 17}}}),
])
def test_typed_values_that_cannot_be_kept_never_stop_the_lock(ui, db, typed, caplog):
    client, csrf = ui
    client.post("/account/pin", data={"csrf_token": csrf, "pin_password": PASSWORD, "pin": PIN,
                                      "repeat_pin": PIN, "action": "set"})
    _, visit_id = open_visit(client, csrf)
    if isinstance(typed, dict) and "visit" in typed and typed["visit"]["id"] == "VISIT":
        typed["visit"]["id"] = str(visit_id)
    caplog.set_level(logging.DEBUG)
    assert lock(client, csrf, "/patients/new", typed).startswith("/unlock")
    assert client.get("/").headers["Location"].startswith("/unlock")  # locked all the same
    assert db.execute("SELECT draft FROM visits WHERE id = ?", [visit_id]).fetchone()[0] == "{}"
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE form_draft IS NOT NULL").fetchone()[0] == 0
    logged = "\n".join(caplog.messages)  # the messages, not caplog.text: its "views.py:272" is no value
    assert TYPED_CODE not in logged and "72" not in logged


def test_the_largest_typed_values_the_page_may_send_still_pass_the_form_limit_and_lock(ui):
    client, csrf = ui
    page = client.get("/").get_data(as_text=True)
    limit = int(re.search(r'name="typed" value="" data-max="(\d+)"', page).group(1))
    chinese = json.dumps({"patient_form": {"path": "/patients/new", "fields": {"medications": ["甲" * (limit - 80)]}}},
                         ensure_ascii=False)
    assert limit - 100 < len(chinese) <= limit
    assert lock(client, csrf, "/patients/new", chinese).startswith("/login")  # not a 413: the lock went through


def test_a_closed_visit_keeps_nothing_and_the_lock_still_happens(ui, db):
    client, csrf = ui
    _, visit_id = open_visit(client, csrf)
    post_visit_status(client, csrf, visit_id, "close")
    typed = {"visit": {"id": str(visit_id), "fields": {"lung_fvc_percent": "72"}}, "patient_form": PATIENT_TYPED}
    assert lock(client, csrf, f"/visits/{visit_id}", typed).startswith("/login")
    assert db.execute("SELECT draft FROM visits WHERE id = ?", [visit_id]).fetchone()[0] == "{}"
    page_login(client, next_path="/patients/new")  # the patient form part was kept all the same
    assert TYPED_CODE in client.get("/patients/new").get_data(as_text=True)


def test_the_visit_draft_endpoint_names_what_it_refuses(ui, client, make_user):
    client, csrf = ui
    headers = {"X-CSRF-Token": csrf}
    _, visit_id = open_visit(client, csrf)
    nested = client.post(f"/visits/{visit_id}/draft", json={"draft": {"lung_fvc_percent": {"a": 1}}}, headers=headers)
    assert nested.status_code == 422 and nested.json["error"]["fields"] == [
        {"field": "lung_fvc_percent", "reason": "not a short text"}]
    long = client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": "x" * 2001}}, headers=headers)
    assert long.status_code == 422 and long.json["error"]["fields"][0]["field"] == "notes"
    many = client.post(f"/visits/{visit_id}/draft", json={"draft": {f"k{i}": "" for i in range(201)}}, headers=headers)
    assert many.status_code == 422 and "at most 200" in many.json["error"]["message"]
    assert client.post("/visits/999/draft", json={"draft": {"notes": "x"}}, headers=headers).status_code == 404
    post_visit_status(client, csrf, visit_id, "finish")
    closed = client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": "x"}}, headers=headers)
    assert closed.status_code == 409 and closed.json["error"]["code"] == "visit_closed"

    make_user("admin2", "admin")  # not a clinical account: no visit's draft
    admin_headers = login(client, "admin2")
    refused = client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": "x"}}, headers=admin_headers)
    assert refused.status_code == 403


def test_a_referral_reason_typed_before_the_lock_comes_back_and_is_forgotten_once_referred(ui, db):
    client, csrf = ui
    _, visit_id = open_visit(client, csrf, birth_year=str(birth_year_for_age(70)), ctd_diagnosis="SLE")  # low risk: no HRCT advice
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    assert 'id="refer-warning"' in client.get(f"/visits/{visit_id}").get_data(as_text=True)  # a reason is asked
    typed = {"visit": {"id": str(visit_id), "fields": {"refer_reason": "sister has IPF"}}}
    lock(client, csrf, f"/visits/{visit_id}", typed)
    page_login(client, next_path=f"/visits/{visit_id}")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="refer-unsaved"' in page and re.search(r'id="refer-reason"[^>]*>sister has IPF</textarea>', page)
    referred = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf_of(page), "reason": "sister has IPF",
                                                              "assessment_id": shown_result_of(page)})
    assert referred.status_code == 302 and "refer_error" not in referred.headers["Location"]
    assert db.execute("SELECT draft FROM visits WHERE id = ?", [visit_id]).fetchone()[0] == "{}"
