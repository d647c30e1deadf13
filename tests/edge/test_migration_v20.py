"""Schema migration 20 on a version-19 database: each breath reading's score says when it was given (brief
h129). Rows stored before keep everything they had and get no time (NULL, never a made-up one): the API gives
``scored_at`` null beside their kept score and the visit page says the time is not recorded, in English and
Chinese; a reading an older release kept unscored gets the time Calculate first scores it."""
import json

from edge import audit
from edge.app import create_app
from edge.breath import score_breath_reading
from edge.config import load_settings
from edge.patients import create_patient, create_visit
from edge.store.database import open_database
from edge.store.migrations import apply_migrations
from edge.users import create_user
from support import PASSWORD, PATIENT, database_at, login, migrations_up_to
from test_breath_api import breath_csv

UP_TO_20 = migrations_up_to(20)


def reading_row(visit_id: int, text: str, *, scored: bool) -> dict:
    """A breath reading as a release before migration 20 stored it: scored when read, or kept unscored
    (read while the breath model was unavailable)."""
    checked = score_breath_reading(text)
    return {"visit_id": visit_id, "source": "upload", "sha256": "a" * 64, "file_path": "aa/a",
            "features": json.dumps(checked["features"]), "quality": json.dumps(checked["quality"]),
            "probability": checked["probability"] if scored else None,
            "model_version": "breath-0.1.0" if scored else None, "created_at": "2026-03-01T01:00:00.000+00:00"}


def test_readings_stored_before_keep_their_rows_and_get_no_time(tmp_path):
    db = database_at(tmp_path / "v19.db", 19)
    patient = create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))["id"]
    visit = create_visit(db, audit.CLI_OPERATOR, patient)["id"]
    for scored in (True, False):
        db["breath_readings"].insert(reading_row(visit, breath_csv(), scored=scored))
    db.conn.commit()
    before = list(db["breath_readings"].rows)
    assert "scored_at" not in db["breath_readings"].columns_dict

    assert 20 in apply_migrations(db, migrations=UP_TO_20)

    after = list(db["breath_readings"].rows)
    assert [{k: v for k, v in row.items() if k != "scored_at"} for row in after] == before
    assert [row["scored_at"] for row in after] == [None, None]
    assert apply_migrations(db, migrations=UP_TO_20) == []  # applied once


def test_a_score_from_before_shows_its_time_as_not_recorded_and_a_later_first_score_gets_one(tmp_path,
                                                                                          no_env_settings):
    settings = load_settings(data_dir=tmp_path / "data", max_upload_mb=2)
    settings.data_dir.mkdir(parents=True)
    db = open_database(settings.database_path)
    apply_migrations(db, migrations=migrations_up_to(19))
    create_user(db, audit.CLI_OPERATOR, username="nurse9", role="nurse", password=PASSWORD)
    visit = create_visit(db, audit.CLI_OPERATOR, create_patient(db, audit.CLI_OPERATOR, dict(PATIENT))["id"])["id"]
    old = db["breath_readings"].insert(reading_row(visit, breath_csv(), scored=True)).last_pk
    kept = db["breath_readings"].insert(reading_row(visit, breath_csv(seed=1), scored=False)).last_pk
    db.conn.commit()
    db.close()

    client = create_app(settings).test_client()  # the app applies migration 20
    headers = login(client, "nurse9")
    listed = {r["id"]: r for r in client.get(f"/api/v1/visits/{visit}/breath", headers=headers).json["breath_readings"]}
    assert listed[old]["probability"] is not None and listed[old]["scored_at"] is None
    assert (listed[kept]["probability"], listed[kept]["scored_at"]) == (None, None)
    for lang, words in (("en", "Scored at: not recorded · Breath model: "), ("zh-CN", "评分时间：未记录 · 呼气模型：")):
        client.set_cookie("lang", lang)
        page = client.get(f"/visits/{visit}").get_data(as_text=True)
        assert (f'id="breath-scored-{old}">{words}<span translate="no">breath-0.1.0</span></span>') in page
        assert f'id="breath-scored-{kept}"' not in page  # no score, no time

    assert client.post(f"/api/v1/visits/{visit}/assessments", json={}, headers=headers).status_code == 201
    listed = {r["id"]: r for r in client.get(f"/api/v1/visits/{visit}/breath", headers=headers).json["breath_readings"]}
    assert listed[old]["scored_at"] is None  # nothing scores it again, so no time is made up for it
    assert listed[kept]["probability"] is not None and listed[kept]["scored_at"] > listed[kept]["created_at"]
