"""Audio limits in every way a recording arrives: upload, device capture, ``audio score`` and
``screen``. Each refusal names the limit, happens from the header before decoding, and stores
nothing. (The memory side is shown on a real capped service in test_audio_limits_served.py.)"""
import io
import json

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from edge.app import create_app
from edge.cli import cli
from edge.config import load_settings
from firmware_interface import DeviceKind, SimulatedDevice
from support import PATIENT, login, wav_bytes


@pytest.fixture
def strict_app(tmp_path, no_env_settings):
    """A service configured for 10 s mono recordings at 4-48 kHz."""
    settings = load_settings(data_dir=tmp_path / "data", audio_max_duration_s=10, audio_max_channels=1,
                             audio_max_sample_rate=48000)
    return create_app(settings)


@pytest.fixture
def strict(strict_app):
    from edge import audit
    from edge.users import create_user
    from support import PASSWORD

    db = strict_app.extensions["ildscreen"].folder.connect()
    create_user(db, audit.CLI_OPERATOR, username="nurse1", role="nurse", password=PASSWORD)
    client = strict_app.test_client()
    headers = login(client, "nurse1")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json
    yield client, headers, visit["id"], db
    db.close()


def upload(client, headers, visit_id, data, name="base.wav"):
    return client.post(f"/api/v1/visits/{visit_id}/recordings", headers=headers, content_type="multipart/form-data",
                       data={"chest_site": "trachea", "file": (io.BytesIO(data), name)})


@pytest.mark.parametrize(
    ("data", "status", "limit"),
    [
        (wav_bytes(seconds=11, rate=4000), 413, "max_duration_s"),
        (wav_bytes(seconds=2, rate=4000, channels=2), 413, "max_channels"),
        (wav_bytes(seconds=2, rate=96000), 422, "max_sample_rate"),
        (wav_bytes(seconds=2000, rate=1), 422, "min_sample_rate"),
    ],
)
def test_the_configured_limits_refuse_an_upload_naming_the_limit(strict, data, status, limit):
    client, headers, visit_id, db = strict
    response = upload(client, headers, visit_id, data)
    assert response.status_code == status and limit in response.json["error"]["message"]
    assert response.json["error"]["fields"] == [{"field": "file", "reason": f"outside {limit}"}]
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0


def test_a_recording_within_the_configured_limits_is_kept(strict):
    client, headers, visit_id, _ = strict
    assert upload(client, headers, visit_id, wav_bytes(seconds=10, rate=48000)).status_code == 201


def test_an_empty_upload_is_named_without_any_server_path(strict, tmp_path):
    client, headers, visit_id, _ = strict
    response = upload(client, headers, visit_id, b"")
    assert response.status_code == 422 and response.json["error"]["message"] == "the uploaded file is empty"
    garbage = upload(client, headers, visit_id, b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert garbage.status_code == 422
    for body in (response.text, garbage.text):
        assert "/" not in body.replace("WAV/FLAC", "") and ".part" not in body


def test_a_device_capture_longer_than_the_limit_is_not_started(strict_app, strict):
    client, headers, visit_id, db = strict
    pcm = np.zeros(4000 * 30, dtype=np.int16)
    sim = SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=4000, speed=None, device_id="STETH-1")
    sim.start()
    try:
        strict_app.extensions["ildscreen"].devices.add(sim.port)
        response = client.post(f"/api/v1/visits/{visit_id}/recordings/capture", headers=headers,
                               json={"port": sim.port, "chest_site": "trachea", "seconds": 20})
        assert response.status_code == 413 and "audio_max_duration_s" in response.json["error"]["message"]
        assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0
        within = client.post(f"/api/v1/visits/{visit_id}/recordings/capture", headers=headers,
                             json={"port": sim.port, "chest_site": "trachea", "seconds": 5})
        assert within.status_code == 201, within.json
    finally:
        sim.close()


@pytest.fixture
def one_hertz_file(tmp_path):
    path = tmp_path / "one_hertz.wav"
    soundfile.write(path, np.zeros(8000, dtype=np.int16), 1, format="WAV", subtype="PCM_16")
    return path


def test_audio_score_refuses_a_file_outside_the_limits_from_its_header(tmp_path, one_hertz_file, monkeypatch):
    monkeypatch.delenv("ILDSCREEN_DATA_DIR", raising=False)
    result = CliRunner().invoke(cli, ["audio", "score", "--json", str(one_hertz_file),
                                       "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "min_sample_rate" in json.loads(result.output)["error"]


def test_audio_score_follows_the_data_folders_audio_settings(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text("audio_max_duration_s = 1\n")
    path = tmp_path / "two_seconds.wav"
    path.write_bytes(wav_bytes(seconds=2, rate=4000))
    result = CliRunner().invoke(cli, ["audio", "score", "--json", str(path), "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "max_duration_s" in json.loads(result.output)["error"]


def test_screen_refuses_a_recording_outside_the_limits(tmp_path, one_hertz_file):
    result = CliRunner().invoke(cli, ["screen", "--age", "60", "--sex", "F", "--ctd", "SSc",
                                       "--audio", f"posterior_left_base={one_hertz_file}",
                                       "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and "min_sample_rate" in result.output and "Traceback" not in result.output


def test_decodes_beyond_the_configured_slots_wait_then_get_a_503_naming_the_file(strict_app):
    """Issue 26: decodes are capped process-wide (audio_max_concurrent_decodes), so memory does not
    grow with the worker threads; a caller that waits too long gets 503 ``busy``, nothing stored."""
    import threading

    from edge import recordings
    from edge.errors import ServiceBusy

    slots = recordings.DecodeSlots(slots=1, wait_s=0.2)
    entered = threading.Event()
    release = threading.Event()

    def hold():
        with slots.held():
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(5)
        with pytest.raises(ServiceBusy) as caught:
            with slots.held():
                pass
        assert caught.value.status == 503 and caught.value.fields[0]["field"] == "file"
    finally:
        release.set()
        holder.join()
    with slots.held():  # the slot is back once the holder is done
        pass
    assert recordings.DECODE_SLOTS.slots == strict_app.extensions["ildscreen"].settings.audio_max_concurrent_decodes
