"""Referring follows the advice (issue 27): a referral the advice does not call for needs the
clinician's stated reason, which travels in the FHIR ServiceRequest and prints on the letter; a
referral can be withdrawn before delivery or revoked at the hospital after it, audited and shown
on the timeline; only recordings that passed the quality gate reach the letter."""
import io
import json
import re

import numpy as np
import pytest
import soundfile
from markupsafe import escape

from edge import outbox
from edge.outbox_worker import OutboxWorker
from edge.web.i18n import CATALOG, LABEL_SEPARATORS
from hospital_double import TOKEN, HospitalDouble
from imaging_client.client import ReferralServerClient
from support import PATIENT, birth_year_for_age, lung_sound_bytes, shown_result_of

LOW_RISK = {"code": "CL27-0001", "birth_year": birth_year_for_age(70), "sex": "F", "ctd_diagnosis": "SLE", "autoantibodies": [],
            "smoking": "never", "symptoms": []}


def assessed_visit(client, nurse, patient=LOW_RISK) -> tuple[dict, dict]:
    created = client.post("/api/v1/patients", json=patient, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{created['id']}/visits", json={}, headers=nurse).json
    assessment = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).json
    return visit, assessment


@pytest.fixture
def hospital():
    server = HospitalDouble()
    yield server
    server.stop()


def service_request(db, referral_id):
    payload = json.loads(db.execute("SELECT payload FROM referrals WHERE id = ?", [referral_id]).fetchone()[0])
    return payload["entry"][0]["resource"], [entry["resource"] for entry in payload["entry"]]


def test_a_low_risk_referral_needs_a_reason_that_reaches_the_hospital_and_can_be_withdrawn(client, nurse, db):
    visit, assessment = assessed_visit(client, nurse)
    assert assessment["recommendation"]["advice"] != "hrct_pfts", assessment["recommendation"]
    refused = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert refused.status_code == 422
    assert [field["field"] for field in refused.json["error"]["fields"]] == ["reason"]
    blank = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "   "}, headers=nurse)
    assert blank.status_code == 422 and blank.json["error"]["fields"][0]["field"] == "reason"
    reason = "New exertional breathlessness since the last visit"
    created = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": reason}, headers=nurse)
    assert created.status_code == 201, created.json
    assert created.json["reason"] == reason and created.json["priority"] == "routine"
    request, _ = service_request(db, created.json["id"])
    assert any(reason in item["text"] for item in request["reasonCode"])
    assert not any("Screening for interstitial" in item["text"] for item in request["reasonCode"])
    assert any("against the screening advice" in note["text"] and reason in note["text"] for note in request["note"])
    withdrawn = client.post(f"/api/v1/referrals/{created.json['id']}/withdraw", json={}, headers=nurse)
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert db.execute("SELECT action FROM audit_log WHERE entity = 'referral' ORDER BY id").fetchall() == [
        ("create",), ("withdraw",)]
    again = client.post(f"/api/v1/referrals/{created.json['id']}/withdraw", json={}, headers=nurse)
    assert again.status_code == 200 and again.json["already_withdrawn"] is True
    # A withdrawn referral no longer stands: the visit can be referred again.
    assert client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": reason},
                       headers=nurse).status_code == 201


def referral_row(db, referral_id):
    return db.execute("SELECT * FROM referrals WHERE id = ?", [referral_id]).fetchone()


def test_a_withdrawal_sent_again_answers_200_already_withdrawn_and_changes_nothing(client, nurse, db):
    """Brief h74: a client retrying after a timeout gets the referral as the first withdrawal left it,
    not a 409 for a request that succeeded; the second reason is not stored, no second audit entry."""
    visit, _ = assessed_visit(client, nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                           headers=nurse).json
    path = f"/api/v1/referrals/{referral['id']}/withdraw"
    first = client.post(path, json={"reason": "patient declined"}, headers=nurse)
    assert first.status_code == 200 and first.json["already_withdrawn"] is False
    assert first.json["status"] == "withdrawn" and first.json["withdraw_reason"] == "patient declined"
    stored, trail = referral_row(db, referral["id"]), db.execute("SELECT * FROM audit_log").fetchall()

    again = client.post(path, json={"reason": "entered in error"}, headers=nurse)

    assert again.status_code == 200, again.json
    assert again.json == {**first.json, "already_withdrawn": True}
    assert referral_row(db, referral["id"]) == stored
    assert db.execute("SELECT * FROM audit_log").fetchall() == trail
    assert client.post("/api/v1/referrals/999/withdraw", json={}, headers=nurse).status_code == 404


