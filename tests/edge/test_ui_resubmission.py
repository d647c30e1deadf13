"""A form sent twice from the tablet (a double tap, or Back and send again) never makes a second
patient, visit, lab panel or recording silently: the second post lands where the first did and says
so. A save the server refuses keeps what the nurse typed (brief h33, the tablet's safety, point 4).
The browser's own guard against a double tap is in tests/e2e/test_tablet_resubmission.py."""
from __future__ import annotations

import io
import json
import re

import pytest
from markupsafe import escape

from edge.web.i18n import CATALOG
from support import birth_year_for_age, csrf_of, post_visit_status, shown_result_of, wav_bytes

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN = birth_year_for_age(76)  # 1950 when written (2026)

FORM = {"code": "CL33-0101", "birth_year": str(BORN), "sex": "F", "ctd_diagnosis": "SSc", "smoking": "never"}


@pytest.fixture
def ui(client, nurse):
    client.set_cookie("lang", "en")
    return client, csrf_of(client.get("/").get_data(as_text=True))


def count(db, table: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_the_registration_sent_twice_makes_one_patient_and_says_so(ui, db):
    client, csrf = ui
    first = client.post("/patients/new", data={"csrf_token": csrf, **FORM})
    again = client.post("/patients/new", data={"csrf_token": csrf, **FORM})
    assert first.status_code == again.status_code == 302 and count(db, "patients") == 1
    assert again.headers["Location"].split("?")[0] == first.headers["Location"]
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert CATALOG["already_registered"]["en"] in page
    # Another person under a code already taken is a real clash: the form says so and keeps the values.
    clash = client.post("/patients/new", data={"csrf_token": csrf, **FORM, "birth_year": "1962"})
    text = clash.get_data(as_text=True)
    assert clash.status_code == 422 and CATALOG["err_duplicate_code"]["en"] in text and 'value="1962"' in text
    assert count(db, "patients") == 1


def register_and_start(client, csrf) -> tuple[int, int]:
    patient_id = int(client.post("/patients/new", data={"csrf_token": csrf, **FORM}).headers["Location"]
                     .rsplit("/", 1)[1])
    response = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf})
    return patient_id, int(response.headers["Location"].split("?")[0].rsplit("/", 1)[1])


def test_start_visit_sent_twice_continues_the_open_visit_of_today(ui, db):
    client, csrf = ui
    patient_id, visit_id = register_and_start(client, csrf)
    again = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf})
    assert again.status_code == 302 and again.headers["Location"].startswith(f"/visits/{visit_id}?")
    assert count(db, "visits") == 1
    assert str(escape(CATALOG["visit_continued"]["en"])) in client.get(again.headers["Location"]).get_data(as_text=True)
    # Once the visit is finished, a new one is a new visit.
    post_visit_status(client, csrf, visit_id, "finish")
    new = client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf})
    assert count(db, "visits") == 2 and "continued" not in new.headers["Location"]



def test_a_take_sent_twice_from_the_page_is_stored_once_and_lands_on_the_first(ui, db):
    """A re-send after a timeout (the browser's double-tap guard cannot see it): the form comes back
    to the take already stored and says so, and the microphone's script gets its id with 200."""
    client, csrf = ui
    _, visit_id = register_and_start(client, csrf)
    take = wav_bytes(seconds=2)

    def send(headers=None):
        return client.post(f"/visits/{visit_id}/recordings", headers=headers, content_type="multipart/form-data",
                           data={"csrf_token": csrf, "chest_site": "trachea", "file": (io.BytesIO(take), "t.wav")})

    first, again = send(), send()
    assert first.status_code == again.status_code == 302 and "take_saved" not in first.headers["Location"]
    assert again.headers["Location"].split("?")[0] == first.headers["Location"].split("?")[0]
    take_id = re.search(r"take=(\d+)", first.headers["Location"]).group(1)
    assert f"take={take_id}" in again.headers["Location"] and "take_saved=already" in again.headers["Location"]
    assert CATALOG["take_already_saved"]["en"] in client.get(again.headers["Location"]).get_data(as_text=True)
    assert CATALOG["take_already_saved"]["en"] not in client.get(first.headers["Location"]).get_data(as_text=True)
    scripted = send({"X-CSRF-Token": csrf, "X-Requested-With": "fetch"})
    assert scripted.status_code == 200 and str(scripted.json["id"]) == take_id
    assert count(db, "recordings") == 1


LABS = {"lab_crp": "4", "unit_crp": "mg/L", "lab_hgb": "12.1", "unit_hgb": "g/dL"}


def test_the_lab_form_sent_twice_stores_each_result_once_and_a_correction_still_counts(ui, db):
    client, csrf = ui
    _, visit_id = register_and_start(client, csrf)
    first = client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, **LABS})
    assert "labs_saved" not in first.headers["Location"] and count(db, "lab_results") == 2
    again = client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, **LABS})
    assert count(db, "lab_results") == 2
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert CATALOG["labs_already_saved"]["en"] in page
    assert page.split('id="lab-results"', 1)[1].count("<tr") == 3  # header and two results, once each
    corrected = client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, **LABS, "lab_crp": "5"})
    assert "labs_saved" not in corrected.headers["Location"]
    rows = db.execute("SELECT analyte, value FROM lab_results ORDER BY id").fetchall()
    assert sorted(rows[:2]) == [("crp", 4.0), ("hgb", 12.1)] and rows[2:] == [("crp", 5.0)]  # the new CRP only


