"""The Flower federation with real clinic processes on loopback: it learns what the pooled fit
learns, counts what crossed the wire, and a clinic that fails ends the run with a message naming
it (no process left behind)."""
import time
from pathlib import Path

import numpy as np
import pytest

from federated.engine import ClinicProcesses, run_federation, write_training_files
from federated.errors import FederatedError
from federated.model import N_COEFFICIENTS, Scaler, feature_statistics, fit_logistic
from federated.population import make_clinics
from support import ChildRecorder, assert_runs_this_code

pytestmark = pytest.mark.slow


def test_three_clinic_processes_learn_close_to_the_pooled_fit_and_the_bytes_are_counted(tmp_path):
    clinics = make_clinics(3, seed=7)
    result = run_federation(write_training_files(clinics, tmp_path), workdir=tmp_path, rounds=40, proximal_mu=0.1)
    X = np.vstack([clinic.X_train for clinic in clinics])
    y = np.concatenate([clinic.y_train for clinic in clinics])
    pooled = Scaler.from_statistics([feature_statistics(clinic.X_train) for clinic in clinics], len(y))
    assert np.allclose(result.scaler.mean, pooled.mean) and result.scaler.n_examples == len(y)
    central = fit_logistic(X, y, pooled)
    start_gap = np.linalg.norm(central)  # every federation starts from zeros
    assert np.linalg.norm(result.theta - central) < 0.25 * start_gap
    # per message: a float64 array in numpy's .npy framing (128-byte header here)
    model_bytes = 128 + 8 * N_COEFFICIENTS
    statistics_bytes = 3 * (128 + 8 * (N_COEFFICIENTS - 1))
    scaler_bytes = 2 * 8 * (N_COEFFICIENTS - 1)
    assert result.rounds == 41
    assert result.bytes_to_clinics == 3 * (model_bytes + 40 * (model_bytes + scaler_bytes))
    assert result.bytes_from_clinics == 3 * (statistics_bytes + 40 * model_bytes)


def test_a_clinic_that_cannot_read_its_rows_ends_the_run_with_its_name_and_log(tmp_path):
    clinics = make_clinics(3, seed=8)
    files = write_training_files(clinics, tmp_path)
    files[1].write_bytes(b"not an npz file")
    already = child_processes()  # e.g. a PostgreSQL another test module's fixture keeps running
    started = time.monotonic()
    with pytest.raises(FederatedError, match=f"clinic process {clinics[1].name} exited") as raised:
        run_federation(files, workdir=tmp_path, rounds=3, proximal_mu=0.1, startup_timeout_s=60)
    assert time.monotonic() - started < 50  # noticed when the process exits, not at the timeout
    assert "Error" in str(raised.value)  # the clinic's own traceback tail says why
    assert child_processes() <= already  # the other clinics were ended


def child_processes() -> set:
    return {int(pid) for path in Path("/proc/self/task").glob("*/children") for pid in path.read_text().split()}


class SilentClinics:
    """Clinic processes that started but never connect (a firewall, a wrong address)."""

    def __init__(self, data_files, server_address, workdir):
        self.processes = []

    def check(self):
        pass

    def stop(self):
        pass


def test_clinics_that_never_connect_end_the_run_at_the_startup_timeout(tmp_path, monkeypatch):
    files = write_training_files(make_clinics(2, seed=9), tmp_path)
    monkeypatch.setattr("federated.engine.ClinicProcesses", SilentClinics)
    started = time.monotonic()
    with pytest.raises(FederatedError, match="only 0 of 2 clinics connected within 3 s"):
        run_federation(files, workdir=tmp_path, rounds=2, proximal_mu=0.1, startup_timeout_s=3)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("count, rounds, message", [(1, 3, "at least 2 clinics"), (2, 0, "rounds must be >= 1")])
def test_impossible_runs_are_refused_before_any_process_starts(tmp_path, count, rounds, message):
    files = write_training_files(make_clinics(2, seed=0)[:count], tmp_path)
    with pytest.raises(FederatedError, match=message):
        run_federation(files, workdir=tmp_path, rounds=rounds, proximal_mu=0.1)
    assert not list(tmp_path.glob("*.log"))


def test_the_clinic_processes_run_the_code_the_run_was_started_with(tmp_path, monkeypatch):
    """``python -m federated.clinic_node`` imports from its working directory first (adding to PYTHONPATH
    does not change that): started in a folder holding another ``federated``, the clinics ran that copy.
    They start in the project root, so their data files are named by absolute path."""
    recorder = ChildRecorder()
    monkeypatch.setattr("federated.engine.subprocess.Popen", recorder)
    monkeypatch.setattr("federated.engine._limit", lambda process: process)
    monkeypatch.chdir(tmp_path)
    ClinicProcesses([Path("north.npz"), Path("south.npz")], "127.0.0.1:9092", tmp_path)
    assert len(recorder.children) == 2
    for child, name in zip(recorder.children, ("north.npz", "south.npz")):
        assert_runs_this_code(child, "federated.clinic_node")
        assert child["args"][3:] == ["--server", "127.0.0.1:9092", "--data", str((tmp_path / name).resolve())]
        assert child["env"]["OMP_NUM_THREADS"] == "1"
