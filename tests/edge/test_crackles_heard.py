"""A clinician's crackle label on a stored take (issue 24): set and changed through the API by a clinician
only (the last label wins, each change audited), refused for a nurse, an unknown answer, an unknown take
and a discarded take; stored by migration 16; and never an input of the visit's result."""
import io
import sqlite3

import pytest

from edge import audit, freshness
from edge.patients import get_patient, get_visit
from edge.screening import list_assessments
from edge.store.migrations import MIGRATIONS, TAKE_CRACKLES_HEARD, apply_migrations, current_version
from markupsafe import escape

from edge.web.i18n import CATALOG
from support import PATIENT, csrf_of, database_at, login, migrations_up_to, patch_visit, wav_bytes


@pytest.fixture
def clinician(app, make_user):
    """A second client, logged in as a clinician (the nurse's client keeps its own session)."""
    make_user("clinician1", "clinician")
    client = app.test_client()
    return client, login(client, "clinician1")


@pytest.fixture
def take(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    visit = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json
    response = client.post(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse,
                           content_type="multipart/form-data",
                           data={"chest_site": "posterior_left_base", "chest_piece": "diaphragm",
                                 "file": (io.BytesIO(wav_bytes(seconds=6)), "base.wav")})
    assert response.status_code == 201, response.json
    return response.json


def label(client, headers, recording_id, answer):
    return client.put(f"/api/v1/recordings/{recording_id}/crackles-heard", json={"crackles_heard": answer},
                      headers=headers)


def label_entries(db, recording_id):
    return [(entry["username"], entry["detail"]["crackles_heard"], entry["detail"]["replaced"])
            for entry in reversed(audit.list_entries(db, entity="recording", entity_id=str(recording_id)))
            if entry["action"] == "label"]


def test_a_clinician_labels_a_take_and_changes_it_and_the_last_label_wins(clinician, client, nurse, take, db):
    doctor, headers = clinician
    assert take["crackles_heard"] is None and take["crackles_heard_at"] is None
    first = label(doctor, headers, take["id"], "unsure")
    assert first.status_code == 200, first.json
    assert first.json["crackles_heard"] == "unsure" and first.json["crackles_heard_at"]
    assert "crackles_heard_by" not in first.json and "file_path" not in first.json
    assert label(doctor, headers, take["id"], "yes").json["crackles_heard"] == "yes"

    listed = client.get(f"/api/v1/visits/{take['visit_id']}/recordings", headers=nurse).json["recordings"]
    assert [(r["id"], r["crackles_heard"]) for r in listed] == [(take["id"], "yes")]
    assert label_entries(db, take["id"]) == [("clinician1", "unsure", None), ("clinician1", "yes", "unsure")]
    stored = db.execute("SELECT crackles_heard, crackles_heard_by FROM recordings WHERE id = ?", [take["id"]]).fetchone()
    assert stored == ("yes", db.execute("SELECT id FROM users WHERE username = 'clinician1'").fetchone()[0])


def test_a_take_of_a_closed_visit_can_still_be_labelled(clinician, client, nurse, take):
    """The clinician listens after the visit: closing it does not close its takes to a label."""
    assert patch_visit(client, take["visit_id"], {"status": "completed"}, nurse).status_code == 200
    doctor, headers = clinician
    response = label(doctor, headers, take["id"], "no")
    assert response.status_code == 200 and response.json["crackles_heard"] == "no"


def test_a_nurse_may_not_label_a_take(client, nurse, take, db):
    response = label(client, nurse, take["id"], "yes")
    assert response.status_code == 403 and "the nurse role cannot do this" in response.json["error"]["message"]
    assert db.execute("SELECT crackles_heard FROM recordings").fetchone() == (None,) and label_entries(db, take["id"]) == []


@pytest.mark.parametrize("body", [{"crackles_heard": "maybe"}, {"crackles_heard": None}, {"crackles_heard": 1},
                                  {}, {"crackles_heard": "yes", "by": "x"}])
def test_an_answer_outside_yes_no_unsure_is_a_422_naming_it(clinician, take, db, body):
    doctor, headers = clinician
    response = doctor.put(f"/api/v1/recordings/{take['id']}/crackles-heard", json=body, headers=headers)
    assert response.status_code == 422, response.json
    assert response.json["error"]["fields"][0]["field"] in ("crackles_heard", "by")
    if body.get("crackles_heard") == "maybe":
        assert "unknown answer 'maybe'" in response.json["error"]["message"]
        assert "['no', 'unsure', 'yes']" in response.json["error"]["message"]
    assert db.execute("SELECT crackles_heard FROM recordings").fetchone() == (None,)


def test_the_library_refuses_an_unknown_answer_too(take, db):
    from edge.errors import ValidationError
    from edge.recordings import label_crackles_heard

    with pytest.raises(ValidationError, match="unknown answer 'Yes!'"):
        label_crackles_heard(db, audit.CLI_OPERATOR, take["id"], "Yes!")


def test_an_unknown_take_is_a_404_and_a_discarded_one_a_409(clinician, client, nurse, take, db):
    doctor, headers = clinician
    unknown = label(doctor, headers, take["id"] + 100, "yes")
    assert unknown.status_code == 404 and f"no recording with id {take['id'] + 100}" in unknown.json["error"]["message"]
    assert client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse).status_code == 204
    discarded = label(doctor, headers, take["id"], "yes")
    assert discarded.status_code == 409, discarded.json
    assert discarded.json["error"]["message"] == (f"take {take['id']} was discarded: its sound is gone, so it cannot "
                                                  "be labelled")
    assert label_entries(db, take["id"]) == []


