"""The load benchmark (``imaging-server bench``) drives a real serve from other processes on both
databases and accounts for every referral exactly once; its accounting catches a lost or doubled
referral. Timings are not checked (they belong to the machine)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from imaging_server import store
from imaging_server.errors import StorageError
from imaging_server.load_bench import (TRAFFIC, BenchServer, _read_back, _read_back_figures, bench_figures,
                                       run_load_benchmark)
from pg_server import database_url, postgres  # noqa: F401 - fixtures
from support import ChildRecorder, assert_runs_this_code

pytestmark = pytest.mark.slow

# Requests per referral: two racing POSTs of one key, a later retry, the figures sent and retried,
# a status and a report poll, a reader's worklist.
REQUESTS_PER_REFERRAL = 8


def test_the_bench_accounts_for_every_referral_on_both_databases(database_url):  # noqa: F811
    result = run_load_benchmark(clinics=5, database_url=database_url, referrals_per_clinic=2, workers=2,
                                server_threads=4)
    assert {"clinics", "referrals", "p50_ms", "p95_ms", "rps", "errors", "lost", "duplicated",
            "database"} <= set(result)
    assert result["database"] == ("postgresql" if database_url.startswith("postgresql") else "sqlite")
    assert (result["clinics"], result["referrals"], result["requests"]) == (5, 10, 10 * REQUESTS_PER_REFERRAL)
    assert (result["errors"], result["lost"], result["duplicated"]) == (0, 0, 0), result["error_samples"]
    assert result["traffic"] == [name for name, _ in TRAFFIC]
    assert result["figures"] == {"sent": 10, "lost": 0, "duplicated": 0}
    assert {name: step["requests"] for name, step in result["steps"].items()} == {
        "refer": 20, "retry": 10, "figures": 20, "status": 10, "report": 10, "worklist": 10}
    db = store.open_database(database_url)
    per_clinic = db.rows("SELECT c.name, COUNT(r.id) AS referrals FROM clinics c "
                         "LEFT JOIN referrals r ON r.clinic_id = c.id GROUP BY c.name")
    assert sorted(row["referrals"] for row in per_clinic) == [2] * 5
    figures = db.rows("SELECT c.name, COUNT(f.id) AS payloads FROM clinics c "
                      "LEFT JOIN programme_figures f ON f.clinic_id = c.id GROUP BY c.name")
    assert sorted(row["payloads"] for row in figures) == [2] * 5


def test_the_accounting_counts_lost_doubled_and_unsent_referrals(tmp_path):
    """What the clinics were told against what the database holds: a referral acknowledged but
    missing is lost, one stored for another bundle is lost, two 201s for one key and a row nobody
    sent are duplicates."""
    from imaging_server.referrals import create_referral
    from referral_bundle import referral_bundle

    db = store.prepare_database(tmp_path / "imaging.db")
    clinic = store.clinic_for_token(db, f"Bearer {store.add_clinic(db, 'bench-abc-0000')}")
    for code in ("ILD-AAAAAAAAAA", "ILD-BBBBBBBBBB", "ILD-CCCCCCCCCC"):
        create_referral(db, clinic, referral_bundle(code), code)
    digest = db.scalar("SELECT bundle_sha256 FROM referrals WHERE code = 'ILD-AAAAAAAAAA'")
    told = [{"acknowledged": {"ILD-AAAAAAAAAA": ("bench-abc-0000", digest),
                              "ILD-BBBBBBBBBB": ("bench-abc-0000", "another bundle"),
                              "ILD-DDDDDDDDDD": ("bench-abc-0000", digest)},
             "created": {"ILD-AAAAAAAAAA": 2, "ILD-BBBBBBBBBB": 1}}]
    assert _read_back(db, "bench-abc-", told) == {"referrals": 3, "lost": 2, "duplicated": 2}
    everything_fine = [{"acknowledged": {code: ("bench-abc-0000", row["bundle_sha256"]) for code, row in (
        (row["code"], row) for row in db.rows("SELECT code, bundle_sha256 FROM referrals"))},
        "created": {"ILD-AAAAAAAAAA": 1, "ILD-BBBBBBBBBB": 1, "ILD-CCCCCCCCCC": 1}}]
    assert _read_back(db, "bench-abc-", everything_fine) == {"referrals": 3, "lost": 0, "duplicated": 0}

    from imaging_server.programme import store_figures
    from imaging_server.programme_figures import validate_figures

    for sequence in (1, 2, 3):
        body = {**bench_figures(tmp_path / "clinic"), "sequence": sequence}
        store_figures(db, clinic, validate_figures(body), body)
    told = [{"figures_acknowledged": ["bench-abc-0000/1", "bench-abc-0000/2", "bench-abc-0000/4"],
             "figures_created": {"bench-abc-0000/1": 2, "bench-abc-0000/2": 1}}]
    # sequence 4 acknowledged but missing; sequence 1 created twice; sequence 3 stored but never sent
    assert _read_back_figures(db, "bench-abc-", told) == {"sent": 3, "lost": 1, "duplicated": 2}
    store.dispose_engine(store.sqlite_url(tmp_path / "imaging.db"))


def test_the_bench_command_prints_json_and_refuses_a_bad_url(runner):
    from edge.cli import cli

    result = runner.invoke(cli, ["imaging-server", "bench", "--clinics", "2", "--referrals-per-clinic", "1",
                                 "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert (printed["referrals"], printed["errors"], printed["lost"], printed["duplicated"]) == (2, 0, 0, 0)
    assert printed["database_url"] == "temporary SQLite file"
    bad = runner.invoke(cli, ["imaging-server", "bench", "--clinics", "2", "--database-url", "mysql://u:pw@h/x"])
    assert bad.exit_code == 1 and "not supported" in bad.output and "Traceback" not in bad.output


def test_the_server_runs_the_code_the_bench_was_started_with_on_the_callers_files(tmp_path, monkeypatch):
    """``python -m edge`` imports from its working directory first: started in a folder holding another
    ``edge``, the bench loaded that copy. The server starts in the project root, so the data folder and a
    relative SQLite path are made absolute (the server opens the file this process prepared)."""
    recorder = ChildRecorder()
    monkeypatch.setattr("imaging_server.load_bench.subprocess.Popen", recorder)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match="did not become ready"):
        BenchServer(Path("hospital"), "sqlite:///imaging.db", threads=2, pool_size=2)
    [child] = recorder.children
    assert_runs_this_code(child, "edge")
    assert child["args"][3:6] == ["imaging-server", "serve", "--no-watch"]
    assert child["args"][child["args"].index("--data-dir") + 1] == str((tmp_path / "hospital").resolve())
    assert child["env"]["ILDSCREEN_IMAGING_DATABASE_URL"] == f"sqlite:///{(tmp_path / 'imaging.db').resolve()}"
    postgresql = "postgresql://bench:pw@db:5432/imaging"
    with pytest.raises(StorageError):
        BenchServer(Path("hospital"), postgresql, threads=2, pool_size=2)
    assert recorder.children[1]["env"]["ILDSCREEN_IMAGING_DATABASE_URL"] == postgresql  # not a file: as given