@pytest.mark.parametrize("again_body", [{}, {"reason": None}, {"reason": ""}, {"reason": "   "},
                                        {"reason": "x" * outbox.MAX_REASON_CHARS}])
def test_a_withdrawal_sent_again_is_a_repeat_whatever_reason_it_gives(client, nurse, ui, db, again_body):
    """Brief h85, point 4: what a withdrawal asks is done once; sent again, with the same reason,
    another, an empty one or none, through the API or the tablet, it answers 200 already withdrawn
    (the tablet: its page says so), as a token revoked twice does, and changes nothing."""
    visit, _ = assessed_visit(client, nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                           headers=nurse).json
    path = f"/api/v1/referrals/{referral['id']}/withdraw"
    first = client.post(path, json={"reason": "patient declined"}, headers=nurse)
    writes = "SELECT * FROM audit_log WHERE action != 'read'"  # the tablet's page view audits a read
    stored, trail = referral_row(db, referral["id"]), db.execute(writes).fetchall()

    again = client.post(path, json=again_body, headers=nurse)
    tablet, csrf = ui
    on_the_tablet = tablet.post(f"/referrals/{referral['id']}/withdraw",
                                data={"csrf_token": csrf, **{k: v for k, v in again_body.items() if v is not None}})

    assert again.status_code == 200 and again.json == {**first.json, "already_withdrawn": True}
    assert on_the_tablet.status_code == 302 and "withdrawn=already" in on_the_tablet.headers["Location"]
    assert referral_row(db, referral["id"]) == stored
    assert db.execute(writes).fetchall() == trail


def test_a_reason_too_long_is_refused_before_the_referral_is_looked_at(client, nurse, ui, db):
    """Brief h85, point 4: the request is checked first, as every request is: a reason over the limit
    is a 422 naming `reason` for a referral withdrawn already as for one not yet withdrawn (the same
    withdrawal sent again is valid again), and nothing changes."""
    visit, _ = assessed_visit(client, nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                           headers=nurse).json
    path = f"/api/v1/referrals/{referral['id']}/withdraw"
    too_long = {"reason": "x" * (outbox.MAX_REASON_CHARS + 1)}
    tablet, csrf = ui
    for withdrawn in (False, True):
        stored = referral_row(db, referral["id"])
        refused = client.post(path, json=too_long, headers=nurse)
        on_the_tablet = tablet.post(f"/referrals/{referral['id']}/withdraw", data={"csrf_token": csrf, **too_long})
        assert refused.status_code == 422, (withdrawn, refused.json)
        assert [field["field"] for field in refused.json["error"]["fields"]] == ["reason"]
        assert on_the_tablet.status_code == 422 and referral_row(db, referral["id"]) == stored
        assert 'id="withdraw-reason-error"' in on_the_tablet.get_data(as_text=True)
        if not withdrawn:
            assert client.post(path, json={"reason": "patient declined"}, headers=nurse).status_code == 200
    assert db.execute("SELECT withdraw_reason FROM referrals").fetchall() == [("patient declined",)]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("visit_status", ["open", "completed"])
