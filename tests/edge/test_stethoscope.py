"""Each take keeps the stethoscope (make and model) it went through, and its crackle result says whether the
crackle model was validated on that stethoscope and chest piece (issue 24: evidence is earned per population
and per stethoscope). The names come from the clinic's settings (stethoscopes; board_stethoscopes for a
board's captures; upload_stethoscope for uploads and the tablet's microphone), a take states one of them
(the tablet offers a list, never free text), anything else is refused naming the field, and takes stored
before migration 18 read as not stated. The statement is read from the served manifest's patient-level
validation block, and so is whether the take counts: one through a stethoscope (or a stated chest piece) the
model was not validated on in adults makes no site heard and leaves the risk as with no take; one naming no
stethoscope counts unless the programme requires a named, validated one."""
from __future__ import annotations

import io
import json
import re
import sqlite3
from typing import Optional

import pytest
from markupsafe import escape

from edge import audit, recordings
from edge.app import create_app
from edge.auscultation import STETHOSCOPE_STATUSES, stethoscope_validation
from edge.config import load_settings
from edge.errors import ConfigError, ValidationError
from edge.inference.models import BUNDLED_DIR
from edge.modalities import (counts_for_its_site, site_probabilities, stethoscope_counts, stethoscope_verdict,
                             why_not_heard)
from edge.store.database import open_database
from edge.store.migrations import MIGRATIONS, apply_migrations, current_version
from edge.users import create_user
from edge.web import presenters
from edge.web.i18n import CATALOG, LABEL_SEPARATORS, translate
from support import PASSWORD, PATIENT, csrf_of, login, wav_bytes
from test_chest_piece import board_visit, capture_from_a_board, site_done, step_state, stored_take, visit_on_an_app
from test_ui_lung_sound_result import assess, counted_detector

LITTMANN = "Littmann 3200"  # a device of the shipped model's adults' validation (with its chest pieces)
OTHER = "Acme Digital 7"  # a stethoscope no validation went through
YUNTING = "Yunting II"  # the children's
CLINIC = {"stethoscopes": [LITTMANN, OTHER, YUNTING], "upload_stethoscope": LITTMANN}


def shipped_entry() -> dict:
    return json.loads((BUNDLED_DIR / "manifest.json").read_text(encoding="utf-8"))["models"]["auscultation"]


@pytest.fixture
def settings(tmp_path, no_env_settings):
    """A clinic that names its stethoscopes (conftest's app, client and users are built on these)."""
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2, **CLINIC)


@pytest.fixture
def visit(client, nurse):
    patient = client.post("/api/v1/patients", json=PATIENT, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json


def upload(client, headers, visit_id, seconds=3, **fields):
    return client.post(f"/api/v1/visits/{visit_id}/recordings", headers=headers, content_type="multipart/form-data",
                       data={"chest_site": "posterior_left_base", "chest_piece": "diaphragm",
                             "file": (io.BytesIO(wav_bytes(seconds)), "b.wav"), **fields})


# --- the settings -------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "named"), [
    ({"stethoscopes": ["<b>Littmann</b>"]}, "must be letters, digits"),
    ({"stethoscopes": ["L" * 65]}, "at most 64"),
    ({"stethoscopes": ["not_stated"]}, "is what a take without a stethoscope says"),
    ({"stethoscopes": [LITTMANN, "littmann-3200"]}, "name the same stethoscope"),
    ({"stethoscopes": [LITTMANN], "board_stethoscopes": {"STETH-40": "Littman 3200"}},
     "board_stethoscopes['STETH-40']: unknown stethoscope 'Littman 3200' (did you mean 'Littmann 3200'?)"),
    ({"stethoscopes": [LITTMANN], "upload_stethoscope": OTHER}, f"upload_stethoscope: unknown stethoscope {OTHER!r}"),
    ({"upload_stethoscope": LITTMANN}, "upload_stethoscope: unknown stethoscope"),  # no stethoscopes named
])
def test_settings_refuse_a_bad_or_unknown_stethoscope_naming_it(tmp_path, no_env_settings, overrides, named):
    with pytest.raises(ConfigError) as refused:
        load_settings(data_dir=tmp_path / "data", **overrides)
    assert named in str(refused.value)


def test_by_default_no_stethoscope_is_named_and_uploads_are_not_stated(tmp_path, no_env_settings):
    plain = load_settings(data_dir=tmp_path / "data")
    assert (plain.stethoscopes, plain.board_stethoscopes, plain.upload_stethoscope) == ([], {}, "not_stated")


# --- stated, stored and shown through the API ---------------------------------------------------

