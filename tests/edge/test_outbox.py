"""Referrals reach the hospital exactly once, whatever the network does, and CT results come back,
the radiologist's later read included."""
import datetime as dt
import json
import random
import signal
import subprocess
import sys

import pytest

from support import PATIENT
from edge import outbox
from edge.outbox_worker import OutboxWorker
from hospital_double import TOKEN, HospitalDouble
from imaging_client.client import ReferralServerClient
from served import free_port


@pytest.fixture
def hospital():
    server = HospitalDouble()
    yield server
    server.stop()


@pytest.fixture
def referred(app, client, nurse):
    """A high-risk visit, assessed and referred: returns the referral as the API shows it."""
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)
    response = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert response.status_code == 201, response.json
    return response.json


def worker(app, url, timeout_s=5.0):
    folder = app.extensions["ildscreen"].folder
    return OutboxWorker(folder, ReferralServerClient(url, TOKEN, timeout_s=timeout_s), interval_s=1)


def make_due(db):
    db.execute("UPDATE referrals SET next_attempt_at = '2000-01-01T00:00:00+00:00'")


def status(db):
    return db.execute("SELECT status, attempts FROM referrals").fetchone()


def test_a_referral_is_delivered_and_its_ct_result_comes_back(app, client, db, hospital, referred):
    assert referred["status"] == "queued" and referred["code"].startswith("ILD-")
    summary = worker(app, hospital.url).run_once()
    assert summary["delivery"]["delivered"] == 1 and hospital.accepted_codes == [referred["code"]]
    assert worker(app, hospital.url).run_once()["results"]["waiting"] == 1
    hospital.report(referred["code"], haa_percent=12.5)
    assert worker(app, hospital.url).run_once()["results"]["reported"] == 1
    shown = client.get(f"/api/v1/referrals/{referred['id']}").json
    assert shown["status"] == "reported" and shown["imaging_result"]["metrics"]["haa_percent"] == 12.5


def test_ct_findings_are_kept_and_the_ild_extent_trend_shows_on_the_patient_page(app, client, db, hospital,
                                                                                  nurse, referred):
    """The hospital's new result fields (ILD extent, progression, nodules, bone) are stored and returned
    as sent, and the patient's timeline lists the ILD extent of each CT, oldest first."""
    patient_id = client.get(f"/api/v1/visits/{referred['visit_id']}", headers=nurse).json["patient_id"]
    visit = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=nurse).json
    client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)
    second = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).json
    worker(app, hospital.url).run_once()
    nodule = {"type": "part_solid", "mean_diameter_mm": 12.0, "solid_component_mm": 6.0, "center_mm": [1, 2, 3],
              "lung_rads": {"category": "4A"}, "fleischner": {"low_risk": "CT at 3-6 months"}}
    hospital.report(referred["code"], haa_percent=6.0,
                    findings={"ild_extent": {"percent": 6.2, "zones": {"upper": 0.1, "middle": 0.1, "lower": 24.0}}})
    worker(app, hospital.url).run_once()
    hospital.report(second["code"], haa_percent=9.0, findings={
        "ild_extent": {"percent": 14.8, "zones": {"upper": 0.1, "middle": 0.2, "lower": 55.0}},
        "progression": {"change_points": 8.6, "progression": True}, "nodules": [nodule],
        "bone": {"vertebrae": [{"index": 1, "trabecular_hu": 95.0}], "trabecular_hu": 95.0,
                 "flag": "likely_osteoporosis"}})
    worker(app, hospital.url).run_once()
    shown = client.get(f"/api/v1/referrals/{second['id']}", headers=nurse).json["imaging_result"]["metrics"]
    assert shown["nodules"] == [nodule] and shown["bone"]["flag"] == "likely_osteoporosis"
    assert shown["progression"]["progression"] is True
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    trend = page[page.index('id="ild-extent-trend"'):]
    assert trend.index("6.2%") < trend.index("14.8%") and "progression" in trend


def _final(code: str, ild: str, pattern: str | None = None, status: str = "final") -> dict:
    """The hospital's report once a radiologist has read it (imaging_server.fhir_report.with_ild_read)."""
    codes = [{"coding": [{"system": "urn:ildscreen:ild-status", "code": ild}]}]
    if pattern:
        codes.append({"coding": [{"system": "urn:ildscreen:ild-pattern", "code": pattern}]})
    return {"referral_code": code, "status": "reported", "report_status": status,
            "metrics": {"haa_percent": 12.5, "lung_volume_ml": 4200.0},
            "diagnostic_report": {"resourceType": "DiagnosticReport", "status": status, "conclusionCode": codes,
                                  "issued": "2026-03-02T10:00:00.000+00:00"}}


