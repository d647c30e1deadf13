"""The right words on a closed visit (brief h120): a refused referral of a completed visit says why (its result is
out of date, or not the one shown) and what to do, never "this visit is closed"; a cancelled visit's refusal
says it is not referred and what to do; every Conflict the tablet words has its own message; a clinician may
label a closed visit's takes.

The real flow: the app on a data folder's SQLite file, the nurse's API session and tablet pages.
"""
from __future__ import annotations

import io
import re

import pytest
from flask import g
from markupsafe import escape

from edge.errors import CaptureRunning, Conflict, ResultOutOfDate, VisitClosed
from edge.web.i18n import CATALOG, join_list
from edge.web.visit_views import MESSAGE_KEYS, _message_key, _messages
from support import csrf_of, login, wav_bytes
from test_closed_visit_result import assess, closed, hrct_outcome, new_visit
from test_crackles_heard import label_entries
from test_result_after_outcome_or_recalibration import forget


def shown(key: str, lang: str = "en", **values) -> str:
    """A catalog text as a page shows it (HTML-escaped)."""
    text = CATALOG[key][lang]
    return str(escape(text.format(**values) if values else text))


def referrals(db) -> list:
    return db.execute("SELECT id, visit_id, status FROM referrals ORDER BY id").fetchall()


def refer_form_of(page: str) -> str:
    return re.search(r'name="assessment_id" value="(\d+)"', page).group(1)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("reason", ["new cough", ""], ids=["reason_typed", "no_reason"])
def test_a_completed_visit_whose_result_went_out_of_date_is_not_referred_and_the_page_says_why(
        client, nurse, app, db, make_user, lang, reason):
    """The refer form of a completed visit, shown while its result was current; an HRCT outcome is recorded
    before it is sent. Not referred (409): the referral card says the result is out of date, naming what changed,
    that a completed visit's result is not calculated again and what gives a referral (a new visit), with the
    reason as typed; never that the visit is closed and nothing can be added."""
    visit_id = new_visit(client, nurse)
    assert assess(client, nurse, visit_id).status_code == 201
    closed(client, nurse, visit_id)
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="refer-form"' in page
    shown_id, csrf = refer_form_of(page), csrf_of(page)
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=nurse).json["patient_id"]
    hrct_outcome(app.test_client(), make_user, patient_id)

    answer = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf, "reason": reason,
                                                            "assessment_id": shown_id})

    text = answer.get_data(as_text=True)
    assert answer.status_code == 409, text[:300]
    assert (f'id="refer-out-of-date">{shown("err_refer_closed_out_of_date", lang)}</p>') in text
    assert f'>{shown("err_visit_closed", lang)}</p>' not in text and 'id="refer-closed"' not in text
    if reason:
        assert f"<q>{reason}</q>" in text
    assert referrals(db) == []
    # Shown again later, the card says the same without a form to send (a note, not an error).
    again = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="refer-form"' not in again
    assert f'id="refer-needs-new-visit">{shown("refer_closed_needs_new_visit", lang)}</p>' in again


def test_a_completed_visits_result_superseded_before_it_closed_is_said_so_with_the_reason_as_typed(
        client, nurse, db):
    """The page of an open visit is left showing its refer form; another tab calculates again and finishes
    the visit. The form sent is refused as showing another result (err_refer_result_changed), the reason as
    typed, not as a closed visit."""
    visit_id = new_visit(client, nurse)
    assert assess(client, nurse, visit_id).status_code == 201
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    shown_id, csrf = refer_form_of(page), csrf_of(page)
    assert assess(client, nurse, visit_id).status_code == 201
    closed(client, nurse, visit_id)

    answer = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf, "reason": "new cough",
                                                            "assessment_id": shown_id})

    text = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert f'id="refer-changed">{shown("err_refer_result_changed")}</p>' in text
    assert "<q>new cough</q>" in text  # as typed (the new result advises HRCT: no reason field)
    assert f'>{shown("err_visit_closed")}</p>' not in text and 'id="refer-closed"' not in text
    assert referrals(db) == []
    # The result now shown is current: sent again from this page, it is referred.
    sent = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf_of(text), "reason": "new cough",
                                                          "assessment_id": refer_form_of(text)})
    assert sent.status_code == 302 and [row[1:] for row in referrals(db)] == [(visit_id, "queued")]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_cancelled_visits_refer_form_says_it_is_not_referred_and_what_to_do(client, nurse, db, lang):
    visit_id = new_visit(client, nurse)
    assert assess(client, nurse, visit_id).status_code == 201
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    closed(client, nurse, visit_id, "cancelled")

    answer = client.post(f"/visits/{visit_id}/refer", data={"csrf_token": csrf_of(page), "reason": "new cough",
                                                            "assessment_id": refer_form_of(page)})

    text = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert f'id="refer-closed">{shown("err_refer_visit_cancelled", lang)}</p>' in text and "<q>new cough</q>" in text
    assert referrals(db) == []


