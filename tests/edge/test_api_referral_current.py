"""A referral through the HTTP API carries a current result, as the tablet's does (brief h68, point 1):
one check, edge.freshness.require_current, reached through edge.outbox.create_referral by both. A
result that no longer reflects the visit (a blood test after it, programme settings changed) is
refused with 409 naming what changed and the current result; a client that names the result it
showed (``assessment_id``) is refused when another calculated again; a client that names none (one
written before the field) still gets the first check. The check and the insert hold the write lock
together, so nothing stored meanwhile slips between them.

The API also says it before any referral (brief h79): each assessment it answers carries its
``freshness`` (edge.freshness.freshness_of_results), the verdict the referral check and the visit
page reach, so a referral naming it answers 409 exactly when the API called it not current."""
from __future__ import annotations

import sqlite3

import pytest

from edge import freshness, labs, outbox, patients, screening
from edge.audit import Actor
from edge.web import visit_views
from support import PATIENT, assert_referral_follows_freshness, freshness_by_assessment

CURRENT = {"current": True, "superseded_by": None, "changed": [], "settings_changed": [], "models_changed": [],
           "models_unchecked": []}


def referrals(db) -> int:
    return db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0]


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def assess(client, nurse, visit_id: int) -> int:
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse)
    assert response.status_code == 201, response.json
    return response.json["id"]


def add_labs(client, nurse, visit_id: int) -> None:
    response = client.post(f"/api/v1/visits/{visit_id}/labs", headers=nurse,
                           json={"results": [{"analyte": "kl6", "value": 900, "unit": "U/mL"}]})
    assert response.status_code == 201, response.json


def refer(client, nurse, visit_id: int, **body):
    return client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": "new cough", **body}, headers=nurse)


def test_a_result_out_of_date_is_refused_naming_what_changed_and_the_current_result(client, nurse, db, visit_id):
    shown = assess(client, nurse, visit_id)
    add_labs(client, nurse, visit_id)
    for body in ({}, {"assessment_id": shown}):  # named or not, the result misses the blood test
        refused = refer(client, nurse, visit_id, **body)
        assert refused.status_code == 409
        error = refused.json["error"]
        assert error["code"] == "result_out_of_date" and error["changed"] == ["labs"]
        assert error["current_assessment_id"] == shown and error["settings_changed"] == []
        assert "labs" in error["message"]
    assert referrals(db) == 0
    current = assess(client, nurse, visit_id)
    sent = refer(client, nurse, visit_id, assessment_id=current)
    assert sent.status_code == 201 and sent.json["assessment_id"] == current and referrals(db) == 1


def test_a_result_named_but_no_longer_the_latest_is_refused(client, nurse, db, visit_id):
    shown = assess(client, nurse, visit_id)
    current = assess(client, nurse, visit_id)  # another client calculated again
    refused = refer(client, nurse, visit_id, assessment_id=shown)
    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "result_superseded" and error["current_assessment_id"] == current
    assert str(shown) in error["message"] and referrals(db) == 0
    # A client written before the field names none: the latest result, current, is sent.
    sent = refer(client, nurse, visit_id)
    assert sent.status_code == 201 and sent.json["assessment_id"] == current


def test_a_result_under_settings_since_changed_is_refused(app, client, nurse, db, visit_id, monkeypatch):
    assess(client, nurse, visit_id)
    settings = app.extensions["ildscreen"].settings
    monkeypatch.setattr(settings, "evidence_lr_cap", settings.evidence_lr_cap * 2)
    refused = refer(client, nurse, visit_id)
    assert refused.status_code == 409
    assert refused.json["error"]["settings_changed"] == ["evidence_options.lr_cap"]
    assert referrals(db) == 0


@pytest.mark.parametrize("assessment_id", [0, "7", -1])
def test_an_assessment_id_that_is_not_an_id_is_refused_by_name(client, nurse, db, visit_id, assessment_id):
    assess(client, nurse, visit_id)
    refused = refer(client, nurse, visit_id, assessment_id=assessment_id)
    assert refused.status_code == 422
    assert [field["field"] for field in refused.json["error"]["fields"]] == ["assessment_id"]
    assert referrals(db) == 0


def test_the_check_and_the_insert_hold_the_write_lock_together(client, nurse, db, visit_id, monkeypatch):
    """While the result is checked no other writer (a blood test from another tab) can start: the
    one it would have slipped in before is refused as locked, and the referral carries the result
    that was checked."""
    assessment_id = assess(client, nurse, visit_id)
    path = db.execute("PRAGMA database_list").fetchone()[2]
    checked = freshness.require_current
    other_writer = []

    def check_while_another_writes(*args, **kwargs):
        other = sqlite3.connect(path, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other_writer.append("started")
            other.rollback()
        except sqlite3.OperationalError as exc:
            other_writer.append(str(exc))
        finally:
            other.close()
        return checked(*args, **kwargs)

    monkeypatch.setattr(freshness, "require_current", check_while_another_writes)  # create_referral imports it when it runs
    nurse_actor = Actor(user_id=1, username="nurse1", role="nurse")
    referral = outbox.create_referral(db, nurse_actor, visit_id, site_secret=b"s" * 32, reason="new cough",
                                      assessment_id=assessment_id)
    assert other_writer == ["database is locked"]
    assert referral["assessment_id"] == assessment_id


def superseded_by(latest: int) -> dict:
    return {**CURRENT, "current": False, "superseded_by": latest}


def test_a_fresh_result_reads_current_and_is_referred(client, nurse, db, visit_id):
    answer = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse)
    assert answer.status_code == 201 and answer.json["freshness"] == CURRENT
    assert assert_referral_follows_freshness(client, nurse, visit_id) == {answer.json["id"]: CURRENT}
    assert referrals(db) == 1


