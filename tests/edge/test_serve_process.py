"""A real ``ildscreen serve`` process: start-up, persistence, concurrency, crashes, imports, logs."""
from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest
import requests

from support import PATIENT, wav_bytes
from served import ServedProcess, first_admin_password, nurse_token

pytestmark = pytest.mark.slow
FORBIDDEN_ON_SERVING_PATH = ("torch", "sklearn", "xgboost", "librosa", "flwr", "federated")


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"




def test_serve_prints_its_url_and_the_first_admin_password(data_dir):
    server = ServedProcess(data_dir)
    try:
        assert f"serving on {server.url}/" in server.output
        password = first_admin_password(server.output)
        ready = requests.get(server.url + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True
        session = requests.Session()
        login = session.post(server.url + "/api/v1/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200 and login.json()["user"]["must_change_password"] is True
        assert requests.get(server.url + "/api/v1/openapi.json", timeout=5).json()["openapi"] == "3.1.0"
    finally:
        server.stop()
    assert server.process.returncode == 0


def test_records_survive_a_restart(data_dir):
    headers = nurse_token(data_dir)
    server = ServedProcess(data_dir)
    try:
        patient = requests.post(server.url + "/api/v1/patients", json=PATIENT, headers=headers).json()
        requests.post(f"{server.url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers)
    finally:
        server.stop()
    restarted = ServedProcess(data_dir)
    try:
        assert "one-time password" not in restarted.output
        visits = requests.get(f"{restarted.url}/api/v1/patients/{patient['id']}/visits", headers=headers).json()
        assert len(visits["visits"]) == 1
    finally:
        restarted.stop()


def test_two_processes_writing_visits_at_once_lose_nothing(data_dir):
    headers = nurse_token(data_dir)
    servers = [ServedProcess(data_dir), ServedProcess(data_dir)]
    per_writer = 40
    try:
        patient = requests.post(servers[0].url + "/api/v1/patients", json=PATIENT, headers=headers).json()
        failures: list[str] = []

        def write_visits(server: ServedProcess, writer: int) -> None:
            with requests.Session() as session:
                for i in range(per_writer):
                    response = session.post(f"{server.url}/api/v1/patients/{patient['id']}/visits",
                                            json={"notes": f"writer {writer} visit {i}"}, headers=headers)
                    if response.status_code != 201:
                        failures.append(response.text)

        threads = [threading.Thread(target=write_visits, args=(server, n)) for n, server in enumerate(servers * 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
    finally:
        for server in servers:
            server.stop()
    with sqlite3.connect(data_dir / "ildscreen.db") as db:
        notes = [row[0] for row in db.execute("SELECT notes FROM visits")]
        audit_rows = db.execute("SELECT COUNT(*) FROM audit_log WHERE entity = 'visit'").fetchone()[0]
    assert len(notes) == len(set(notes)) == 4 * per_writer
    assert audit_rows == 4 * per_writer


def test_a_server_killed_mid_upload_registers_nothing(data_dir):
    headers = nurse_token(data_dir)
    server = ServedProcess(data_dir)
    patient = requests.post(server.url + "/api/v1/patients", json=PATIENT, headers=headers).json()
    visit = requests.post(f"{server.url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json()
    body = wav_bytes(seconds=60)
    boundary = "----ildscreen-test"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"chest_site\"\r\n\r\ntrachea\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    total = len(head) + len(body) + len(f"\r\n--{boundary}--\r\n")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall((f"POST /api/v1/visits/{visit['id']}/recordings HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: {headers['Authorization']}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {total}\r\n\r\n").encode() + head + body[: len(body) // 2])
        server.kill()
    restarted = ServedProcess(data_dir)
    try:
        listed = requests.get(f"{restarted.url}/api/v1/visits/{visit['id']}/recordings", headers=headers).json()
        assert listed["recordings"] == []
    finally:
        restarted.stop()
    assert [p for p in (data_dir / "blobs").rglob("*") if p.is_file()] == []


KILL_DURING_WRITE = """
import io, os, signal, sys
from edge.config import load_settings
from edge.recordings import add_recording
from edge.service import prepare_data_folder
from edge import audit

class DyingClient(io.RawIOBase):
    sent = 0
    def readable(self): return True
    def read(self, size=-1):
        self.sent += 1
        if self.sent == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies with the file half written
        return b"RIFF" + b"\\0" * 65532

folder, _ = prepare_data_folder(load_settings(data_dir=sys.argv[1]))
add_recording(folder.connect(), folder.blobs, audit.CLI_OPERATOR, int(sys.argv[2]), chest_site="trachea",
              stream=DyingClient(), max_bytes=10**8)
"""


def test_a_process_killed_while_writing_the_file_leaves_nothing_registered(data_dir):
    headers = nurse_token(data_dir)
    server = ServedProcess(data_dir)
    try:
        patient = requests.post(server.url + "/api/v1/patients", json=PATIENT, headers=headers).json()
        visit = requests.post(f"{server.url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json()
    finally:
        server.stop()
    dying = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(data_dir), str(visit["id"])], timeout=60)
    assert dying.returncode == -signal.SIGKILL
    assert len(list((data_dir / "blobs" / "tmp").glob("*.part"))) == 1  # the half-written file is there...
    restarted = ServedProcess(data_dir)
    try:
        assert "removed 1 unfinished upload" in restarted.output  # ...and removed at the next start
        listed = requests.get(f"{restarted.url}/api/v1/visits/{visit['id']}/recordings", headers=headers).json()
        assert listed["recordings"] == []
    finally:
        restarted.stop()
    assert [p for p in (data_dir / "blobs").rglob("*") if p.is_file()] == []


def test_the_serving_process_never_imports_training_libraries(data_dir):
    headers = nurse_token(data_dir)
    server = ServedProcess(data_dir, python_flags=("-X", "importtime"))
    try:
        patient = requests.post(server.url + "/api/v1/patients", json=PATIENT, headers=headers).json()
        visit = requests.post(f"{server.url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json()
        uploaded = requests.post(f"{server.url}/api/v1/visits/{visit['id']}/recordings", headers=headers,
                                 data={"chest_site": "posterior_left_base"},
                                 files={"file": ("a.wav", wav_bytes(), "audio/wav")})
        assert uploaded.status_code == 201
        requests.get(server.url + "/readyz")
    finally:
        server.stop()
    imported = set(re.findall(r"import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", server.output))
    assert "flask" in imported  # the import log was captured
    offending = sorted(name for name in imported if name.split(".")[0] in FORBIDDEN_ON_SERVING_PATH)
    assert offending == []


def test_no_patient_code_reaches_the_log(data_dir):
    headers = nurse_token(data_dir)
    server = ServedProcess(data_dir, env={"ILDSCREEN_LOG_LEVEL": "DEBUG"})
    code = "ZQ-PRIVATE-77"
    try:
        patient = requests.post(server.url + "/api/v1/patients", json={**PATIENT, "code": code}, headers=headers)
        assert patient.status_code == 201
        requests.post(server.url + "/api/v1/patients/search", json={"code": code}, headers=headers)
        requests.get(server.url + f"/api/v1/patients?code={code}", headers=headers)  # 422: never in a URL
        requests.post(server.url + "/api/v1/patients", json={**PATIENT, "code": code}, headers=headers)  # 409
        requests.post(server.url + "/api/v1/patients", json={**PATIENT, "code": code + "'--"}, headers=headers)  # 422
        requests.get(server.url + f"/api/v1/no-such-route/{code}")  # 404
    finally:
        server.stop()
    assert "/api/v1/patients" in server.output  # requests were logged...
    assert code not in server.output  # ...without the code
