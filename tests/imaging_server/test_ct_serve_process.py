"""A real ``ildscreen imaging-server serve`` process with its watcher thread and a real Orthanc:
a plain HTTP client refers, the series arrives, the report appears; replays survive a restart."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from ct_fixtures import phantom  # noqa: F401 - fixture
from orthanc_pacs import PASSWORD, USER, free_port, orthanc  # noqa: F401 - fixture
from pg_server import database_url, postgres  # noqa: F401 - fixtures
from imaging_server.phantom import write_series
from referral_bundle import referral_bundle
from support import clean_env

pytestmark = pytest.mark.slow
CODE = "ILD-SSSSSSSSSS"


def ildscreen(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=env, timeout=60)


class CtServer:
    def __init__(self, data_dir, env: dict, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge", "imaging-server", "serve", "--port", str(self.port),
             "--data-dir", str(data_dir), *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("".join(self.lines))
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or slow to answer under load
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("CT server did not start:\n" + "".join(self.lines))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)


@pytest.fixture
def env(orthanc):  # noqa: F811
    orthanc.clear()
    return clean_env(
        PYTHONPATH=os.pathsep.join(sys.path), PYTHONUNBUFFERED="1",
        ILDSCREEN_IMAGING_ORTHANC_URL=orthanc.url, ILDSCREEN_IMAGING_ORTHANC_USERNAME=USER,
        ILDSCREEN_IMAGING_ORTHANC_PASSWORD=PASSWORD, ILDSCREEN_IMAGING_POLL_INTERVAL_S="0.5",
        # The series is uploaded slice by slice while the watcher polls: it must wait for it to settle.
        ILDSCREEN_IMAGING_SERIES_STABLE_S="3",
    )


def test_refer_upload_report_and_replay_after_restart(env, orthanc, phantom, tmp_path, database_url):  # noqa: F811
    data_dir = tmp_path / "ct-data"
    database = ("--database-url", database_url)
    added = ildscreen("imaging-server", "clinics", "add", "clinic-north", "--data-dir", str(data_dir), *database,
                      env=env)
    assert added.returncode == 0, added.stderr
    headers = {"Authorization": f"Bearer {added.stdout.strip()}", "Idempotency-Key": CODE}
    server = CtServer(data_dir, env, *database)
    try:
        created = requests.post(server.url + "/api/v1/referrals", json=referral_bundle(CODE), headers=headers,
                                timeout=10)
        assert created.status_code == 201
        orthanc.upload(write_series(phantom, tmp_path / "ct", accession_number=CODE))
        deadline, state = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            state = requests.get(f"{server.url}/api/v1/referrals/{CODE}", headers=headers, timeout=10).json()
            if state["status"] in ("reported", "failed"):
                break
            time.sleep(0.5)
        assert state["status"] == "reported", state
        report = requests.get(f"{server.url}/api/v1/referrals/{CODE}/report", headers=headers, timeout=10).json()
        assert abs(report["metrics"]["haa_percent"] - phantom.truth["haa_percent"]) <= 1.0
    finally:
        assert server.stop() == 0
    log = "".join(server.lines)
    assert "Phantom" not in log and "FAKE" not in log and "Traceback" not in log

    restarted = CtServer(data_dir, env, *database)
    try:
        replay = requests.post(restarted.url + "/api/v1/referrals", json=referral_bundle(CODE), headers=headers,
                               timeout=10)
        assert replay.status_code == 200 and replay.json()["referral_code"] == CODE
        state = requests.get(f"{restarted.url}/api/v1/referrals/{CODE}", headers=headers, timeout=10).json()
        assert state["status"] == "reported"
    finally:
        restarted.stop()


def test_invalid_setting_stops_the_start_naming_the_key(env, tmp_path):
    env = {**env, "ILDSCREEN_IMAGING_POLL_INTERVAL_S": "-1"}
    result = ildscreen("imaging-server", "serve", "--data-dir", str(tmp_path / "d"), env=env)
    assert result.returncode == 1 and "poll_interval_s" in result.stderr and "Traceback" not in result.stderr
    env = {**env, "ILDSCREEN_IMAGING_POLL_INTERVAL_S": "1", "ILDSCREEN_IMAGING_PORTT": "1"}
    result = ildscreen("imaging-server", "serve", "--data-dir", str(tmp_path / "d"), env=env)
    assert result.returncode == 1 and "ILDSCREEN_IMAGING_PORTT: unknown setting" in result.stderr
