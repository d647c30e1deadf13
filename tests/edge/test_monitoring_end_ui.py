"""Ending ILD monitoring on the tablet (brief h84): a clinician records it on the patient's page (en and
zh-CN), a refused value is said beside its field, a repeat is said and changes nothing, a nurse gets 403;
afterwards the patient's page, the day's worklist and the visit's result show that monitoring ended, with
date and reason, instead of the PFT interval and the next-due dates; resuming brings them back."""
import datetime as dt
import re

import pytest
from markupsafe import escape

from edge.vocabulary import MONITORING_END_NOTE_MAX
from edge.web.i18n import CATALOG
from support import PATIENT, csrf_of, login

CONFIRMED_ON = (dt.date.today() - dt.timedelta(days=200)).isoformat()
ENDED_ON = (dt.date.today() - dt.timedelta(days=10)).isoformat()


def phrase(key: str, lang: str = "en", **values) -> str:
    return str(escape(CATALOG[key][lang].format(**values)))


@pytest.fixture
def monitored(client, make_user):
    """A clinician signed in on the tablet, and her patient with confirmed ILD assessed at today's visit."""
    make_user("clin1", "clinician")
    headers = login(client, "clin1")
    patient_id = client.post("/api/v1/patients", json=PATIENT, headers=headers).json["id"]
    assert client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=headers,
                       json={"date": CONFIRMED_ON, "source": "hrct", "ild": "present"}).status_code == 201
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=headers).json["id"]
    assessment = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).json
    assert assessment["monitoring"]["next_pft_due"]
    return patient_id, visit_id, assessment


def end_on_tablet(client, patient_id, **form):
    csrf = csrf_of(client.get(f"/patients/{patient_id}").get_data(as_text=True))
    return client.post(f"/patients/{patient_id}/monitoring-end",
                       data={"csrf_token": csrf, "date": ENDED_ON, "reason": "transferred", "note": "", **form})


def results_after_calculating(client, visit_id):
    """Calculate the visit's result again on the tablet; (language, result page) in each language."""
    csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    assert client.post(f"/visits/{visit_id}/assess", data={"csrf_token": csrf}).status_code in (302, 303)
    for lang in ("en", "zh-CN"):
        client.set_cookie("lang", lang)
        yield lang, client.get(f"/visits/{visit_id}").get_data(as_text=True)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clinician_ends_monitoring_and_every_page_shows_it_ended_instead_of_pfts_due(client, monitored, lang):
    patient_id, visit_id, assessment = monitored
    client.set_cookie("lang", lang)
    plan = assessment["monitoring"]
    due = phrase("next_pft_due", lang, start=plan["next_pft_from"], end=plan["next_pft_due"])
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert 'id="end-monitoring-form"' in page and due in page

    sent = end_on_tablet(client, patient_id)
    assert sent.status_code == 302 and sent.headers["Location"].endswith("monitoring=ended#monitoring")
    ended = phrase("monitoring_ended_shown", lang, date=ENDED_ON,
                   reason=CATALOG["monitoring_end_reason_transferred"][lang])
    page = client.get(f"/patients/{patient_id}?monitoring=ended").get_data(as_text=True)
    assert phrase("monitoring_ended_saved", lang) in page and ended in page and due not in page
    assert 'id="end-monitoring-form"' not in page and 'id="resume-monitoring"' in page
    worklist = client.get("/").get_data(as_text=True)
    assert ended in worklist and due not in worklist
    result = client.get(f"/visits/{visit_id}").get_data(as_text=True)  # the result made before the end
    assert 'id="monitoring-ended"' in result and 'id="next-pft-due"' not in result and 'id="pft-every"' not in result
    assert 'id="result-out-of-date"' in result and phrase("changed_monitoring", lang) in result  # calculate again


def test_a_new_result_after_the_end_says_it_in_the_pages_language(client, monitored):
    patient_id, visit_id, _assessment = monitored
    end_on_tablet(client, patient_id, reason="died")
    for lang, page in results_after_calculating(client, visit_id):
        assert phrase("action_monitoring_ended", lang, date=ENDED_ON) in page
        assert phrase("advice_steps_monitoring_ended", lang) in page
        assert phrase("monitoring_end_reason_died", lang) in page


