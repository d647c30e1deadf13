"""Uploading a recording: stored content-addressed and registered, or refused with nothing kept."""
import hashlib
import io
import json

import pytest

from support import PATIENT, csrf_of, login, patch_visit, wav_bytes


@pytest.fixture
def visit_id(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]


def upload(client, headers, visit_id, data, *, name="base.wav", site="posterior_left_base"):
    return client.post(
        f"/api/v1/visits/{visit_id}/recordings",
        data={"chest_site": site, "file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def stored_files(settings):
    return sorted(p for p in settings.blob_dir.rglob("*") if p.is_file())


def test_upload_is_stored_by_content_and_registered(client, nurse, visit_id, settings, db):
    data = wav_bytes(seconds=3, rate=44100, channels=2, subtype="PCM_24")
    response = upload(client, nurse, visit_id, data)
    assert response.status_code == 201, response.json
    recording = response.json
    digest = hashlib.sha256(data).hexdigest()
    assert recording["sha256"] == digest
    assert (recording["sample_rate"], recording["channels"], recording["duration_s"]) == (44100, 2, 3.0)
    assert stored_files(settings) == [settings.blob_dir / digest[:2] / digest]
    assert (settings.blob_dir / digest[:2] / digest).read_bytes() == data
    listed = client.get(f"/api/v1/visits/{visit_id}/recordings").json["recordings"]
    assert [r["id"] for r in listed] == [recording["id"]] and "file_path" not in listed[0]


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"name": "../../etc/cron.d/x.wav"}, 422, "plain name"),
        ({"name": ".."}, 422, "plain name"),
        ({"site": "left_knee"}, 422, "unknown chest site 'left_knee'"),
    ],
)
def test_bad_names_and_sites_are_refused(client, nurse, visit_id, settings, db, kwargs, status, message):
    response = upload(client, nurse, visit_id, wav_bytes(), **kwargs)
    assert response.status_code == status
    assert message in str(response.json)
    assert stored_files(settings) == [] and db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0


def test_a_file_that_is_not_audio_is_refused(client, nurse, visit_id, settings, db):
    response = upload(client, nurse, visit_id, b"MZ\x90\x00 definitely not audio" * 100, name="x.wav")
    assert response.status_code == 422 and "not readable audio" in response.json["error"]["message"]
    assert stored_files(settings) == [] and db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0


def test_a_wav_file_with_a_header_and_no_samples_is_refused_as_such(client, nurse, visit_id, settings, db):
    """h130: a WAV cut off after its header was refused as "unsupported audio format 'WAV'"."""
    response = upload(client, nurse, visit_id, wav_bytes(seconds=0.0))
    assert response.status_code == 422
    assert response.json["error"]["message"] == "the WAV file holds no audio samples (only its header)"
    assert stored_files(settings) == [] and db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0


def test_too_short_a_recording_is_refused(client, nurse, visit_id):
    response = upload(client, nurse, visit_id, wav_bytes(seconds=0.1))
    assert response.status_code == 422 and "at least 0.5 s" in response.json["error"]["message"]


def test_an_oversize_upload_is_a_413_and_nothing_is_kept(client, nurse, visit_id, settings, db):
    big = wav_bytes(seconds=300, rate=4000)  # 2.4 MB against the 2 MB limit of the test settings
    response = upload(client, nurse, visit_id, big)
    assert response.status_code == 413 and "2 MB upload limit" in response.json["error"]["message"]
    assert stored_files(settings) == [] and db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0


def test_missing_file_part_and_wrong_content_type(client, nurse, visit_id):
    no_file = client.post(f"/api/v1/visits/{visit_id}/recordings", data={"chest_site": "trachea"},
                          headers=nurse, content_type="multipart/form-data")
    assert no_file.status_code == 422 and no_file.json["error"]["fields"][0]["field"] == "file"
    as_json = client.post(f"/api/v1/visits/{visit_id}/recordings", json={"chest_site": "trachea"}, headers=nurse)
    assert as_json.status_code == 415


def test_a_closed_visit_takes_no_more_recordings(client, nurse, visit_id, settings):
    patch_visit(client, visit_id, {"status": "completed"}, nurse)
    response = upload(client, nurse, visit_id, wav_bytes())
    assert response.status_code == 409 and stored_files(settings) == []


@pytest.mark.parametrize("name", ["..\\..\\boot.wav", "a/b.wav", "/etc/passwd", "..", "x\x00.wav", "a\nb.wav"])
def test_file_names_with_paths_or_control_characters_are_refused(name):
    from edge.errors import ValidationError
    from edge.recordings import check_file_name

    with pytest.raises(ValidationError, match="plain name"):
        check_file_name(name)