def test_a_label_changes_neither_the_result_nor_its_being_current(clinician, client, nurse, take, db):
    """The label is a reference for checking the model, not an input: the visit's result stays current
    (nothing waits for a new one) and calculating again gives the same risk, tier and advice."""
    url = f"/api/v1/visits/{take['visit_id']}/assessments"
    before = client.post(url, json={}, headers=nurse)
    assert before.status_code == 201, before.json
    doctor, headers = clinician
    assert label(doctor, headers, take["id"], "yes").status_code == 200
    visit = get_visit(db, take["visit_id"])
    latest = list_assessments(db, take["visit_id"])[-1]
    assert freshness.changed_since(db, latest, visit=visit, patient=get_patient(db, visit["patient_id"])) == []
    again = client.post(url, json={}, headers=nurse).json
    for key in ("probability", "score", "tier", "recommendation", "contributions"):
        assert again[key] == before.json[key], key


def test_migration_16_adds_an_empty_label_to_earlier_takes_and_refuses_another_word(tmp_path):
    assert TAKE_CRACKLES_HEARD.version == 16
    db = database_at(tmp_path / "before.db", max(m.version for m in MIGRATIONS if m.version < 16))
    patient = db["patients"].insert({"code": "CL16-0001", "birth_year": 1950, "sex": "F", "ctd_diagnosis": "SSc",
                                     "created_at": "t", "updated_at": "t"}).last_pk
    visit = db["visits"].insert({"patient_id": patient, "started_at": "t", "updated_at": "t"}).last_pk
    before = db["recordings"].insert({
        "visit_id": visit, "chest_site": "trachea", "sha256": "s", "file_path": "ab/s", "media_type": "audio/wav",
        "size_bytes": 1000, "sample_rate": 4000, "channels": 1, "duration_s": 20.0, "created_at": "t"}).last_pk
    db.conn.commit()

    assert apply_migrations(db, migrations=migrations_up_to(16)) == [16]
    assert current_version(db) == 16
    assert db.execute("SELECT crackles_heard, crackles_heard_by, crackles_heard_at FROM recordings").fetchall() == \
        [(None, None, None)]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE recordings SET crackles_heard = 'maybe' WHERE id = ?", [before])
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db.execute("UPDATE recordings SET crackles_heard = 'yes', crackles_heard_by = 999 WHERE id = ?", [before])
    db.execute("UPDATE recordings SET crackles_heard = 'unsure' WHERE id = ?", [before])
    assert apply_migrations(db, migrations=migrations_up_to(16)) == []
    db.close()


