"""Breath readings of a visit: the raw file stored, quality reasons kept, bad files refused with nothing kept."""
import hashlib
import io
import json

import numpy as np
import pytest
from markupsafe import escape

from support import PASSWORD, PATIENT, login, patch_visit
from edge import audit
from edge.app import create_app
from edge.breath import score_breath_reading
from edge.cli import cli
from edge.config import load_settings
from edge.users import create_user
from edge.web.i18n import CATALOG, QUALITY_ISSUES
from tabular_models.training.synthetic_breath import device_profile, simulate_reading


def breath_csv(seed: int = 0, *, saturate: bool = False, **options) -> str:
    """A simulated e-nose capture written in the documented CSV format."""
    rng = np.random.default_rng(seed)
    r = simulate_reading(rng, concentrations=np.ones(6), device=device_profile(rng), **options)
    if saturate:
        r["sensors"][80:100, 1] = r["full_scale"]
    n_sensors = r["sensors"].shape[1]
    lines = [",".join(["t_s", "phase", *[f"sensor_{i + 1}" for i in range(n_sensors)],
                       "temperature_c", "humidity_pct", "pressure_hpa"])]
    for i in range(r["t_s"].size):
        lines.append(",".join([f"{r['t_s'][i]:.2f}", r["phase"][i], *[f"{v:.3f}" for v in r["sensors"][i]],
                               f"{r['temperature_c'][i]:.3f}", f"{r['humidity_pct'][i]:.3f}",
                               f"{r['pressure_hpa'][i]:.2f}"]))
    return "\n".join(lines) + "\n"


def impossible_humidity_reading() -> str:
    """A good simulated capture whose chamber humidity column reads 500 %RH throughout."""
    lines = breath_csv().splitlines()
    column = lines[0].split(",").index("humidity_pct")
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        row[column] = "500"
    return "\n".join([lines[0], *(",".join(row) for row in rows)]) + "\n"


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def upload(client, headers, visit_id, text, name="reading.csv"):
    return client.post(f"/api/v1/visits/{visit_id}/breath", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(text.encode()), name)})


def stored_files(settings):
    return sorted(p for p in settings.blob_dir.rglob("*") if p.is_file())


def test_a_good_reading_is_stored_with_features_quality_and_probability(client, nurse, visit_id, settings, db):
    text = breath_csv()
    response = upload(client, nurse, visit_id, text)
    assert response.status_code == 201, response.json
    body = response.json
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert body["sha256"] == digest and stored_files(settings) == [settings.blob_dir / digest[:2] / digest]
    assert body["quality"] == {"ok": True, "issues": []} and 0.0 <= body["probability"] <= 1.0
    assert body["features"]["sensor_1_response"] > 0 and body["model_version"] == "breath-0.1.0"
    assert body["probability"] == pytest.approx(score_breath_reading(text)["probability"])
    listed = client.get(f"/api/v1/visits/{visit_id}/breath", headers=nurse).json["breath_readings"]
    assert listed == [body]
    entry = db.execute("SELECT action, entity, entity_id FROM audit_log WHERE action != 'read' ORDER BY id DESC").fetchone()
    assert entry == ("add_breath_reading", "visit", str(visit_id))


def test_a_reading_says_when_and_by_which_model_it_was_scored(tmp_path, no_env_settings, monkeypatch):
    """The time the breath model gave the reading's score is stored with it (UTC, as the service keeps every
    time), returned by the API and shown on the visit page in the clinic's time zone, in English and Chinese,
    with the model's label (not translated) and no percentage."""
    import edge.breath

    app = create_app(load_settings(data_dir=tmp_path / "data", max_upload_mb=2, clinic_timezone="Asia/Shanghai"))
    client = app.test_client()
    db = app.extensions["ildscreen"].folder.connect()
    create_user(db, audit.CLI_OPERATOR, username="nurse1", role="nurse", password=PASSWORD)
    db.close()
    nurse = login(client, "nurse1")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]
    monkeypatch.setattr(edge.breath, "utc_now", lambda: "2026-12-07T02:30:00.000+00:00")

    body = upload(client, nurse, visit_id, breath_csv()).json
    assert (body["scored_at"], body["model_version"]) == ("2026-12-07T02:30:00.000+00:00", "breath-0.1.0")
    assert client.get(f"/api/v1/visits/{visit_id}/breath", headers=nurse).json["breath_readings"] == [body]
    for lang, words in (("en", "Scored at: 2026-12-07 10:30 · Breath model: "),
                        ("zh-CN", "评分时间：2026-12-07 10:30 · 呼气模型：")):
        client.set_cookie("lang", lang)
        page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
        assert f'id="breath-scored-{body["id"]}">{words}<span translate="no">breath-0.1.0</span></span>' in page


