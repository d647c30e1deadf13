"""The crackle map shades a take's windows at the take's own verdict: a window is shaded when the
take found crackles (its calibrated probability reached its model's threshold) and the window's raw
score, calibrated like the take's, reaches that threshold too (edge.auscultation.windows_with_crackles).
A fixed raw 0.5 shaded nothing on takes the model called "crackles" at its 0.17 threshold.

The page's script shades exactly the windows the server marks (``crackles``), so these tests check
what the server sends: the recording API and the visit page's ``data-windows``."""
import html
import json
import math
import re

import pytest

from edge.auscultation import windows_with_crackles
from audio_models.scoring import calibrate_score
from support import BUNDLED_DIR
# The fixtures (a take scored by the bundled model; a data folder that trusts the test signing key) are shared.
from support import settings_trusting_test_key  # noqa: F401 (the settings fixture, test key pinned)
from test_crackle_model_update import SHIFT, install_new_crackle_model, signed_in, visit_with_old_take  # noqa: F401

# The bundled crackle model's calibration (0.6.0) and threshold: raw window 0.5 -> 0.32, 0.4 -> 0.23, 0.3 -> 0.15.
CALIBRATION = {"method": "platt_logit", "slope": 1.1429963433722614, "intercept": -0.7649161973359011}
STAMP = {"name": "auscultation", "version": "0.6.0", "threshold": 0.17, "calibration": CALIBRATION}


def windows(*raw):
    return [{"start_s": 4.0 * i, "end_s": 4.0 * i + 4, "crackle_probability": p} for i, p in enumerate(raw)]


@pytest.mark.parametrize(("stamp", "probability", "raw", "shaded"), [
    (STAMP, 0.27, (0.5, 0.4, 0.3), [True, True, False]),  # 0.4 reaches 0.17 once calibrated: the old 0.5 missed it
    (STAMP, 0.17, (0.35, 0.1), [True, False]),  # at the threshold the take finds crackles
    (STAMP, 0.12, (0.5, 0.1), [False, False]),  # a clear take shows no shading, even with one high window
    (STAMP, None, (0.5,), [False]),  # scored nothing (silent): nothing shaded
    ({**STAMP, "calibration": None}, 0.45, (0.5, 0.16), [True, False]),  # a model without calibration: raw scale
    ({**STAMP, "threshold": None}, 0.3, (0.5,), [None]),  # no threshold known: unknown, not guessed
    ({**STAMP, "calibration": {"method": "isotonic"}}, 0.3, (0.5,), [None]),  # a calibration it cannot apply
    ({"name": "auscultation", "version": "0.1.0", "threshold": 0.5}, 0.6, (0.7,), [None]),  # old stamp, other model
])
def test_a_window_is_shaded_at_the_takes_own_verdict(stamp, probability, raw, shaded):
    marked = windows_with_crackles(windows(*raw), stamp, probability=probability)
    assert [window["crackles"] for window in marked] == shaded
    assert [window["crackle_probability"] for window in marked] == list(raw)  # the raw score is kept as it was


def test_a_take_that_found_crackles_has_a_shaded_window():
    """Its probability is the calibrated mean of its top two windows, so its top window reaches the threshold."""
    for raw in [(0.33, 0.33), (0.6, 0.1, 0.05), (0.34, 0.32, 0.9), (0.31, 0.29)]:
        top = sorted(raw, reverse=True)[:2]
        mean = sum(top) / len(top)
        probability = 1 / (1 + math.exp(-(CALIBRATION["slope"] * math.log(mean / (1 - mean)) + CALIBRATION["intercept"])))
        marked = windows_with_crackles(windows(*raw), STAMP, probability=probability)
        assert (probability >= STAMP["threshold"]) is any(window["crackles"] for window in marked), raw


def page_windows(client, visit_id: int, recording_id: int) -> list[dict]:
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    found = re.search(rf'data-recording-id="{recording_id}" data-windows=\'([^\']*)\'', page)
    assert found is not None, "the take is not on the visit page"
    return json.loads(html.unescape(found.group(1)))


def test_the_page_and_the_api_send_the_shading_of_the_takes_model(runner, settings, client, ui, db,
                                                                  visit_with_old_take, tmp_path):
    visit_id, take = visit_with_old_take
    # The bundled model finds this synthetic take clear: nothing shaded.
    assert take["crackle_probability"] < take["crackle_threshold"]
    assert {w["crackles"] for w in page_windows(client, visit_id, take["id"])} == {False}
    # A model that finds crackles in it (its calibration SHIFT logits higher, threshold 0.2) scores it again.
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.2)
    client, headers = signed_in(settings)
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).status_code == 201
    again = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]
    assert again["crackle_probability"] >= again["crackle_threshold"] == 0.2
    bundled = json.loads((BUNDLED_DIR / "manifest.json").read_text(encoding="utf-8"))["models"]["auscultation"]
    calibration = bundled.get("calibration") or {"method": "platt_logit", "slope": 1.0, "intercept": 0.0}
    calibration = {**calibration, "intercept": calibration["intercept"] + SHIFT}
    api = again["windows"]
    assert [w["crackles"] for w in api] == [calibrate_score(w["crackle_probability"], calibration) >= 0.2 for w in api]
    assert any(w["crackles"] for w in api)
    # Not the raw window scores against the threshold (the scale the page's fixed 0.5 read them on).
    assert any(w["crackles"] != (w["crackle_probability"] >= 0.2) for w in api)
    assert api == page_windows(client, visit_id, take["id"])

    # A take stored before stamps kept the calibration is read with the served model's, when it is that model.
    result = json.loads(db.execute("SELECT result FROM recordings WHERE id = ?", [take["id"]]).fetchone()[0])
    result["model"].pop("calibration")
    with db.conn:
        db.execute("UPDATE recordings SET result = ? WHERE id = ?", [json.dumps(result), take["id"]])
    assert page_windows(client, visit_id, take["id"]) == api


def test_an_old_take_of_a_replaced_model_shades_nothing_until_scored_again(runner, settings, db, visit_with_old_take,
                                                                           tmp_path):
    visit_id, take = visit_with_old_take
    result = json.loads(db.execute("SELECT result FROM recordings WHERE id = ?", [take["id"]]).fetchone()[0])
    result["model"].pop("calibration")  # stored before stamps kept it
    with db.conn:
        db.execute("UPDATE recordings SET result = ? WHERE id = ?", [json.dumps(result), take["id"]])
    install_new_crackle_model(runner, settings, tmp_path / "new", threshold=0.5)
    client, headers = signed_in(settings)
    assert {w["crackles"] for w in page_windows(client, visit_id, take["id"])} == {None}
    assert client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers).status_code == 201
    again = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]["windows"]
    assert {w["crackles"] for w in again} <= {True, False} and again == page_windows(client, visit_id, take["id"])