def _report_requests(hospital, code):
    return len([r for r in hospital.requests if r["path"].endswith(f"{code}/report")])


def test_the_radiologists_later_read_reaches_the_timeline_and_confirms_ild(app, client, db, hospital, nurse,
                                                                          referred):
    code = referred["code"]
    patient_id = client.get(f"/api/v1/visits/{referred['visit_id']}", headers=nurse).json["patient_id"]
    worker(app, hospital.url).run_once()
    hospital.report(code, haa_percent=12.5)  # the automated, preliminary report
    assert worker(app, hospital.url).run_once()["results"]["reported"] == 1
    assert worker(app, hospital.url).run_once()["results"]["updated"] == 0  # asked again, nothing new
    assert client.get(f"/api/v1/patients/{patient_id}/outcomes", headers=nurse).json["outcomes"] == []

    hospital.reports[code] = _final(code, "present", "UIP")
    assert worker(app, hospital.url).run_once()["results"]["updated"] == 1
    outcomes = client.get(f"/api/v1/patients/{patient_id}/outcomes", headers=nurse).json["outcomes"]
    assert [(o["origin"], o["ild"], o["pattern"], o["confirmed"], o["referral_id"]) for o in outcomes] == [
        ("hospital", "present", "UIP", True, referred["id"])]
    assessed = client.post(f"/api/v1/visits/{referred['visit_id']}/assessments", json={}, headers=nurse).json
    assert assessed["confirmed_ild"] == {"source": "hrct_report", "date": "2026-03-02",
                                         "referral_id": referred["id"]}

    hospital.reports[code] = _final(code, "absent", status="amended")  # the read changed
    db.execute("UPDATE referrals SET next_attempt_at = '2000-01-01T00:00:00+00:00'")
    assert worker(app, hospital.url).run_once()["results"]["updated"] == 1
    outcomes = client.get(f"/api/v1/patients/{patient_id}/outcomes", headers=nurse).json["outcomes"]
    assert [(o["ild"], o["confirmed"]) for o in outcomes] == [("absent", True)]  # one CT, one outcome
    assert db.execute("SELECT COUNT(*) FROM imaging_results").fetchone()[0] == 1
    assert db.execute("SELECT server_status FROM referrals").fetchone()[0] == "amended"


