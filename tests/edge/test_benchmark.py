"""``ildscreen bench screening``: a real service on loopback, the JSON the issue asks for."""
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.benchmark import PATIENT_AGE, Service, _unique, benchmark_patient, check_targets
from edge.commands.bench import _import_ms_by_package, bench
from edge.screening import clinical_picture
from support import ChildRecorder, assert_runs_this_code


def test_screening_benchmark_drives_a_real_service_and_reports_every_level():
    result = CliRunner().invoke(bench, ["screening", "--json", "--clients", "1,2", "--screenings", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["screening"]) == {"1", "2"}
    for clients, level in report["screening"].items():
        assert level["errors"] == 0, level["first_error"]
        assert level["screenings"] == int(clients)
        assert level["requests"] == 8 * level["screenings"]  # visit, 4 recordings, labs, breath, assessment
        assert 0 < level["p50_ms"] <= level["p95_ms"] < level["screening_p95_ms"]
        assert level["rps"] > level["screenings_per_s"] > 0
        assert level["service_cpu_ms_per_screening"] > 0
        assert level["screening_cpu_floor_ms"] == pytest.approx(level["service_cpu_ms_per_screening"] * int(clients) / os.cpu_count())
    assert 0 < report["service_rss_mb"] < 4096 and report["cold_start_s"] > 0
    assert report["targets"]["errors"] == {"target": 0, "measured": 0, "met": True}
    assert "p95_ms_at_8_clients" not in report["targets"]  # the level did not run


def test_the_benchmark_patient_has_the_same_age_and_so_the_same_prior_whichever_year_it_runs():
    """Her birth year follows the run's date: with 1955 written in, her age (and risk) drifted a year
    every year, and from 2076 the API would refuse her (over 120 years old)."""
    pictures = [clinical_picture({"smoking": "never", **benchmark_patient(day)}, on=day.isoformat())
                for day in (dt.date(2026, 12, 6), dt.date(2051, 1, 1), dt.date(2081, 6, 30))]
    assert pictures[0].ages == (PATIENT_AGE - 1, PATIENT_AGE)
    assert pictures[1:] == pictures[:-1]


def test_targets_compare_the_measured_values():
    levels = {"8": {"p95_ms": 310.0, "errors": 0}, "1": {"p95_ms": 40.0, "errors": 1}}
    targets = check_targets(levels, 620.0)
    assert targets["p95_ms_at_8_clients"] == {"target": 300.0, "measured": 310.0, "met": False}
    assert targets["service_rss_mb"]["met"] is False and targets["errors"]["measured"] == 1
    assert check_targets({"8": {"p95_ms": 250.0, "errors": 0}}, 300.0)["p95_ms_at_8_clients"]["met"] is True


def test_every_upload_is_a_different_file():
    recording = bytes(100)
    assert _unique(recording, 1) != _unique(recording, 2)
    assert len(_unique(recording, 7)) == len(recording) and _unique(recording, 7)[:96] == recording[:96]


def test_the_service_children_run_the_code_the_benchmark_was_started_with(tmp_path, monkeypatch):
    """``python -m edge`` imports from its working directory first: started in a folder holding another
    ``edge`` (a checkout, a worktree), the benchmark timed that copy. Its children start in the project root."""
    recorder = ChildRecorder()
    monkeypatch.setattr("edge.benchmark.subprocess.run", recorder)
    monkeypatch.setattr("edge.benchmark.subprocess.Popen", recorder)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="did not become ready"):
        Service(Path("data"))
    assert [child["args"][3] for child in recorder.children] == ["db", "users", "users", "serve"]
    for child in recorder.children:
        assert_runs_this_code(child, "edge")
        data_dir = child["args"][child["args"].index("--data-dir") + 1]
        assert data_dir == str((tmp_path / "data").resolve())  # the folder the caller meant


def test_cli_start_times_each_light_command_and_says_where_its_imports_go(no_env_settings, tmp_path):
    """``bench cli-start`` runs real starts on a data folder it makes, and its per-package import breakdown
    is read from ``-X importtime``: the help loads no numpy (the commands import it when they run). With
    ``--baseline`` it times another checkout's code in the same run: here a stand-in whose ``edge`` only
    exits, so its figures show none of what this checkout's commands load."""
    stand_in = tmp_path / "other-checkout"
    (stand_in / "edge").mkdir(parents=True)
    (stand_in / "edge" / "__init__.py").write_text("")
    (stand_in / "edge" / "__main__.py").write_text("raise SystemExit(0)\n")
    result = CliRunner().invoke(bench, ["cli-start", "--json", "--runs", "1", "--top", "3", "--baseline", str(stand_in)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report["commands"]) == ["--help", "users list", "models list", "outbox status"]
    for command in report["commands"].values():
        assert 0 < command["min_ms"] <= command["median_ms"] <= command["max_ms"]
        assert len(command["import_ms_by_package"]) == 3
        assert 0 < max(command["import_ms_by_package"].values()) <= command["import_ms"]
    assert "numpy" not in report["commands"]["--help"]["heavy_packages_loaded"]
    assert "sqlite_utils" in report["commands"]["outbox status"]["heavy_packages_loaded"]
    assert report["baseline"]["checkout"] == str(stand_in.resolve())
    assert list(report["baseline"]["commands"]) == list(report["commands"])
    assert all(command["heavy_packages_loaded"] == [] for command in report["baseline"]["commands"].values())


def test_cli_start_refuses_a_baseline_that_is_no_checkout(tmp_path):
    result = CliRunner().invoke(bench, ["cli-start", "--baseline", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path} holds no checkout of this project" in result.output


def test_the_import_breakdown_sums_self_times_per_package():
    lines = ["import time: self [us] | cumulative | imported package",
             "import time:      1500 |       1500 |     numpy.core",
             "import time:       500 |       2000 |   numpy",
             "import time:      2500 |       4500 | edge.cli",
             "some other line on standard error"]
    assert _import_ms_by_package(lines) == {"edge": 2.5, "numpy": 2.0}
