"""The hospital's programme view: clinics post de-identified figures (strict validation naming the
field, idempotent per clinic + month + sequence, history kept), and programme viewers (only they)
see every clinic and the pooled programme, with flags for calibration, drift, data quality,
silence and old versions. Three simulated clinics stand in for a region; every test runs on
SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from ct_fixtures import database_url, imaging_settings, postgres  # noqa: F401 - fixtures
from edge.programme import reporting_period
from evaluation.proportions import wilson_interval
from imaging_server.app import create_app
from imaging_server.config import load_settings
from imaging_server.nodule_review import add_reader
from imaging_server.programme import add_viewer, programme_view
from imaging_server.programme import clinic_flags as programme_flags
from imaging_server.programme_figures import validate_figures
from imaging_server.errors import ValidationError
from imaging_server.store import add_clinic, open_database
from programme_clinics import changed, simulated_figures

CLINICS = ("clinic-east", "clinic-north", "clinic-south")


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """Figures of three simulated clinics whose populations differ (seed and size)."""
    root = tmp_path_factory.mktemp("region")
    return {name: simulated_figures(root / name, seed=seed, n_patients=size)
            for name, seed, size in zip(CLINICS, (3, 4, 5), (110, 130, 160))}


@pytest.fixture
def hospital(imaging_settings):  # noqa: F811
    app = create_app(imaging_settings)
    db = open_database(imaging_settings.database_target)
    tokens = {name: add_clinic(db, name) for name in (*CLINICS, "clinic-west")}
    tokens["viewer"] = add_viewer(db, "programme-lead")
    tokens["reader"] = add_reader(db, "dr-chen")
    db.close()
    return app, app.test_client(), tokens


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def sign_in(client, name: str, password: str):
    """Open the sign-in form (its CSRF cookie and field), then send it as a browser does."""
    form = client.get("/programme").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post("/programme/sign-in", data={"name": name, "password": password, "csrf_token": token})


def post(client, token, payload):
    return client.post("/api/v1/programme/figures", json=payload, headers=bearer(token))


def test_figures_are_stored_once_per_sequence_and_the_newest_sequence_wins(hospital, region):
    """Re-sends by the at-least-once outbox are replays (200); a newer send replaces the month's
    figures; a late older one is kept in the history but never becomes current."""
    app, client, tokens = hospital
    first = region["clinic-north"]
    created = post(client, tokens["clinic-north"], first)
    assert created.status_code == 201 and created.json == {"period": first["period"], "sequence": 1, "current": True}
    assert post(client, tokens["clinic-north"], first).status_code == 200  # the replay
    reordered = json.loads(json.dumps(first, sort_keys=True))
    assert post(client, tokens["clinic-north"], reordered).status_code == 200
    clash = post(client, tokens["clinic-north"], changed(first, **{"counts.referred": 999}))
    assert clash.status_code == 409 and "sequence 1" in clash.json["error"]["message"]
    newer = changed(first, sequence=3, **{"counts.referred": 80})
    assert post(client, tokens["clinic-north"], newer).json["current"] is True
    late = post(client, tokens["clinic-north"], changed(first, sequence=2, **{"counts.referred": 70}))
    assert late.status_code == 201 and late.json["current"] is False
    view = client.get("/api/v1/programme/dashboard", headers=bearer(tokens["viewer"])).json
    north = next(row for row in view["clinics"] if row["clinic"] == "clinic-north")
    assert north["figures"]["counts"]["referred"] == 80 and north["figures"]["sequence"] == 3
    db = open_database(app.extensions["imaging_server"].database_target)
    assert db.scalar("SELECT COUNT(*) AS n FROM programme_figures") == 3  # history: 1, 3 and 2
    db.close()


@pytest.mark.parametrize("change, field", [
    ({"counts.referred": -1}, "counts.referred"),
    ({"counts.referred": "12"}, "counts.referred"),
    ({"proportions.referral_yield.k": 90}, "proportions.referral_yield"),
    ({"period": "2026-13"}, "period"),
    ({"schema": "ildscreen.programme-figures/0"}, "schema"),
    ({"sequence": 0}, "sequence"),
    ({"patient_code": "NORTH-0001"}, "patient_code"),
    ({"counts.patients": ["NORTH-0001"]}, "counts.patients"),
    ({"calibration.ece": 1.5}, "calibration.ece"),
    ({"calibration.calibration_slope": float("nan")}, "calibration.calibration_slope"),
    ({"drift.0.psi": float("inf")}, "drift.0.psi"),
    ({"data_quality.quality_refusals": [{"kind": "breath", "device": "Mrs Li, 3 Elm St!", "refusals": {
        "value": None, "ci95": None, "k": None, "n": None}}]}, "data_quality.quality_refusals.0.device"),
])
def test_invalid_figures_are_refused_naming_the_field_and_nothing_is_stored(hospital, region, change, field):
    app, client, tokens = hospital
    refused = post(client, tokens["clinic-east"], changed(region["clinic-east"], **change))
    assert refused.status_code == 422, refused.json
    assert field in [item["field"] for item in refused.json["error"]["fields"]]
    assert field in refused.json["error"]["message"]
    view = client.get("/api/v1/programme/dashboard", headers=bearer(tokens["viewer"])).json
    assert view["overall"]["clinics_reporting"] == 0


def test_malformed_oversized_or_future_figures_are_refused(hospital, region):
    _, client, tokens = hospital
    not_json = client.post("/api/v1/programme/figures", data=b"{not json", headers=bearer(tokens["clinic-east"]))
    assert not_json.status_code == 400 and not_json.json["error"]["code"] == "malformed_request"
    array = post(client, tokens["clinic-east"], [region["clinic-east"]])
    assert array.status_code == 422 and array.json["error"]["fields"][0]["field"] == "body"
    with pytest.raises(ValidationError, match="in the future"):
        validate_figures(region["clinic-east"], today=dt.date(2020, 1, 1))
    assert validate_figures(region["clinic-east"], today=dt.date.today()).period == reporting_period()


def test_only_clinics_post_and_only_programme_viewers_see_the_view(hospital, region):
    _, client, tokens = hospital
    assert client.post("/api/v1/programme/figures", json=region["clinic-east"]).status_code == 401
    assert post(client, "ildct_unknown", region["clinic-east"]).status_code == 401
    assert post(client, tokens["viewer"], region["clinic-east"]).status_code == 401  # not a clinic
    for path in ("/api/v1/programme/dashboard", "/programme"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=bearer("ildpg_unknown")).status_code == 401
        for other in ("clinic-east", "reader"):
            forbidden = client.get(path, headers=bearer(tokens[other]))
            assert forbidden.status_code == 403 and forbidden.json["error"]["code"] == "forbidden"
        assert client.get(path, headers=bearer(tokens["viewer"])).status_code == 200


def flags_of(view, clinic):
    return {flag["code"] for row in view["clinics"] if row["clinic"] == clinic for flag in row["flags"]}


def test_the_pooled_programme_and_each_clinics_flags(hospital, region):
    """Pooled counts are sums, pooled yield a Wilson interval on summed counts, pooled calibration
    weighted by each clinic's outcomes; flags fire on the clinics that earn them and not on the others."""
    app, client, tokens = hospital
    settings = app.extensions["imaging_server"]
    east, north, south = (region[name] for name in CLINICS)
    perfect = {"ece": 0.01, "calibration_in_the_large": 0.0}
    earlier = changed(north, period="2000-01", sequence=1,
                      **{"data_quality.missing_modality.labs": {"value": 0.0, "ci95": [0.0, 0.1], "k": 0, "n": 120}})
    north_now = changed(north, **{f"calibration.{key}": value for key, value in perfect.items()},
                        **{"drift": [{**row, "psi": 0.05} for row in north["drift"]],
                           "data_quality.missing_modality.labs": {"value": 0.25, "ci95": [0.18, 0.33], "k": 30,
                                                                  "n": 120}})
    south_old = changed(south, **{"models.labs.version": "0.0.9", "drift": [
        {**row, "psi": 0.15 if row["psi"] is not None else None} for row in south["drift"]]})
    for name, payload in (("clinic-east", east), ("clinic-north", earlier), ("clinic-north", north_now),
                          ("clinic-south", south_old)):
        assert post(client, tokens[name], payload).status_code == 201
    db = open_database(settings.database_target)
    view = programme_view(db, settings)
    week_later = programme_view(db, settings, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7))
    db.close()

    latest = [east, north_now, south_old]
    overall = view["overall"]
    assert overall["clinics_reporting"] == 3
    for key in ("screened_patients", "referred", "hrct_done"):
        assert overall["counts"][key]["total"] == sum(item["counts"][key] for item in latest)
    k = sum(item["proportions"]["referral_yield"]["k"] for item in latest)
    n = sum(item["proportions"]["referral_yield"]["n"] for item in latest)
    assert overall["referral_yield"]["k"] == k and overall["referral_yield"]["ci95"] == list(wilson_interval(k, n))
    outcomes = [item["calibration"]["n_outcomes"] for item in latest]
    assert overall["calibration"]["ece"] == pytest.approx(
        sum(o * item["calibration"]["ece"] for o, item in zip(outcomes, latest)) / sum(outcomes))
    assert sum(b["count"] for b in overall["calibration"]["bins"]) == sum(
        b["count"] for item in latest for b in item["calibration"]["bins"] if b["observed"] is not None)

    assert all(o >= settings.programme_min_outcomes for o in outcomes)  # so calibration can be flagged
    assert {"calibration_ece", "drift_major"} <= flags_of(view, "clinic-east")  # the simulated site's truth differs
    assert flags_of(view, "clinic-north") == {"data_quality_worse"}  # 0% -> 25% missing labs; well calibrated
    assert {"older_model", "drift_some"} <= flags_of(view, "clinic-south")
    assert "drift_major" not in flags_of(view, "clinic-south")
    assert flags_of(view, "clinic-west") == {"not_reporting"}
    assert "overdue" not in flags_of(view, "clinic-east") and "overdue" in flags_of(week_later, "clinic-east")


