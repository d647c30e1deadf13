"""``ildscreen federated simulate`` on Flower's deployment engine, as an operator would see it: a
SuperLink and one SuperNode per clinic (each clinic a real edge data folder), TLS and SuperNode
authentication, every round under SecAgg+, clinic-side DP on; a clinic taken offline as a round
starts is named and the round completes with the others; each clinic's epsilon is reported for the
noisy rounds it answered; the federated validation of the labs model and of a modality matches the
pooled figures on the same rows within 0.01; no process of the run is left behind (counted in the
run's own temporary folder, so another federated run on the machine is not counted).

One run (3 small clinics, 1 Newton round) keeps this to a few minutes on 2 shared cores; the
10-clinic figures are in docs/federated.md."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def ildscreen(*args, timeout, tmp: Path | None = None):
    """``python -m edge *args``; with ``tmp``, the run's temporary folders (``TMPDIR``) are made inside it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def flower_processes(tmp: Path) -> set:
    """Processes running in a federation's working folder under ``tmp`` (the ``TMPDIR`` this test gave its run):
    every process the run starts (SuperLink, SuperNodes, their SuperExecs and apps) inherits a working directory
    inside it. Only this run's: a federation another job runs on the machine at the same time has its folder
    elsewhere, and a process left behind still names its folder once it is deleted (`` (deleted)`` after it)."""
    inside = os.path.join(os.path.realpath(tmp), "ildscreen-federated-")
    found = set()
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if os.readlink(cwd).startswith(inside):
                found.add(int(cwd.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("federated-run")
    result = ildscreen("federated", "simulate", "--clinics", "3", "--scale", "0.5", "--seed", "2",
                       "--newton-rounds", "1", "--round-timeout", "40", "--offline-clinic", "clinic-02",
                       "--offline-at-round", "2", "--privacy", "--json", timeout=590, tmp=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    assert flower_processes(tmp) == set()  # SuperLink, SuperNodes, SuperExecs and apps all ended
    return json.loads(result.stdout)


def test_the_process_count_is_this_runs_own_not_another_federations(tmp_path):
    """Another federated run at the same time (a second CI job, a developer's run) works in its own
    ``ildscreen-federated-`` folder: its processes are not this run's; a process left in this run's folder is."""
    processes = {}
    for owner in ("this-run", "another-run"):
        folder = tmp_path / owner / "ildscreen-federated-abc123"
        folder.mkdir(parents=True)
        processes[owner] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=folder)
    try:
        assert flower_processes(tmp_path / "this-run") == {processes["this-run"].pid}
        assert flower_processes(tmp_path / "nobody") == set()
    finally:
        for process in processes.values():
            process.kill()
            process.wait()


def test_the_engine_is_the_deployment_runtime_with_tls_node_auth_and_secagg(report):
    engine = report["engine"]
    assert engine["runtime"] == "deployment" and engine["secure_aggregation"] is True
    assert engine["tls"] is True and engine["supernode_authentication"] is True
    assert report["rounds"] == 3 == len(report["round_wall_s"]) and all(t > 0 for t in report["round_wall_s"])
    assert [item["stage"] for item in report["round_details"]] == ["statistics", "newton", "validation"]
    assert report["communication"]["bytes_to_clinics"] > 0 and report["communication"]["bytes_from_clinics"] > 0


def test_a_clinic_offline_mid_run_is_named_and_the_round_completes_with_the_others(report):
    first, second, third = report["round_details"]
    assert first["completed"] and first["clinics"] == 3 and first["missing_clinics"] == []
    assert second["completed"] and second["clinics"] == 2 and second["missing_clinics"] == ["clinic-02"]
    assert third["completed"] and third["clinics"] == 2
    assert report["missing_clinics"] == ["clinic-02"]


def test_federated_validation_matches_the_pooled_figures_on_the_same_rows(report):
    for target, figures in report["federated_validation"].items():
        federated, pooled = figures["federated"], figures["pooled"]
        assert federated["n"] == pooled["n"] and federated["events"] == pooled["events"], target
        if pooled["auc"] is not None:
            assert abs(federated["auc"] - pooled["auc"]) <= 0.01, target
            assert abs(federated["ece"] - pooled["ece"]) <= 0.01, target
    assert report["federated_validation"]["labs"]["pooled"]["n"] > 0


def test_clinic_side_dp_reports_each_clinics_epsilon_and_changes_the_model(report):
    from federated.privacy import LocalPrivacy

    privacy = report["privacy"]
    setting = LocalPrivacy(privacy["noise_multiplier"], privacy["clipping_norm"], privacy["delta"])
    # clinic-02 went offline as the one Newton round started: it spent nothing
    assert sorted(privacy["per_clinic"]) == ["clinic-01", "clinic-03"]
    for spent in privacy["per_clinic"].values():
        assert spent["newton_rounds"] == 1 and spent["epsilon"] == pytest.approx(setting.epsilon(1))
    assert privacy["epsilon_max"] == pytest.approx(setting.epsilon(1))
    assert abs(report["federated_minus_central"]["ece"]) > 1e-4  # without DP: within 1e-5 of central


def test_a_clinic_dp_setting_that_bounds_nothing_and_an_offline_clinic_on_legacy_are_refused():
    result = ildscreen("federated", "simulate", "--privacy", "--clipping-norm", "0.5", timeout=60)
    assert result.returncode == 2 and "clipping norm must be >= 1" in result.stderr and "Traceback" not in result.stderr
    result = ildscreen("federated", "simulate", "--engine", "legacy", "--offline-clinic", "clinic-01", timeout=60)
    assert result.returncode == 2 and "--offline-clinic" in result.stderr