def test_the_api_stores_the_stated_stethoscope_and_the_settings_one_when_left_out(client, nurse, visit, db):
    stated = upload(client, nurse, visit["id"], stethoscope=OTHER)
    assert stated.status_code == 201 and stated.json["stethoscope"] == OTHER
    unsaid = upload(client, nurse, visit["id"], seconds=4, chest_site="trachea")
    assert unsaid.status_code == 201 and unsaid.json["stethoscope"] == LITTMANN  # upload_stethoscope
    none = upload(client, nurse, visit["id"], seconds=5, chest_site="anterior_left", stethoscope="not_stated")
    assert none.status_code == 201 and none.json["stethoscope"] == "not_stated"
    listed = client.get(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse).json["recordings"]
    assert [r["stethoscope"] for r in listed] == [OTHER, LITTMANN, "not_stated"]
    assert db.execute("SELECT stethoscope FROM recordings ORDER BY id").fetchall() == [
        (OTHER,), (LITTMANN,), ("not_stated",)]
    detail = db.execute("SELECT detail FROM audit_log WHERE entity = 'recording' ORDER BY id").fetchall()
    assert [json.loads(row[0])["stethoscope"] for row in detail] == [OTHER, LITTMANN, "not_stated"]
    # Each says whether the crackle model was validated on it, in the caller's language.
    assert [r["stethoscope_validation"]["status"] for r in listed] == ["not_validated", "validated", "not_stated"]
    assert listed[0]["stethoscope_validation"]["statement"] == presenters.stethoscope_statement(
        listed[0]["stethoscope_validation"], "en")
    chinese = client.get(f"/api/v1/visits/{visit['id']}/recordings", headers={**nurse, "Accept-Language": "zh-CN"})
    assert chinese.json["recordings"][1]["stethoscope_validation"]["statement"].startswith("已在成人中通过此听诊器")


@pytest.mark.parametrize(("bad", "reason"), [
    ("Stethomatic 9", "unknown stethoscope 'Stethomatic 9'"),  # not one of the clinic's
    ("littmann 3200", "unknown stethoscope 'littmann 3200' (did you mean 'Littmann 3200'?)"),  # a name is exact
    ("<script>x</script>", "must be letters, digits"),
    ("L" * 65, "at most 64"),
    (" ", "must be a non-empty name"),
])
def test_the_api_refuses_a_stethoscope_naming_the_field_and_stores_nothing(client, nurse, visit, db, settings, bad,
                                                                            reason):
    refused = upload(client, nurse, visit["id"], stethoscope=bad)
    assert refused.status_code == 422, refused.json
    field = refused.json["error"]["fields"][0]
    assert field["field"] == "stethoscope" and reason in field["reason"]
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0
    assert [p for p in settings.blob_dir.rglob("*") if p.is_file()] == []


def test_the_library_refuses_an_unknown_stethoscope_before_reading_any_audio(app, db, visit):
    with pytest.raises(ValidationError, match="unknown stethoscope 'Acme'") as refused:
        recordings.add_recording(db, app.extensions["ildscreen"].blobs, audit.CLI_OPERATOR, visit["id"],
                                 chest_site="trachea", stethoscope="Acme", stethoscopes=[LITTMANN],
                                 stream=io.BytesIO(b"not audio"), max_bytes=10_000)
    assert refused.value.fields[0]["field"] == "stethoscope"


# --- the tablet ---------------------------------------------------------------------------------

def test_the_tablet_offers_the_clinics_stethoscopes_starting_on_the_setting_and_refuses_another(client, nurse, visit):
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    select = re.search(r'<select name="stethoscope" id="stethoscope" required>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)"', select) == [*CLINIC["stethoscopes"], "not_stated"]
    assert re.findall(r'<option value="([^"]+)" selected', select) == [LITTMANN]
    csrf = csrf_of(page)
    sent = client.post(f"/visits/{visit['id']}/recordings", content_type="multipart/form-data", data={
        "csrf_token": csrf, "chest_site": "trachea", "chest_piece": "bell", "stethoscope": YUNTING,
        "file": (io.BytesIO(wav_bytes(3)), "t.wav")})
    assert sent.status_code == 302
    assert client.get(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse).json["recordings"][0][
        "stethoscope"] == YUNTING
    refused = client.post(f"/visits/{visit['id']}/recordings", content_type="multipart/form-data", data={
        "csrf_token": csrf, "chest_site": "trachea", "stethoscope": "Typed by hand",
        "file": (io.BytesIO(wav_bytes(4)), "t.wav")})
    assert refused.status_code == 302 and "upload_error=err_stethoscope" in refused.headers["Location"]
    assert str(escape(CATALOG["err_stethoscope"]["en"])) in client.get(refused.headers["Location"]).get_data(as_text=True)
    scripted = client.post(f"/visits/{visit['id']}/recordings", headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
                           data={"chest_site": "trachea", "stethoscope": "Typed by hand", "source": "microphone",
                                 "file": (io.BytesIO(wav_bytes(5)), "microphone.wav")})
    assert scripted.status_code == 422 and scripted.json["error"]["message"] == CATALOG["err_stethoscope"]["en"]
    assert len(client.get(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse).json["recordings"]) == 1


