"""After a crackle-model update each take is judged by the model that scored it: before a visit is
assessed, takes another model scored are scored again from their kept audio by the served model
(edge.recordings.rescore_takes_of_other_models), so its threshold, calibration and validation
apply to probabilities it produced; until then a take is read against its own model's threshold
(edge.modalities.take_threshold); the result page says which model first scored each take.

The real flow: a take scored by the bundled model, then a second bundle installed whose crackle
model has another version, calibration and threshold, and the service restarted on it."""
import io
import json
import math
import re

import numpy as np
import pytest
import soundfile
from markupsafe import escape

from audio_models import synthetic

from edge.app import create_app
from edge.cli import cli
from edge.inference.models import entry_digest
from edge.modalities import counts_for_its_site, take_threshold
from edge.recordings import scored_by_another_model
from edge.web import clinic_time
from edge.web.i18n import CATALOG
from support import PASSWORD, PATIENT, csrf_of, edit_manifest, model_bundle
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)
from test_model_bundles import synthetic_crackles_wav

SITE = "posterior_left_base"
NEW_VERSION = "9.9.0"
SHIFT = 2.0  # logits the second bundle's calibration adds: it calls the same sound likelier to hold crackles


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def signed_in(settings):
    """A fresh service process on the data folder's active bundle, with a nurse signed in."""
    client = create_app(settings).test_client()
    response = client.post("/api/v1/auth/login", json={"username": "nurse1", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client, {"X-CSRF-Token": response.json["csrf_token"]}


def install_new_crackle_model(runner, settings, folder, *, threshold: float, version: str = NEW_VERSION) -> None:
    """A copy of the bundled models whose crackle model is ``version``, its calibration moved up by
    SHIFT logits (Platt on top of none when the bundled one has none) and ``threshold``."""
    def change(models):
        entry = models["auscultation"]
        calibration = entry.get("calibration") or {"method": "platt_logit", "slope": 1.0, "intercept": 0.0}
        entry.update(version=version, threshold=threshold,
                     calibration={**calibration, "intercept": calibration["intercept"] + SHIFT})
    bundle = model_bundle(folder)
    edit_manifest(bundle, change)
    result = runner.invoke(cli, ["models", "install", str(bundle), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output


@pytest.fixture
def visit_with_old_take(settings, client, nurse):
    """A visit with one take at a base scored by the bundled crackle model: (visit id, the take)."""
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]
    take = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=nurse, content_type="multipart/form-data",
                       data={"chest_site": SITE, "chest_piece": "diaphragm",
                             "file": (io.BytesIO(synthetic_crackles_wav()), "base.wav")})
    assert take.status_code == 201, take.json
    assert take.json["quality"]["ok"] and take.json["earlier_scores"] == []
    return visit_id, take.json


def test_a_take_is_scored_again_by_the_new_model_and_judged_by_its_threshold(runner, settings, visit_with_old_take,
                                                                              tmp_path):
    visit_id, old = visit_with_old_take
    p_old, t_old = old["crackle_probability"], old["crackle_threshold"]
    assert t_old is not None and 0 < p_old < 1
    # The new model's threshold sits above the old probability and below the new one: read against
    # the new threshold, the old score would be clear; the new model finds crackles in this take.
    p_new = sigmoid(logit(p_old) + SHIFT)
    t_new = round(sigmoid(logit(p_old) + SHIFT / 2), 6)
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=t_new)
    client, headers = signed_in(settings)

    assessed = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert assessed.status_code == 201, assessed.json
    finding = assessed.json["contributions"]["auscultation"]["finding"]
    assert finding["threshold"] == pytest.approx(t_new)
    assert finding["level"] == "basal" and finding["positive_basal_sites"] == [SITE]
    assert assessed.json["model_versions"]["auscultation"].startswith(f"auscultation-{NEW_VERSION}-")

    take = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]
    assert take["model_version"].startswith(f"auscultation-{NEW_VERSION}-")
    assert take["crackle_probability"] == pytest.approx(p_new, abs=1e-3)
    assert take["crackle_threshold"] == pytest.approx(t_new)
    earlier = take["earlier_scores"]
    assert len(earlier) == 1 and earlier[0]["model_version"] == old["model_version"]
    assert earlier[0]["threshold"] == pytest.approx(t_old) and earlier[0]["crackle_probability"] == p_old
    rescored = assessed.json["crackle_takes_rescored"]
    assert [(r["recording_id"], r["first_model_version"]) for r in rescored] == [(old["id"], old["model_version"])]

    # Assessed again on the same model: nothing is scored a second time.
    again = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).json
    assert again["contributions"]["auscultation"]["finding"]["level"] == "basal"
    after = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]
    assert after["earlier_scores"] == earlier


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_result_page_says_which_model_first_scored_a_take(runner, settings, visit_with_old_take, tmp_path, lang):
    visit_id, old = visit_with_old_take
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, headers = signed_in(settings)
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).status_code == 201
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    line = re.search(r'id="takes-rescored-1"[^>]*>(.*?)</p>', page, re.S)
    assert line is not None, "the result does not say the take was scored again"
    new_version = json.loads(client.get(f"/api/v1/visits/{visit_id}/recordings",
                                        headers=headers).data)["recordings"][0]["model_version"]
    assert line.group(1) == str(escape(CATALOG["takes_rescored"][lang].format(
        sites=CATALOG[f"site_{SITE}"][lang], first=old["model_version"],
        first_threshold=f"{old['crackle_threshold']:.2f}", model=new_version, threshold="0.50")))
    # Under the take itself too, with the probability the nurse was shown when it was taken.
    under_take = re.search(rf'id="take-rescored-{old["id"]}">(.*?)</p>', page, re.S).group(1)
    assert under_take == str(escape(CATALOG["take_rescored"][lang].format(
        model=new_version, first=old["model_version"], first_percent=f"{old['crackle_probability'] * 100:.0f}%")))