def test_reported_referrals_are_asked_less_often_and_not_after_the_window(app, db, hospital, referred):
    code = referred["code"]
    client_ = ReferralServerClient(hospital.url, TOKEN)
    outbox.deliver_due(db, client_)
    hospital.report(code, haa_percent=12.5)
    outbox.poll_results(db, client_)
    asked = _report_requests(hospital, code)
    db.execute("UPDATE imaging_results SET received_at = ?", [outbox._at(-10 * 86400.0)])  # waited 10 days
    outbox.poll_results(db, client_)
    assert _report_requests(hospital, code) == asked + 1
    next_at = dt.datetime.fromisoformat(db.execute("SELECT next_attempt_at FROM referrals").fetchone()[0])
    wait_s = (next_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert outbox.READ_POLL_CAP_S - 60 < wait_s <= outbox.READ_POLL_CAP_S  # a tenth of 10 days, capped at 6 h
    outbox.poll_results(db, client_)
    assert _report_requests(hospital, code) == asked + 1  # not due yet

    db.execute("UPDATE referrals SET next_attempt_at = '2000-01-01T00:00:00+00:00'")
    outbox.poll_results(db, client_, result_poll_days=10)  # the window has closed
    assert _report_requests(hospital, code) == asked + 1
    outbox.poll_results(db, client_, result_poll_days=11)
    assert _report_requests(hospital, code) == asked + 2


def test_read_poll_delay_grows_with_the_wait_and_is_capped():
    assert outbox.read_poll_delay(0) == 0 and outbox.read_poll_delay(600) == 60
    assert outbox.read_poll_delay(30 * 86400) == outbox.READ_POLL_CAP_S


def test_result_poll_days_zero_stops_at_the_first_result(app, db, hospital, referred):
    client_ = ReferralServerClient(hospital.url, TOKEN)
    outbox.deliver_due(db, client_)
    hospital.report(referred["code"], haa_percent=12.5)
    outbox.poll_results(db, client_, result_poll_days=0)
    asked = _report_requests(hospital, referred["code"])
    hospital.reports[referred["code"]] = _final(referred["code"], "present")
    assert outbox.poll_results(db, client_, result_poll_days=0)["updated"] == 0
    assert _report_requests(hospital, referred["code"]) == asked


def test_an_unreachable_hospital_while_waiting_for_the_read_keeps_the_stored_report(app, db, hospital, referred):
    client_ = ReferralServerClient(hospital.url, TOKEN)
    outbox.deliver_due(db, client_)
    hospital.report(referred["code"], haa_percent=12.5)
    outbox.poll_results(db, client_)
    stored = db.execute("SELECT report FROM imaging_results").fetchone()[0]
    hospital.fail_next = 1
    assert outbox.poll_results(db, client_)["unreachable"] == 1
    assert db.execute("SELECT report FROM imaging_results").fetchone()[0] == stored
    assert db.execute("SELECT status FROM referrals").fetchone()[0] == "reported"


def test_results_without_ild_extent_make_no_trend():
    assert outbox.ild_extent_trend([{"imaging_result": {"received_at": "2026-01-01", "metrics": {"haa_percent": 5}}},
                                    {"imaging_result": None}]) == []


def test_server_down_then_back_delivers_once(app, db, referred):
    port = free_port()
    assert worker(app, f"http://127.0.0.1:{port}").run_once()["delivery"]["retrying"] == 1
    row = db.execute("SELECT status, attempts, last_error, next_attempt_at FROM referrals").fetchone()
    assert row[:2] == ("retrying", 1) and "unreachable" in row[2]
    assert worker(app, f"http://127.0.0.1:{port}").run_once()["delivery"] == {"delivered": 0, "retrying": 0,
                                                                              "rejected": 0}  # not due yet
    hospital = HospitalDouble(port)
    try:
        make_due(db)
        worker(app, hospital.url).run_once()
        assert status(db) == ("delivered", 2) and hospital.accepted_codes == [referred["code"]]
    finally:
        hospital.stop()


def test_server_answering_500_is_retried_until_accepted_once(app, db, hospital, referred):
    hospital.fail_next = 2
    for _ in range(3):
        make_due(db)
        worker(app, hospital.url).run_once()
    assert status(db) == ("delivered", 3)
    assert len([r for r in hospital.requests if r["method"] == "POST"]) == 3
    assert hospital.accepted_codes == [referred["code"]]


def test_a_slow_server_that_times_out_still_gets_the_referral_once(app, db, hospital, referred):
    hospital.delay_s = 1.0
    worker(app, hospital.url, timeout_s=0.3).run_once()  # the server stores it, the client gives up
    assert status(db)[0] == "retrying"
    hospital.delay_s = 0
    make_due(db)
    worker(app, hospital.url).run_once()  # the replay is answered 200: already have it
    assert status(db)[0] == "delivered" and hospital.accepted_codes == [referred["code"]]


KILLED_DELIVERY = """
import sys
from edge.config import load_settings
from edge.outbox_worker import OutboxWorker
from edge.service import prepare_data_folder
from imaging_client.client import ReferralServerClient
folder, _ = prepare_data_folder(load_settings(data_dir=sys.argv[1]))
OutboxWorker(folder, ReferralServerClient(sys.argv[2], sys.argv[3]), interval_s=1).run_once()
"""


def test_an_edge_killed_mid_delivery_resends_after_restart_and_the_server_keeps_one(app, settings, db, hospital,
                                                                                     referred):
    edge = subprocess.Popen([sys.executable, "-c", KILLED_DELIVERY, str(settings.data_dir), hospital.url, TOKEN])
    hospital.on_post = lambda code: edge.send_signal(signal.SIGKILL)  # dies before hearing the answer
    edge.wait(timeout=60)
    assert edge.returncode == -signal.SIGKILL
    hospital.on_post = None
    assert hospital.accepted_codes == [referred["code"]]
    assert status(db)[0] == "queued"  # the edge never learnt of the success
    make_due(db)  # the claim lease would expire on its own after CLAIM_LEASE_S
    worker(app, hospital.url).run_once()
    assert status(db)[0] == "delivered" and hospital.accepted_codes == [referred["code"]]


def test_a_rejected_referral_is_not_retried_and_says_why(app, db, hospital, referred):
    payload = json.loads(db.execute("SELECT payload FROM referrals").fetchone()[0])
    db.execute("UPDATE referrals SET payload = ?", [json.dumps({**payload, "invalid_for_test": True})])
    worker(app, hospital.url).run_once()
    row = db.execute("SELECT status, last_error FROM referrals").fetchone()
    assert row[0] == "rejected" and "bad bundle" in row[1]
    make_due(db)
    assert worker(app, hospital.url).run_once()["delivery"]["delivered"] == 0


def test_imaging_failure_at_the_hospital_is_shown(app, db, hospital, referred):
    worker(app, hospital.url).run_once()
    hospital.referrals[referred["code"]]["status"] = "failed"
    worker(app, hospital.url).run_once()
    assert db.execute("SELECT status, last_error FROM referrals").fetchone() == (
        "imaging_failed", "series is not CT (modality MR)")


def test_every_outgoing_payload_is_free_of_identifying_data(app, client, db, hospital, referred):
    worker(app, hospital.url).run_once()
    hospital.report(referred["code"], haa_percent=3.0)
    worker(app, hospital.url).run_once()
    usernames = [row[0] for row in db.execute("SELECT username FROM users")]
    for sent in hospital.requests:
        assert PATIENT["code"] not in sent["body"] and PATIENT["code"] not in sent["path"]
        for username in usernames:
            assert username not in sent["body"]


def test_refer_needs_an_assessment_and_only_once(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    early = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert early.status_code == 422 and "assess the visit before referring" in early.json["error"]["message"]
    client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse)
    assert client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse).status_code == 201
    again = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={}, headers=nurse)
    assert again.status_code == 409
    assert len(client.get(f"/api/v1/referrals?patient_id={patient['id']}").json["referrals"]) == 1