def test_plain_file_names_pass():
    from edge.recordings import check_file_name

    check_file_name("Posterior base (left) 2026-11-22.wav")


def test_a_discarded_take_leaves_no_file_unless_another_row_holds_the_same_sound(client, nurse, visit_id, settings,
                                                                                 app, db):
    """Issue 26: a discarded recording's file stayed in the store for ever."""
    from edge import audit
    from edge.recordings import discard_recording

    blobs = app.extensions["ildscreen"].blobs
    same = wav_bytes(seconds=2)
    first = upload(client, nurse, visit_id, same).json
    second = upload(client, nurse, visit_id, same, site="posterior_right_base").json
    other = upload(client, nurse, visit_id, wav_bytes(seconds=3), site="trachea").json
    assert len(stored_files(settings)) == 2
    discard_recording(db, blobs, audit.CLI_OPERATOR, other["id"])
    assert stored_files(settings) == [blobs.path_for(first["sha256"])]
    discard_recording(db, blobs, audit.CLI_OPERATOR, first["id"])
    assert stored_files(settings) == [blobs.path_for(first["sha256"])]  # still the second take's sound
    discard_recording(db, blobs, audit.CLI_OPERATOR, second["id"])
    assert stored_files(settings) == []
    trail = db.execute("SELECT detail FROM audit_log WHERE action = 'discard' ORDER BY id").fetchall()
    assert len(trail) == 3 and first["sha256"] in trail[1][0]


def _rows(db) -> list:
    return db.execute("SELECT id, visit_id, chest_site, sha256 FROM recordings ORDER BY id").fetchall()


def _creations(db) -> int:
    return db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'create' AND entity = 'recording'").fetchone()[0]


def test_the_same_take_sent_twice_is_stored_once_and_the_second_answer_is_200_with_the_first(
        client, nurse, visit_id, settings, db, monkeypatch):
    """A double tap or a re-send after a timeout: one row, one file, one audit entry, the same id back;
    the re-sent take is not decoded again (it takes no decode slot)."""
    from edge import recordings

    decoded = []
    describe = recordings.describe_audio
    monkeypatch.setattr(recordings, "describe_audio", lambda *a, **k: decoded.append(1) or describe(*a, **k))
    take = wav_bytes(seconds=2)
    first = upload(client, nurse, visit_id, take)
    again = upload(client, nurse, visit_id, take, name="resent.wav")
    assert (first.status_code, again.status_code) == (201, 200), again.json
    assert again.json == first.json
    assert len(_rows(db)) == 1 and len(stored_files(settings)) == 1 and _creations(db) == 1
    assert len(decoded) == 1


def test_the_same_sound_at_another_site_or_in_another_visit_is_a_new_recording(client, nurse, visit_id, db):
    take = wav_bytes(seconds=2)
    first = upload(client, nurse, visit_id, take).json
    elsewhere = upload(client, nurse, visit_id, take, site="posterior_right_base")
    patient_id = client.get(f"/api/v1/visits/{visit_id}").json["patient_id"]
    patch_visit(client, visit_id, {"status": "completed"}, nurse)
    next_visit = client.post(f"/api/v1/patients/{patient_id}/visits", json={}, headers=nurse).json["id"]
    later = upload(client, nurse, next_visit, take)
    assert elsewhere.status_code == later.status_code == 201
    assert len({first["id"], elsewhere.json["id"], later.json["id"]}) == 3 and len(_rows(db)) == 3


def test_a_discarded_take_sent_again_is_stored_again_as_a_new_recording(client, nurse, visit_id, settings, app, db):
    from edge import audit
    from edge.recordings import discard_recording

    take = wav_bytes(seconds=2)
    first = upload(client, nurse, visit_id, take).json
    discard_recording(db, app.extensions["ildscreen"].blobs, audit.CLI_OPERATOR, first["id"])
    assert _rows(db) == [] and stored_files(settings) == []
    again = upload(client, nurse, visit_id, take)
    # 201, a new id and a second creation in the trail: stored anew (schema migration 11: a
    # discarded take's id is never handed out again).
    assert again.status_code == 201, again.json
    assert again.json["id"] != first["id"]
    assert [row[0] for row in _rows(db)] == [again.json["id"]] and len(stored_files(settings)) == 1
    assert _creations(db) == 2


