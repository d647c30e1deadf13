"""The whole loop on a simulated site through the real command line and a real service: outcomes
verified mostly after referral, ``ildscreen calibrate --json`` bringing the held-out ECE at least
halfway to the true model's and calibration-in-the-large near 0, the de-identified export read
by ``ildscreen evaluate``, and an applied calibration used after the service's next start."""
from __future__ import annotations

import csv
import json
import math
import subprocess

import pytest
import requests

from served import ServedProcess, ildscreen_command, nurse_token, run_cli
from support import PATIENT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("site") / "data"
    # 600 patients give about 280 verified outcomes: enough for the fit to leave its shrinkage prior.
    run_cli(data_dir, "db", "init")  # simulate fills a folder, never creates one
    summary = json.loads(run_cli(data_dir, "outcomes", "simulate", "--patients", "600", "--seed", "0"))
    return data_dir, summary


def test_calibrate_moves_the_site_towards_its_true_calibration_despite_verification_bias(site):
    data_dir, truth = site
    by_tier = truth["verification_by_tier"]
    # Only some low-risk visits verified (about a third: the SSc, IIM and MCTD lines advise HRCT
    # whatever the tier), far fewer than the high-risk ones.
    assert 0 < by_tier["low"]["fraction"] < 0.4 < by_tier["high"]["fraction"]
    report = json.loads(run_cli(data_dir, "calibrate", "--json"))
    assert set(report) >= {"n_outcomes", "n_events", "before", "after", "version"}
    assert report["n_outcomes"] == truth["verified"] < report["n_assessed"]
    before, after, true_ece = report["before"]["ece"], report["after"]["ece"], truth["true_model"]["ece"]
    assert before > true_ece  # the shipped calibration is wrong for this site
    assert after <= (before + true_ece) / 2
    assert abs(report["after"]["calibration_in_the_large"]) < 0.05
    assert abs(report["before"]["calibration_in_the_large"]) > 0.05
    for side in ("before", "after"):
        assert {"calibration_slope", "brier", "auc"} <= set(report[side])
        low, high = report[side]["auc"]["ci95"]
        assert low < report[side]["auc"]["auc"] < high
    listed = json.loads(run_cli(data_dir, "calibrations", "list", "--json"))
    assert listed["active"] == "bundled" and listed["shadow"] == report["version"]  # not applied: shadow only


def test_the_export_is_de_identified_and_read_by_evaluate(site, tmp_path):
    data_dir, truth = site
    export = tmp_path / "outcomes.csv"
    run_cli(data_dir, "outcomes", "export", "--out", str(export))
    text = export.read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == truth["verified"] and "SIM" not in text
    assert {"label", "probability", "p_labs", "model_versions", "calibration_version", "verification_weight"} <= set(rows[0])
    evaluated = ildscreen("evaluate", str(export), "--out", str(tmp_path / "report"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["n"] == len(rows)
    assert (tmp_path / "report" / "report.html").is_file()
    again = ildscreen("outcomes", "export", "--out", str(export), "--data-dir", str(data_dir))
    assert again.returncode == 1 and "already exists" in again.stderr


def ildscreen(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*ildscreen_command(), *args], capture_output=True, text=True, timeout=120)


def assess_new_patient(server, headers, code) -> dict:
    patient = requests.post(f"{server.url}/api/v1/patients", json={**PATIENT, "code": code}, headers=headers,
                            timeout=10).json()
    visit = requests.post(f"{server.url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers,
                          timeout=10).json()
    response = requests.post(f"{server.url}/api/v1/visits/{visit['id']}/assessments", json={}, headers=headers,
                             timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_applied_calibration_is_used_after_the_next_start_and_a_rollback_after_the_one_after(site):
    data_dir, _ = site
    headers = nurse_token(data_dir)
    report = json.loads(run_cli(data_dir, "calibrate", "--json", "--apply"))
    assert report["applied"] is True
    server = ServedProcess(data_dir)
    try:
        first = assess_new_patient(server, headers, "LOOP-0001")
    finally:
        server.stop()
    assert first["calibration"]["version"] == report["version"]
    fit = report["fit"]
    fused = first["calibration"]["fused_probability"]
    expected = 1 / (1 + math.exp(-(fit["intercept"] + fit["slope"] * math.log(fused / (1 - fused)))))
    assert first["probability"] == pytest.approx(expected)
    run_cli(data_dir, "calibrations", "rollback")
    server = ServedProcess(data_dir)
    try:
        second = assess_new_patient(server, headers, "LOOP-0002")
    finally:
        server.stop()
    assert second["calibration"]["version"] == "bundled"
    assert second["probability"] == pytest.approx(second["calibration"]["fused_probability"])