def test_a_clinic_that_names_no_stethoscope_shows_no_choice(tmp_path, no_env_settings):
    client, headers, visit_id = visit_on_an_app(tmp_path / "plain")
    assert 'name="stethoscope"' not in client.get(f"/visits/{visit_id}").get_data(as_text=True)
    stored = upload(client, headers, visit_id)
    assert stored.status_code == 201 and stored.json["stethoscope"] == "not_stated"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_each_take_on_the_visit_page_names_its_stethoscope_and_says_whether_the_model_was_validated_on_it(
        client, nurse, db, visit, lang):
    takes = {}
    for site, stethoscope, piece in [("posterior_left_base", LITTMANN, "diaphragm"),
                                     ("posterior_right_base", LITTMANN, "not_stated"),
                                     ("lateral_left_base", YUNTING, "diaphragm"),
                                     ("lateral_right_base", OTHER, "diaphragm"),
                                     ("trachea", "not_stated", "diaphragm")]:
        takes[(stethoscope, piece)] = stored_take(db, visit["id"], site, 0.02, piece)
        db["recordings"].update(takes[(stethoscope, piece)], {"stethoscope": stethoscope})
    db.conn.commit()
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)

    def item(key):
        return page.split(f'id="take-{takes[key]}"', 1)[1].split("</li>", 1)[0]

    entry = shipped_entry()
    adults = entry["validation"]["populations"]["adults"]
    validated = item((LITTMANN, "diaphragm"))
    assert f"{CATALOG['stethoscope'][lang]}{LABEL_SEPARATORS[lang]}{LITTMANN}" in validated
    # The sentence carries the manifest's own adult figures of the take's device (its recordings alone).
    device = f"{LITTMANN} diaphragm"
    own = adults["by_device"][device]
    assert str(escape(translate("stethoscope_validated", lang,
        stethoscope=LITTMANN, chest_piece=CATALOG["chest_piece_diaphragm"][lang], patients=own["patients"],
        positive=own["positive_patients"], sensitivity=f"{own['sensitivity']:.2f}",
        sensitivity_low=f"{own['sensitivity_ci95'][0]:.2f}", sensitivity_high=f"{own['sensitivity_ci95'][1]:.2f}",
        specificity=f"{own['specificity']:.2f}", specificity_low=f"{own['specificity_ci95'][0]:.2f}",
        specificity_high=f"{own['specificity_ci95'][1]:.2f}",
        device=presenters.validated_devices([device], lang),
        population=CATALOG["adult_population_adults"][lang]))) in validated
    expected = {(LITTMANN, "not_stated"): "stethoscope_chest_piece_not_validated",
                (YUNTING, "diaphragm"): "stethoscope_not_in_adults", (OTHER, "diaphragm"): "stethoscope_not_validated",
                ("not_stated", "diaphragm"): "stethoscope_unknown"}
    for key, statement in expected.items():
        shown = re.search(rf'id="stethoscope-note-{takes[key]}">(.*?)</p>', item(key), re.S).group(1)
        assert shown.startswith(str(escape(CATALOG[statement][lang].split("{")[0]))), (key, shown)
        assert str(escape(presenters.validated_devices(adults["devices"], lang))) in shown
    assert f"{CATALOG['stethoscope'][lang]}{LABEL_SEPARATORS[lang]}{CATALOG['stethoscope_not_stated'][lang]}" in item(("not_stated", "diaphragm"))
    # The adults' devices, each stethoscope once with its chest pieces in the nurse's language, listed as her
    # language lists (Chinese with the enumeration comma 、, in full-width brackets).
    pieces = [CATALOG[f"chest_piece_{device.split()[-1]}"][lang] for device in adults["devices"]]
    listed = {"en": f"{LITTMANN} ({', '.join(pieces)})", "zh-CN": f"{LITTMANN}（{'、'.join(pieces)}）"}[lang]
    assert presenters.validated_devices(adults["devices"], lang) == listed


