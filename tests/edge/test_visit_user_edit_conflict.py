"""An edit of a visit (status, notes, draft) or of a user account (role, full name, disabled) never
overwrites a newer edit unseen (brief h80), as a patient's edit does not: the API's PATCH requires the
``version`` the client read (422 naming it, nothing saved), refuses an older one (409 naming
``current_version``, nothing saved) and a saved edit raises it by one. The service's own writes (the
tablet keeping a draft, skipped steps, lung function, symptoms reviewed; logins, passwords, PINs) do
not move it, so they never make the next edit fail. The tablet's finish/close form sends the version
its page showed."""
from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from edge import audit, labs, patients
from edge.cli import cli
from edge.errors import ValidationError
from edge.users import find_user, set_pin
from edge.web.i18n import CATALOG
from support import PATIENT, birth_year_for_age, login, patch_user, version_shown

# An age, not a year: a fixed birth year ages out of the form's 16-120 years (edge.schemas.BIRTH_YEAR_MIN).
BORN = birth_year_for_age(76)  # 1950 when written (2026)

FORM = {"birth_year": str(BORN), "sex": "F", "ctd_diagnosis": "SSc", "smoking": "never"}


def _visit(client, headers) -> dict:
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json


def _stored(db) -> tuple:
    """Visits, accounts and the audit trail but its reads (a page shown audits one)."""
    return (db.execute("SELECT * FROM visits").fetchall(), db.execute("SELECT * FROM users").fetchall(),
            db.execute("SELECT * FROM audit_log WHERE action != 'read'").fetchall())


def test_a_visit_patch_without_a_version_is_refused_naming_it_and_saves_nothing(client, nurse, db):
    visit = _visit(client, nurse)
    url = f"/api/v1/visits/{visit['id']}"
    stored = _stored(db)
    for body in ({"notes": "late"}, {}, {"status": "completed"}, {"draft": {"step": "labs"}, "version": None},
                 {"notes": "x", "version": "1"}, {"notes": "x", "version": -1}):
        refused = client.patch(url, json=body, headers=nurse)
        assert refused.status_code == 422, body
        assert [field["field"] for field in refused.json["error"]["fields"]] == ["version"], body
    assert _stored(db) == stored


def test_a_visit_patch_against_an_older_version_is_refused_and_the_newer_edit_stands(client, nurse, db):
    visit = _visit(client, nurse)
    url = f"/api/v1/visits/{visit['id']}"
    assert client.get(url, headers=nurse).json["version"] == visit["version"] == 1
    first = client.patch(url, json={"notes": "cough since May", "version": visit["version"]}, headers=nurse)
    assert first.status_code == 200 and first.json["version"] == visit["version"] + 1
    stored = _stored(db)
    for body in ({"notes": "nothing to note"}, {"status": "cancelled"}, {"draft": {}}):
        stale = client.patch(url, json={**body, "version": visit["version"]}, headers=nurse)
        assert stale.status_code == 409, body
        assert stale.json["error"]["code"] == "edit_conflict"
        assert stale.json["error"]["current_version"] == first.json["version"]
    assert _stored(db) == stored
    read = client.get(url, headers=nurse).json
    assert (read["notes"], read["status"], read["version"]) == ("cough since May", "open", first.json["version"])
    # Against the version now read, the edit is saved and raises it again.
    done = client.patch(url, json={"status": "completed", "version": read["version"]}, headers=nurse)
    assert done.status_code == 200 and done.json["version"] == read["version"] + 1 and done.json["completed_at"]


def test_the_services_own_writes_of_a_visit_do_not_make_the_next_edit_fail(ui, nurse, db):
    """The tablet keeps typed values in the draft (autosave, a refused lab or lung-function form),
    marks steps skipped, stores lung function and the symptoms review: none of it is an edit of what
    the PATCH writes, so none of it moves the version a client read."""
    client, csrf = ui
    location = client.post("/patients/new", data={"csrf_token": csrf, "code": "CL80-0001", **FORM}).headers["Location"]
    patient_id = int(location.rsplit("/", 1)[1])
    visit_id = int(client.post(f"/patients/{patient_id}/visits", data={"csrf_token": csrf}).headers["Location"]
                   .rsplit("/", 1)[1])
    url = f"/api/v1/visits/{visit_id}"
    read = client.get(url, headers=nurse).json["version"]
    autosave = client.post(f"/visits/{visit_id}/draft", json={"draft": {"notes": "typed"}}, headers={"X-CSRF-Token": csrf})
    assert autosave.status_code == 200
    assert "lung_error" in client.post(f"/visits/{visit_id}/lung-function",
                                       data={"csrf_token": csrf, "fvc_percent": "abc"}).headers["Location"]
    client.post(f"/visits/{visit_id}/lung-function", data={"csrf_token": csrf, "fvc_percent": "72", "dlco_percent": "65"})
    assert "lab_errors" in client.post(f"/visits/{visit_id}/labs", data={"csrf_token": csrf, "lab_crp": "abc",
                                                                          "unit_crp": "mg/L"}).headers["Location"]
    client.post(f"/visits/{visit_id}/steps/breath", data={"csrf_token": csrf, "skipped": "1"})
    edit = f"/patients/{patient_id}/edit?visit={visit_id}"
    reviewed = client.post(edit, data={"csrf_token": csrf, **FORM,
                                       "version": version_shown(client.get(edit).get_data(as_text=True))})
    assert reviewed.status_code == 302
    visit = db.execute("SELECT draft, skipped_steps, lung_function, symptoms_reviewed_at, version FROM visits "
                       "WHERE id = ?", [visit_id]).fetchone()
    assert '"notes": "typed"' in visit[0] and '"lab_crp": "abc"' in visit[0] and visit[1] == '["breath"]'
    assert '"fvc_percent": 72.0' in visit[2] and visit[3] is not None  # every write landed...
    assert visit[4] == read  # ...and none moved the version
    saved = client.patch(url, json={"notes": "reviewed", "version": read}, headers=nurse)
    assert saved.status_code == 200 and saved.json["version"] == read + 1