# --- the tablet: a clinician answers under each take --------------------------------------------

def shown(key, lang="en", **values):
    """A catalog text as a page shows it (HTML-escaped)."""
    return str(escape(CATALOG[key][lang].format(**values) if values else CATALOG[key][lang]))


def tablet(client):
    """The client's CSRF token, as a tablet page carries it."""
    return csrf_of(client.get("/").get_data(as_text=True))


def test_a_clinician_answers_under_the_take_on_the_visit_page_and_the_page_says_it_changes_no_result(
        clinician, client, nurse, take, db):
    doctor, _ = clinician
    csrf = tablet(doctor)
    page = doctor.get(f"/visits/{take['visit_id']}").get_data(as_text=True)
    form = page.split(f'id="crackles-heard-{take["id"]}"', 1)[1].split("</form>", 1)[0]
    assert shown("crackles_heard_question") in form and shown("crackles_heard_note") in form
    assert [answer for answer in ("yes", "no", "unsure") if f'value="{answer}">' in form] == ["yes", "no", "unsure"]
    assert f'aria-describedby="crackles-heard-note-{take["id"]}"' in form and "<legend>" in form

    sent = doctor.post(f"/recordings/{take['id']}/crackles-heard", data={"csrf_token": csrf, "crackles_heard": "no"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"#take-{take['id']}")
    back = doctor.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'value="no" checked' in back and f'id="crackles-heard-saved-{take["id"]}"' in back
    assert label_entries(db, take["id"]) == [("clinician1", "no", None)]

    # The nurse sees the answer, read only, with the same note; no form to change it.
    seen = client.get(f"/visits/{take['visit_id']}").get_data(as_text=True)
    assert shown("crackles_heard_shown", answer=shown("crackles_heard_no")) in seen
    assert shown("crackles_heard_note") in seen and 'class="crackles-heard"' not in seen
    assert shown("crackles_heard_question") not in seen


def test_the_tablets_answer_is_asked_in_chinese_on_a_zh_cn_page(clinician, take):
    doctor, _ = clinician
    doctor.set_cookie("lang", "zh-CN")
    page = doctor.get(f"/visits/{take['visit_id']}").get_data(as_text=True)
    for key in ("crackles_heard_question", "crackles_heard_note", "crackles_heard_yes", "crackles_heard_unsure"):
        assert shown(key, "zh-CN") in page, key
    assert shown("crackles_heard_question") not in page


def test_the_tablet_refuses_a_nurses_answer_and_asks_again_for_a_missing_one(clinician, client, nurse, take, db):
    refused = client.post(f"/recordings/{take['id']}/crackles-heard",
                          data={"csrf_token": tablet(client), "crackles_heard": "yes"})
    assert refused.status_code == 403 and shown("err_crackles_heard_role") in refused.get_data(as_text=True)
    doctor, _ = clinician
    csrf = tablet(doctor)
    missing = doctor.post(f"/recordings/{take['id']}/crackles-heard", data={"csrf_token": csrf})
    page = doctor.get(missing.headers["Location"]).get_data(as_text=True)
    assert f'id="crackles-heard-error-{take["id"]}"' in page and shown("err_crackles_heard_answer") in page
    forged = doctor.post(f"/recordings/{take['id']}/crackles-heard", data={"crackles_heard": "yes"})
    assert forged.status_code == 403  # no CSRF token
    assert label_entries(db, take["id"]) == []
    assert client.delete(f"/api/v1/recordings/{take['id']}", headers=nurse).status_code == 204
    gone = doctor.post(f"/recordings/{take['id']}/crackles-heard", data={"csrf_token": csrf, "crackles_heard": "yes"})
    assert gone.status_code == 409 and shown("err_crackles_heard_discarded") in gone.get_data(as_text=True)