def test_two_identical_uploads_at_once_store_one_recording(app, visit_id, settings, db, monkeypatch):
    """Both uploads pass the early check before either is stored (the barrier holds them there);
    the check under the write lock must still find the twin."""
    import threading

    from edge import audit, recordings

    barrier = threading.Barrier(2, timeout=30)
    describe = recordings.describe_audio
    monkeypatch.setattr(recordings, "describe_audio", lambda *a, **k: (barrier.wait(), describe(*a, **k))[1])
    folder, take, results = app.extensions["ildscreen"].folder, wav_bytes(seconds=2), []

    def send():
        connection = folder.connect()
        try:
            results.append(recordings.add_recording(connection, folder.blobs, audit.CLI_OPERATOR, visit_id,
                                                    chest_site="trachea", stream=io.BytesIO(take), max_bytes=10**7))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and sorted(result.created for result in results) == [False, True]
    assert results[0].recording["id"] == results[1].recording["id"]
    assert len(_rows(db)) == 1 and len(stored_files(settings)) == 1 and _creations(db) == 1


def _discard_trail(db) -> list:
    """(who, recording id, detail) of each discard in the audit log, oldest first."""
    return [(user, entity_id, json.loads(detail)) for user, entity_id, detail in db.execute(
        "SELECT username, entity_id, detail FROM audit_log WHERE action = 'discard' AND entity = 'recording' "
        "ORDER BY id").fetchall()]


def test_a_take_is_discarded_through_the_api_as_the_tablet_discards_it(client, nurse, visit_id, settings, db):
    """An API client (a clinic integration) mends a visit as the tablet does: the take's row goes, its
    file goes unless another take holds the same sound, and the audit entry is the tablet's own."""
    same = wav_bytes(seconds=2)
    first = upload(client, nurse, visit_id, same).json
    second = upload(client, nurse, visit_id, same, site="posterior_right_base").json
    other = upload(client, nurse, visit_id, wav_bytes(seconds=3), site="trachea").json
    csrf = csrf_of(client.get("/").get_data(as_text=True))

    by_api = client.delete(f"/api/v1/recordings/{first['id']}", headers=nurse)
    assert by_api.status_code == 204 and by_api.data == b""
    assert len(stored_files(settings)) == 2  # the second take still holds that sound
    assert client.delete(f"/api/v1/recordings/{second['id']}", headers=nurse).status_code == 204
    assert client.post(f"/recordings/{other['id']}/discard", data={"csrf_token": csrf}).status_code == 302  # tablet
    assert _rows(db) == [] and stored_files(settings) == []
    listed = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"]
    assert listed == [] and client.get(f"/api/v1/recordings/{first['id']}/audio").status_code == 404

    trail = _discard_trail(db)
    assert [(user, int(entity_id)) for user, entity_id, _ in trail] == [
        ("nurse1", first["id"]), ("nurse1", second["id"]), ("nurse1", other["id"])]
    # The same entry whichever way the take was discarded: no patient identifier in it.
    assert [detail for _, _, detail in trail] == [
        {"visit_id": visit_id, "chest_site": take["chest_site"], "sha256": take["sha256"], "device": "upload",
         "refused": not take["quality"]["ok"]} for take in (first, second, other)]
    assert PATIENT["code"] not in json.dumps(trail)


def test_discarding_an_unknown_take_is_a_404_and_a_discard_sent_again_says_it_was_already_done(
        client, nurse, visit_id, settings, db):
    """Brief h71: a discard sent again (a client's retry after a timeout) answers 200 saying the take
    was already discarded, as the tablet's page does, and changes nothing; an id no take had stays 404."""
    take = upload(client, nurse, visit_id, wav_bytes(seconds=2)).json
    unknown = client.delete(f"/api/v1/recordings/{take['id'] + 1}", headers=nurse)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"
    assert str(take["id"] + 1) in unknown.json["error"]["message"]
    assert client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse).status_code == 204
    trail = _discard_trail(db)
    again = client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse)
    assert again.status_code == 200
    assert again.json == {"recording_id": take["id"], "visit_id": visit_id, "chest_site": take["chest_site"],
                          "already_discarded": True}
    assert _discard_trail(db) == trail and len(trail) == 1  # no second audit entry
    assert _rows(db) == [] and stored_files(settings) == []
    # Still true once the visit is closed: the take was discarded while it was open.
    assert patch_visit(client, visit_id, {"status": "completed"}, nurse).status_code == 200
    assert client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse).json["already_discarded"] is True
    assert client.delete(f"/api/v1/recordings/{take['id'] + 1}", headers=nurse).status_code == 404
    assert _discard_trail(db) == trail


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_a_take_of_a_visit_no_longer_open_is_not_discarded(client, nurse, visit_id, settings, db, status):
    take = upload(client, nurse, visit_id, wav_bytes(seconds=2)).json
    closed = patch_visit(client, visit_id, {"status": status}, nurse)
    assert closed.status_code == 200, closed.json
    refused = client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "visit_closed"
    assert status in refused.json["error"]["message"]
    assert [row[0] for row in _rows(db)] == [take["id"]] and len(stored_files(settings)) == 1
    assert _discard_trail(db) == []