def test_a_blood_test_after_the_result_reads_changed_labs_on_the_api_and_the_page(client, nurse, db, visit_id):
    shown = assess(client, nurse, visit_id)
    add_labs(client, nurse, visit_id)
    out_of_date = {**CURRENT, "current": False, "changed": ["labs"]}
    assert freshness_by_assessment(client, nurse, visit_id) == {shown: out_of_date}
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)  # the tablet holds the referral too
    assert 'id="result-out-of-date"' in page and 'id="refer-needs-current"' in page and 'id="refer-form"' not in page
    assert assert_referral_follows_freshness(client, nurse, visit_id) == {shown: out_of_date}
    assert referrals(db) == 0
    current = assess(client, nurse, visit_id)
    assert assert_referral_follows_freshness(client, nurse, visit_id) == {shown: superseded_by(current),
                                                                           current: CURRENT}
    assert referrals(db) == 1


def test_a_settings_change_reads_settings_changed(app, client, nurse, db, visit_id, monkeypatch):
    shown = assess(client, nurse, visit_id)
    settings = app.extensions["ildscreen"].settings
    monkeypatch.setattr(settings, "evidence_lr_cap", settings.evidence_lr_cap * 2)
    assert assert_referral_follows_freshness(client, nurse, visit_id) == {
        shown: {**CURRENT, "current": False, "settings_changed": ["evidence_options.lr_cap"]}}
    assert referrals(db) == 0


def test_every_earlier_result_reads_superseded_by_the_latest(client, nurse, db, visit_id):
    assert freshness_by_assessment(client, nurse, visit_id) == {}  # not assessed: nothing to say
    first, second, latest = (assess(client, nurse, visit_id) for _ in range(3))
    assert assert_referral_follows_freshness(client, nurse, visit_id) == {
        first: superseded_by(latest), second: superseded_by(latest), latest: CURRENT}
    assert referrals(db) == 1


def test_the_list_and_its_freshness_are_read_in_one_snapshot(client, nurse, db, visit_id, monkeypatch):
    """Brief h85, point 1: lung function another tab records after the service read the visit's
    results and before it judged them (committed through another connection to the same SQLite
    file) is not in that answer's freshness, as it is not in its list: one read transaction, one
    state of the visit. The next read sees it."""
    shown = assess(client, nurse, visit_id)
    listed = screening.list_assessments
    another_tab = []

    def list_then_another_tab_writes(*args, **kwargs):
        results = listed(*args, **kwargs)
        if not another_tab:  # once: in the answer below, not in the next read
            another_tab.append(patients.set_lung_function(
                db, Actor(user_id=1, username="nurse1", role="nurse"), visit_id, fvc_percent=62.0,
                dlco_percent=None, dlco_not_performed=True))
        return results

    monkeypatch.setattr(screening, "list_assessments", list_then_another_tab_writes)
    assert freshness_by_assessment(client, nurse, visit_id) == {shown: CURRENT}
    assert another_tab and another_tab[0]["lung_function"]["fvc_percent"] == 62.0  # it was committed meanwhile
    assert freshness_by_assessment(client, nurse, visit_id) == {
        shown: {**CURRENT, "current": False, "changed": ["lung_function"]}}


def test_the_visit_page_reads_its_result_and_whether_it_is_current_in_one_snapshot(client, nurse, db, visit_id,
                                                                                  monkeypatch):
    """As the API's list: a blood test another tab records after the page read the visit (committed
    through another connection to the same SQLite file) is not in that page's verdict, as it is not in
    its lab panel; the next page shows the result out of date."""
    assess(client, nurse, visit_id)
    summarised = visit_views.visit_summary
    another_tab = []

    def summary_then_another_tab_writes(*args, **kwargs):
        summary = summarised(*args, **kwargs)
        if not another_tab:
            another_tab.append(labs.add_lab_panel(
                db, Actor(user_id=1, username="nurse1", role="nurse"), visit_id,
                [{"analyte": "kl6", "value": 900, "unit": "U/mL"}], unit_check_factor=3.0))
        return summary

    monkeypatch.setattr(visit_views, "visit_summary", summary_then_another_tab_writes)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert another_tab and 'id="result-out-of-date"' not in page and 'id="refer-form"' in page
    again = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="result-out-of-date"' in again and 'id="refer-form"' not in again
