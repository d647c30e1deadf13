"""A misspelt controlled word is refused with a hint at the accepted spelling, and nothing is stored."""
import io

import pytest

from edge.vocabulary import AUTOANTIBODIES, CHEST_SITES, SYMPTOMS, closest_words, unknown_word_message
from support import PATIENT, wav_bytes


@pytest.mark.parametrize(("typed", "accepted", "expected"), [
    ("dyspnea", SYMPTOMS, ["exertional_dyspnoea", "rapidly_worsening_dyspnoea"]),  # US spelling
    ("Scl-70", AUTOANTIBODIES, ["anti-Scl-70"]),  # prefix left out
    ("Jo-1", AUTOANTIBODIES, ["anti-Jo-1"]),
    ("anti-dsdna", AUTOANTIBODIES, ["anti-dsDNA"]),  # case
    ("clubbing", SYMPTOMS, ["finger_clubbing"]),
    ("posterior left base", CHEST_SITES, ["posterior_left_base"]),  # spaces for underscores
    ("banana", SYMPTOMS, []),  # nothing close: no guess
    ("RF", AUTOANTIBODIES, []),  # too short to guess from
])
def test_closest_words(typed, accepted, expected):
    assert closest_words(typed, accepted) == expected


def test_the_message_names_the_word_the_hint_and_every_accepted_word():
    message = unknown_word_message("symptom", "dyspnea", SYMPTOMS)
    assert message.startswith("unknown symptom 'dyspnea' (did you mean 'exertional_dyspnoea' or ")
    assert all(repr(word) in message for word in SYMPTOMS)
    assert "did you mean" not in unknown_word_message("symptom", "banana", SYMPTOMS)


def test_api_refuses_misspelt_words_with_the_accepted_spelling_and_stores_nothing(client, nurse):
    patient = {**PATIENT, "autoantibodies": ["Scl-70"], "symptoms": ["dyspnea"]}
    refused = client.post("/api/v1/patients", json=patient, headers=nurse)
    assert refused.status_code == 422
    reasons = {item["field"]: item["reason"] for item in refused.json["error"]["fields"]}
    assert "did you mean 'anti-Scl-70'?" in reasons["autoantibodies.0"]
    assert "did you mean 'exertional_dyspnoea'" in reasons["symptoms.0"]
    assert client.get("/api/v1/patients").json["total"] == 0


def test_api_refuses_a_misspelt_chest_site_with_a_hint(client, nurse):
    patient_id = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json["id"]
    visit_id = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=nurse).json["id"]
    refused = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=nurse,
                          data={"chest_site": "left base posterior", "file": (io.BytesIO(wav_bytes()), "a.wav")})
    assert refused.status_code == 422 and "unknown chest site 'left base posterior'" in refused.json["error"]["message"]
    assert client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"] == []