def test_a_withdraw_reason_too_long_brings_the_form_back_as_typed_naming_the_limit(client, nurse, ui, db, lang,
                                                                                  visit_status):
    """Brief h97: the tablet's withdraw form with a reason over the limit is not a bare 422 page: the visit
    comes back with the reason as typed in the form and the limit beside it in the nurse's language, also
    once the visit is closed (its draft keeps nothing then), and nothing is stored."""
    visit, _ = assessed_visit(client, nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                           headers=nurse).json
    if visit_status != "open":
        version = client.get(f"/api/v1/visits/{visit['id']}", headers=nurse).json["version"]
        closed = client.patch(f"/api/v1/visits/{visit['id']}", json={"status": visit_status, "version": version},
                              headers=nurse)
        assert closed.status_code == 200, closed.json
    tablet, csrf = ui
    tablet.set_cookie("lang", lang)
    # Runs of spaces count once, as the referral would store the reason: 669 characters typed, 503 stored.
    typed = "<b>&x" + "  yz" * 166
    stored, draft = referral_row(db, referral["id"]), db.execute("SELECT draft FROM visits").fetchall()
    writes = db.execute("SELECT COUNT(*) FROM audit_log WHERE action != 'read'").fetchone()

    refused = tablet.post(f"/referrals/{referral['id']}/withdraw", data={"csrf_token": csrf, "reason": typed})

    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="withdraw-form"' in page
    message = CATALOG["err_reason_too_long"][lang].format(length=503, max=outbox.MAX_REASON_CHARS)
    assert f'<p class="field-error" role="alert" id="withdraw-reason-error">{message}</p>' in page
    field = re.search(r'<input name="reason" maxlength="500" id="withdraw-reason"\s+value="([^"]*)"\s+'
                      r'aria-invalid="true" aria-describedby="withdraw-reason-error">', page)
    assert field is not None and field[1] == escape(typed)
    assert referral_row(db, referral["id"]) == stored and db.execute("SELECT draft FROM visits").fetchall() == draft
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action != 'read'").fetchone() == writes
    # Shortened, it withdraws; the visit page then has no error.
    done = tablet.post(f"/referrals/{referral['id']}/withdraw", data={"csrf_token": csrf, "reason": typed[:300]})
    assert done.status_code == 302
    assert db.execute("SELECT status, withdraw_reason FROM referrals").fetchall() == [("withdrawn", " ".join(typed[:300].split()))]
    assert 'id="withdraw-reason-error"' not in tablet.get(done.headers["Location"]).get_data(as_text=True)


def test_a_withdraw_reason_too_long_for_an_unknown_referral_is_a_404(ui):
    tablet, csrf = ui
    assert tablet.post("/referrals/999/withdraw", data={"csrf_token": csrf, "reason": "x" * 600}).status_code == 404


def test_a_refer_reason_too_long_comes_back_typed_in_the_form_naming_the_limit(client, nurse, ui, db):
    """Brief h97: over the limit, the clinical reason stays in the visit's draft and the page says the limit
    (not "write the reason"), and no referral is made; shortened, it is sent."""
    visit, _ = assessed_visit(client, nurse)
    tablet, csrf = ui
    page = tablet.get(f"/visits/{visit['id']}").get_data(as_text=True)
    typed = "new cough " * 60
    response = tablet.post(f"/visits/{visit['id']}/refer", data={"csrf_token": csrf, "reason": typed,
                                                                 "assessment_id": shown_result_of(page)})
    assert response.status_code == 302 and "refer_error=reason_too_long" in response.headers["Location"]
    assert db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0] == 0
    page = tablet.get(response.headers["Location"]).get_data(as_text=True)
    message = CATALOG["err_reason_too_long"]["en"].format(length=len(typed.strip()), max=outbox.MAX_REASON_CHARS)
    assert f'id="refer-reason-error">{message}</p>' in page
    assert f'aria-describedby="refer-reason-error">{typed}</textarea>' in page
    response = tablet.post(f"/visits/{visit['id']}/refer", data={"csrf_token": csrf, "reason": typed[:400],
                                                                 "assessment_id": shown_result_of(page)})
    assert response.status_code == 302 and "refer_error" not in response.headers["Location"]
    assert db.execute("SELECT reason FROM referrals").fetchall() == [(typed[:400].strip(),)]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("status", ["reported", "rejected", "imaging_failed"])
