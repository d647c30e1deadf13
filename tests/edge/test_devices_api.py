"""Sensor boards through the API: registered by an admin on allowed, probed ports only; listed
with status; a capture stored exactly like an upload; captures as jobs (against a real
``ildscreen serve`` and a simulated board on a pty): cancelled on the board with nothing stored,
one per board, orphans cancelled; and the visit page's capture routes."""
import hashlib
import io
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile
from click.testing import CliRunner

from served import ServedProcess, nurse_token
from support import PATIENT, login
from edge.commands.device import device
from edge.config import load_settings
from firmware_interface import DeviceKind, SimulatedDevice


@pytest.fixture
def settings(tmp_path, no_env_settings):
    """The shared settings, with the simulator's ports allowed (as for a demonstration)."""
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2, device_simulator=True)


@pytest.fixture
def register(app, make_user):
    """Register a port as an admin (in a client of its own, so the nurse's session stays)."""
    make_user("admin2", "admin")
    admin_client = app.test_client()
    headers = login(admin_client, "admin2")
    return lambda port: admin_client.post("/api/v1/devices", json={"port": port}, headers=headers)


@pytest.fixture
def stethoscope():
    pcm = (np.random.default_rng(3).normal(0, 3000, 4000 * 6)).astype(np.int16)
    sim = SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=4000, speed=None, device_id="STETH-42")
    sim.start()
    yield sim, pcm
    sim.close()


