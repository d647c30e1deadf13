"""Audio limits on a real ``ildscreen serve`` whose memory is capped: a small upload whose header
declares a huge decode is refused from its header (issue 15), and the service keeps serving.

The child's address space is capped (RLIMIT_AS) a few hundred MB above what it needs to score a
normal recording, so if the limits regress the decode fails inside the child (a 500) and this
test fails, instead of the machine running out of memory.
"""
import io

import numpy as np
import pytest
import requests
import soundfile

from served import ServedProcess, nurse_token
from support import PATIENT, wav_bytes

MEMORY_LIMIT = 1536 * 1024 * 1024


def one_hertz_wav() -> bytes:
    """147 KB whose header says 1 Hz: 73,500 s of audio, upsampled to 4 kHz by the old code."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(73_500, dtype=np.int16), 1, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def silent_hour_flac() -> bytes:
    """About 0.5 MB of FLAC that decodes to one hour at 44.1 kHz (635 MB as float32)."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", samplerate=44100, channels=1, format="FLAC", subtype="PCM_16") as handle:
        minute = np.zeros(44100 * 60, dtype=np.int16)
        for _ in range(60):
            handle.write(minute)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("served") / "data"
    served = ServedProcess(data_dir, memory_limit_bytes=MEMORY_LIMIT)
    headers = nurse_token(data_dir)
    patient = requests.post(served.url + "/api/v1/patients", json=PATIENT, headers=headers, timeout=30).json()
    visit = requests.post(served.url + f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers,
                          timeout=30).json()
    yield served, headers, f"{served.url}/api/v1/visits/{visit['id']}/recordings"
    served.stop()


def upload(service, data: bytes, name: str):
    _, headers, url = service
    return requests.post(url, files={"file": (name, data)}, data={"chest_site": "posterior_left_base"},
                         headers=headers, timeout=120)


@pytest.mark.parametrize(
    ("make", "name", "status", "limit"),
    [(one_hertz_wav, "base.wav", 422, "min_sample_rate"), (silent_hour_flac, "base.flac", 413, "max_duration_s")],
)
def test_a_header_that_would_decode_into_gigabytes_is_refused_naming_the_limit(service, make, name, status, limit):
    response = upload(service, make(), name)
    assert response.status_code == status, response.text
    assert limit in response.json()["error"]["message"]
    listed = requests.get(service[2], headers=service[1], timeout=30).json()["recordings"]
    assert listed == []


def test_the_service_still_scores_a_normal_recording_after_refusing_them(service):
    upload(service, one_hertz_wav(), "base.wav")
    response = upload(service, wav_bytes(seconds=5, rate=44100), "base.wav")
    assert response.status_code == 201, response.text
    assert response.json()["crackle_probability"] is not None
    served = service[0]
    assert served.process.poll() is None and "MemoryError" not in served.output