def test_a_withdrawal_overtaken_by_the_hospital_brings_the_visit_back_saying_so_with_the_reason_typed(
        client, nurse, ui, db, status, lang):
    """Brief h100: the nurse opened the visit while the referral could still be withdrawn, and the hospital's
    report (or refusal) came before her withdrawal: not a bare 409 page but the visit page (409) saying what
    the referral became and what to do, in her language, with the reason she typed shown; nothing changes."""
    visit, _ = assessed_visit(client, nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                           headers=nurse).json
    tablet, csrf = ui
    tablet.set_cookie("lang", lang)
    assert 'id="withdraw-form"' in tablet.get(f"/visits/{visit['id']}").get_data(as_text=True)
    db.execute("UPDATE referrals SET status = ? WHERE id = ?", [status, referral["id"]])  # the hospital's answer
    db.conn.commit()
    stored, trail = referral_row(db, referral["id"]), db.execute("SELECT * FROM audit_log WHERE action != 'read'").fetchall()
    typed = "patient <moved> & declined"

    refused = tablet.post(f"/referrals/{referral['id']}/withdraw", data={"csrf_token": csrf, "reason": typed})

    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and 'id="referral-status"' in page and 'id="withdraw-form"' not in page
    message = CATALOG["err_withdraw_too_late"][lang].format(status=CATALOG[f"status_{status}"][lang])
    assert f'<p class="field-error" role="alert" id="withdraw-reason-error">{escape(message)}</p>' in page
    assert f'id="withdraw-reason-kept">{escape(CATALOG["reason_kept"][lang])}{LABEL_SEPARATORS[lang]}<q>{escape(typed)}</q>' in page
    assert referral_row(db, referral["id"]) == stored
    assert db.execute("SELECT * FROM audit_log WHERE action != 'read'").fetchall() == trail


def test_a_refer_reason_refused_as_out_of_date_is_kept_as_typed_up_to_the_drafts_limit(client, nurse, ui, db):
    """Brief h100: a referral refused because another tab calculated again kept only the first 500 characters
    typed (the stored reason's limit, counted before runs of spaces are made one): a reason in paragraphs lost
    its end, although it was within the limit. Now it keeps what was typed up to the draft's own limit, the
    rule of a reason refused as too long."""
    visit, first = assessed_visit(client, nurse)
    client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)  # another tab
    tablet, csrf = ui
    typed = "New cough since March.\r\n\r\n" * 21  # 546 characters typed, 482 as the referral would store it
    assert len(typed) > outbox.MAX_REASON_CHARS >= len(" ".join(typed.split()))
    response = tablet.post(f"/visits/{visit['id']}/refer", data={"csrf_token": csrf, "reason": typed,
                                                                 "assessment_id": str(first["id"])})
    assert response.status_code == 302 and "refer_error=changed" in response.headers["Location"]
    assert db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0] == 0
    assert json.loads(db.execute("SELECT draft FROM visits").fetchone()[0])["refer_reason"] == typed
    page = tablet.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="refer-changed"' in page and 'id="refer-reason" rows="3"' in page and f">{typed}</textarea>" in page


def test_a_revocation_asked_again_answers_already_withdrawn_before_and_after_the_hospital_revokes(
        app, client, nurse, db, hospital):
    visit, _ = assessed_visit(client, nurse, PATIENT)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    worker = OutboxWorker(app.extensions["ildscreen"].folder, ReferralServerClient(hospital.url, TOKEN),
                          interval_s=1)
    worker.run_once()
    path = f"/api/v1/referrals/{referral['id']}/withdraw"
    first = client.post(path, json={}, headers=nurse).json
    assert first["status"] == "revoking" and first["already_withdrawn"] is False
    stored = referral_row(db, referral["id"])
    revoking = client.post(path, json={}, headers=nurse)
    assert revoking.status_code == 200 and revoking.json["already_withdrawn"] is True
    assert revoking.json["status"] == "revoking" and referral_row(db, referral["id"]) == stored
    assert worker.run_once()["revocation"]["revoked"] == 1
    stored = referral_row(db, referral["id"])
    revoked = client.post(path, json={}, headers=nurse)
    assert revoked.status_code == 200 and revoked.json["already_withdrawn"] is True
    assert revoked.json["status"] == "revoked" and referral_row(db, referral["id"]) == stored
    assert worker.run_once()["revocation"] == {"revoked": 0, "retrying": 0, "refused": 0}  # nothing asked twice
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'referral' AND action = 'withdraw'"
                      ).fetchone()[0] == 1