@pytest.mark.parametrize("form, field", [
    ({"date": (dt.date.today() + dt.timedelta(days=3)).isoformat()}, "date"),
    ({"date": ""}, "date"),
    ({"reason": ""}, "reason"),
    ({"reason": "other", "note": ""}, "note"),
    ({"reason": "other", "note": "a\tb"}, "note"),
])
def test_a_refused_value_is_said_beside_its_field_and_kept(client, monitored, db, form, field):
    patient_id, _visit_id, _assessment = monitored
    refused = end_on_tablet(client, patient_id, **form)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert f'id="error-monitoring-{field}"' in page
    assert phrase(f"err_monitoring_end_{field}", max=MONITORING_END_NOTE_MAX) in page
    assert db.execute("SELECT COUNT(*) FROM monitoring_ends").fetchone()[0] == 0


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_note_stops_at_the_servers_limit_and_a_longer_one_is_refused_naming_it(client, monitored, db, lang):
    """The note's maxlength is the limit edge.monitoring_ends.checked_note enforces; a longer note (an old
    page, a hand-made post) comes back beside the field naming that limit, as typed, and nothing is stored."""
    patient_id, _visit_id, _assessment = monitored
    client.set_cookie("lang", lang)
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert re.findall(r'<input type="text" name="note" maxlength="(\d+)"', page) == [str(MONITORING_END_NOTE_MAX)]
    too_long = "moved to another city " + "x" * MONITORING_END_NOTE_MAX
    too_long = too_long[:MONITORING_END_NOTE_MAX + 1]  # one character over the maxlength the page carries
    refused = end_on_tablet(client, patient_id, reason="other", note=too_long)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    said = re.search(r'<span class="field-error" role="alert" id="error-monitoring-note">([^<]*)</span>', page)
    assert said and said.group(1) == phrase("err_monitoring_end_note", lang, max=MONITORING_END_NOTE_MAX)
    assert str(MONITORING_END_NOTE_MAX) in said.group(1)
    assert f'value="{too_long}"' in page  # as typed, for her to shorten
    assert db.execute("SELECT COUNT(*) FROM monitoring_ends").fetchone()[0] == 0
    at_the_limit = end_on_tablet(client, patient_id, reason="other", note=too_long[:MONITORING_END_NOTE_MAX])
    assert at_the_limit.status_code == 302
    assert db.execute("SELECT note FROM monitoring_ends").fetchall() == [(too_long[:MONITORING_END_NOTE_MAX],)]


def test_sent_twice_it_is_said_once_and_resuming_brings_the_pfts_back(client, monitored, db):
    patient_id, _visit_id, assessment = monitored
    end_on_tablet(client, patient_id)
    again = end_on_tablet(client, patient_id, reason="declined")
    assert again.headers["Location"].endswith("monitoring=already_ended#monitoring")
    assert db.execute("SELECT reason FROM monitoring_ends").fetchall() == [("transferred",)]
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    csrf, end_id = csrf_of(page), db.execute("SELECT id FROM monitoring_ends").fetchone()[0]
    resumed = client.post(f"/monitoring-ends/{end_id}/resume", data={"csrf_token": csrf})
    assert resumed.headers["Location"].endswith("monitoring=resumed#monitoring")
    again = client.post(f"/monitoring-ends/{end_id}/resume", data={"csrf_token": csrf})
    assert again.headers["Location"].endswith("monitoring=already_resumed#monitoring")
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    plan = assessment["monitoring"]
    assert phrase("next_pft_due", start=plan["next_pft_from"], end=plan["next_pft_due"]) in page
    assert 'id="end-monitoring-form"' in page


def test_a_nurse_sees_the_end_but_gets_403_for_ending_or_resuming(client, monitored, make_user, db):
    patient_id, _visit_id, _assessment = monitored
    end_on_tablet(client, patient_id)
    end_id = db.execute("SELECT id FROM monitoring_ends").fetchone()[0]
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    make_user("nurse1", "nurse")
    login(client, "nurse1")
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert 'id="monitoring-ended"' in page and 'id="resume-monitoring"' not in page
    csrf = csrf_of(page)
    assert client.post(f"/monitoring-ends/{end_id}/resume", data={"csrf_token": csrf}).status_code == 403
    assert end_on_tablet(client, patient_id).status_code == 403
    assert db.execute("SELECT resumed_at FROM monitoring_ends").fetchall() == [(None,)]


def test_after_an_mdt_ruled_ild_out_the_result_says_why_screening_applies_again(client, monitored):
    patient_id, visit_id, _assessment = monitored
    end_on_tablet(client, patient_id, reason="mdt_no_ild")
    for lang, page in results_after_calculating(client, visit_id):
        assert phrase("monitoring_mdt_note", lang, date=ENDED_ON) in page
        assert 'id="monitoring-ended"' not in page and 'id="next-pft-due"' not in page  # a screening result
