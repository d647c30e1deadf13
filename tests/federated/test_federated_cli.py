"""``ildscreen federated simulate --engine legacy`` (FedProx on Flower's gRPC server, with DP) as a
user runs it: federated learning matches central
training on the pooled held-out rows (within 0.02 AUC and 0.02 ECE) and beats local-only
training for the smallest clinics, on two seeds; the privacy block reports the DP run's cost.
All synthetic, and the JSON says so."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from federated.privacy import epsilon

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def ildscreen(*args, timeout=240):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module", params=[(0, True), (1, False)], ids=["seed0-with-dp", "seed1"])
def report(request):
    seed, privacy = request.param
    result = ildscreen("federated", "simulate", "--engine", "legacy", "--clinics", "10", "--seed", str(seed),
                       "--privacy" if privacy else "--no-privacy", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_federated_is_within_two_hundredths_of_central_on_the_pooled_held_out_rows(report):
    assert abs(report["federated"]["auc"] - report["central"]["auc"]) <= 0.02
    assert abs(report["federated"]["ece"] - report["central"]["ece"]) <= 0.02
    assert report["federated_minus_central"]["auc"] == report["federated"]["auc"] - report["central"]["auc"]


def test_federated_beats_local_only_for_the_smallest_clinics(report):
    smallest = report["smallest_clinics"]
    assert smallest["clinics"] == [row["clinic"] for row in report["clinics"][:len(smallest["clinics"])]]
    assert smallest["federated"]["auc"] > smallest["local_only"]["auc"]
    assert smallest["federated"]["brier"] < smallest["local_only"]["brier"]


def test_clinics_differ_in_size_and_prevalence_and_every_row_compares_the_three_approaches(report):
    rows = report["clinics"]
    assert len(rows) == report["n_clinics"] == 10
    assert rows[0]["n_train"] < 30 and rows[0]["events_train"] < 10 < rows[-1]["events_train"]
    assert max(row["prevalence"] for row in rows) - min(row["prevalence"] for row in rows) > 0.05
    for row in rows:
        assert row["n_test"] > 0 and all(name in row for name in ("federated", "central", "local_only"))
    assert sum(row["n_test"] for row in rows) == report["smallest_clinics"]["n_test"] + sum(
        row["n_test"] for row in rows[len(report["smallest_clinics"]["clinics"]):])


def test_the_report_says_it_is_synthetic_and_what_the_run_cost(report):
    assert report["data"].startswith("synthetic") and "not a clinical validation" in report["data"]
    assert report["rounds"] == 61 and report["engine"]["name"] == "flwr"
    assert report["engine"]["runtime"] == "legacy" and report["engine"]["secure_aggregation"] is False
    assert report["communication"]["bytes_total"] == (report["communication"]["bytes_to_clinics"]
                                                      + report["communication"]["bytes_from_clinics"]) > 0
    assert 0 < report["federation_wall_s"] < report["wall_s"]


def test_the_privacy_block_reports_epsilon_and_the_cost_of_dp(report):
    if report["seed"] == 1:
        assert report["privacy"] is None  # --no-privacy
        return
    privacy = report["privacy"]
    assert privacy["epsilon"] == pytest.approx(epsilon(privacy["noise_multiplier"], 60, privacy["delta"]))
    assert privacy["cost"]["auc"] == pytest.approx(privacy["federated"]["auc"] - report["federated"]["auc"])
    assert privacy["cost"]["ece"] == pytest.approx(privacy["federated"]["ece"] - report["federated"]["ece"])
    assert privacy["cost"]["bytes"] == 0  # the server adds the noise: the same messages cross the wire


@pytest.mark.parametrize("args, message", [(["--clinics", "1"], "--clinics"), (["--rounds", "0"], "--rounds"),
                                           (["--noise-multiplier", "0"], "--noise-multiplier")])
def test_bad_options_are_refused_with_a_message_naming_them(args, message):
    result = ildscreen("federated", "simulate", *args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_without_json_a_short_summary_is_printed():
    result = ildscreen("federated", "simulate", "--engine", "legacy", "--clinics", "3", "--rounds", "5", "--no-privacy",
                       "--scale", "0.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("synthetic")
    assert "federated   pooled AUC" in result.stdout and "6 rounds" in result.stdout
