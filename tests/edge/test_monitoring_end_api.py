"""Ending ILD monitoring at the clinic through the real app and its SQLite file: clinicians only, validated
and audited, said once when sent twice, undone by resuming; a new assessment then shows the plan as ended and
asks a clinician to review a new concern, and only an MDT that ruled ILD out sends the patient back to
screening, saying so. An end applies to visits dated on or after it: an earlier visit's assessment keeps the
plan of its date, and its result stays current when monitoring is ended or resumed."""
import datetime as dt
import json

import pytest

from edge.vocabulary import MONITORING_END_NOTE_MAX
from support import PATIENT, login, patch_visit
from test_outcomes_api import patient_id  # noqa: F401 (a fixture)

CONFIRMED_ON = (dt.date.today() - dt.timedelta(days=200)).isoformat()
ENDED_ON = (dt.date.today() - dt.timedelta(days=10)).isoformat()
WEEK_DATE = "{}-W{:02d}-{}".format(*(dt.date.today() - dt.timedelta(days=100)).isocalendar())


@pytest.fixture
def clinician(client, make_user, patient_id):
    """A clinician signed in (the outcomes tests' patient registered by the nurse), who confirmed the patient's ILD."""
    make_user("clin1", "clinician")
    headers = login(client, "clin1")
    confirmed = client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=headers,
                            json={"date": CONFIRMED_ON, "source": "hrct", "ild": "present"})
    assert confirmed.status_code == 201, confirmed.json
    return headers


def end(client, headers, patient_id, **body):
    return client.post(f"/api/v1/patients/{patient_id}/monitoring-ends", headers=headers,
                       json={"date": ENDED_ON, "reason": "transferred", **body})


def assess_new_visit(client, headers, patient_id) -> dict:
    visits = client.get(f"/api/v1/patients/{patient_id}/visits", headers=headers).json["visits"]
    for visit in visits:
        if visit["status"] == "open":
            assert patch_visit(client, visit["id"], {"status": "completed"}, headers).status_code == 200
    visit = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=headers).json
    response = client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def test_a_clinician_ends_monitoring_once_audited_and_a_repeat_changes_nothing(client, clinician, patient_id, db):
    first = end(client, clinician, patient_id)
    assert first.status_code == 201, first.json
    assert first.json["ended_on"] == ENDED_ON and first.json["reason"] == "transferred"
    assert first.json["already_ended"] is False and first.json["resumed_at"] is None
    again = end(client, clinician, patient_id, reason="declined")
    assert again.status_code == 200 and again.json["already_ended"] is True
    assert again.json["id"] == first.json["id"] and again.json["reason"] == "transferred"  # the first one's values
    entries = db.execute("SELECT username, action, entity, entity_id, detail FROM audit_log "
                         "WHERE entity = 'monitoring_end'").fetchall()
    assert [(user, action, entity, int(entity_id)) for user, action, entity, entity_id, _ in entries] == [
        ("clin1", "end_monitoring", "monitoring_end", first.json["id"])]
    assert json.loads(entries[0][4]) == {"patient_id": patient_id, "ended_on": ENDED_ON, "reason": "transferred"}
    listed = client.get(f"/api/v1/patients/{patient_id}/monitoring-ends", headers=clinician).json
    assert [item["id"] for item in listed["monitoring_ends"]] == [first.json["id"]]


def test_a_nurse_may_read_but_not_end_or_resume(client, clinician, nurse, patient_id, db):
    ended = end(client, clinician, patient_id).json
    client.post("/api/v1/auth/logout", headers=clinician)
    nurse_headers = login(client, "nurse1")
    assert end(client, nurse_headers, patient_id).status_code == 403
    assert client.post(f"/api/v1/monitoring-ends/{ended['id']}/resume", headers=nurse_headers).status_code == 403
    assert client.get(f"/api/v1/patients/{patient_id}/monitoring-ends", headers=nurse_headers).status_code == 200
    assert db.execute("SELECT resumed_at FROM monitoring_ends").fetchall() == [(None,)]


@pytest.mark.parametrize("body, field", [
    ({"date": "2026-13-01"}, "date"),
    ({"date": "12/03/2026"}, "date"),
    ({"date": WEEK_DATE}, "date"),  # an ISO week date Python 3.11 reads (after the confirmation): not YYYY-MM-DD
    ({"date": (dt.date.today() + dt.timedelta(days=1)).isoformat()}, "date"),
    ({"date": (dt.date.today() - dt.timedelta(days=400)).isoformat()}, "date"),  # before ILD was confirmed
    ({"reason": "moved_away"}, "reason"),
    ({"reason": "other"}, "note"),  # other needs a note
    ({"reason": "other", "note": "  "}, "note"),
    ({"reason": "other", "note": "line one\nline two"}, "note"),
    ({"reason": "other", "note": "\x1b[2J moved"}, "note"),
    ({"reason": "other", "note": "x" * (MONITORING_END_NOTE_MAX + 1)}, "note"),
    ({"extra": 1}, "extra"),
])
def test_bad_values_are_refused_naming_the_field_and_nothing_is_stored(client, clinician, patient_id, db, body,
                                                                       field):
    response = end(client, clinician, patient_id, **body)
    assert response.status_code == 422, response.json
    assert [item["field"] for item in response.json["error"]["fields"]] == [field]
    assert db.execute("SELECT COUNT(*) FROM monitoring_ends").fetchone()[0] == 0