@pytest.mark.parametrize(("lang", "listed"), [
    ("en", f"{LITTMANN} (Bell, Diaphragm); {YUNTING}"),
    ("zh-CN", f"{LITTMANN}（钟型面、膜型面）；{YUNTING}"),
])
def test_several_stethoscopes_are_listed_as_the_nurses_language_lists_them(lang, listed):
    """Issue 24: the stethoscopes of a validation were joined with "; " and ASCII brackets in every language."""
    devices = [f"{LITTMANN} bell", f"{LITTMANN} diaphragm", YUNTING]
    assert presenters.validated_devices(devices, lang) == listed
    assert presenters.validated_devices([], lang) == CATALOG["stethoscope_no_devices"][lang]


# --- whether a take counts (issue 24: a model counts only as far as patients it never saw support it) -----

# What a take leaves of the risk: compared between visits of the same patient's picture.
RISK = ("probability", "score", "interval", "tier", "tier_from_risk", "recommendation", "red_flags", "missing")


def visit_with_takes(client, nurse, db, code: str, stethoscope: Optional[str]) -> int:
    """A visit of PATIENT (as ``code``) with a positive take at the left base and a clear one at the right,
    both through the diaphragm of ``stethoscope`` (None: no take)."""
    patient = client.post("/api/v1/patients", json={**PATIENT, "code": code}, headers=nurse).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json["id"]
    if stethoscope is not None:
        for site, p in (("posterior_left_base", 0.9), ("posterior_right_base", 0.02)):
            db["recordings"].update(stored_take(db, visit_id, site, p, "diaphragm"), {"stethoscope": stethoscope})
        db.conn.commit()
    return visit_id


def test_only_a_take_through_a_stethoscope_validated_in_adults_counts_in_the_risk(client, nurse, db, monkeypatch):
    """The detector's likelihood ratios were earned in adults through the Littmann 3200: crackles found through
    another stethoscope (or one validated in children only) do not raise the risk; the result is the one the
    visit would have with no take. A take naming no stethoscope counts by default."""
    counted_detector(monkeypatch)
    results, counts = {}, {}
    for number, stethoscope in enumerate((LITTMANN, OTHER, YUNTING, "not_stated", None)):
        visit_id = visit_with_takes(client, nurse, db, f"CL89-000{number}", stethoscope)
        listed = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"]
        counts[stethoscope] = {(r["stethoscope_validation"]["status"], r["stethoscope_validation"]["counts"])
                               for r in listed}
        results[stethoscope] = assess(client, nurse, visit_id)
    assert counts == {LITTMANN: {("validated", True)}, OTHER: {("not_validated", False)},
                      YUNTING: {("not_in_adults", False)}, "not_stated": {("not_stated", True)}, None: set()}
    for counted in (LITTMANN, "not_stated"):
        assert results[counted]["contributions"]["auscultation"]["counted"]
        assert results[counted]["contributions"]["auscultation"]["applied_likelihood_ratio"] > 1
        assert results[counted]["probability"] > results[None]["probability"]
    for not_counted in (OTHER, YUNTING):
        assert "auscultation" not in results[not_counted]["contributions"]
        assert {key: results[not_counted][key] for key in RISK} == {key: results[None][key] for key in RISK}
        assert "auscultation" in results[not_counted]["missing"]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clear_take_through_an_unvalidated_stethoscope_leaves_its_site_to_do_and_says_why(
        client, nurse, db, visit, monkeypatch, lang):
    """The chest map, the checklist and the result follow the risk's rule: the take is shown with its
    probability, and under it why it does not count and which devices to record again through."""
    counted_detector(monkeypatch)
    other = stored_take(db, visit["id"], "posterior_left_base", 0.02, "diaphragm")
    db["recordings"].update(other, {"stethoscope": OTHER})
    db.conn.commit()
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert not site_done(page, "posterior_left_base") and step_state(page, "auscultation") == "pending"
    item = page.split(f'id="take-{other}"', 1)[1].split("</li>", 1)[0]
    note = re.search(rf'<p class="(\w+) stethoscope-note" role="note" id="stethoscope-note-{other}">(.*?)</p>',
                     item, re.S)
    devices = presenters.validated_devices(shipped_entry()["validation"]["populations"]["adults"]["devices"], lang)
    assert note.group(1) == "warning"
    assert note.group(2).endswith(str(escape(presenters.join_sentences([translate("stethoscope_does_not_count", lang),
        translate("stethoscope_does_not_count_record_again", lang, devices=devices)], lang))))
    assert "2%" in item  # still shown, with its probability
    assert "chest-piece-note" not in item  # the diaphragm is not what is wrong
    assess(client, nurse, visit["id"])
    result = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert str(escape(CATALOG["lung_sounds_stethoscope_not_validated"][lang])) in \
        re.search(r'id="lung-sound-finding">(.*?)</p>', result, re.S).group(1)

    # Through the validated stethoscope the same clear take makes its site heard.
    db["recordings"].update(other, {"stethoscope": LITTMANN})
    db.conn.commit()
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert site_done(page, "posterior_left_base") and step_state(page, "auscultation") == "done"
    assert 'class="muted stethoscope-note"' in page and 'class="warning stethoscope-note"' not in page