@pytest.mark.parametrize("status", ["reported", "rejected", "imaging_failed"])
def test_a_referral_past_withdrawing_stays_a_409_naming_its_status(client, nurse, db, status):
    visit, _ = assessed_visit(client, nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "new cough"},
                           headers=nurse).json
    db.execute("UPDATE referrals SET status = ? WHERE id = ?", [status, referral["id"]])
    db.conn.commit()
    stored, trail = referral_row(db, referral["id"]), db.execute("SELECT * FROM audit_log").fetchall()
    refused = client.post(f"/api/v1/referrals/{referral['id']}/withdraw", json={}, headers=nurse)
    assert refused.status_code == 409
    assert refused.json["error"]["message"] == (f"referral {referral['id']} is {status}: it can no longer be "
                                                "withdrawn")
    assert referral_row(db, referral["id"]) == stored
    assert db.execute("SELECT * FROM audit_log").fetchall() == trail


def test_a_reason_is_shown_on_the_letter_and_the_timeline_in_both_languages(client, nurse):
    visit, _ = assessed_visit(client, nurse)
    reason = "Crackles heard by the rheumatologist"
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": reason}, headers=nurse).json
    for lang in ("en", "zh-CN"):
        client.set_cookie("lang", lang)
        letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
        assert reason in letter and str(escape(CATALOG["letter_against_advice"][lang])) in letter
        assert str(escape(CATALOG["reason"][lang])) not in letter  # no screening reason beside "against the advice"
    client.post(f"/api/v1/referrals/{referral['id']}/withdraw", json={"reason": "patient declined"}, headers=nurse)
    client.set_cookie("lang", "en")
    timeline = client.get(f"/patients/{visit['patient_id']}").get_data(as_text=True)
    assert CATALOG["status_withdrawn"]["en"] in timeline


def test_the_hrct_advice_refers_without_a_reason_with_the_computed_priority(client, nurse, db):
    visit, assessment = assessed_visit(client, nurse, PATIENT)
    assert assessment["recommendation"]["advice"] == "hrct_pfts"
    created = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert created.status_code == 201
    request, resources = service_request(db, created.json["id"])
    expected = {"urgent": "asap", "within_3_months": "urgent", "routine": "routine"}
    assert request["priority"] == expected[assessment["recommendation"]["priority"]]
    assert request["reasonCode"][0]["text"].startswith("Screening for interstitial lung disease")
    assert not any("against the screening advice" in note["text"] for note in request["note"])


def test_the_tablet_asks_for_the_reason_with_a_warning(client, nurse):
    visit, _ = assessed_visit(client, nurse)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert 'id="refer-warning"' in page and 'name="reason"' in page
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    shown = shown_result_of(page)
    response = client.post(f"/visits/{visit['id']}/refer", data={"csrf_token": csrf, "reason": "", "assessment_id": shown})
    assert response.status_code == 302 and "refer_error=reason" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="refer-reason-error"' in page
    response = client.post(f"/visits/{visit['id']}/refer", data={"csrf_token": csrf, "reason": "new cough",
                                                                 "assessment_id": shown})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="referral-reason"' in page and "new cough" in page and 'id="withdraw-button"' in page


def test_a_delivered_referral_is_revoked_at_the_hospital(app, client, nurse, db, hospital):
    visit, _ = assessed_visit(client, nurse, PATIENT)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    worker = OutboxWorker(app.extensions["ildscreen"].folder, ReferralServerClient(hospital.url, TOKEN),
                          interval_s=1)
    assert worker.run_once()["delivery"]["delivered"] == 1
    withdrawn = client.post(f"/api/v1/referrals/{referral['id']}/withdraw", json={}, headers=nurse).json
    assert withdrawn["status"] == "revoking"
    assert worker.run_once()["revocation"]["revoked"] == 1
    assert client.get(f"/api/v1/referrals/{referral['id']}", headers=nurse).json["status"] == "revoked"
    assert hospital.referrals[referral["code"]]["status"] == "revoked"


