"""The programme dashboard: who may see it, the figures it shows for a known small site, its
CSV / HTML exports, the drift alert, quality refusals per device, and the outcomes on the
patient timeline."""
import csv
import io
import json

import numpy as np
import pytest

from support import PATIENT, login
from edge import audit, outbox, patients
from edge.fusion.triage import TriageThresholds
from edge.outcomes import record_outcome
from edge.programme import drift_figures, programme_summary, training_outputs
from edge.screening import assess_visit
from edge.simulation import simulated_evidence

CLINICIAN = audit.Actor(None, "test", "clinician")


def assessed(db, code, probability, *, days_ago=None):
    patient = patients.create_patient(db, CLINICIAN, {**PATIENT, "code": code})
    visit = patients.create_visit(db, CLINICIAN, patient["id"])
    evidence = simulated_evidence("labs", probability, prevalence=0.29)
    assessment = assess_visit(db, CLINICIAN, visit["id"], thresholds=TriageThresholds(),
                              scorers={"labs": lambda _db, _visit, _picture, _options: evidence})
    return patient, visit, assessment


@pytest.fixture
def small_site(app, db):
    """Three screened, two referred, one scanned (ILD present) the day after the visit."""
    site_secret = app.extensions["ildscreen"].folder.site_secret
    made = [assessed(db, f"DASH-{i}", p) for i, p in enumerate((0.95, 0.9, 0.01))]
    for patient, visit, assessment in made[:2]:
        assert assessment["tier"] in ("high", "urgent")
        outbox.create_referral(db, CLINICIAN, visit["id"], site_secret=site_secret)
    patient, visit, _ = made[0]
    record_outcome(db, CLINICIAN, patient["id"], {"date": visit["started_at"][:10], "source": "hrct",
                                                  "ild": "present", "pattern": "NSIP", "extent_percent": 10})
    return made


@pytest.fixture
def clinician(client, make_user):
    make_user("clin1", "clinician")
    login(client, "clin1")


def test_a_clinician_sees_the_site_figures(client, small_site, clinician):
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="screened">3 ' in html and 'id="referred">2<' in html and 'id="hrct-done">1<' in html
    assert 'id="ild-confirmed">1 ' in html
    assert 'id="referral-yield">100%' in html  # 1 of 1 scanned referral had ILD
    assert 'id="hrct-completion">50%' in html  # 1 of 2 referrals scanned
    assert "<svg" in html and "DASH-0" not in html  # plots drawn here; no patient code on the page


def test_the_exports_carry_the_same_figures(client, small_site, clinician):
    response = client.get("/dashboard/export.csv")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = {(row["section"], row["item"]): row for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    assert rows[("counts", "referred")]["value"] == "2"
    assert rows[("proportions", "hrct_completion")]["value"] == "0.5"
    report = client.get("/dashboard/report.html")
    html = report.get_data(as_text=True)
    assert "attachment" in report.headers["Content-Disposition"] and "<svg" in html
    assert "<style>" in html and 'id="export-csv"' not in html  # self-contained, no links back


def test_the_dashboard_is_translated(client, small_site, clinician):
    client.set_cookie("lang", "zh-CN")
    html = client.get("/dashboard").get_data(as_text=True)
    assert "筛查项目看板" in html and "转诊阳性率" in html


def test_admins_see_it_nurses_do_not_and_anonymous_users_log_in_first(app, client, make_user):
    anonymous = client.get("/dashboard")
    assert anonymous.status_code == 302 and anonymous.headers["Location"] == "/login?next=/dashboard"
    make_user("admin2", "admin")
    make_user("nurse1", "nurse")
    login(client, "nurse1")
    refused = client.get("/dashboard")
    assert refused.status_code == 403 and "clinicians and admins" in refused.get_data(as_text=True)
    login(client, "admin2")
    assert client.get("/dashboard").status_code == 200


def test_drift_alerts_when_outputs_leave_the_training_distribution_and_not_before():
    from edge.programme import stated_auc

    reference = training_outputs(0.29, stated_auc("labs"))  # the AUC the labs model's manifest states
    rng = np.random.default_rng(0)

    def visits(outputs):
        return [{"modality_probabilities": {"labs": float(p)}, "training_prevalences": {"labs": 0.29}}
                for p in outputs]

    same = {row["modality"]: row for row in drift_figures(visits(rng.choice(reference, 300)), alert_at=0.25)}
    shifted = {row["modality"]: row for row in drift_figures(visits(np.clip(rng.choice(reference, 300) * 2.5, 0, 1)),
                                                             alert_at=0.25)}
    assert same["labs"]["psi"] < 0.1 and not same["labs"]["alert"]
    assert shifted["labs"]["psi"] > 0.25 and shifted["labs"]["alert"]
    assert same["breath"]["psi"] is None  # no breath outputs: nothing to compare


def test_quality_refusals_are_counted_per_device(db, small_site):
    _, visit, _ = small_site[0]
    for device, ok in (("enose-1", True), ("enose-1", False), ("enose-2", True), (None, False)):
        db["breath_readings"].insert({"visit_id": visit["id"], "device_id": device, "created_at": "t",
                                      "quality": json.dumps({"ok": ok, "issues": []})})
    db.conn.commit()
    rows = {row["device"]: (row["readings"], row["refused"])
            for row in programme_summary(db, window_months=6, psi_alert=0.25)["quality_refusals"]}
    assert rows == {"enose-1": (2, 1), "enose-2": (1, 0), "upload": (1, 1)}


def test_outcomes_appear_on_the_patient_timeline(client, small_site, make_user):
    make_user("nurse1", "nurse")
    login(client, "nurse1")
    patient, _, _ = small_site[0]
    html = client.get(f"/patients/{patient['id']}").get_data(as_text=True)
    assert 'id="outcomes"' in html and "ILD present" in html and "NSIP" in html


def test_a_refused_take_that_was_re_recorded_still_counts_as_refused(app, client, db, small_site, clinician):
    """Issue 27: two refusals then two discards left the dashboard at 0% refused; discarded takes
    now count (from their audit entries), and the page says how many were re-recorded."""
    import io

    from edge import recordings
    from support import wav_bytes

    _, visit, _ = small_site[0]
    resources = app.extensions["ildscreen"]
    for _ in range(2):
        stored = recordings.add_recording(db, resources.blobs, CLINICIAN, visit["id"], chest_site="posterior_left_base",
                                          stream=io.BytesIO(wav_bytes(2.0)), max_bytes=10**7,
                                          model=resources.auscultation_model).recording
        assert stored["quality"]["ok"] is False
        recordings.discard_recording(db, resources.blobs, CLINICIAN, stored["id"])
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0
    row = next(row for row in programme_summary(db, window_months=6, psi_alert=0.25)["quality_refusals"]
               if row["kind"] == "lung sounds")
    assert (row["readings"], row["refused"], row["discarded"], row["share"]) == (2, 2, 2, 1.0)
    client.set_cookie("lang", "zh-CN")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "肺部听诊" in page and "lung sounds" not in page and "100%" in page


def test_the_risk_chart_draws_a_clinics_first_month():
    """Issue 27: the clinic dashboard's risk chart was blank with one month of visits (a band and a
    line of one point have no area or length); each month now has a marker and a whisker."""
    from evaluation import svg_plots

    svg = str(svg_plots.risk_over_time([{"month": "2026-12", "n": 3, "p10": 0.05, "median": 0.2, "p90": 0.6}],
                                       label="Risk", x_label="Month", y_label="Risk"))
    assert svg.count("<circle") == 1 and "<line" in svg and "2026-12: 20% (n=3)" in svg