def test_a_suppressed_cell_is_left_out_of_the_pool_and_said_so(hospital, region):
    _, client, tokens = hospital
    east = region["clinic-east"]
    tiny = changed(region["clinic-south"], **{"counts.ild_confirmed": None,
                                              "proportions.referral_yield": {"value": None, "ci95": None, "k": None,
                                                                             "n": None}})
    post(client, tokens["clinic-east"], east)
    post(client, tokens["clinic-south"], tiny)
    overall = client.get("/api/v1/programme/dashboard", headers=bearer(tokens["viewer"])).json["overall"]
    assert overall["counts"]["ild_confirmed"] == {"total": east["counts"]["ild_confirmed"], "clinics_suppressed": 1}
    assert overall["referral_yield"]["n"] == east["proportions"]["referral_yield"]["n"]
    assert overall["referral_yield"]["clinics_suppressed"] == 1
    page = client.get("/programme", headers=bearer(tokens["viewer"])).get_data(as_text=True)
    assert "small counts (1–4) left out for 1 of the clinics" in page and "<script" not in page and "<svg" in page
    assert "(s)" not in page


def test_a_version_3_database_gains_the_programme_tables_and_keeps_its_clinics(imaging_settings, monkeypatch):  # noqa: F811
    from imaging_server import store

    db = open_database(imaging_settings.database_target)
    with monkeypatch.context() as patched:
        patched.setattr(store, "MIGRATIONS", store.MIGRATIONS[:3])
        assert store.apply_migrations(db) == [1, 2, 3]
    token = add_clinic(db, "clinic-north")
    assert "programme_figures" not in db.table_names()
    assert store.apply_migrations(db) == [v for v, _, _ in store.MIGRATIONS[3:]]
    assert {"programme_figures", "programme_viewers"} <= set(db.table_names())
    assert store.clinic_for_token(db, f"Bearer {token}")["name"] == "clinic-north"
    db.close()


NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone.utc)
SHARE = {"value": 0.1, "ci95": [0.05, 0.2], "k": 10, "n": 100}


def clean(**changes) -> dict:
    """Figures of a clinic that earns no flag (received at NOW), with dotted-path changes."""
    figures = {"period": "2026-11", "received_at": NOW.isoformat(), "calibration_version": "site-x",
               "calibration": {"n_outcomes": 50, "n_events": 15, "ece": 0.05, "calibration_in_the_large": -0.05,
                               "calibration_slope": 1.0, "bins": []},
               "drift": [{"modality": "labs", "n": 100, "psi": 0.10}],
               "models": {"labs": {"version": "0.1.0", "synthetic": True, "clinically_validated": False}},
               "data_quality": {"missing_modality": {"labs": {**SHARE, "value": 0.3}},
                                "quality_refusals": [{"kind": "breath", "device": "enose-1",
                                                      "refusals": {**SHARE, "value": 0.2}}]}}
    return changed(figures, **changes)


@pytest.mark.parametrize("changes, previous, code", [
    ({}, None, None),  # every figure at its threshold: nothing
    ({"received_at": (NOW - dt.timedelta(days=3, seconds=1)).isoformat()}, None, "overdue"),
    ({"calibration.ece": 0.0501}, None, "calibration_ece"),
    ({"calibration.ece": 0.3, "calibration.n_outcomes": 49}, None, None),  # too few outcomes to judge
    ({"calibration.calibration_in_the_large": -0.0501}, None, "calibration_in_the_large"),
    ({"drift": [{"modality": "labs", "n": 100, "psi": 0.1001}]}, None, "drift_some"),
    ({"drift": [{"modality": "labs", "n": 100, "psi": 0.2501}]}, None, "drift_major"),
    ({"data_quality.missing_modality.labs.value": 0.3001}, None, "data_quality"),
    ({"data_quality.quality_refusals.0.refusals.value": 0.2001}, None, "data_quality"),
    ({}, {"data_quality.quality_refusals.0.refusals.value": 0.0999, "period": "2026-10"}, "data_quality_worse"),
    ({}, {"data_quality.quality_refusals.0.refusals.value": 0.1001, "period": "2026-10"}, None),
    ({"models.labs.version": "0.0.9"}, None, "older_model"),
    ({"calibration_version": "bundled"}, None, "older_calibration"),
])
def test_each_flag_fires_just_past_its_threshold_and_not_at_it(tmp_path, changes, previous, code):
    """The defaults: overdue after 3 days, ECE and |CITL| 0.05 with 50 outcomes, PSI 0.10 / 0.25,
    missing 30 %, refusals 20 %, a rise of 10 points, the newest model version, mostly site-calibrated."""
    months = [clean(**changes)] + ([clean(**previous)] if previous else [])
    flags = programme_flags(months, load_settings(data_dir=tmp_path), newest_versions={"labs": (0, 1, 0)},
                            site_calibrated_share=0.6, now=NOW)
    assert [flag["code"] for flag in flags] == ([code] if code else [])


