"""A take the server refuses is said on the tablet for what it is (h130): a sound that was sent but
cannot be used (too short, a sample rate the crackle model cannot take, not audio at all) is never
answered "Choose a file first", which is true only when no file was sent, and false for a microphone
take, which has no file to choose. The form's redirect and the page script's JSON answer say the same,
in the nurse's language, and nothing is stored. In the browser: tests/e2e/test_refused_take_in_browser.py."""
from __future__ import annotations

import io

import pytest
from markupsafe import escape

from edge.errors import ServiceBusy
from edge.web import visit_views
from edge.web.i18n import CATALOG
from support import PATIENT, csrf_of, wav_bytes

REFUSED = {  # what was sent -> the words it gets
    "too_short": (lambda: wav_bytes(seconds=0.3), "err_audio_too_short"),
    "rate_too_low": (lambda: wav_bytes(seconds=3, rate=2000), "err_audio_sample_rate"),
    "not_audio": (lambda: b"hello, this is text and not a recording\n" * 20, "err_audio_file"),
    "empty": (lambda: b"", "err_audio_file"),
    "no_samples": (lambda: wav_bytes(seconds=0.0), "err_audio_file"),
}


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def stored_takes(client, nurse, visit_id) -> int:
    return len(client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"])


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("sent", sorted(REFUSED))
def test_a_refused_upload_says_what_is_wrong_with_the_sound_not_to_choose_a_file(client, nurse, visit_id, sent, lang):
    make, key = REFUSED[sent]
    client.set_cookie("lang", lang)
    csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    refused = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data", data={
        "csrf_token": csrf, "chest_site": "posterior_left_base", "chest_piece": "diaphragm",
        "file": (io.BytesIO(make()), "take.wav")})
    assert refused.status_code == 302 and f"upload_error={key}" in refused.headers["Location"]
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert str(escape(CATALOG[key][lang])) in page
    assert str(escape(CATALOG["err_file"][lang])) not in page
    assert stored_takes(client, nurse, visit_id) == 0


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_microphone_take_stopped_too_soon_is_said_to_be_too_short(client, nurse, visit_id, lang):
    client.set_cookie("lang", lang)
    csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    answer = client.post(f"/visits/{visit_id}/recordings", headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
                         data={"chest_site": "posterior_left_base", "chest_piece": "diaphragm", "source": "microphone",
                               "file": (io.BytesIO(wav_bytes(seconds=0.3)), "microphone.wav")})
    assert answer.status_code == 422
    assert answer.json["error"]["message"] == CATALOG["err_audio_too_short"][lang]
    assert stored_takes(client, nurse, visit_id) == 0


def test_an_upload_without_a_file_is_still_asked_to_choose_one(client, nurse, visit_id):
    client.set_cookie("lang", "en")
    csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    refused = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data",
                          data={"csrf_token": csrf, "chest_site": "posterior_left_base", "chest_piece": "diaphragm"})
    assert refused.status_code == 302 and "upload_error=err_file" in refused.headers["Location"]
    assert CATALOG["err_file"]["en"] in client.get(refused.headers["Location"]).get_data(as_text=True)


def test_a_take_refused_while_the_decoders_are_busy_is_said_to_wait_and_send_again(client, nurse, visit_id,
                                                                                   monkeypatch):
    def busy(*args, **kwargs):
        raise ServiceBusy("all 1 decode slots stayed busy for 60 s; send the recording again",
                          fields=[{"field": "file", "reason": "other recordings are being decoded"}])

    monkeypatch.setattr(visit_views.recordings, "add_recording", busy)
    client.set_cookie("lang", "en")
    csrf = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    refused = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data", data={
        "csrf_token": csrf, "chest_site": "posterior_left_base", "file": (io.BytesIO(wav_bytes(3)), "take.wav")})
    assert refused.status_code == 302 and "upload_error=err_busy" in refused.headers["Location"]
    assert CATALOG["err_busy"]["en"] in client.get(refused.headers["Location"]).get_data(as_text=True)