def test_a_lab_file_imported_twice_stores_its_results_once(ui, db):
    client, csrf = ui
    _, visit_id = register_and_start(client, csrf)
    csv = b"analyte,value,unit\n1988-5,4,mg/L\n718-7,12.1,g/dL\n"
    for _ in range(2):
        response = client.post(f"/visits/{visit_id}/labs/file", data={
            "csrf_token": csrf, "file": (io.BytesIO(csv), "labs.csv")}, content_type="multipart/form-data")
        assert response.status_code == 302 and "labs_error" not in response.headers["Location"]
    assert count(db, "lab_results") == 2 and "labs_saved=already" in response.headers["Location"]


def test_refused_lung_function_comes_back_with_what_was_typed(ui, db):
    client, csrf = ui
    _, visit_id = register_and_start(client, csrf)
    client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "72"})
    refused = client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "68",
                                                                     "dlco_percent": "650"})
    assert "lung_error" in refused.headers["Location"]
    form = client.get(refused.headers["Location"]).get_data(as_text=True).split('id="lung-form"', 1)[1]
    assert 'name="fvc_percent" inputmode="decimal" value="68"' in form
    assert 'name="dlco_percent" inputmode="decimal" value="650"' in form
    # Corrected and saved: the stored values show, the typed draft is gone.
    client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "68",
                                                           "dlco_percent": "65"})
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True).split('id="lung-form"', 1)[1]
    assert 'value="68.0"' in page and 'value="65.0"' in page
    assert not any(key.startswith("lung_") for key in json.loads(db.execute("SELECT draft FROM visits").fetchone()[0]))


def test_a_referral_and_its_withdrawal_sent_twice_land_on_the_visit_and_say_so(ui, db):
    """A re-send after a timeout, or Back and send again (the browser's guard cannot see either): one
    referral, one withdrawal, and the visit page says the second did nothing, instead of an error
    page saying the visit "may be closed" that leaves the nurse unsure whether the referral went."""
    client, csrf = ui
    _, visit_id = register_and_start(client, csrf)
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    form = {"csrf_token": csrf, "reason": "new cough",
            "assessment_id": shown_result_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))}
    first, again = (client.post(f"/visits/{visit_id}/refer", data=form) for _ in range(2))
    assert first.status_code == again.status_code == 302 and count(db, "referrals") == 1
    assert again.headers["Location"].startswith(f"/visits/{visit_id}?refer_saved=already")
    assert CATALOG["referral_already_sent"]["en"] in client.get(again.headers["Location"]).get_data(as_text=True)
    referral_id = db.execute("SELECT id FROM referrals").fetchone()[0]
    withdraw = {"csrf_token": csrf, "reason": "entered in error"}
    first, again = (client.post(f"/referrals/{referral_id}/withdraw", data=withdraw) for _ in range(2))
    assert first.status_code == again.status_code == 302 and "already" not in first.headers["Location"]
    assert CATALOG["referral_already_withdrawn"]["en"] in client.get(again.headers["Location"]).get_data(as_text=True)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'referral' AND action = 'withdraw'").fetchone()[0] == 1


def _visit_with_a_take(client, csrf) -> tuple[int, str]:
    """A new patient's visit with one take recorded through the tablet: (visit id, take id)."""
    _, visit_id = register_and_start(client, csrf)
    response = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data",
                           data={"csrf_token": csrf, "chest_site": "trachea",
                                 "file": (io.BytesIO(wav_bytes(seconds=2)), "t.wav")})
    take_id = re.search(r"take=(\d+)", response.headers["Location"]).group(1)
    return visit_id, take_id


def test_a_discard_sent_twice_lands_on_the_visit_and_says_so(ui, db):
    """Back and tap "Re-record" again, or a re-send after a timeout: the take is already gone, and a
    404 page left the nurse unsure what happened. The second post lands on its visit, says the take
    was already discarded, and removes nothing more; a take that never existed is still a 404."""
    client, csrf = ui
    visit_id, take_id = _visit_with_a_take(client, csrf)
    first, again = (client.post(f"/recordings/{take_id}/discard", data={"csrf_token": csrf}) for _ in range(2))
    assert first.status_code == again.status_code == 302 and "discarded" not in first.headers["Location"]
    assert again.headers["Location"].startswith(f"/visits/{visit_id}?discarded=already")
    assert CATALOG["take_already_discarded"]["en"] in client.get(again.headers["Location"]).get_data(as_text=True)
    assert CATALOG["take_already_discarded"]["en"] not in client.get(first.headers["Location"]).get_data(as_text=True)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'recording' AND action = 'discard'"
                      ).fetchone()[0] == 1 and count(db, "recordings") == 0
    assert client.post("/recordings/999/discard", data={"csrf_token": csrf}).status_code == 404


def test_a_discard_once_the_visit_is_closed_is_said_on_the_visit_and_keeps_the_take(ui, db):
    """The discard's own check refuses a take of a closed visit: the page says the visit is closed
    (by catalog key, never the message), the take and its audit trail stay as they were."""
    client, csrf = ui
    visit_id, take_id = _visit_with_a_take(client, csrf)
    post_visit_status(client, csrf, visit_id, "finish")
    refused = client.post(f"/recordings/{take_id}/discard", data={"csrf_token": csrf})
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith(f"/visits/{visit_id}?upload_error=err_visit_closed")
    assert count(db, "recordings") == 1
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'recording' AND action = 'discard'"
                      ).fetchone()[0] == 0