def test_a_reading_at_an_impossible_humidity_is_kept_unscored_and_the_visit_page_says_why(client, nurse, visit_id):
    """h130: a file whose chamber humidity reads 500 %RH (a faulty sensor, or another unit) passed the quality
    gate and was scored, its risk moved by a number no chamber can reach."""
    response = upload(client, nurse, visit_id, impossible_humidity_reading())
    assert response.status_code == 201, response.json
    assert response.json["quality"]["ok"] is False and response.json["probability"] is None
    assert [(i["code"], i["column"]) for i in response.json["quality"]["issues"]] == [
        ("environment_out_of_range", "humidity_pct")]
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    said = QUALITY_ISSUES["breath:environment_out_of_range"]
    assert f'{CATALOG["breath_poor"]["en"]}</span> ({escape(said["en"])})' in page
    client.set_cookie("lang", "zh-CN")  # in Chinese, in full-width brackets
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert f'{CATALOG["breath_poor"]["zh-CN"]}</span>（{escape(said["zh-CN"])}）' in page


def test_a_reading_without_breath_is_kept_with_the_reason_and_no_probability(client, nurse, visit_id):
    response = upload(client, nurse, visit_id, breath_csv(breath_delivered=False))
    assert response.status_code == 201
    assert response.json["probability"] is None and response.json["features"] is None
    assert response.json["scored_at"] is None  # nothing scored it
    assert [issue["code"] for issue in response.json["quality"]["issues"]] == ["no_breath"]


@pytest.mark.parametrize(
    ("text", "name", "words"),
    [
        ("t_s,phase,sensor_1\n0,baseline,1\n", "r.csv", "lacks column"),
        ('{"t_s": [1, 2]}', "r.json", "no 'phase'"),
        ("", "r.csv", "empty"),
        (breath_csv(), "../../r.csv", "plain name"),
    ],
)
def test_unreadable_files_are_refused_with_nothing_stored(client, nurse, visit_id, settings, db, text, name, words):
    response = upload(client, nurse, visit_id, text, name=name)
    assert response.status_code == 422 and words in json.dumps(response.json)
    assert stored_files(settings) == [] and db.execute("SELECT COUNT(*) FROM breath_readings").fetchone()[0] == 0


def test_admins_cannot_upload_breath_readings(client, visit_id, make_user):
    make_user("admin2", "admin")
    assert upload(client, login(client, "admin2"), visit_id, breath_csv()).status_code == 403