def test_a_programme_can_require_a_named_validated_stethoscope_and_its_results_read_out_of_date(
        app, client, nurse, db, monkeypatch):
    """evidence_require_validated_stethoscope: off, a take naming no stethoscope counts (every take stored
    before migration 18); on, it counts no more, the page says why, and a result calculated before the
    change reads out of date until it is calculated again."""
    counted_detector(monkeypatch)
    visit_id = visit_with_takes(client, nurse, db, "CL89-0100", "not_stated")
    empty = assess(client, nurse, visit_with_takes(client, nurse, db, "CL89-0101", None))
    before = assess(client, nurse, visit_id)
    assert before["contributions"]["auscultation"]["counted"]
    assert before["evidence_options"]["require_validated_stethoscope"] is False
    assert step_state(client.get(f"/visits/{visit_id}").get_data(as_text=True), "auscultation") == "done"

    monkeypatch.setattr(app.extensions["ildscreen"].settings, "evidence_require_validated_stethoscope", True)
    freshness = client.get(f"/api/v1/visits/{visit_id}/assessments", headers=nurse).json["assessments"][-1]["freshness"]
    assert not freshness["current"]
    assert freshness["settings_changed"] == ["evidence_options.require_validated_stethoscope"]
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="settings-changed"' in page and step_state(page, "auscultation") == "pending"
    assert not site_done(page, "posterior_left_base")
    devices = presenters.validated_devices(shipped_entry()["validation"]["populations"]["adults"]["devices"], "en")
    assert str(escape(translate("stethoscope_required_not_counted", "en", devices=devices))) in page
    listed = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=nurse).json["recordings"]
    assert {r["stethoscope_validation"]["counts"] for r in listed} == {False}

    after = assess(client, nurse, visit_id)
    assert "auscultation" not in after["contributions"]
    assert {key: after[key] for key in RISK} == {key: empty[key] for key in RISK}
    assert client.get(f"/api/v1/visits/{visit_id}/assessments", headers=nurse).json["assessments"][-1][
        "freshness"]["current"]


@pytest.mark.parametrize(("validation", "require", "verdict"), [
    (("Stetho A", "bell"), False, None),  # validated, judged by the adults' pooled figures (none of its own)
    (("Stetho A", "bell"), True, None),
    # Validated, but its own figures (DIAPHRAGM_ALONE) are no better than chance while the adults' pass:
    # judged by its own, it does not count (h107).
    (("Stetho A", "diaphragm"), False, "device_figures"),
    (("Stetho A", "diaphragm"), True, "device_figures"),
    (("Scope B", "not_stated"), True, None),  # validated whatever the piece
    (("Stetho A", "extended"), False, "not_validated"),  # a stated piece the validation never went through
    (("Stetho A", "not_stated"), False, None),  # a validated stethoscope, the piece not said: as before
    (("Stetho A", "not_stated"), True, "required"),
    (("Kid C", "diaphragm"), False, "not_validated"),
    (("Other D", "diaphragm"), False, "not_validated"),
    (("not_stated", "diaphragm"), False, None),
    (("not_stated", "diaphragm"), True, "required"),
    (None, False, None),  # no validation read (no crackle model served): not stated
    (None, True, "required"),
])
def test_whether_a_take_counts_follows_its_status_and_the_programme_setting(validation, require, verdict):
    """One verdict (edge.modalities.stethoscope_verdict) and its reason: whether the take counts, whether it makes
    its site heard, why the lung-sound line says it does not, and the words under it all follow it."""
    counts = verdict is None
    take = {"chest_site": "posterior_left_base", "chest_piece": "diaphragm", "quality": {"ok": True},
            "crackle_probability": 0.9}
    if validation is not None:
        stethoscope, piece = validation
        take.update(chest_piece=piece,
                    stethoscope_validation=stethoscope_validation(FIXTURE_ENTRY, stethoscope=stethoscope, chest_piece=piece))
    assert stethoscope_verdict(take, require_validated_stethoscope=require) == verdict
    assert stethoscope_counts(take, require_validated_stethoscope=require) is counts
    assert why_not_heard(take, threshold=0.5, cannot_clear=("bell",), require_validated_stethoscope=require) == (
        None if counts else "device_figures" if verdict == "device_figures" else "stethoscope")
    # A positive take counts or not as a clear one does: crackles found through it are no evidence either.
    assert counts_for_its_site(take, threshold=0.5, cannot_clear=("bell",),
                               require_validated_stethoscope=require) is counts
    heard = site_probabilities([take], threshold=0.5, require_validated_stethoscope=require)
    assert heard == {"posterior_left_base": 0.9 if counts else None}
    statement = presenters.stethoscope_statement(take.get("stethoscope_validation"), "en",
                                                 require_validated_stethoscope=require)
    if statement is not None:
        assert ("does not count" in statement) is not counts
        # The words follow the reason: a device left out is named first; a stethoscope required only by the
        # programme says so.
        assert statement.startswith(CATALOG["stethoscope_device_does_not_count"]["en"].split("{")[0]) is (
            verdict == "device_figures")
        assert (CATALOG["stethoscope_required_not_counted"]["en"].split("{")[0] in statement) is (verdict == "required")