def test_backoff_grows_with_attempts_and_is_capped():
    rng = random.Random(0)
    assert all(1 <= outbox.backoff_delay(1, rng=rng) <= 10 for _ in range(100))
    assert max(outbox.backoff_delay(4, rng=rng) for _ in range(200)) > 40
    assert all(outbox.backoff_delay(30, rng=rng) <= outbox.BACKOFF_CAP_S for _ in range(100))


def test_outbox_cli_says_when_nothing_waits_and_whether_referrals_can_leave(runner, settings, app, monkeypatch):
    """README, First day for clinic IT: `ildscreen outbox status` shows whether referrals go out. An empty
    outbox printed nothing at all, and an outbox with no referral server looked like one that works."""
    from edge.cli import cli

    folder = ["--data-dir", str(settings.data_dir)]
    empty = runner.invoke(cli, ["outbox", "status", *folder])
    assert empty.exit_code == 0 and empty.output.splitlines() == [
        "no referrals in the outbox",
        "no referral server configured (ILDSCREEN_REFERRAL_SERVER_URL, ILDSCREEN_REFERRAL_SERVER_TOKEN): "
        "referrals wait in the outbox"]
    monkeypatch.setenv("ILDSCREEN_REFERRAL_SERVER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ILDSCREEN_REFERRAL_SERVER_TOKEN", "a-clinic-token")
    configured = runner.invoke(cli, ["outbox", "status", *folder])
    assert configured.exit_code == 0 and configured.output.splitlines() == ["no referrals in the outbox"]


def test_outbox_cli_reports_status(runner, settings, referred, db):
    from edge.cli import cli

    result = runner.invoke(cli, ["outbox", "status", "--json", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0 and json.loads(result.output)[0]["status"] == "queued"
    reads = db.execute("SELECT detail FROM audit_log WHERE action = 'read' AND username = 'cli'").fetchall()
    assert reads == [('{"command": "outbox status"}',)]  # the operator's read is audited too
    unconfigured = runner.invoke(cli, ["outbox", "deliver", "--data-dir", str(settings.data_dir)])
    assert unconfigured.exit_code == 1 and "no referral server configured" in unconfigured.output
    listed = runner.invoke(cli, ["outbox", "status", "--data-dir", str(settings.data_dir)]).output.splitlines()
    assert "queued" in listed[0] and listed[1].startswith("no referral server configured")