def test_unknown_patient_or_end_is_404_and_a_patient_without_confirmed_ild_is_409(client, clinician, nurse, db):
    assert end(client, clinician, 999).status_code == 404
    assert client.post("/api/v1/monitoring-ends/999/resume", headers=clinician).status_code == 404
    other = client.post("/api/v1/patients", json={**PATIENT, "code": "CL1-0002"}, headers=clinician).json
    refused = end(client, clinician, other["id"])
    assert refused.status_code == 409 and "no confirmed ILD" in refused.json["error"]["message"]
    assert db.execute("SELECT COUNT(*) FROM monitoring_ends").fetchone()[0] == 0


def test_other_with_a_note_is_kept_and_the_note_stays_out_of_the_trail_and_the_advice(client, clinician,
                                                                                       patient_id, db):
    ended = end(client, clinician, patient_id, reason="other", note="  followed by a private chest physician  ")
    assert ended.status_code == 201 and ended.json["note"] == "followed by a private chest physician"
    assert "private" not in db.execute("SELECT detail FROM audit_log WHERE entity = 'monitoring_end'").fetchone()[0]
    assessment = assess_new_visit(client, clinician, patient_id)
    assert assessment["monitoring"]["ended"]["note"] == "followed by a private chest physician"
    assert "private" not in assessment["recommendation"]["text"]  # the text leaves the clinic in a referral


def test_after_an_end_a_new_assessment_shows_the_plan_ended_and_asks_for_a_clinicians_review(client, clinician,
                                                                                               patient_id):
    before = assess_new_visit(client, clinician, patient_id)
    assert before["monitoring"]["next_pft_due"] is not None
    end(client, clinician, patient_id, reason="declined")
    after = assess_new_visit(client, clinician, patient_id)
    assert after["pathway"] == "monitoring"  # ILD is still known: never back to screening
    plan, recommendation = after["monitoring"], after["recommendation"]
    assert plan["ended"] == {"date": ENDED_ON, "reason": "declined", "note": ""}
    assert plan["pft_every_months"] is None and plan["next_pft_due"] is None and plan["next_pft_from"] is None
    assert recommendation["advice"] == "monitoring_ended"
    assert f"ended on {ENDED_ON} (the patient declined monitoring)" in recommendation["text"]
    assert "a clinician's decision, not a guideline rule" in recommendation["text"]
    assert "A new concern needs a clinician's review." in recommendation["text"]
    assert not any(step.startswith("PFTs") for step in recommendation["next_steps"])
    assert recommendation["guideline"]["source"].startswith("programme assumption")


def test_resuming_brings_the_pft_interval_back_and_a_second_resume_changes_nothing(client, clinician,
                                                                                    patient_id, db):
    ended = end(client, clinician, patient_id).json
    resumed = client.post(f"/api/v1/monitoring-ends/{ended['id']}/resume", headers=clinician)
    assert resumed.status_code == 200 and resumed.json["already_resumed"] is False
    assert resumed.json["resumed_at"] is not None
    again = client.post(f"/api/v1/monitoring-ends/{ended['id']}/resume", headers=clinician)
    assert again.status_code == 200 and again.json["already_resumed"] is True
    assert again.json["resumed_at"] == resumed.json["resumed_at"]
    actions = [row[0] for row in db.execute("SELECT action FROM audit_log WHERE entity = 'monitoring_end' "
                                            "ORDER BY id")]
    assert actions == ["end_monitoring", "resume_monitoring"]
    after = assess_new_visit(client, clinician, patient_id)
    assert after["recommendation"]["advice"] == "monitoring" and after["monitoring"]["next_pft_due"] is not None
    # Monitoring can be ended again once resumed: a new end, the old one kept in the history.
    second = end(client, clinician, patient_id, reason="died")
    assert second.status_code == 201 and second.json["id"] != ended["id"]
    listed = client.get(f"/api/v1/patients/{patient_id}/monitoring-ends", headers=clinician).json["monitoring_ends"]
    assert [item["reason"] for item in listed] == ["transferred", "died"]