# --- read from the manifest's validation block --------------------------------------------------

# The adults' figures of one device alone (by_device): what a take through it quotes.
DIAPHRAGM_ALONE = {"patients": 38, "positive_patients": 11, "sensitivity": 0.64, "sensitivity_ci95": [0.35, 0.85],
                   "specificity": 0.7, "specificity_ci95": [0.5, 0.84]}
FIXTURE_ENTRY = {"name": "auscultation", "version": "9.9.9", "validation": {
    "unit": "patient", "ci_method": "patient_cluster_bootstrap", "populations": {
        "adults": {"devices": ["Stetho A bell", "Stetho A diaphragm", "Scope B"], "patients": 40,
                   "positive_patients": 12, "sensitivity": 0.75, "sensitivity_ci95": [0.5, 0.9], "specificity": 0.8,
                   "specificity_ci95": [0.6, 0.92], "by_device": {"Stetho A diaphragm": DIAPHRAGM_ALONE}},
        "children_sprsound2022": {"devices": ["Kid C"], "population": "children of a fixture", "patients": 9,
                                  "positive_patients": 3, "sensitivity": 0.5, "sensitivity_ci95": [0.1, 0.9],
                                  "specificity": 0.5, "specificity_ci95": [0.2, 0.8]}}}}
FIGURES = ("patients", "positive_patients", "sensitivity", "sensitivity_ci95", "specificity", "specificity_ci95")


@pytest.mark.parametrize(("stethoscope", "piece", "status", "device"), [
    ("Stetho A", "diaphragm", "validated", "Stetho A diaphragm"),  # its own figures
    ("STETHO-A", "bell", "validated", None),  # compared without case and punctuation; no figures of its own
    ("Stetho A", "extended", "chest_piece_not_validated", None),
    ("Stetho A", "not_stated", "chest_piece_not_validated", None),
    ("Scope B", "extended", "validated", None),  # a device named without a chest piece: any piece
    ("Scope B", "not_stated", "validated", None),
    ("Kid C", "diaphragm", "not_in_adults", None),
    ("Stetho", "diaphragm", "not_validated", None),  # a part of a name is another stethoscope
    ("Other D", "diaphragm", "not_validated", None),
    ("not_stated", "diaphragm", "not_stated", None),
])
def test_the_take_is_matched_to_the_devices_of_the_manifests_populations(stethoscope, piece, status, device):
    """A validated take quotes its device's own figures when the manifest has them, else all the adults'
    devices together, and says which."""
    found = stethoscope_validation(FIXTURE_ENTRY, stethoscope=stethoscope, chest_piece=piece)
    assert found["status"] == status and status in STETHOSCOPE_STATUSES
    assert found["devices"] == FIXTURE_ENTRY["validation"]["populations"]["adults"]["devices"]
    assert found["model_version"] == "auscultation-9.9.9"
    adults = FIXTURE_ENTRY["validation"]["populations"]["adults"]
    figures = {key: found.get(key) for key in FIGURES}
    if status != "validated":
        assert figures == dict.fromkeys(figures) and "figures_over" not in found
    elif device:
        assert figures == DIAPHRAGM_ALONE and (found["figures_over"], found["device"]) == ("device", device)
    else:
        assert figures == {key: adults[key] for key in FIGURES}
        assert found["figures_over"] == "all_devices" and "device" not in found
    if status == "not_in_adults":
        assert found["populations"] == ["children of a fixture"]
        assert found["population_keys"] == ["children_sprsound2022"]