def test_a_conflict_the_page_has_no_words_for_is_not_called_a_closed_visit(app):
    """edge.web.visit_views._message_key: each Conflict the visit page meets has its own key; any other is
    said to have changed meanwhile (err_conflict), in both languages, not "this visit is closed"."""
    assert _message_key(VisitClosed("visit 1 is completed")) == "err_visit_closed"
    assert _message_key(CaptureRunning("busy")) == "err_board_busy"
    for other in (Conflict("capture job 'x' already ended"), ResultOutOfDate("out of date", current_assessment_id=1)):
        assert _message_key(other) == "err_conflict"
        assert _message_key(other, "labs") == "err_conflict"
    assert "err_conflict" in MESSAGE_KEYS
    for lang in ("en", "zh-CN"):
        assert CATALOG["err_conflict"][lang] != CATALOG["err_visit_closed"][lang]
    with app.test_request_context("/?upload_error=err_conflict"):
        g.lang = "zh-CN"
        assert _messages([]) == {"upload_error": CATALOG["err_conflict"]["zh-CN"]}


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_a_clinician_labels_a_closed_visits_take_on_its_page(client, nurse, app, make_user, db, status):
    """A label is a reference for the crackle detector, not an input of the closed visit's result (its
    record): the closed visit's page still asks the clinician, saves the answer and leaves the result as it was."""
    visit_id = new_visit(client, nurse)
    take = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=nurse, content_type="multipart/form-data",
                       data={"chest_site": "posterior_left_base", "chest_piece": "diaphragm",
                             "file": (io.BytesIO(wav_bytes(seconds=6)), "base.wav")}).json
    result = assess(client, nurse, visit_id).json
    closed(client, nurse, visit_id, status)
    make_user("clinician1", "clinician")
    doctor = app.test_client()
    login(doctor, "clinician1")
    page = doctor.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert f'id="crackles-heard-{take["id"]}"' in page and 'id="visit-closed"' in page

    sent = doctor.post(f"/recordings/{take['id']}/crackles-heard",
                       data={"csrf_token": csrf_of(page), "crackles_heard": "yes"})

    assert sent.status_code == 302, sent.get_data(as_text=True)[:300]
    back = doctor.get(sent.headers["Location"]).get_data(as_text=True)
    assert f'id="crackles-heard-saved-{take["id"]}"' in back and 'value="yes" checked' in back
    assert label_entries(db, take["id"]) == [("clinician1", "yes", None)]
    stored = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=nurse).json["assessments"]
    assert [(item["id"], item["probability"]) for item in stored] == [(result["id"], result["probability"])]


def test_a_discarded_take_is_refused_a_label_as_discarded_not_as_a_closed_visit(client, nurse, app, make_user):
    """The one refusal of a label: the take is gone (409 take_discarded through the API; the tablet words it)."""
    visit_id = new_visit(client, nurse)
    take = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=nurse, content_type="multipart/form-data",
                       data={"chest_site": "posterior_left_base", "chest_piece": "diaphragm",
                             "file": (io.BytesIO(wav_bytes(seconds=6)), "base.wav")}).json
    assert client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse).status_code == 204
    make_user("clinician1", "clinician")
    doctor = app.test_client()
    headers = login(doctor, "clinician1")
    answer = doctor.put(f"/api/v1/recordings/{take['id']}/crackles-heard", json={"crackles_heard": "yes"},
                        headers=headers)
    assert answer.status_code == 409 and answer.json["error"]["code"] == "take_discarded", answer.json


def unchecked_models(lang: str) -> str:
    return join_list([CATALOG[f"changed_model_{name}"][lang] for name in ("auscultation", "labs", "breath")], lang)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_closed_visits_result_stored_before_results_kept_what_checks_its_models_says_it_cannot_be_checked(
        client, nurse, db, lang):
    """Brief h120, point 4: a result stored by an earlier release kept neither its models' manifest digests nor
    the "if missing, measured" ranges. Nothing tells whether those models changed, so it counts as out of date
    (a referral waits), but its closed visit's page says it cannot be checked against the models served now,
    naming them, and what gives a current result; never that the models were updated. The stored result is not
    rewritten by reading it."""
    visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id).json
    assert first["freshness"]["current"]
    forget(db, first["id"], inputs=("potential_ranges",), result=("model_digests",))
    closed(client, nurse, visit_id)
    kept = db.execute("SELECT * FROM risk_assessments").fetchall()
    client.set_cookie("lang", lang)

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)

    expected = shown("result_unchecked_closed", lang, models=unchecked_models(lang))
    assert f'id="closed-result-unchecked">{expected}</p>' in page
    assert 'id="closed-result-out-of-date"' not in page and 'id="model-updated-' not in page
    assert f'id="refer-needs-new-visit">{shown("refer_closed_needs_new_visit", lang)}</p>' in page
    verdict = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=nurse).json["assessments"][-1]["freshness"]
    assert verdict["models_changed"] == verdict["models_unchecked"] == ["auscultation", "labs", "breath"]
    assert not verdict["current"]
    refused = client.post(f"/api/v1/visits/{visit_id}/referrals", headers=nurse, json={"reason": "new cough"})
    assert refused.status_code == 409 and refused.json["error"]["models_unchecked"] == ["auscultation", "labs", "breath"]
    assert "stored by an earlier release" in refused.json["error"]["message"]
    assert "changed after it was calculated" not in refused.json["error"]["message"]
    assert db.execute("SELECT * FROM risk_assessments").fetchall() == kept


def test_an_old_closed_result_with_a_change_seen_says_both_apart(client, nurse, app, db, make_user):
    """An HRCT outcome recorded after the old result: the out-of-date line names the outcome (seen), and the
    models it cannot check are said on their own line, the new-visit advice once."""
    visit_id = new_visit(client, nurse)
    first = assess(client, nurse, visit_id).json
    forget(db, first["id"], inputs=("potential_ranges",), result=("model_digests",))
    closed(client, nurse, visit_id)
    patient_id = client.get(f"/api/v1/visits/{visit_id}", headers=nurse).json["patient_id"]
    hrct_outcome(app.test_client(), make_user, patient_id)

    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)

    changes = CATALOG["changed_outcomes"]["en"]
    assert f'id="closed-result-out-of-date">{shown("closed_result_out_of_date", changes=changes)}</p>' in page
    assert f'id="closed-result-unchecked">{shown("result_unchecked", models=unchecked_models("en"))}</p>' in page