def test_an_mdt_that_ruled_ild_out_sends_the_patient_back_to_screening_and_says_so(client, clinician, patient_id):
    end(client, clinician, patient_id, reason="mdt_no_ild")
    after = assess_new_visit(client, clinician, patient_id)
    assert after["pathway"] == "screening" and after["monitoring"] is None
    recommendation = after["recommendation"]
    assert recommendation["advice"] != "monitoring" and recommendation["monitoring_ended"]["reason"] == "mdt_no_ild"
    assert recommendation["text"].startswith(f"Monitoring of ILD was ended on {ENDED_ON} (an MDT ruled ILD out), a "
                                             "clinician's decision, not a guideline rule")
    assert "screening advice applies again." in recommendation["text"]


def test_a_read_with_ild_after_the_mdts_ruling_puts_monitoring_back(client, clinician, patient_id):
    end(client, clinician, patient_id, reason="mdt_no_ild")
    later = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    assert client.post(f"/api/v1/patients/{patient_id}/outcomes", headers=clinician,
                       json={"date": later, "source": "hrct", "ild": "present"}).status_code == 201
    after = assess_new_visit(client, clinician, patient_id)
    assert after["pathway"] == "monitoring" and after["recommendation"]["advice"] == "monitoring"


def test_a_result_made_before_the_end_or_the_resume_is_out_of_date_until_calculated_again(client, clinician,
                                                                                         patient_id):
    assessment = assess_new_visit(client, clinician, patient_id)
    visit_id = assessment["visit_id"]
    ended = end(client, clinician, patient_id).json
    refused = client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": "HRCT at the ILD clinic"},
                          headers=clinician)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "result_out_of_date"
    assert refused.json["error"]["changed"] == ["monitoring"]
    again = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=clinician).json
    assert again["recommendation"]["advice"] == "monitoring_ended"
    client.post(f"/api/v1/monitoring-ends/{ended['id']}/resume", headers=clinician)
    refused = client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": "HRCT at the ILD clinic"},
                          headers=clinician)
    assert refused.status_code == 409 and refused.json["error"]["changed"] == ["monitoring"]
    client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=clinician)
    sent = client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": "HRCT at the ILD clinic"},
                       headers=clinician)
    assert sent.status_code == 201, sent.json


# --- an end applies to visits dated on or after it -------------------------------------------------

def visit_dated(client, headers, db, patient_id, day: str) -> int:
    """A visit of the patient dated ``day`` (ISO): one seen before the end was recorded, say, or still open."""
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=headers).json["id"]
    db.execute("UPDATE visits SET started_at = ? WHERE id = ?", [f"{day}T09:00:00.000+00:00", visit_id])
    db.conn.commit()
    return visit_id


def assess_visit(client, headers, visit_id) -> dict:
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.parametrize("reason", ["transferred", "mdt_no_ild"])
def test_an_end_dated_after_a_visit_does_not_apply_to_its_assessment(client, clinician, patient_id, db, reason):
    """The visit's advice is the patient's state as of its date: monitoring here, the ILD confirmed, no MDT
    ruling yet. A visit dated on the end's day or after follows the end."""
    before = visit_dated(client, clinician, db, patient_id, (dt.date.today() - dt.timedelta(days=30)).isoformat())
    on_the_day = visit_dated(client, clinician, db, patient_id, ENDED_ON)
    assert end(client, clinician, patient_id, reason=reason).status_code == 201
    earlier = assess_visit(client, clinician, before)
    assert earlier["pathway"] == "monitoring" and earlier["recommendation"]["advice"] == "monitoring"
    assert earlier["monitoring"]["next_pft_due"] is not None and earlier["monitoring"].get("ended") is None
    assert earlier["inputs"]["monitoring_ended"] is None
    ended = assess_visit(client, clinician, on_the_day)
    assert ended["recommendation"]["monitoring_ended"]["date"] == ENDED_ON
    assert ended["pathway"] == ("screening" if reason == "mdt_no_ild" else "monitoring")


def test_ending_or_resuming_after_a_visit_leaves_its_result_current(client, clinician, patient_id, db):
    """Coherent with what Calculate reads: an end the visit's assessment would not follow is no change."""
    before = visit_dated(client, clinician, db, patient_id, (dt.date.today() - dt.timedelta(days=30)).isoformat())
    first = assess_visit(client, clinician, before)
    ended = end(client, clinician, patient_id).json
    verdict = client.get(f"/api/v1/visits/{before}/assessments", headers=clinician).json["assessments"][-1]
    assert verdict["freshness"]["current"] and verdict["freshness"]["changed"] == []
    page = client.get(f"/visits/{before}").get_data(as_text=True)
    assert 'id="result-out-of-date"' not in page
    client.post(f"/api/v1/monitoring-ends/{ended['id']}/resume", headers=clinician)
    sent = client.post(f"/api/v1/visits/{before}/referrals", json={"reason": "HRCT at the ILD clinic",
                                                                  "assessment_id": first["id"]}, headers=clinician)
    assert sent.status_code == 201, sent.json