def test_the_statement_words_the_figures_of_the_takes_own_device_in_both_languages():
    found = stethoscope_validation(FIXTURE_ENTRY, stethoscope="Stetho A", chest_piece="diaphragm")
    # Judged by those figures (no better than chance, while the adults' pass), it does not count (h107): the
    # nurse reads that first, and what to record through (the bell has no figures of its own: the adults'
    # pooled ones stand for it), then the figures.
    assert found["devices_counting"] == ["Stetho A bell", "Scope B"]
    assert presenters.stethoscope_statement(found, "en") == (
        "This take does not count: through Stetho A (Diaphragm) alone, the model did no better than chance on "
        "patients, so it does not make its site heard and does not change the risk. Record this site again through "
        "a stethoscope and chest piece that count: Stetho A (Bell); Scope B. "
        "Validated on adults through this stethoscope and chest piece (Stetho A, Diaphragm): on 38 adults the crackle "
        "model never saw (11 with crackles; patients of King Abdullah University Hospital, Jordan (KAUH), whose "
        "crackles came from heart failure and other lung diseases), their recordings through Stetho A (Diaphragm) "
        "alone gave patient sensitivity 0.64 (0.35-0.85), specificity 0.70 (0.50-0.84).")
    diaphragm, bell = (CATALOG[f"chest_piece_{piece}"]["zh-CN"] for piece in ("diaphragm", "bell"))
    assert presenters.stethoscope_statement(found, "zh-CN") == (
        f"本次录音不计入：仅就 Stetho A（{diaphragm}）而言，模型在患者中的表现不比随机更好，"
        "因此它不能使该部位算作已听诊，也不改变风险。"
        f"请用计入的听诊器和听诊头重新录制此部位：Stetho A（{bell}）；Scope B。"
        f"已在成人中通过此听诊器和听诊头（Stetho A，{diaphragm}）验证：在爆裂音模型从未见过的 "
        "38 名成人中（11 名有爆裂音；约旦阿卜杜拉国王大学医院（KAUH）的患者，其爆裂音来自心力衰竭等其他肺部疾病），"
        f"仅按其经 Stetho A（{diaphragm}）的录音计，"
        "按患者计灵敏度 0.64（0.35–0.85），特异度 0.70（0.50–0.84）。")
    assert presenters.stethoscope_statement(None, "en") is None


def test_without_figures_of_its_device_the_statement_quotes_all_the_adults_devices_and_says_so():
    found = stethoscope_validation(FIXTURE_ENTRY, stethoscope="Stetho A", chest_piece="bell")
    assert presenters.stethoscope_statement(found, "en") == (
        "Validated on adults through this stethoscope and chest piece (Stetho A, Bell): on 40 adults the crackle "
        "model never saw (12 with crackles; patients of King Abdullah University Hospital, Jordan (KAUH), whose "
        "crackles came from heart failure and other lung diseases), patient sensitivity 0.75 (0.50-0.90), "
        "specificity 0.80 (0.60-0.92), over all their recordings together (Stetho A (Bell, Diaphragm); Scope B): the "
        "model's manifest gives no figures for this chest piece alone.")
    chinese = presenters.stethoscope_statement(found, "zh-CN")
    assert "在爆裂音模型从未见过的 40 名成人中（12 名有爆裂音；约旦阿卜杜拉国王大学医院（KAUH）的患者" in chinese
    # The chest pieces listed as Chinese lists them: with the enumeration comma, never ", ", in full-width
    # brackets, and the stethoscopes apart with a full-width semicolon.
    pieces = "、".join(CATALOG[f"chest_piece_{piece}"]["zh-CN"] for piece in ("bell", "diaphragm"))
    assert chinese.endswith(f"为其全部录音合计（Stetho A（{pieces}）；Scope B）：模型清单未单独给出此听诊头的数据。")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_stethoscope_validated_in_children_only_names_them_in_the_readers_language(lang):
    """The manifest words its populations in English only: the statement names them by key from the catalog."""
    found = stethoscope_validation(FIXTURE_ENTRY, stethoscope="Kid C", chest_piece="diaphragm")
    statement = presenters.stethoscope_statement(found, lang)
    assert CATALOG["validation_population_children_sprsound2022"][lang] in statement
    assert "children of a fixture" not in statement
    unknown = {**found, "population_keys": ["martians_2031"]}
    assert CATALOG["validation_population_other"][lang] in presenters.stethoscope_statement(unknown, lang)


@pytest.mark.parametrize("validation", [
    None,
    {"unit": "recording", "populations": FIXTURE_ENTRY["validation"]["populations"]},  # not per patient
    {"unit": "patient", "ci_method": "per_recording_bootstrap", "populations": FIXTURE_ENTRY["validation"]["populations"]},
])
def test_without_a_patient_level_validation_no_stethoscope_is_validated(validation):
    entry = {**FIXTURE_ENTRY, "validation": validation}
    found = stethoscope_validation(entry, stethoscope="Stetho A", chest_piece="diaphragm")
    assert found["status"] == "not_validated" and found["devices"] == []
    statement = presenters.stethoscope_statement(found, "en")
    assert "(in adults it was validated through: none)." in statement
    assert statement.endswith(presenters.join_sentences([translate("stethoscope_does_not_count", "en"), translate(
        "stethoscope_does_not_count_record_again", "en", devices="none")], "en"))