def test_only_the_clinical_roles_discard_a_take_and_a_session_needs_its_csrf_token(client, nurse, visit_id,
                                                                                   make_user, db):
    take = upload(client, nurse, visit_id, wav_bytes(seconds=2)).json
    path = f"/api/v1/recordings/{take['id']}"
    no_token = client.delete(path)  # the session cookie without its CSRF token
    assert no_token.status_code == 403 and no_token.json["error"]["code"] == "csrf_failed"
    make_user("admin2", "admin")
    admin = login(client, "admin2")
    refused = client.delete(path, headers=admin)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    client.post("/api/v1/auth/logout", headers=admin)
    client.delete_cookie("ildscreen_session")
    assert client.delete(path).status_code == 401
    assert len(_rows(db)) == 1 and _discard_trail(db) == []
    clinician = (make_user("clin1", "clinician"), login(client, "clin1"))[1]
    assert client.delete(path, headers=clinician).status_code == 204


def _score_trail(db) -> list:
    """(action, recording id) of each score filled in or replaced in the audit log, oldest first."""
    return [(action, int(entity_id)) for action, entity_id in db.execute(
        "SELECT action, entity_id FROM audit_log WHERE action IN ('score', 'rescore') ORDER BY id").fetchall()]


@pytest.mark.parametrize("meanwhile", ["scored by another request", "discarded"])
@pytest.mark.parametrize("step", ["score", "rescore"])
def test_a_take_changed_while_it_was_scored_is_left_as_the_other_request_left_it(app, nurse, client, visit_id, db,
                                                                                 monkeypatch, step, meanwhile):
    """Scoring runs outside the write lock: a take another request scored (and audited) first, or one
    discarded meanwhile, is not written over and gets no second audit entry (score and rescore alike)."""
    from types import SimpleNamespace

    from edge import audit, recordings

    take = upload(client, nurse, visit_id, wav_bytes(seconds=2)).json
    if step == "score":  # stored while the model was unavailable
        db["recordings"].update(take["id"], {"result": None, "crackle_probability": None, "quality": None,
                                             "model_version": None})
        model, run = app.extensions["ildscreen"].auscultation_model, recordings.score_unscored_recordings
    else:  # scored by another model than the served one
        model = SimpleNamespace(entry={"name": "auscultation", "version": "0.0.1-other", "threshold": 0.5})
        run = recordings.rescore_takes_of_other_models
    db.conn.commit()
    other = {"crackle_probability": 0.42, "model_version": "auscultation-other-fp32",
             "result": json.dumps({"model": {"name": "auscultation", "version": "other", "threshold": 0.3}})}
    fresh = {**other, "crackle_probability": 0.9, "quality": json.dumps({"ok": True, "issues": []})}

    def score_while_another_request_acts(*args, **kwargs):
        connection = app.extensions["ildscreen"].folder.connect()
        if meanwhile == "discarded":
            connection.execute("DELETE FROM recordings WHERE id = ?", [take["id"]])
        else:
            connection["recordings"].update(take["id"], other)
        connection.conn.commit()
        connection.close()
        return fresh

    monkeypatch.setattr(recordings, "score", score_while_another_request_acts)
    run(db, app.extensions["ildscreen"].blobs, visit_id, model, audit.CLI_OPERATOR)
    left = db.execute("SELECT crackle_probability, result FROM recordings WHERE id = ?", [take["id"]]).fetchall()
    assert left == ([] if meanwhile == "discarded" else [(0.42, other["result"])])
    assert _score_trail(db) == []

    # Nothing changed meanwhile: the fresh score is written, and audited once.
    if meanwhile == "discarded":
        return
    monkeypatch.setattr(recordings, "score", lambda *args, **kwargs: fresh)
    db["recordings"].update(take["id"], {"result": None} if step == "score" else {})
    db.conn.commit()
    run(db, app.extensions["ildscreen"].blobs, visit_id, model, audit.CLI_OPERATOR)
    assert db.execute("SELECT crackle_probability FROM recordings WHERE id = ?", [take["id"]]).fetchone() == (0.9,)
    assert _score_trail(db) == [(step, take["id"])]