def test_a_draft_patch_changes_only_the_keys_it_names_and_keeps_what_the_tablet_kept_since(ui, nurse, db):
    """Brief h85, point 2: the tablet keeps typed values in the draft without moving the version, so
    a client's PATCH of the draft, against the version it read before that, must not drop them. The
    draft is a JSON Merge Patch (RFC 7396): keys named take their value (objects merged key by key),
    a key named null is removed, every other key stays; the edit still moves the version."""
    client, csrf = ui
    visit = _visit(client, nurse)
    url = f"/api/v1/visits/{visit['id']}"
    first = client.patch(url, json={"draft": {"step": "labs", "form": {"fvc": "7", "dlco": "6"}},
                                    "version": visit["version"]}, headers=nurse)
    assert first.status_code == 200 and first.json["version"] == visit["version"] + 1
    autosave = client.post(f"/visits/{visit['id']}/draft", json={"draft": {"refer_reason": "new cough"}},
                           headers={"X-CSRF-Token": csrf})
    assert autosave.status_code == 200
    assert client.get(url, headers=nurse).json["version"] == first.json["version"]  # the autosave: no edit

    merged = client.patch(url, json={"draft": {"step": "breath", "form": {"fvc": "72", "dlco": None}},
                                     "version": first.json["version"]}, headers=nurse)

    assert merged.status_code == 200, merged.json
    assert merged.json["draft"] == {"step": "breath", "form": {"fvc": "72"}, "refer_reason": "new cough"}
    assert merged.json["version"] == first.json["version"] + 1
    stored = db.execute("SELECT draft FROM visits WHERE id = ?", [visit["id"]]).fetchone()[0]
    assert json.loads(stored) == merged.json["draft"]
    emptied = client.patch(url, json={"draft": {"step": None, "form": None, "refer_reason": None},
                                      "version": merged.json["version"]}, headers=nurse)
    assert emptied.status_code == 200 and emptied.json["draft"] == {}
    # An older version is still refused before anything is merged.
    stale = client.patch(url, json={"draft": {"step": "labs"}, "version": merged.json["version"]}, headers=nurse)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "edit_conflict"
    assert json.loads(db.execute("SELECT draft FROM visits WHERE id = ?", [visit["id"]]).fetchone()[0]) == {}


def test_a_refused_lab_form_keeps_what_the_page_autosaved_while_it_was_checked(ui, nurse, db, monkeypatch):
    """The tablet keeps a refused form's typed values in the draft under the same lock it reads the
    draft in (patients.keep_typed): a value the page autosaved (another request, committed through
    another connection) while the form was being checked stays beside them."""
    client, csrf = ui
    visit = _visit(client, nurse)
    checked = []

    def refused_after_an_autosave(*args, **kwargs):
        checked.append(patients.merge_draft(db, audit.CLI_OPERATOR, visit["id"], {"refer_reason": "new cough"}))
        raise ValidationError("refused", fields=[{"field": "crp", "reason": "test"}])

    monkeypatch.setattr(labs, "add_lab_panel", refused_after_an_autosave)
    refused = client.post(f"/visits/{visit['id']}/labs", data={"csrf_token": csrf, "lab_crp": "5", "unit_crp": "mg/L"})
    assert "lab_errors=crp" in refused.headers["Location"] and checked
    draft = json.loads(db.execute("SELECT draft FROM visits WHERE id = ?", [visit["id"]]).fetchone()[0])
    assert draft["refer_reason"] == "new cough" and (draft["lab_crp"], draft["unit_crp"]) == ("5", "mg/L")


def _status_error(client, location: str) -> str:
    page = client.get(location).get_data(as_text=True)
    found = re.search(r'id="status-error">(.*?)</p>', page)
    return found.group(1) if found else ""