# --- stored: migration 18 -----------------------------------------------------------------------

def test_migration_18_gives_earlier_takes_not_stated_which_the_api_shows(tmp_path, no_env_settings):
    settings = load_settings(data_dir=tmp_path / "data", max_upload_mb=2)
    settings.data_dir.mkdir(parents=True)
    db = open_database(settings.database_path)
    apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version <= 17))
    assert current_version(db) == 17
    create_user(db, audit.CLI_OPERATOR, username="nurse9", role="nurse", password=PASSWORD)
    patient = db["patients"].insert({"code": "CL83-0001", "birth_year": 1950, "sex": "F", "ctd_diagnosis": "SSc",
                                     "created_at": "t", "updated_at": "t"}).last_pk
    visit = db["visits"].insert({"patient_id": patient, "started_at": "2026-01-01T00:00:00+00:00",
                                 "updated_at": "t"}).last_pk
    before = db["recordings"].insert({
        "visit_id": visit, "chest_site": "trachea", "sha256": "a" * 64, "file_path": "ab/a", "media_type": "audio/wav",
        "size_bytes": 1000, "sample_rate": 4000, "channels": 1, "duration_s": 20.0, "created_at": "t"}).last_pk
    db.conn.commit()
    assert apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version <= 18)) == [18]
    assert db.execute("SELECT stethoscope FROM recordings").fetchall() == [("not_stated",)]
    for bad in ("", "x" * 65):
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE recordings SET stethoscope = ? WHERE id = ?", [bad, before])
    db.close()

    client = create_app(settings).test_client()  # the app applies the later migrations
    listed = client.get(f"/api/v1/visits/{visit}/recordings", headers=login(client, "nurse9")).json["recordings"]
    assert listed[0]["stethoscope"] == "not_stated"
    assert listed[0]["stethoscope_validation"]["status"] == "not_stated"
    assert listed[0]["stethoscope_validation"]["statement"].startswith("Which stethoscope this take went through is not on record")


# --- a board capture states its board's stethoscope ---------------------------------------------

@pytest.mark.parametrize(("boards", "stored"), [({"STETH-40": OTHER}, OTHER), ({"STETH-9": OTHER}, "not_stated")])
def test_a_board_capture_is_stored_with_the_stethoscope_the_settings_name_for_the_board(tmp_path, no_env_settings,
                                                                                     boards, stored):
    claimed, captured = capture_from_a_board(tmp_path / "boards", {"stethoscope": LITTMANN},
                                             stethoscopes=[OTHER, LITTMANN], board_stethoscopes=boards)
    # The request cannot claim one: the board's is the settings'.
    assert claimed.status_code == 422 and claimed.json["error"]["fields"][0]["field"] == "stethoscope"
    assert captured.status_code == 201, captured.json
    assert captured.json["source"] == "device" and captured.json["stethoscope"] == stored
    assert captured.json["stethoscope_validation"]["status"] == ("not_validated" if boards.get("STETH-40") else "not_stated")


def test_a_capture_jobs_result_is_the_recording_as_its_get_gives_it(tmp_path, no_env_settings):
    """The capture job's result carries what every other answer with the take does (quality_advice, the
    stethoscope's validation with counts and statement, in the caller's language), from one home."""
    with board_visit(tmp_path / "data", stethoscopes=[OTHER, LITTMANN], board_stethoscopes={"STETH-40": OTHER}) as (
            app, client, headers, visit_id, port):
        headers = {**headers, "Accept-Language": "zh-CN"}
        started = client.post(f"/api/v1/visits/{visit_id}/recordings/capture-jobs", headers=headers,
                              json={"port": port, "chest_site": "trachea", "seconds": 5})
        assert started.status_code == 202 and app.extensions["ildscreen"].devices.job(started.json["id"]).wait(30)
        job = client.get(started.headers["Location"], headers=headers).json
    assert job["state"] == "completed", job
    listed = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"]
    assert job["result"] == listed[0]
    validation = job["result"]["stethoscope_validation"]
    assert validation["status"] == "not_validated" and validation["counts"] is False
    assert validation["statement"].startswith(CATALOG["stethoscope_not_validated"]["zh-CN"].split("{")[0])
    assert "quality_advice" in job["result"]