def second_take(client, headers, visit_id: int, site: str) -> dict:
    """Another take of the visit, with other sound than the fixture's (files are stored once per content)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, synthetic.synthesize(np.random.default_rng(1), duration_s=10.0).samples, 4000,
                    format="WAV")
    take = client.post(f"/api/v1/visits/{visit_id}/recordings", headers=headers, content_type="multipart/form-data",
                       data={"chest_site": site, "chest_piece": "diaphragm", "file": (io.BytesIO(buffer.getvalue()),
                                                                                       "other.wav")})
    assert take.status_code == 201, take.json
    return take.json


def remove_audio(app, db, recording_id: int) -> None:
    stored = db.execute("SELECT file_path FROM recordings WHERE id = ?", [recording_id]).fetchone()[0]
    app.extensions["ildscreen"].blobs.path_of(stored).unlink()


def test_a_take_whose_audio_is_gone_is_named_and_nothing_is_scored_again(runner, settings, app, db, client, nurse,
                                                                         visit_with_old_take, tmp_path):
    visit_id, old = visit_with_old_take
    lost = second_take(client, nurse, visit_id, "posterior_right_base")
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, headers = signed_in(settings)
    remove_audio(app, db, lost["id"])  # the later take: the first one's file is still there
    refused = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    # 409: the visit's state (a take that can no longer be re-read) stands in the way, and the
    # nurse resolves it (discard the take, record again); not a fault of the service (500).
    assert refused.status_code == 409, refused.json
    error = refused.json["error"]
    assert error["code"] == "take_audio_missing"
    assert error["take"] == {"recording_id": lost["id"], "chest_site": "posterior_right_base",
                             "recorded_at": lost["created_at"]}
    assert "discard that take" in error["message"] and PATIENT["code"] not in json.dumps(refused.json)
    # Nothing stored changed: neither take was scored again (the first's file was fine), no
    # assessment, no audit entry of a replaced score.
    takes = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"]
    assert [(take["model_version"], take["earlier_scores"]) for take in takes] == [
        (old["model_version"], []), (lost["model_version"], [])]
    assert client.get(f"/api/v1/visits/{visit_id}/assessments", headers=headers).json["assessments"] == []
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'rescore'").fetchone()[0] == 0


def test_an_api_client_mends_the_visit_by_discarding_the_take_the_refusal_names(runner, settings, app, db, client,
                                                                               nurse, visit_with_old_take, tmp_path):
    """The 409 tells an API client which request discards the take; after it (as after the tablet's
    "Discard and record again") the same assessment succeeds, on the takes that are left."""
    visit_id, old = visit_with_old_take
    lost = second_take(client, nurse, visit_id, "posterior_right_base")
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, headers = signed_in(settings)
    remove_audio(app, db, lost["id"])
    refused = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "take_audio_missing"
    named = re.search(r"DELETE (/api/v1/recordings/(\d+))", refused.json["error"]["message"])
    assert named is not None, refused.json["error"]["message"]
    assert int(named.group(2)) == lost["id"]

    assert client.delete(named.group(1), headers=headers).status_code == 204
    assessed = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert assessed.status_code == 201, assessed.json
    assert [r["recording_id"] for r in assessed.json["crackle_takes_rescored"]] == [old["id"]]
    takes = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"]
    assert [take["id"] for take in takes] == [old["id"]]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_tablet_names_the_take_whose_audio_is_gone(runner, settings, app, db, visit_with_old_take, tmp_path,
                                                        lang):
    visit_id, old = visit_with_old_take
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, _ = signed_in(settings)
    remove_audio(app, db, old["id"])
    client.set_cookie("lang", lang)
    token = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    answer = client.post(f"/visits/{visit_id}/assess", data={"csrf_token": token})
    assert answer.status_code == 302 and PATIENT["code"] not in answer.location
    page = client.get(answer.location).get_data(as_text=True)
    shown = re.search(r'id="assess-error"[^>]*>(.*?)</p>', page, re.S)
    assert shown is not None, "the tablet does not say why the risk was not calculated"
    time = clinic_time.local_time(old["created_at"], settings.clinic_zone)
    assert shown.group(1) == str(escape(CATALOG["err_take_audio_missing"][lang].format(
        site=CATALOG[f"site_{SITE}"][lang], time=time)))
    assert 'id="assessment"' not in page  # nothing was calculated


def test_a_crafted_missing_take_link_shows_nothing(client, ui, visit_with_old_take):
    visit_id, old = visit_with_old_take
    for code in (f"err_take_audio_missing:{old['id'] + 1}", "err_take_audio_missing:x", "err_take_audio_missing"):
        page = client.get(f"/visits/{visit_id}?assess_error={code}").get_data(as_text=True)
        assert 'id="assess-error"' not in page


def test_each_take_scored_again_is_audited_with_both_models(runner, settings, db, visit_with_old_take, tmp_path):
    visit_id, old = visit_with_old_take
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, headers = signed_in(settings)
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).status_code == 201
    take = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]
    entries = db.execute_returning_dicts("SELECT * FROM audit_log WHERE action = 'rescore'")
    assert [(e["username"], e["entity"], e["entity_id"]) for e in entries] == [("nurse1", "recording", str(old["id"]))]
    detail = json.loads(entries[0]["detail"])
    assert detail == {"visit_id": visit_id, "chest_site": SITE,
                      "from_model_version": old["model_version"], "to_model_version": take["model_version"],
                      "from_threshold": old["crackle_threshold"], "to_threshold": 0.5,
                      "from_crackle_probability": old["crackle_probability"],
                      "to_crackle_probability": take["crackle_probability"]}
    assert PATIENT["code"] not in entries[0]["detail"]
    # Assessed again on the same model: nothing replaced, nothing more audited.
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).status_code == 201
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'rescore'").fetchone()[0] == 1


@pytest.mark.parametrize(("own", "probability", "served", "counts"), [
    (0.17, 0.20, 0.25, True),    # its own model found crackles: the new, higher threshold must not clear it
    (0.30, 0.27, 0.25, False),   # its own model found none: the new, lower threshold must not find them
    (None, 0.20, 0.25, False),   # kept no threshold: the one given
    (None, 0.30, 0.25, True),
    (None, 0.30, None, False),   # no threshold known at all: a clear-through-the-bell take never counts
])
def test_a_bell_take_is_read_against_its_own_models_threshold(own, probability, served, counts):
    take = {"chest_piece": "bell", "crackle_probability": probability, "crackle_threshold": own}
    assert take_threshold(take, served) == (own if own is not None else served)
    assert counts_for_its_site(take, threshold=served, cannot_clear=("bell",)) is counts


def test_the_tablets_calculate_risk_scores_old_takes_again_too(runner, settings, db, visit_with_old_take, tmp_path):
    visit_id, old = visit_with_old_take
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, headers = signed_in(settings)
    token = csrf_of(client.get(f"/visits/{visit_id}").get_data(as_text=True))
    assert client.post(f"/visits/{visit_id}/assess", data={"csrf_token": token}).status_code == 302
    take = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]
    assert take["model_version"].startswith(f"auscultation-{NEW_VERSION}-") and take["crackle_threshold"] == 0.5
    assert [score["model_version"] for score in take["earlier_scores"]] == [old["model_version"]]
    # The replaced score is audited under the nurse who pressed "Calculate risk".
    assert db.execute("SELECT username FROM audit_log WHERE action = 'rescore'").fetchall() == [("nurse1",)]


SERVED = {"name": "auscultation", "version": "0.7.0", "threshold": 0.25, "calibration": {"slope": 1.0, "intercept": 0.0}}
REISSUED = {**SERVED, "calibration": {"slope": 1.0, "intercept": 0.5}}  # the same version, another calibration


@pytest.mark.parametrize(("stamp", "another"), [
    ({"name": "auscultation", "version": "0.7.0", "variant": "fp16", "threshold": 0.25}, False),  # a variant only
    ({"name": "auscultation", "version": "0.7.0", "variant": "fp32"}, False),  # kept no threshold: its version's
    ({"name": "auscultation", "version": "0.6.0", "variant": "fp32", "threshold": 0.25}, True),
    ({"name": "auscultation", "version": "0.6.0", "variant": "fp32"}, True),
    ({"name": "auscultation", "version": "0.7.0", "variant": "fp32", "threshold": 0.17}, True),  # re-thresholded
    ({"name": "crackles", "version": "0.7.0", "variant": "fp32", "threshold": 0.25}, True),
    ({"name": "auscultation", "version": "0.7.0", "threshold": 0.25, "entry_sha256": entry_digest(SERVED)}, False),
    ({"name": "auscultation", "version": "0.7.0", "threshold": 0.25, "entry_sha256": entry_digest(REISSUED)}, True),
    # Scored before stamps kept the entry's digest: its calibration tells a re-issue.
    ({"name": "auscultation", "version": "0.7.0", "threshold": 0.25, "calibration": SERVED["calibration"]}, False),
    ({"name": "auscultation", "version": "0.7.0", "threshold": 0.25, "calibration": REISSUED["calibration"]}, True),
])
def test_which_takes_another_model_scored(stamp, another):
    assert scored_by_another_model(stamp, SERVED) is another


def test_a_crackle_model_reissued_at_the_same_version_scores_the_takes_again(runner, settings, visit_with_old_take,
                                                                              tmp_path):
    """A re-issue with another calibration at the same version and threshold: the result calculated before
    reads out of date (edge.freshness), and calculating again scores the take again with the re-issued
    calibration, so the new result is not a current-looking one built on the old score."""
    visit_id, old = visit_with_old_take
    client, headers = signed_in(settings)
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).status_code == 201
    same_version = old["model_version"].split("-")[1]
    install_new_crackle_model(runner, settings, tmp_path / "reissued", threshold=old["crackle_threshold"],
                              version=same_version)
    client, headers = signed_in(settings)
    assessed = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert assessed.status_code == 201, assessed.json
    assert [r["recording_id"] for r in assessed.json["crackle_takes_rescored"]] == [old["id"]]
    take = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]
    assert take["crackle_probability"] == pytest.approx(sigmoid(logit(old["crackle_probability"]) + SHIFT), abs=1e-3)
    assert [score["crackle_probability"] for score in take["earlier_scores"]] == [old["crackle_probability"]]