def test_the_tablet_finishes_a_visit_only_against_the_version_its_page_showed(ui, nurse, db):
    client, csrf = ui
    client.set_cookie("lang", "en")
    visit = _visit(client, nurse)
    page_url = f"/visits/{visit['id']}"
    stale_page = version_shown(client.get(page_url).get_data(as_text=True))
    assert stale_page == str(visit["version"])
    edited = client.patch(f"/api/v1/visits/{visit['id']}", json={"notes": "seen by Dr Li", "version": visit["version"]},
                          headers=nurse)
    assert edited.status_code == 200
    stored = _stored(db)
    refused = client.post(f"{page_url}/status", data={"csrf_token": csrf, "action": "finish", "version": stale_page})
    assert refused.status_code == 302
    assert _status_error(client, refused.headers["Location"]) == str(escape(CATALOG["err_visit_edited"]["en"]))
    assert _stored(db) == stored  # still open, nothing written
    for version in ({}, {"version": ""}, {"version": "x"}):  # a page from before versions, a hand-made post
        out_of_date = client.post(f"{page_url}/status", data={"csrf_token": csrf, "action": "close", **version})
        assert _status_error(client, out_of_date.headers["Location"]) == str(
            escape(CATALOG["err_visit_form_out_of_date"]["en"]))
    assert _stored(db) == stored
    # The page as it came back names the version saved now: finishing from it goes.
    fresh_page = version_shown(client.get(page_url).get_data(as_text=True))
    assert fresh_page == str(edited.json["version"])
    finished = client.post(f"{page_url}/status", data={"csrf_token": csrf, "action": "finish", "version": fresh_page})
    assert _status_error(client, finished.headers["Location"]) == ""
    assert db.execute("SELECT status, notes FROM visits WHERE id = ?", [visit["id"]]).fetchone() == ("completed",
                                                                                                    "seen by Dr Li")


@pytest.fixture
def account(make_user) -> dict:
    return make_user("nurse80", "nurse")


def test_a_user_patch_without_a_version_is_refused_naming_it_and_saves_nothing(client, admin, account, db):
    stored = _stored(db)
    for body in ({"role": "clinician"}, {}, {"disabled": True, "version": None}, {"full_name": "Li Na", "version": "x"}):
        refused = client.patch(f"/api/v1/users/{account['id']}", json=body, headers=admin)
        assert refused.status_code == 422, body
        assert [field["field"] for field in refused.json["error"]["fields"]] == ["version"], body
    assert _stored(db) == stored


def test_a_user_patch_against_an_older_version_is_refused_and_the_newer_edit_stands(client, admin, account, db):
    listed = {user["id"]: user for user in client.get("/api/v1/users", headers=admin).json["users"]}
    read = listed[account["id"]]["version"]
    assert read == 1
    first = client.patch(f"/api/v1/users/{account['id']}", json={"role": "clinician", "version": read}, headers=admin)
    assert first.status_code == 200 and first.json["version"] == read + 1
    stored = _stored(db)
    stale = client.patch(f"/api/v1/users/{account['id']}", json={"disabled": True, "version": read}, headers=admin)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "edit_conflict"
    assert stale.json["error"]["current_version"] == first.json["version"]
    assert _stored(db) == stored  # still enabled, its sessions untouched
    again = patch_user(client, account["id"], {"disabled": True}, admin)
    assert again.status_code == 200 and again.json["disabled"] and again.json["version"] == read + 2


def test_logins_passwords_and_pins_do_not_make_an_admins_edit_fail(app, client, admin, account, db):
    read = next(user["version"] for user in client.get("/api/v1/users", headers=admin).json["users"]
                if user["id"] == account["id"])
    other = app.test_client()
    assert other.post("/api/v1/auth/login", json={"username": "nurse80", "password": "wrong one"}).status_code == 401
    headers = login(other, "nurse80")
    assert other.post("/api/v1/auth/password", headers=headers, json={"current_password": "correct horse battery",
                                                                      "new_password": "ward seven kettle"}).status_code == 200
    set_pin(db, audit.Actor(account["id"], "nurse80", "nurse"), account["id"], "2580")
    row = db.execute("SELECT last_login_at, pin_hash, version FROM users WHERE id = ?", [account["id"]]).fetchone()
    assert row[0] is not None and row[1] is not None  # every write landed...
    assert row[2] == read  # ...and none moved the version
    saved = client.patch(f"/api/v1/users/{account['id']}", json={"full_name": "Li Na", "version": read}, headers=admin)
    assert saved.status_code == 200 and saved.json["version"] == read + 1


def test_the_cli_disables_and_enables_an_account_as_an_edit(runner, settings, account, db):
    for command, disabled, version in (("disable", 1, 2), ("enable", 0, 3)):
        result = runner.invoke(cli, ["users", command, "nurse80", "--data-dir", str(settings.data_dir)])
        assert result.exit_code == 0, result.output
        assert db.execute("SELECT disabled, version FROM users WHERE id = ?", [account["id"]]).fetchone() == (
            disabled, version)
    assert find_user(db, "nurse80")["version"] == 3


def test_the_document_says_version_is_required_and_read(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    for request, response in (("VisitUpdate", "Visit"), ("UserUpdate", "User")):
        assert "version" in schemas[request]["required"]
        assert "version" in schemas[response]["required"]