def test_a_person_signs_in_with_a_password_and_the_cookie_is_a_session_not_the_token(hospital):
    """Issue 27: sign-in by pasting a console token is gone; a programme viewer's name and password
    open a server-side session whose random id the cookie carries; tokens stay for machines."""
    from imaging_server.programme_session import set_password

    app, client, tokens = hospital
    db = open_database(app.extensions["imaging_server"].database_target)
    try:
        with pytest.raises(ValidationError):
            set_password(db, "programme-lead", "short")
        set_password(db, "programme-lead", "a long programme password")
    finally:
        db.close()
    asked = client.get("/programme")
    assert asked.status_code == 401 and 'id="sign-in"' in asked.get_data(as_text=True)
    assert 'name="token"' not in asked.get_data(as_text=True)
    for name, password in (("programme-lead", "wrong password here"), ("nobody", "a long programme password")):
        wrong = sign_in(client, name, password)
        assert wrong.status_code == 401 and "Wrong name or password." in wrong.get_data(as_text=True)
    assert sign_in(client, "programme-lead", tokens["viewer"]).status_code == 401  # a token is not a password
    assert client.get_cookie("ildscreen_programme", path="/programme") is None  # nothing kept after a refusal
    signed = sign_in(client, "programme-lead", "a long programme password")
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/programme")
    cookie = next(value for value in signed.headers.getlist("Set-Cookie") if value.startswith("ildscreen_programme="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/programme" in cookie
    session_id = client.get_cookie("ildscreen_programme", path="/programme").value
    assert session_id != tokens["viewer"] and not session_id.startswith("ildpg_")
    page = client.get("/programme")
    assert page.status_code == 200 and "programme-lead</span>" in page.get_data(as_text=True)
    assert client.get("/api/v1/programme/dashboard").status_code == 401  # the cookie is for the page only
    sign_out_token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.post("/programme/sign-out", data={"csrf_token": sign_out_token}).status_code == 303
    assert client.get("/programme").status_code == 401
    # The old session id opens nothing once signed out, even if replayed.
    client.set_cookie("ildscreen_programme", session_id, path="/programme")
    assert client.get("/programme").status_code == 401


def test_the_programme_view_speaks_chinese_with_local_times_and_readable_labels(hospital, region):
    import re

    _, client, tokens = hospital
    post(client, tokens["clinic-east"], region["clinic-east"])
    switched = client.get("/programme/language?to=zh-CN")
    assert switched.status_code == 303
    page = client.get("/programme", headers=bearer(tokens["viewer"])).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "全部诊所" in page and "已筛查患者" in page
    for raw in ("hrct done", "suppressed or none", "screened patients", "Signed in as", "clinic(s)"):
        assert raw not in page
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page)  # no UTC ISO timestamps
    client.get("/programme/language?to=en")
    english = client.get("/programme", headers=bearer(tokens["viewer"])).get_data(as_text=True)
    assert "Patients screened" in english and "HRCT done after referral" in english


def test_the_request_log_names_the_programme_viewer_by_id_and_the_clinic_by_name(hospital, region, caplog):
    import logging

    app, client, tokens = hospital
    with caplog.at_level(logging.INFO, logger="imaging_server.app"):
        post(client, tokens["clinic-east"], region["clinic-east"])
        client.get("/programme", headers=bearer(tokens["viewer"]))
        client.get("/api/v1/programme/dashboard", headers=bearer(tokens["viewer"]))
    with app.app_context():
        from imaging_server.store import request_db

        viewer_id = request_db().scalar("SELECT id FROM programme_viewers WHERE name = 'programme-lead'")
    lines = {record.getMessage().split(" ")[1]: record.getMessage() for record in caplog.records}
    assert lines["/api/v1/programme/figures"].endswith(" clinic=clinic-east")
    for route in ("/programme", "/api/v1/programme/dashboard"):
        assert lines[route].endswith(f" viewer={viewer_id}") and "programme-lead" not in lines[route], lines[route]
