"""A result that no longer reflects the visit says so, and no referral is sent with it (brief h66,
the tablet's safety, point 1): blood tests, breath, a take recorded or discarded, lung function or
the patient's details changed after "Calculate" make the result page say what changed and the
referral wait for a new result; a referral form from a page that showed an older result (another
tab calculated again) is refused and says why. The browser's view of it is in
tests/e2e/test_stale_result_in_browser.py."""
from __future__ import annotations

import io
import json
import re

import pytest
from markupsafe import escape

from edge.web.i18n import CATALOG
from support import birth_year_for_age, csrf_of, shown_result_of, version_shown, wav_bytes

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN = birth_year_for_age(76)  # 1950 when written (2026)
from test_breath_api import breath_csv

FORM = {"code": "CL66-0101", "birth_year": str(BORN), "sex": "F", "ctd_diagnosis": "SSc", "smoking": "never"}


def count_referrals(db) -> int:
    return db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0]


def assessed(client, csrf) -> tuple[int, int]:
    """A new patient's visit with a blood test, calculated: (patient id, visit id)."""
    patient_id = int(client.post("/patients/new", data={"csrf_token": csrf, **FORM}).headers["Location"]
                     .rsplit("/", 1)[1])
    visit_id = int(client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf}).headers["Location"]
                   .split("?")[0].rsplit("/", 1)[1])
    client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_crp": "4", "unit_crp": "mg/L"})
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    return patient_id, visit_id


def page_of(client, visit_id: int) -> str:
    return client.get(f"/visits/{visit_id}").get_data(as_text=True)


def refer(client, csrf, visit_id: int, shown: str):
    return client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf, "reason": "new cough",
                                                          "assessment_id": shown})


def take(client, csrf, visit_id: int) -> int:
    response = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data",
                           data={"csrf_token": csrf, "chest_site": "posterior_left_base",
                                 "file": (io.BytesIO(wav_bytes(seconds=8.0)), "take.wav")})
    return int(re.search(r"take=(\d+)", response.headers["Location"]).group(1))


def breath(client, csrf, visit_id: int) -> None:
    response = client.post(f"/visits/{visit_id}/breath", content_type="multipart/form-data",
                           data={"csrf_token": csrf, "file": (io.BytesIO(breath_csv().encode()), "reading.csv")})
    assert response.status_code == 302 and "breath_error" not in response.headers["Location"]


def edit_symptoms(client, csrf, patient_id: int, visit_id: int, symptoms: list[str]) -> None:
    edit = f"/patients/{patient_id}/edit?visit={visit_id}"
    response = client.post(edit, data={"csrf_token": csrf, **FORM, "symptoms": symptoms,
                                       "version": version_shown(client.get(edit).get_data(as_text=True))})
    assert response.status_code == 302


CHANGES = {
    "labs": lambda client, csrf, patient_id, visit_id: client.post(
        f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_kl6": "900", "unit_kl6": "U/mL"}),
    "lung_sounds": lambda client, csrf, patient_id, visit_id: take(client, csrf, visit_id),
    "breath": lambda client, csrf, patient_id, visit_id: breath(client, csrf, visit_id),
    "lung_function": lambda client, csrf, patient_id, visit_id: client.post(
        f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "62"}),
    "patient": lambda client, csrf, patient_id, visit_id: edit_symptoms(client, csrf, patient_id, visit_id,
                                                                         ["dry_cough"]),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_change_after_the_result_marks_it_out_of_date_and_holds_the_referral(ui, db, kind):
    client, csrf = ui
    patient_id, visit_id = assessed(client, csrf)
    page = page_of(client, visit_id)
    assert 'id="result-out-of-date"' not in page and 'id="refer-form"' in page
    shown = shown_result_of(page)
    CHANGES[kind](client, csrf, patient_id, visit_id)
    page = page_of(client, visit_id)
    warning = re.search(r'id="result-out-of-date">([^<]+)<', page).group(1)
    assert str(escape(CATALOG[f"changed_{kind}"]["en"])) in warning
    assert 'id="refer-form"' not in page and 'id="refer-needs-current"' in page
    refused = refer(client, csrf, visit_id, shown)  # the form of the page shown before the change
    assert refused.status_code == 302 and "refer_error=out_of_date" in refused.headers["Location"]
    assert count_referrals(db) == 0
    draft = db.execute("SELECT draft FROM visits WHERE id = ?", [visit_id]).fetchone()[0]
    assert json.loads(draft)["refer_reason"] == "new cough"  # the reason typed waits for the next try
    # Calculated again, the result includes the change: no warning, and the referral goes.
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    page = page_of(client, visit_id)
    assert 'id="result-out-of-date"' not in page
    sent = refer(client, csrf, visit_id, shown_result_of(page))
    assert "refer_error" not in sent.headers["Location"] and count_referrals(db) == 1


def test_a_take_discarded_after_the_result_marks_it_out_of_date(ui):
    client, csrf = ui
    _, visit_id = assessed(client, csrf)
    take_id = take(client, csrf, visit_id)
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    assert 'id="result-out-of-date"' not in page_of(client, visit_id)
    client.post(f"/recordings/{take_id}/discard", data={"csrf_token": csrf})
    assert CATALOG["changed_lung_sounds"]["en"] in re.search(r'id="result-out-of-date">([^<]+)<',
                                                             page_of(client, visit_id)).group(1)


def test_what_does_not_change_the_result_does_not_mark_it(ui):
    """Notes, a skipped step, a draft and saving the patient's details unchanged (the symptom review)
    are not changes of the result's inputs: a warning that cries wolf would be ignored."""
    client, csrf = ui
    patient_id, visit_id = assessed(client, csrf)
    client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": "breathless on stairs"}},
                headers={"X-CSRF-Token": csrf})
    client.post(f"/visits/{visit_id}/steps/breath", data={"csrf_token": csrf, "skipped": "1"})
    edit_symptoms(client, csrf, patient_id, visit_id, [])
    client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_crp": "4", "unit_crp": "mg/L"})  # again
    page = page_of(client, visit_id)
    assert 'id="result-out-of-date"' not in page and 'id="refer-form"' in page