@pytest.fixture
def enose():
    """Start a simulated 8-sensor e-nose board named by its device id: every board started reads the same (the
    simulator's seed 0), so a second one stands in for the first. All are closed after the test."""
    boards = []

    def start(device_id: str) -> SimulatedDevice:
        sim = SimulatedDevice(DeviceKind.ENOSE, n_sensors=8, speed=None, device_id=device_id)
        boards.append(sim)
        sim.start()
        return sim

    yield start
    for sim in boards:
        sim.close()


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def test_a_board_is_registered_listed_and_captured_into_the_visit(app, client, nurse, visit_id, stethoscope,
                                                                   settings, db, register):
    sim, pcm = stethoscope
    registered = register(sim.port)
    assert registered.status_code == 201 and registered.json["devices"][0]["port"] == sim.port
    response = client.post(f"/api/v1/visits/{visit_id}/recordings/capture",
                           json={"port": sim.port, "chest_site": "posterior_right_base", "seconds": 5}, headers=nurse)
    assert response.status_code == 201, response.json
    recording = response.json
    assert (recording["source"], recording["sample_rate"], recording["duration_s"]) == ("device", 4000, 5.0)
    stored = (settings.blob_dir / recording["sha256"][:2] / recording["sha256"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == recording["sha256"]
    samples, rate = soundfile.read(io.BytesIO(stored), dtype="int16")
    assert rate == 4000 and np.array_equal(samples, pcm[: 5 * 4000])  # bit-exact
    assert db.execute("SELECT device_id FROM recordings").fetchone()[0] == "STETH-42"
    listed = client.get("/api/v1/devices").json["devices"][0]
    assert listed["connected"] is True and listed["info"]["device_id"] == "STETH-42"
    entry = db.execute("SELECT username, action, entity, detail FROM audit_log WHERE entity = 'device'").fetchall()
    assert entry == [("admin2", "register", "device", f'{{"device_id": "STETH-42", "port": "{sim.port}"}}')]


def test_capture_from_an_unknown_or_unplugged_board_is_a_clear_503_and_nothing_is_stored(
        client, nurse, visit_id, stethoscope, settings, db, register):
    sim, _ = stethoscope
    unknown = client.post(f"/api/v1/visits/{visit_id}/recordings/capture",
                          json={"port": "/dev/ttyACM9", "chest_site": "trachea", "seconds": 5}, headers=nurse)
    assert unknown.status_code == 503 and "no device registered on port '/dev/ttyACM9'" in unknown.json["error"]["message"]
    assert register(sim.port).status_code == 201
    sim.unplug()
    unplugged = client.post(f"/api/v1/visits/{visit_id}/recordings/capture",
                            json={"port": sim.port, "chest_site": "trachea", "seconds": 5}, headers=nurse)
    assert unplugged.status_code == 503 and unplugged.json["error"]["code"] == "device_unavailable"
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0
    assert [p for p in settings.blob_dir.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(("body", "field"), [({"port": "COM3; rm -rf /", "chest_site": "trachea"}, "port"),
                                            ({"port": "/dev/../etc/passwd", "chest_site": "trachea"}, "port"),
                                            ({"port": "/dev/ttyACM0", "chest_site": "knee"}, "chest_site"),
                                            ({"port": "/dev/ttyACM0", "chest_site": "trachea", "seconds": 600},
                                             "seconds")])
def test_bad_capture_requests_name_the_field(client, nurse, visit_id, body, field):
    response = client.post(f"/api/v1/visits/{visit_id}/recordings/capture", json=body, headers=nurse)
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == field


def test_an_enose_reading_is_captured_scored_and_stored_like_an_upload(client, nurse, visit_id, settings, db,
                                                                       register, enose):
    sim = enose("ENOSE-7")
    assert register(sim.port).status_code == 201
    response = client.post(f"/api/v1/visits/{visit_id}/breath/capture", json={"port": sim.port}, headers=nurse)
    assert response.status_code == 201, response.json
    reading = response.json
    assert reading["quality"]["ok"] is True and 0 <= reading["probability"] <= 1
    stored = (settings.blob_dir / reading["sha256"][:2] / reading["sha256"]).read_text()
    assert stored.startswith("t_s,phase,sensor_1")
    assert db.execute("SELECT source, device_id FROM breath_readings").fetchone() == ("device", "ENOSE-7")


def test_the_service_stores_the_same_breath_file_that_device_capture_writes(client, nurse, visit_id, settings,
                                                                            register, enose, tmp_path):
    """One writer for an e-nose capture: the same (seeded) board gives the tablet's stored reading and
    `ildscreen device capture`'s file byte for byte, so `breath score` reads what the service scored."""
    sim = enose("ENOSE-8")
    assert register(sim.port).status_code == 201
    response = client.post(f"/api/v1/visits/{visit_id}/breath/capture", json={"port": sim.port}, headers=nurse)
    assert response.status_code == 201, response.json
    sha256 = response.json["sha256"]
    sim.close()  # the service's capture ended; the command reads a second board, started afresh
    written = CliRunner().invoke(device, ["capture", enose("ENOSE-8").port, "--out", str(tmp_path / "breath.csv")])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "breath.csv").read_bytes() == (settings.blob_dir / sha256[:2] / sha256).read_bytes()


def test_the_tablet_pages_list_boards_and_offer_capture_from_them(app, client, nurse, visit_id, stethoscope,
                                                                  register):

    sim, _ = stethoscope
    assert register(sim.port).status_code == 201
    app.extensions["ildscreen"].devices.get(sim.port)  # connect: INFO known
    home = client.get("/").text
    assert "STETH-42" in home and "connected" in home
    visit = client.get(f"/visits/{visit_id}").text
    assert 'id="steth-capture"' in visit and sim.port in visit
    assert 'id="enose-capture"' not in visit  # no e-nose board registered
    assert re.search(r'name="chest_site" value="posterior_left_base" data-follows="chest-site"', visit)


def test_only_an_admin_registers_a_board(client, nurse, stethoscope):
    """Issue 15: any user could register any path as a serial port."""
    sim, _ = stethoscope
    refused = client.post("/api/v1/devices", json={"port": sim.port}, headers=nurse)
    assert refused.status_code == 403 and client.get("/api/v1/devices").json["devices"] == []


def test_paths_outside_the_allowlist_get_one_answer_whether_or_not_they_exist(register):
    """Issue 15: '/etc/passwd' and '/dev/sda' were accepted, and the later error told whether the
    file existed. Outside the allowlist the answer is the same, and the path is never opened."""
    answers = {port: register(port) for port in ("/etc/passwd", "/dev/sda", "/etc/no-such-file", "/dev/ttyS0")}
    for port, answer in answers.items():
        assert answer.status_code == 422, port
        assert answer.json["error"]["message"].replace(port, "PORT") == \
            answers["/etc/passwd"].json["error"]["message"].replace("/etc/passwd", "PORT")
        assert answer.json["error"]["fields"] == [{"field": "port", "reason": "not an allowed device path"}]
    assert "/dev/ttyUSB*" in answers["/dev/sda"].json["error"]["message"]


def test_an_allowed_path_without_a_board_fails_a_short_probe_and_is_not_registered(register, client, nurse):
    missing = register("/dev/ttyUSB97")
    assert missing.status_code == 503 and "no sensor board answered on /dev/ttyUSB97" in missing.json["error"]["message"]
    # A terminal that never answers HELLO, at a path the simulator setting allows.
    master, slave = os.openpty()
    folder = Path(tempfile.mkdtemp(prefix="ildscreen-sim-"))
    (folder / "tty").symlink_to(os.ttyname(slave))
    try:
        silent = register(str(folder / "tty"))
    finally:
        os.close(master)
        os.close(slave)
        (folder / "tty").unlink()
        folder.rmdir()
    assert silent.status_code == 503 and "within 2 s" in silent.json["error"]["message"]
    assert client.get("/api/v1/devices").json["devices"] == []


def test_configured_ports_must_match_the_allowlist(tmp_path, no_env_settings):
    from edge.errors import ConfigError

    with pytest.raises(ConfigError, match="device_ports: '/etc/passwd' matches none of device_port_patterns"):
        load_settings(data_dir=tmp_path, device_ports=["/etc/passwd"])
    assert load_settings(data_dir=tmp_path, device_ports=["/dev/ttyACM0"]).device_ports == ["/dev/ttyACM0"]


# --- Capture jobs against a real ``ildscreen serve`` and a simulated board on a pty ---------------


def test_a_capture_identical_to_the_sites_stored_take_gives_that_take_and_stores_nothing(
        client, nurse, visit_id, stethoscope, settings, db, register):
    """The device path stores through add_recording: the simulated board sends the same samples each
    time, so a second capture at the same site is the same take, answered 200 with that take as an
    upload sent twice is; at another site it is a new one (201)."""
    sim, _ = stethoscope
    register(sim.port)
    body = {"port": sim.port, "chest_site": "posterior_right_base", "seconds": 5}
    url = f"/api/v1/visits/{visit_id}/recordings/capture"
    first, again = (client.post(url, json=body, headers=nurse) for _ in range(2))
    assert (first.status_code, again.status_code) == (201, 200) and again.json == first.json, again.json
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 1
    other = client.post(url, json={**body, "chest_site": "trachea"}, headers=nurse)
    assert other.status_code == 201 and other.json["sha256"] == first.json["sha256"]
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 2
    assert sum(1 for path in settings.blob_dir.rglob("*") if path.is_file()) == 1


def test_a_capture_job_or_page_capture_of_the_stored_take_says_it_was_already_saved(app, client, nurse, visit_id,
                                                                                      stethoscope, register):
    """The same take through a capture job: its result is the stored take with ``replayed``; on the
    visit page, with or without the page's script, the nurse reads that the take was already saved."""
    sim, _ = stethoscope
    register(sim.port)
    body = {"port": sim.port, "chest_site": "trachea", "seconds": 5}
    jobs = app.extensions["ildscreen"].devices
    outcomes = []
    for _ in range(2):
        started = client.post(f"/api/v1/visits/{visit_id}/recordings/capture-jobs", json=body, headers=nurse)
        assert started.status_code == 202 and jobs.job(started.json["id"]).wait(30)
        outcomes.append(client.get(started.headers["Location"], headers=nurse).json)
    assert [(o["state"], o["replayed"]) for o in outcomes] == [("completed", False), ("completed", True)]
    assert outcomes[1]["result"]["id"] == outcomes[0]["result"]["id"]

    csrf = page_csrf(client)
    form = {"csrf_token": csrf, "port": sim.port, "chest_site": "trachea"}
    # The page records 20 s, not the 5 s above: its first take at the site is a new one.
    first, again = (client.post(f"/visits/{visit_id}/recordings/capture", data=form) for _ in range(2))
    take = re.search(r"take=(\d+)", first.headers["Location"]).group(1)
    assert "take_saved" not in first.headers["Location"]
    assert f"take={take}" in again.headers["Location"] and "take_saved=already" in again.headers["Location"]
    started = client.post(f"/visits/{visit_id}/recordings/capture", headers=FETCH, data=form)
    assert jobs.job(started.json["job"].rsplit("/", 1)[1]).wait(30)
    assert 'id="take-already-saved"' in client.get(started.json["done"]).get_data(as_text=True)
    other_site = client.post(f"/visits/{visit_id}/recordings/capture", headers=FETCH,
                             data={**form, "chest_site": "posterior_left_base"})
    assert jobs.job(other_site.json["job"].rsplit("/", 1)[1]).wait(30)
    assert 'id="take-already-saved"' not in client.get(other_site.json["done"]).get_data(as_text=True)
    assert len(client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"]) == 3


@pytest.fixture(scope="module")
def served_board(tmp_path_factory):
    """A served clinic with one real-time simulated stethoscope registered, a nurse's bearer token,
    and an orphan rule of 2 s (the pages poll every second)."""
    pcm = (np.random.default_rng(4).normal(0, 3000, 4000 * 12)).astype(np.int16)
    sim = SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=4000, speed=1.0, device_id="STETH-7")
    sim.start()
    data_dir = tmp_path_factory.mktemp("jobs") / "data"
    headers = nurse_token(data_dir)
    served = ServedProcess(data_dir, env={"ILDSCREEN_DEVICE_PORTS": f'["{sim.port}"]',
                                          "ILDSCREEN_DEVICE_SIMULATOR": "true",
                                          "ILDSCREEN_CAPTURE_ORPHAN_SECONDS": "2"})
    yield served, sim, headers
    served.stop()
    sim.close()


def served_visit(url, headers) -> int:

    patient = requests.post(f"{url}/api/v1/patients", json={**PATIENT, "code": f"JOB-{os.urandom(3).hex()}"},
                            headers=headers, timeout=10).json()
    return requests.post(f"{url}/api/v1/patients/{patient['id']}/visits", json={}, headers=headers, timeout=10).json()["id"]


def recordings_of(url, visit, headers) -> list:

    return requests.get(f"{url}/api/v1/visits/{visit}/recordings", headers=headers, timeout=10).json()["recordings"]


def poll(url, headers, until, timeout=30.0) -> dict:

    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(url, headers=headers, timeout=10).json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_capture_job_is_cancelled_on_the_board_stores_nothing_and_the_next_one_is_stored(served_board):

    served, sim, headers = served_board
    visit = served_visit(served.url, headers)
    start = f"{served.url}/api/v1/visits/{visit}/recordings/capture-jobs"
    body = {"port": sim.port, "chest_site": "posterior_left_base", "seconds": 10}
    started = requests.post(start, json=body, headers=headers, timeout=10)
    assert started.status_code == 202 and started.json()["state"] == "running"
    job_url = served.url + started.headers["Location"]
    assert started.headers["Location"] == f"/api/v1/capture-jobs/{started.json()['id']}"

    second = requests.post(start, json=body, headers=headers, timeout=10)  # the same board, still capturing
    assert second.status_code == 409 and second.json()["error"]["code"] == "capture_running"
    assert requests.post(f"{served.url}/api/v1/visits/{visit}/recordings/capture", json=body, headers=headers,
                         timeout=10).status_code == 409  # the synchronous call shares the one-per-board rule

    running = poll(job_url, headers, lambda job: job["progress"] > 0)
    assert running["state"] == "running" and sim.capturing
    cancelled = requests.delete(job_url, headers=headers, timeout=20)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["cancel_reason"] == "user"
    assert not sim.capturing  # STOP_CAPTURE reached the board: it is idle again
    assert recordings_of(served.url, visit, headers) == []
    again = requests.delete(job_url, headers=headers, timeout=10)
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["error"]["message"]

    short = requests.post(start, json={**body, "seconds": 5}, headers=headers, timeout=10)
    assert short.status_code == 202
    done = poll(served.url + short.headers["Location"], headers, lambda job: job["state"] != "running")
    assert done["state"] == "completed" and done["progress"] == 1.0
    stored = recordings_of(served.url, visit, headers)
    assert [r["id"] for r in stored] == [done["result"]["id"]]
    assert stored[0]["source"] == "device"
    finished = requests.delete(served.url + short.headers["Location"], headers=headers, timeout=10)
    assert finished.status_code == 409 and finished.json()["error"]["code"] == "conflict"


def test_an_unknown_job_is_a_404_and_a_bad_start_is_refused_before_the_board_is_asked(served_board):

    served, sim, headers = served_board
    for method in ("GET", "DELETE"):
        unknown = requests.request(method, f"{served.url}/api/v1/capture-jobs/no-such-job", headers=headers, timeout=10)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    visit = served_visit(served.url, headers)
    start = f"{served.url}/api/v1/visits/{visit}/recordings/capture-jobs"
    site = requests.post(start, json={"port": sim.port, "chest_site": "elbow"}, headers=headers, timeout=10)
    assert site.status_code == 422 and not sim.capturing
    unregistered = requests.post(start, json={"port": "/dev/ttyACM9", "chest_site": "posterior_left_base"},
                                 headers=headers, timeout=10)
    assert unregistered.status_code == 503 and "no device registered" in unregistered.json()["error"]["message"]
    missing = requests.post(f"{served.url}/api/v1/visits/999999/breath/capture-jobs", json={"port": sim.port},
                            headers=headers, timeout=10)
    assert missing.status_code == 404


def test_a_job_nobody_polls_is_cancelled_on_the_board_and_stores_nothing(served_board):

    served, sim, headers = served_board
    visit = served_visit(served.url, headers)
    started = requests.post(f"{served.url}/api/v1/visits/{visit}/recordings/capture-jobs",
                            json={"port": sim.port, "chest_site": "posterior_right_base", "seconds": 10},
                            headers=headers, timeout=10)
    assert started.status_code == 202
    deadline = time.monotonic() + 15  # the capture alone would take 10 s; the orphan rule is 2 s
    while not sim.capturing and time.monotonic() < deadline:
        time.sleep(0.05)
    while sim.capturing and time.monotonic() < deadline:  # watch the board, not the job (that would touch it)
        time.sleep(0.1)
    job = requests.get(served.url + started.headers["Location"], headers=headers, timeout=10).json()
    assert job["state"] == "cancelled" and job["cancel_reason"] == "orphaned"
    assert recordings_of(served.url, visit, headers) == []


# --- The visit page's capture routes (the page's script: X-Requested-With: fetch) --------------------

def page_csrf(client) -> str:

    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


FETCH = {"X-Requested-With": "fetch"}


def test_the_page_starts_a_capture_job_polls_it_and_finds_the_take_stored(app, client, nurse, visit_id, stethoscope,
                                                                         register):
    sim, _ = stethoscope
    assert register(sim.port).status_code == 201
    csrf = page_csrf(client)
    started = client.post(f"/visits/{visit_id}/recordings/capture", headers=FETCH,
                          data={"csrf_token": csrf, "port": sim.port, "chest_site": "posterior_left_base"})
    assert started.status_code == 202
    urls = started.json
    assert urls["done"].startswith(f"/visits/{visit_id}?captured=") and urls["done"].endswith("#auscultation")
    job = app.extensions["ildscreen"].devices.job(urls["job"].rsplit("/", 1)[1])
    assert job.wait(30)
    state = client.get(urls["job"], headers=FETCH).json
    assert state == {"state": "completed", "progress": 1.0, "message": None}
    assert len(client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"]) == 1
    late = client.post(urls["cancel"], headers={**FETCH, "X-CSRF-Token": csrf})
    assert late.status_code == 409 and late.json["state"] == "completed"  # too late to cancel: it is stored
    assert client.get("/capture-jobs/nope", headers=FETCH).status_code == 404
    assert client.post(urls["cancel"], headers=FETCH).status_code == 403  # no CSRF token


def test_the_page_cancels_a_running_capture_and_a_busy_board_is_explained_in_the_nurses_language(
        app, client, nurse, visit_id, register):
    pcm = (np.random.default_rng(5).normal(0, 3000, 4000 * 30)).astype(np.int16)
    sim = SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=4000, speed=1.0)
    sim.start()
    try:
        assert register(sim.port).status_code == 201
        csrf = page_csrf(client)
        form = {"csrf_token": csrf, "port": sim.port, "chest_site": "posterior_right_base"}
        urls = client.post(f"/visits/{visit_id}/recordings/capture", headers=FETCH, data=form).json
        client.set_cookie("lang", "zh-CN")
        busy = client.post(f"/visits/{visit_id}/recordings/capture", headers=FETCH, data=form)
        assert busy.status_code == 409 and busy.json["error"]["message"] == "该设备正在采集：请等待完成或取消。"
        cancelled = client.post(urls["cancel"], headers={**FETCH, "X-CSRF-Token": csrf})
        assert cancelled.status_code == 200
        assert cancelled.json == {"state": "cancelled", "progress": cancelled.json["progress"],
                                  "message": "采集已取消。未保存任何内容，设备已就绪。"}
        assert not sim.capturing
        assert client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"] == []
    finally:
        app.extensions["ildscreen"].devices.close_all()
        sim.close()


def test_without_the_pages_script_the_capture_form_waits_for_the_take_and_comes_back(client, nurse, visit_id,
                                                                                   stethoscope, register):
    sim, _ = stethoscope
    register(sim.port)
    csrf = page_csrf(client)
    response = client.post(f"/visits/{visit_id}/recordings/capture",
                           data={"csrf_token": csrf, "port": sim.port, "chest_site": "posterior_left_base"})
    taken = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"]
    assert len(taken) == 1
    # A board take comes back to the same verdict / playback / re-record step as a microphone take.
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"?take={taken[0]['id']}#take-{taken[0]['id']}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="re-record-button"' in page and f'src="/recordings/{taken[0]["id"]}/audio"' in page
    unknown = client.post(f"/visits/{visit_id}/recordings/capture",
                          data={"csrf_token": csrf, "port": "/dev/ttyACM7", "chest_site": "posterior_left_base"})
    assert unknown.status_code == 302 and "upload_error=" in unknown.headers["Location"]


def test_an_enose_capture_job_ends_with_the_stored_breath_reading(app, client, nurse, visit_id, register, enose):
    sim = enose("ENOSE-8")
    assert register(sim.port).status_code == 201
    started = client.post(f"/api/v1/visits/{visit_id}/breath/capture-jobs", json={"port": sim.port}, headers=nurse)
    assert started.status_code == 202 and started.json["kind"] == "enose"
    app.extensions["ildscreen"].devices.job(started.json["id"]).wait(60)
    done = client.get(started.headers["Location"], headers=nurse).json
    assert done["state"] == "completed" and done["error"] is None
    readings = client.get(f"/api/v1/visits/{visit_id}/breath", headers=nurse).json
    assert [reading["id"] for reading in readings["breath_readings"]] == [done["result"]["id"]]


def test_readyz_reports_each_configured_board_and_fails_while_one_is_missing(settings, stethoscope):
    """Issue 26: /readyz said ready with a configured board unplugged."""
    from edge.app import create_app

    sim, _ = stethoscope
    gone = os.path.join(tempfile.gettempdir(), "ildscreen-sim-unplugged", "tty")
    configured = settings.model_copy(update={"device_ports": [sim.port]})
    ready = create_app(configured).test_client().get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"]["boards"] == {"ok": True, "boards": {sim.port: {
        "present": True, "connected": False, "busy": False}}}
    unplugged = create_app(settings.model_copy(update={"device_ports": [sim.port, gone]})).test_client()
    sim.close()
    missing = unplugged.get("/readyz")
    assert missing.status_code == 503 and missing.json["ready"] is False
    boards = missing.json["checks"]["boards"]
    assert boards["ok"] is False and sim.port in boards["reason"] and gone in boards["reason"]
    assert create_app(settings).test_client().get("/readyz").json["checks"]["boards"] == {"ok": True, "boards": {}}
