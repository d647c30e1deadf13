"""The clinic's programme figures for the regional view: aggregates only (a planted patient code
and dates never leave), small cells suppressed with their complements, queued once per change in
the outbox and delivered exactly once to a real ``ildscreen imaging-server serve``, on demand from
the CLI and on the service's schedule."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import sys
from pathlib import Path

import pytest
import requests

from support import PATIENT, clean_env
from edge import audit, outbox, patients, programme
from edge.commands.programme import send_summary
from edge.fusion.triage import TriageThresholds
from edge.outbox_worker import OutboxWorker
from edge.outcome_labels import assessed_visits
from edge.outcomes import record_outcome
from edge.screening import assess_visit
from edge.simulation import simulated_evidence
from edge.store.database import write_transaction
from imaging_client.client import ReferralServerClient
from imaging_server.programme_figures import Refusals, validate_figures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging_server"))
from test_ct_serve_process import CtServer, ildscreen  # noqa: E402

CLINICIAN = audit.Actor(None, "test", "clinician")
PLANTED_CODE = "PLANT-ZX9Q"
PLANTED_DATE = "2026-03-17"


def screen(db, code, probability, *, refer=False, site_secret=b"s" * 32):
    patient = patients.create_patient(db, CLINICIAN, {**PATIENT, "code": code})
    visit = patients.create_visit(db, CLINICIAN, patient["id"])
    evidence = simulated_evidence("labs", probability, prevalence=0.29)
    assess_visit(db, CLINICIAN, visit["id"], thresholds=TriageThresholds(),
                 scorers={"labs": lambda _db, _visit, _picture, _options: evidence})
    if refer:
        outbox.create_referral(db, CLINICIAN, visit["id"], site_secret=site_secret)
    return patient, visit


@pytest.fixture
def site(app, db):
    """Twelve screened, six referred and scanned (the planted patient among them, ILD present)."""
    secret = app.extensions["ildscreen"].folder.site_secret
    made = [screen(db, PLANTED_CODE if i == 0 else f"FIG-{i:02d}", 0.95 if i < 6 else 0.02, refer=i < 6,
                   site_secret=secret) for i in range(12)]
    with write_transaction(db):
        db.execute("UPDATE visits SET started_at = ? WHERE id = ?", [f"{PLANTED_DATE}T09:30:00.000+00:00",
                                                                     made[0][1]["id"]])
    for number, (patient, visit) in enumerate(made[:6]):
        date = PLANTED_DATE if number == 0 else visit["started_at"][:10]
        record_outcome(db, CLINICIAN, patient["id"], {"date": date, "source": "hrct",
                                                      "ild": "present" if number < 3 else "absent"})
    return made


def figures(db, min_cell=5):
    return programme.programme_figures(db, window_months=6.0, psi_alert=0.25, min_cell=min_cell)


def test_figures_carry_no_patient_code_no_day_and_no_rows(db, site):
    payload = figures(db, min_cell=1)
    text = json.dumps(payload)
    assert PLANTED_CODE not in text and "FIG-" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no date finer than a month
    assert PLANTED_DATE[:7] == payload["covers"]["first_month"]  # the month is there, the day is not
    assert payload["counts"]["screened_patients"] == 12 and payload["counts"]["referred"] == 6
    assert not any(isinstance(value, list) and len(value) >= 12 for value in payload.values())  # no per-visit list
    validate_figures({**payload, "sequence": 1})  # and it is what the hospital accepts


def test_small_cells_and_their_complements_are_suppressed(db, site):
    payload = figures(db)  # 6 referred, 6 scanned, 3 with ILD: yield 3/6 shows both 3 and its complement 3
    assert payload["counts"]["screened_patients"] == 12 and payload["counts"]["ild_confirmed"] is None
    assert payload["proportions"]["referral_yield"] == {"value": None, "ci95": None, "k": None, "n": None}
    assert payload["calibration"] is None  # 3 events of 6 outcomes would show small cells
    assert {"counts.ild_confirmed", "proportions.referral_yield", "calibration"} <= set(payload["suppressed"])
    # The planted scan predates its referral, so 5 of 6 referrals were scanned: the 1 unscanned is a small cell.
    assert payload["proportions"]["hrct_completion"]["value"] is None and payload["counts"]["hrct_done"] == 5
    shown = figures(db, min_cell=1)
    assert shown["suppressed"] == [] and shown["counts"]["ild_confirmed"] == 3


@pytest.mark.parametrize("k, n, hidden", [(0, 10, False), (5, 10, False), (4, 10, True), (8, 10, True),
                                          (3, 3, True), (0, 0, False), (10, 10, False)])
def test_small_cell_rule_boundaries(k, n, hidden):
    cells = programme.SmallCells(5)
    assert (cells.proportion("p", k, n)["value"] is None and n > 0) == hidden
    assert cells.count("c", 4) is None and cells.count("c", 5) == 5 and cells.count("c", 0) == 0


def test_a_threshold_below_one_is_refused():
    with pytest.raises(programme.ValidationError, match="threshold must be >= 1, got 0"):
        programme.SmallCells(0)


def test_queuing_is_idempotent_per_month_and_newer_figures_supersede_unsent_ones(db, site):
    first = outbox.queue_programme_figures(db, figures(db))
    again = outbox.queue_programme_figures(db, figures(db))
    assert first["queued"] and not again["queued"] and again["sequence"] == first["sequence"]
    screen(db, "FIG-99", 0.02)
    newer = outbox.queue_programme_figures(db, figures(db))
    assert newer["queued"] and newer["sequence"] > first["sequence"]
    states = dict(db.execute("SELECT id, status FROM programme_reports").fetchall())
    assert states == {first["id"]: "superseded", newer["id"]: "queued"}
    stored = json.loads(db.execute("SELECT payload FROM programme_reports WHERE id = ?", [newer["id"]]).fetchone()[0])
    assert stored["sequence"] == newer["id"] and stored["counts"]["screened_patients"] == 13


def test_the_schedule_asks_for_figures_once_per_interval(db):
    assert programme.figures_due(db, every_hours=24)
    assert not programme.figures_due(db, every_hours=0)  # 0 turns the schedule off
    outbox.queue_programme_figures(db, figures(db))
    assert not programme.figures_due(db, every_hours=24)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25)
    assert programme.figures_due(db, every_hours=24, now=later)


@pytest.fixture
def hospital(tmp_path):
    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1")
    data = ["--data-dir", str(tmp_path / "hospital")]
    clinic_token = ildscreen("imaging-server", "clinics", "add", "clinic-north", *data, env=env).stdout.strip()
    viewer = ildscreen("imaging-server", "programme-viewers", "add", "lead", *data, env=env).stdout.strip()
    server = CtServer(tmp_path / "hospital", env, "--no-watch")
    server.clinic_token, server.viewer, server.data_dir = clinic_token, viewer, tmp_path / "hospital"
    yield server
    server.stop()


def hospital_rows(hospital) -> int:
    return sqlite3.connect(hospital.data_dir / "imaging.db").execute("SELECT COUNT(*) FROM programme_figures").fetchone()[0]


def dashboard(hospital):
    return requests.get(hospital.url + "/api/v1/programme/dashboard",
                        headers={"Authorization": f"Bearer {hospital.viewer}"}, timeout=10).json()


@pytest.mark.slow
def test_the_outbox_delivers_figures_once_to_a_real_hospital_server(app, db, site, hospital):
    worker = OutboxWorker(app.extensions["ildscreen"].folder,
                          ReferralServerClient(hospital.url, hospital.clinic_token), interval_s=1)
    assert worker.run_figures_once() == {"delivered": 1, "retrying": 0, "rejected": 0}
    assert worker.run_figures_once() == {"delivered": 0, "retrying": 0, "rejected": 0}  # not due again today
    db.execute("UPDATE programme_reports SET status = 'queued', next_attempt_at = '2000-01-01T00:00:00+00:00'")
    # at least once: the same bytes again, which the hospital recognises
    assert worker.run_figures_once()["delivered"] == 1
    shown = dashboard(hospital)["clinics"]
    assert [row["clinic"] for row in shown] == ["clinic-north"]
    assert shown[0]["figures"]["counts"]["screened_patients"] == 12 and shown[0]["figures"]["sequence"] == 1
    assert hospital_rows(hospital) == 1  # the re-send was a replay, not a second row
    assert PLANTED_CODE not in "".join(hospital.lines)

    unreachable = OutboxWorker(app.extensions["ildscreen"].folder,
                               ReferralServerClient("http://127.0.0.1:9", hospital.clinic_token, timeout_s=1),
                               interval_s=1)
    screen(db, "FIG-98", 0.02)
    outbox.queue_programme_figures(db, figures(db))
    assert unreachable.run_figures_once()["retrying"] == 1  # waits in the outbox
    db.execute("UPDATE programme_reports SET next_attempt_at = '2000-01-01T00:00:00+00:00' WHERE status = 'retrying'")
    assert worker.run_figures_once()["delivered"] == 1
    assert dashboard(hospital)["clinics"][0]["figures"]["counts"]["screened_patients"] == 13
    assert hospital_rows(hospital) == 2  # the month's history: both sends


@pytest.mark.slow
def test_programme_send_from_the_cli_queues_and_delivers_and_a_rejection_says_why(settings, db, site, hospital):
    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path))
    data = ["--data-dir", str(settings.data_dir)]
    waiting = json.loads(ildscreen("programme", "send", "--json", *data, env=env).stdout)
    assert waiting["queued"] and waiting["status"] == "queued" and waiting["delivery"] is None
    configured = {**env, "ILDSCREEN_REFERRAL_SERVER_URL": hospital.url,
                  "ILDSCREEN_REFERRAL_SERVER_TOKEN": hospital.clinic_token}
    sent = json.loads(ildscreen("programme", "send", "--json", *data, env=configured).stdout)
    assert not sent["queued"] and sent["status"] == "delivered" and sent["sequence"] == waiting["sequence"]
    assert dashboard(hospital)["overall"]["clinics_reporting"] == 1
    wrong_token = {**configured, "ILDSCREEN_REFERRAL_SERVER_TOKEN": "ildct_not-a-clinic"}
    screen(db, "FIG-97", 0.02)
    refused = ildscreen("programme", "send", *data, env=wrong_token)
    assert refused.returncode == 0 and refused.stdout.endswith(
        "): queued, rejected by the hospital (HTTP 401: unknown clinic token)\n")
    printed = json.loads(ildscreen("programme", "figures", *data, env=env).stdout)
    assert printed["counts"]["screened_patients"] == 13 and PLANTED_CODE not in json.dumps(printed)


def test_programme_send_without_a_server_says_plainly_that_the_figures_wait_in_the_outbox(settings, db, site):
    """The line read "queued; now queued; no referral server configured, ..." (the status word twice)."""
    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path))
    data = ["--data-dir", str(settings.data_dir)]
    first = ildscreen("programme", "send", *data, env=env)
    again = ildscreen("programme", "send", *data, env=env)
    row = db.execute("SELECT id, period FROM programme_reports").fetchall()
    assert len(row) == 1  # the unchanged figures were not queued a second time
    head = f"programme figures for {row[0][1]} (sequence {row[0][0]}): "
    waiting = "waiting in the outbox (no referral server is configured here; the running service delivers them)\n"
    assert first.stdout == head + "queued, " + waiting, first.stderr
    assert again.stdout == head + "unchanged since the last send (not queued again), " + waiting, again.stderr


@pytest.mark.parametrize("queued, status, last_error, server, said", [
    (True, "delivered", None, True, "queued, delivered to the hospital"),
    (False, "delivered", None, False, "unchanged since the last send (not queued again), delivered to the hospital"),
    (True, "queued", None, True, "queued, waiting in the outbox"),
    (True, "retrying", "connection refused", True,
     "queued, not delivered yet (connection refused); the outbox tries again later"),
    (True, "retrying", "connection refused", False,
     "queued, not delivered yet (connection refused); the outbox tries again later (no referral server is "
     "configured here; the running service delivers them)"),
    (True, "rejected", "HTTP 422: bad figures", True, "queued, rejected by the hospital (HTTP 422: bad figures)"),
])
def test_programme_send_names_each_outbox_state_in_one_plain_line(queued, status, last_error, server, said):
    result = {"period": "2026-03", "sequence": 4, "queued": queued, "status": status, "last_error": last_error}
    assert send_summary(result, server_configured=server) == f"programme figures for 2026-03 (sequence 4): {said}"


def test_programme_send_on_a_folder_that_never_screened_is_a_one_line_error(tmp_path):
    env = clean_env(PYTHONPATH=os.pathsep.join(sys.path))
    result = ildscreen("programme", "send", "--data-dir", str(tmp_path / "nothing"), env=env)
    assert result.returncode == 1 and "no database at" in result.stderr and "Traceback" not in result.stderr


def test_a_calibration_bin_hides_its_observed_share_when_its_events_or_non_events_are_few(db, site):
    bins = programme.calibration_figures(assessed_visits(db, window_months=6.0), n_bins=5)["bins"]
    assert sum(item["events"] for item in bins) == 3 and sum(item["count"] for item in bins) == 6
    calibration = {"n_outcomes": 40, "n_events": 12, "ece": 0.1, "calibration_in_the_large": 0.0,
                   "calibration_slope": 1.0, "bins": [
                       {"low": 0.0, "high": 0.2, "count": 20, "events": 2, "mean_predicted": 0.1, "observed": 0.1},
                       {"low": 0.2, "high": 0.4, "count": 7, "events": 5, "mean_predicted": 0.3, "observed": 0.7},
                       {"low": 0.4, "high": 0.6, "count": 3, "events": 0, "mean_predicted": 0.5, "observed": 0.0},
                       {"low": 0.6, "high": 0.8, "count": 10, "events": 5, "mean_predicted": 0.7, "observed": 0.5}]}
    cells = programme.SmallCells(5)
    shown = programme._calibration_payload(calibration, cells)["bins"]
    assert [(item["count"], item["observed"]) for item in shown] == [(20, None), (7, None), (None, None), (10, 0.5)]
    assert cells.suppressed == ["calibration.bins[0]", "calibration.bins[1]", "calibration.bins[2]"]


@pytest.mark.parametrize("device, label", [
    ("sim-enose-0007", "sim-enose-0007"), ("upload", "upload"),
    ("Board #7 (Mrs Li's)", "device-"), ("", "device-"), ("x" * 200, "device-"),
])
def test_a_board_id_that_is_not_a_plain_label_leaves_the_clinic_as_a_hash(device, label):
    shown = programme.device_label(device)
    assert shown == label if label != "device-" else (shown.startswith("device-") and len(shown) == 19)
    row = {"kind": "breath", "device": shown, "refusals": {"value": None, "ci95": None, "k": None, "n": None}}
    Refusals.model_validate_json(json.dumps(row))  # what the hospital accepts