def test_the_hospital_refusing_a_revocation_leaves_the_referral_delivered_and_says_why(app, client, nurse, hospital):
    visit, _ = assessed_visit(client, nurse, PATIENT)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    worker = OutboxWorker(app.extensions["ildscreen"].folder, ReferralServerClient(hospital.url, TOKEN),
                          interval_s=1)
    worker.run_once()
    hospital.report(referral["code"], haa_percent=3.0)
    client.post(f"/api/v1/referrals/{referral['id']}/withdraw", json={}, headers=nurse)
    assert worker.run_once()["revocation"]["refused"] == 1
    shown = client.get(f"/api/v1/referrals/{referral['id']}", headers=nurse).json
    assert shown["status"] in ("delivered", "reported") and "revocation refused" in (shown["last_error"] or "")


def test_a_referral_withdrawn_while_in_flight_is_revoked_once_it_arrives(app, client, nurse, db, hospital):
    visit, _ = assessed_visit(client, nurse, PATIENT)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    hospital.on_post = lambda code: outbox.withdraw_referral(
        app.extensions["ildscreen"].folder.connect(), outbox.audit.CLI_OPERATOR,
        referral["id"])
    worker = OutboxWorker(app.extensions["ildscreen"].folder, ReferralServerClient(hospital.url, TOKEN),
                          interval_s=1)
    worker.run_once()  # delivered while being withdrawn: revoked in the same round
    assert db.execute("SELECT status FROM referrals").fetchone()[0] == "revoked"
    assert hospital.referrals[referral["code"]]["status"] == "revoked"


def clipped_wav_bytes(seconds: float = 20.0, rate: int = 4000) -> bytes:
    """Noise driven to full scale: far more than 1 % of its samples are clipped."""
    signal = np.clip(3.0 * np.random.default_rng(1).standard_normal(int(seconds * rate)), -1.0, 1.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_a_refused_recording_never_reaches_the_letter(client, nurse):
    visit, _ = assessed_visit(client, nurse, PATIENT)
    good = client.post(f"/api/v1/visits/{visit['id']}/recordings", data={
        "chest_site": "posterior_left_base", "file": (io.BytesIO(lung_sound_bytes()), "base.wav")}, headers=nurse)
    # A take overdriven into clipping: refused by the gate's rules, whatever the learned quality
    # head makes of it (model 0.4.0's head accepts plain noise that 0.3.0's refused).
    bad = client.post(f"/api/v1/visits/{visit['id']}/recordings", data={
        "chest_site": "posterior_right_base", "file": (io.BytesIO(clipped_wav_bytes()), "clipped.wav")},
        headers=nurse)
    assert good.status_code == 201 and bad.status_code == 201, (good.json, bad.json)
    assert good.json["quality"]["ok"] and not bad.json["quality"]["ok"], (good.json["quality"], bad.json["quality"])
    client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)
    referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    client.set_cookie("lang", "en")
    letter = client.get(f"/referrals/{referral['id']}/letter").get_data(as_text=True)
    crackles = letter.split('id="letter-crackles">', 1)[1].split("</dd>", 1)[0]
    assert CATALOG["site_posterior_left_base"]["en"] in crackles
    assert CATALOG["site_posterior_right_base"]["en"] not in crackles
    payload = json.dumps(client.get(f"/api/v1/referrals/{referral['id']}", headers=nurse).json)
    assert "posterior_right_base" not in payload
    # On the visit page the refused take shows why and what to do, never a crackle probability.
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    refused = page.split(f'id="take-{bad.json["id"]}"', 1)[1].split("</li>\n", 1)[0]
    assert CATALOG["quality_refused"]["en"] in refused and CATALOG["crackle_probability"]["en"] not in refused
    reasons = refused.split('<ul class="refusal">', 1)[1].split("</ul>", 1)[0]
    assert reasons.count("<li>") >= 1 and not re.search(r"\b[a-z]+(_[a-z]+)*: \d", reasons)  # no "code: 19% ..."