def test_cli_scores_a_reading_as_json(runner, tmp_path):
    path = tmp_path / "reading.csv"
    path.write_text(breath_csv())
    result = runner.invoke(cli, ["breath", "score", "--json", str(path)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {"probability", "normalized", "missing", "warnings"} <= set(body)
    assert 0.0 <= body["probability"] <= 1.0 and body["warnings"] == []


@pytest.mark.parametrize(
    ("options", "words"),
    [({"saturate": True}, "sensor_2 reached full scale"), ({"warmup_drift": 0.5}, "baseline is still moving"),
     ({"breath_delivered": False}, "no breath detected")],
)
def test_cli_refuses_readings_that_fail_quality(runner, tmp_path, options, words):
    path = tmp_path / "reading.csv"
    path.write_text(breath_csv(**options))
    result = runner.invoke(cli, ["breath", "score", "--json", str(path)])
    assert result.exit_code == 1 and words in json.loads(result.output)["error"]


def test_a_reading_with_another_sensor_count_is_refused_with_nothing_stored(client, nurse, visit_id, settings, db):
    lines = breath_csv().splitlines()
    keep = [i for i, name in enumerate(lines[0].split(",")) if name not in ("sensor_7", "sensor_8")]
    text = "\n".join(",".join(line.split(",")[i] for i in keep) for line in lines) + "\n"
    response = upload(client, nurse, visit_id, text)
    assert response.status_code == 422 and "expects 8 sensors" in response.json["error"]["message"]
    assert stored_files(settings) == [] and db.execute("SELECT COUNT(*) FROM breath_readings").fetchone()[0] == 0


def test_missing_and_closed_visits_take_no_readings(client, nurse, visit_id):
    assert upload(client, nurse, visit_id + 99, breath_csv()).status_code == 404
    patch_visit(client, visit_id, {"status": "completed"}, nurse)
    assert upload(client, nurse, visit_id, breath_csv()).status_code == 409
    assert client.get(f"/api/v1/visits/{visit_id + 99}/breath", headers=nurse).status_code == 404


def test_a_reading_taken_while_the_breath_model_is_unavailable_is_kept_and_scored_before_assessing(
        client, nurse, visit_id, monkeypatch):
    import edge.breath
    from edge.errors import ModelUnavailable

    def unavailable(name, models_dir=None):
        raise ModelUnavailable(f"the {name} model is not available: test")

    text = breath_csv()
    monkeypatch.setattr(edge.breath, "bundled_model", unavailable)
    kept = upload(client, nurse, visit_id, text)
    assert kept.status_code == 201 and kept.json["probability"] is None and kept.json["model_version"] is None
    assert kept.json["scored_at"] is None
    assert kept.json["features"] and "breath model is unavailable" in kept.json["score_unavailable"]
    assert "the breath model is unavailable (see /readyz)" in client.get(f"/visits/{visit_id}").get_data(as_text=True)
    refused = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse)
    assert refused.status_code == 503 and "1 breath reading(s)" in refused.json["error"]["message"]

    monkeypatch.undo()
    # The model is back: the reading says Calculate scores it, no longer that the model is unavailable.
    waiting = client.get(f"/api/v1/visits/{visit_id}/breath", headers=nurse).json["breath_readings"][0]
    assert waiting["score_unavailable_code"] == "not_scored_yet" and waiting["probability"] is None
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert CATALOG["breath_not_scored_yet"]["en"] in page and "the breath model is unavailable" not in page
    assessed = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=nurse)
    assert assessed.status_code == 201
    assert any(item["modality"] == "breath" for item in assessed.json["inputs"]["evidence"])
    reading = client.get(f"/api/v1/visits/{visit_id}/breath", headers=nurse).json["breath_readings"][0]
    assert reading["probability"] == pytest.approx(score_breath_reading(text)["probability"])
    assert reading["score_unavailable"] is None and reading["model_version"].startswith("breath-")
    assert reading["score_unavailable_code"] is None
    assert reading["scored_at"] > reading["created_at"]  # when Calculate first scored it, not when it was read


@pytest.mark.parametrize("model_back", [False, True])
def test_a_reading_kept_unscored_on_a_closed_visit_says_nothing_scores_it(client, nurse, visit_id, monkeypatch,
                                                                         model_back):
    """A closed visit is not assessed again (edge.patients.require_open_visit), so a reading it kept
    unscored stays so: it says that, not that it is scored once the model is back or when the risk is calculated."""
    import edge.breath
    from edge.errors import ModelUnavailable

    def unavailable(name, models_dir=None):
        raise ModelUnavailable(f"the {name} model is not available: test")

    monkeypatch.setattr(edge.breath, "bundled_model", unavailable)
    assert upload(client, nurse, visit_id, breath_csv()).status_code == 201
    patch_visit(client, visit_id, {"status": "completed"}, nurse)
    if model_back:
        monkeypatch.undo()
    for lang in ("en", "zh-CN"):
        client.set_cookie("lang", lang)
        reading = client.get(f"/api/v1/visits/{visit_id}/breath", headers=nurse).json["breath_readings"][0]
        assert (reading["score_unavailable_code"], reading["probability"]) == ("visit_closed", None)
        assert "the visit is closed" in reading["score_unavailable"]
        page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
        assert f'id="breath-unscored-{reading["id"]}">{escape(CATALOG["breath_unscored_closed"][lang])}<' in page
        for open_only in ("breath_kept_unscored", "breath_not_scored_yet"):
            assert str(escape(CATALOG[open_only][lang])) not in page