def test_a_referral_from_a_page_that_showed_an_older_result_is_refused(ui, db):
    """Two tabs on one visit: the second calculates again (another tier, perhaps); the first tab's
    referral would send a result its nurse never saw."""
    client, csrf = ui
    _, visit_id = assessed(client, csrf)
    first_tab = shown_result_of(page_of(client, visit_id))
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    refused = refer(client, csrf, visit_id, first_tab)
    assert refused.status_code == 302 and "refer_error=changed" in refused.headers["Location"]
    assert count_referrals(db) == 0
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert CATALOG["err_refer_result_changed"]["en"] in page
    assert 'id="refer-unsaved"' not in page  # the reason came back, not as "typed before the lock"
    # A form that names no result at all (a script, an old page) is refused the same way.
    assert "refer_error=changed" in client.post(f"/visits/{visit_id}/refer", data={
        "csrf_token": csrf_of(page), "reason": "new cough"}).headers["Location"]
    assert count_referrals(db) == 0


def test_the_letter_shows_what_the_referral_carried_and_names_what_came_after(ui, db):
    """A blood test, a take and a symptom added at the visit after the referral are not in what the
    hospital received: the letter lists the result's own inputs and says what changed since."""
    client, csrf = ui
    patient_id, visit_id = assessed(client, csrf)
    sent = refer(client, csrf, visit_id, shown_result_of(page_of(client, visit_id)))
    assert "refer_error" not in sent.headers["Location"]
    referral_id = db.execute("SELECT id FROM referrals").fetchone()[0]
    letter = client.get(f"/referrals/{referral_id}/letter").get_data(as_text=True)
    assert 'id="letter-changed"' not in letter and CATALOG["analyte_crp"]["en"] in letter
    client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_kl6": "900", "unit_kl6": "U/mL"})
    take(client, csrf, visit_id)
    edit_symptoms(client, csrf, patient_id, visit_id, ["dry_cough"])
    letter = client.get(f"/referrals/{referral_id}/letter").get_data(as_text=True)
    labs_line = re.search(r'id="letter-labs">(.*?)</dd>', letter, re.S).group(1)
    assert CATALOG["analyte_crp"]["en"] in labs_line and CATALOG["analyte_kl6"]["en"] not in labs_line
    assert re.search(r'id="letter-crackles">(.*?)</dd>', letter, re.S).group(1) == "—"
    assert re.search(r'id="letter-symptoms">(.*?)</dd>', letter, re.S).group(1) == "—"
    changed = re.search(r'id="letter-changed">([^<]+)<', letter).group(1)
    for kind in ("labs", "lung_sounds", "patient"):
        assert str(escape(CATALOG[f"changed_{kind}"]["en"])) in changed


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_letter_words_every_change_kind_in_the_nurses_language(ui, db, monkeypatch, lang):
    """Every kind edge.freshness names (some at the visit, some elsewhere: an earlier visit's count, the
    patient's outcomes, the end of monitoring) has its words, and the letter's line lists them all."""
    from edge import freshness

    client, csrf = ui
    _, visit_id = assessed(client, csrf)
    refer(client, csrf, visit_id, shown_result_of(page_of(client, visit_id)))
    referral_id = db.execute("SELECT id FROM referrals").fetchone()[0]
    monkeypatch.setattr(freshness, "changed_since", lambda *args, **kwargs: list(freshness.CHANGE_KINDS))
    client.set_cookie("lang", lang)
    line = re.search(r'id="letter-changed">([^<]+)<', client.get(f"/referrals/{referral_id}/letter")
                     .get_data(as_text=True)).group(1)
    names = ("、" if lang == "zh-CN" else ", ").join(CATALOG[f"changed_{kind}"][lang] for kind in freshness.CHANGE_KINDS)
    assert line == str(escape(CATALOG["letter_changed_after"][lang].format(changes=names)))
    assert ("就诊中" if lang == "zh-CN" else "at the visit") not in line


def test_a_result_under_settings_since_changed_holds_the_referral(app, ui, db, monkeypatch):
    """The page already says the settings changed since the result (tests/edge/test_result_as_stored.py);
    the referral, which carries the tier those settings gave, waits for the result under today's."""
    client, csrf = ui
    _, visit_id = assessed(client, csrf)
    shown = shown_result_of(page_of(client, visit_id))
    settings = app.extensions["ildscreen"].settings
    monkeypatch.setattr(settings, "triage_high", settings.triage_high + 0.05)
    page = page_of(client, visit_id)
    assert 'id="settings-changed"' in page and 'id="refer-needs-current"' in page and 'id="refer-form"' not in page
    refused = refer(client, csrf, visit_id, shown)
    assert "refer_error=out_of_date" in refused.headers["Location"] and count_referrals(db) == 0
    client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf})
    sent = refer(client, csrf, visit_id, shown_result_of(page_of(client, visit_id)))
    assert "refer_error" not in sent.headers["Location"] and count_referrals(db) == 1
