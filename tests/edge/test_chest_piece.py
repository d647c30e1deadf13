"""Each recording says which chest piece (filter mode) it went through (brief h40). Through the
Littmann 3200's bell filter the crackle detector found 1 of 9 KAUH adults with crackles, through
its diaphragm filter 6 of 8, over all 37 KAUH adults (22 of them chose the threshold); on the 15 test
adults alone 0 of 3 and 3 of 3 (docs/evidence.md, model 0.6.0), so a clear take through the
bell must not make its site heard, while crackles found through it still count; the nurse is told
why and asked to record again through the pieces that count and can clear (the shipped model's diaphragm and
extended filter: edge.web.presenters.chest_piece_text). Stated at the boundary (API, tablet form),
stored in its own column (migration 14; earlier rows are ``not_stated``), never guessed for a
board capture, whose wire protocol carries no mode."""
from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3

import numpy as np
import pytest
from markupsafe import escape

from edge import audit, recordings
from edge.app import create_app
from edge.config import load_settings
from edge.errors import ConfigError, ValidationError
from edge.fusion.evidence import EvidenceOptions
from edge.modalities import NOT_HEARD_REASONS, counts_for_its_site, site_probabilities, why_not_heard
from edge.store.database import open_database
from edge.store.migrations import MIGRATIONS, apply_migrations, current_version
from edge.users import create_user
from edge.vocabulary import CHEST_PIECES
from edge.web import presenters
from edge.web.i18n import CATALOG, translate
from firmware_interface import DeviceKind, SimulatedDevice
from support import PASSWORD, PATIENT, bundled_crackle_stamp, csrf_of, login, patch_visit, wav_bytes
# One fixture validation that lets lung sounds count, and the assessment call, as the lung-sound result tests use them.
from test_ui_lung_sound_result import assess, counted_detector

BASES = ("posterior_left_base", "posterior_right_base")
THRESHOLD = 0.17  # about the shipped adults' threshold (0.170022): 0.02 is clear, 0.9 is crackles


@pytest.fixture
def visit(client, nurse):
    patient = client.post("/api/v1/patients", json={**PATIENT, "ctd_diagnosis": "SLE"}, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json


def stored_take(db, visit_id: int, chest_site: str, crackle_probability: float, chest_piece: str) -> int:
    """A scored, accepted take as ``add_recording`` stores it (the pages and the risk need no audio)."""
    stamp = bundled_crackle_stamp()
    pk = db["recordings"].insert({
        "visit_id": visit_id, "chest_site": chest_site, "chest_piece": chest_piece, "source": "upload",
        "sha256": f"{chest_site}{chest_piece}{crackle_probability}".ljust(64, "0")[:64], "file_path": "x.wav",
        "media_type": "audio/wav", "size_bytes": 1, "sample_rate": 4000, "channels": 1, "duration_s": 20.0,
        "quality": json.dumps({"ok": True, "issues": []}), "crackle_probability": crackle_probability,
        "model_version": f"auscultation-{stamp['version']}-fp32", "result": json.dumps({"model": stamp, "windows": []}),
        "created_at": "2026-01-01T00:00:00+00:00"}).last_pk
    db.conn.commit()
    return pk


def take(site: str, p: float, piece: str) -> dict:
    return {"chest_site": site, "chest_piece": piece, "quality": {"ok": True}, "crackle_probability": p}


# --- the site rule ------------------------------------------------------------------------------

@pytest.mark.parametrize(("piece", "p", "counts"), [
    ("diaphragm", 0.02, True), ("extended", 0.02, True), ("not_stated", 0.02, True),
    ("bell", 0.02, False),  # clear through the bell: nearly blind, the site is not heard
    ("bell", THRESHOLD, True), ("bell", 0.9, True),  # crackles through the bell are crackles
])
def test_only_a_clear_take_through_a_piece_that_cannot_clear_leaves_its_site_unheard(piece, p, counts):
    assert counts_for_its_site(take("posterior_left_base", p, piece), threshold=THRESHOLD,
                               cannot_clear=("bell",)) is counts


def test_a_bell_only_clear_base_is_not_heard_a_diaphragm_one_is_and_bell_crackles_stay_positive():
    results = [take("posterior_left_base", 0.02, "bell"), take("posterior_right_base", 0.02, "diaphragm"),
               take("lateral_left_base", 0.9, "bell"),
               # the max rule still holds at a site with both: the bell's clear take adds nothing
               take("posterior_left_mid", 0.05, "diaphragm"), take("posterior_left_mid", 0.01, "bell")]
    sites = site_probabilities(results, threshold=THRESHOLD, cannot_clear=("bell",))
    assert sites == {"posterior_left_base": None, "posterior_right_base": 0.02, "lateral_left_base": 0.9,
                     "posterior_left_mid": 0.05}
    # The set is a setting: without it every accepted take counts, as before.
    assert site_probabilities(results, threshold=THRESHOLD)["posterior_left_base"] == 0.02


def test_the_default_pieces_that_cannot_clear_are_the_bell_only_in_the_options_and_the_settings(settings):
    assert EvidenceOptions().chest_pieces_cannot_clear == ("bell",)
    assert settings.evidence_chest_pieces_cannot_clear == ["bell"] and settings.chest_piece_default == "diaphragm"


def test_an_unknown_piece_in_the_settings_is_refused_naming_it(tmp_path, no_env_settings, monkeypatch):
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_CHEST_PIECES_CANNOT_CLEAR", '["bell", "stethoscope"]')
    with pytest.raises(ConfigError, match="evidence_chest_pieces_cannot_clear") as refused:
        load_settings(data_dir=tmp_path / "data")
    assert refusal_of("stethoscope") in str(refused.value)
    monkeypatch.delenv("ILDSCREEN_EVIDENCE_CHEST_PIECES_CANNOT_CLEAR")
    with pytest.raises(ConfigError, match="chest_piece_default") as refused:
        load_settings(data_dir=tmp_path / "data", chest_piece_default="bel")
    assert "unknown chest piece 'bel' (did you mean 'bell'?)" in str(refused.value)


def refusal_of(piece: str) -> str:
    """How every boundary (API, options, settings) refuses ``piece``: by name, with the accepted pieces."""
    return f"unknown chest piece {piece!r}; expected one of {sorted(CHEST_PIECES)}"


def test_the_options_refuse_an_unknown_piece_as_the_setting_does():
    """The options, their setting and the API share one chest-piece type (edge.vocabulary.ChestPiece)."""
    from pydantic import ValidationError as PydanticValidationError

    assert EvidenceOptions(chest_pieces_cannot_clear=["bell", "extended"]).chest_pieces_cannot_clear == (
        "bell", "extended")
    with pytest.raises(PydanticValidationError, match="chest_pieces_cannot_clear.1") as refused:
        EvidenceOptions(chest_pieces_cannot_clear=["bell", "stethoscope"])
    assert refusal_of("stethoscope") in str(refused.value)


def test_in_the_risk_a_clear_bell_base_is_not_heard_and_bell_crackles_are_positive(client, nurse, db, visit,
                                                                                 monkeypatch):
    counted_detector(monkeypatch)
    stored_take(db, visit["id"], "posterior_left_base", 0.02, "diaphragm")
    stored_take(db, visit["id"], "posterior_right_base", 0.02, "bell")
    half = assess(client, nurse, visit["id"])["contributions"]["auscultation"]
    assert half["finding"]["level"] == "none"
    assert half["finding"]["accepted_protocol_basal_sites"] == ["posterior_left_base"]
    assert half["finding"]["negative_share"] == pytest.approx(0.5)

    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    incomplete = re.search(r'id="exam-incomplete">(.*?)</p>', page, re.S).group(1)
    assert CATALOG["site_posterior_right_base"]["en"] in incomplete
    assert CATALOG["site_posterior_left_base"]["en"] not in incomplete

    # The same base heard through the diaphragm completes the exam; the clear chest counts fully.
    stored_take(db, visit["id"], "posterior_right_base", 0.03, "diaphragm")
    full = assess(client, nurse, visit["id"])["contributions"]["auscultation"]
    assert full["finding"]["complete_exam"] and full["finding"]["negative_share"] == 1
    assert full["applied_likelihood_ratio"] < half["applied_likelihood_ratio"] < 1

    stored_take(db, visit["id"], "posterior_right_base", 0.9, "bell")
    positive = assess(client, nurse, visit["id"])
    assert positive["contributions"]["auscultation"]["finding"]["level"] == "basal"
    assert positive["contributions"]["auscultation"]["finding"]["positive_basal_sites"] == ["posterior_right_base"]
    assert positive["evidence_options"]["chest_pieces_cannot_clear"] == ["bell"]


def test_only_clear_bell_takes_leave_lung_sounds_unmeasured_never_a_clear_chest(client, nurse, db, visit,
                                                                               monkeypatch):
    counted_detector(monkeypatch)
    for base in BASES:
        stored_take(db, visit["id"], base, 0.02, "bell")
    assessment = assess(client, nurse, visit["id"])
    assert "auscultation" in assessment["missing"] and "auscultation" not in assessment["contributions"]
    assert assessment["probability"] == pytest.approx(assessment["pretest_probability"])


# --- stated at the boundary ---------------------------------------------------------------------

def upload(client, headers, visit_id, **fields):
    return client.post(f"/api/v1/visits/{visit_id}/recordings", headers=headers, content_type="multipart/form-data",
                       data={"chest_site": "posterior_left_base", "file": (io.BytesIO(wav_bytes(3)), "b.wav"),
                             **fields})


def test_the_api_stores_the_stated_piece_and_not_stated_when_left_out(client, nurse, visit, db):
    bell = upload(client, nurse, visit["id"], chest_piece="bell")
    assert bell.status_code == 201 and bell.json["chest_piece"] == "bell"
    unsaid = upload(client, nurse, visit["id"], chest_site="trachea")
    assert unsaid.status_code == 201 and unsaid.json["chest_piece"] == "not_stated"
    listed = client.get(f"/api/v1/visits/{visit['id']}/recordings", headers=nurse).json["recordings"]
    assert [r["chest_piece"] for r in listed] == ["bell", "not_stated"]
    detail = db.execute("SELECT detail FROM audit_log WHERE entity = 'recording' ORDER BY id").fetchall()
    assert [json.loads(row[0])["chest_piece"] for row in detail] == ["bell", "not_stated"]


@pytest.mark.parametrize("bad", ["bel", "Bell", "stethoscope", ""])
def test_the_api_refuses_an_unknown_piece_naming_it_and_stores_nothing(client, nurse, visit, db, settings, bad):
    refused = upload(client, nurse, visit["id"], chest_piece=bad)
    assert refused.status_code == 422
    field = refused.json["error"]["fields"][0]
    assert field["field"] == "chest_piece" and f"unknown chest piece {bad!r}" in field["reason"]
    assert str(sorted(CHEST_PIECES)) in field["reason"]
    assert db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0] == 0
    assert [p for p in settings.blob_dir.rglob("*") if p.is_file()] == []


def test_the_library_refuses_an_unknown_piece_before_reading_any_audio(app, db, visit):
    with pytest.raises(ValidationError, match="unknown chest piece 'membrane'") as refused:
        recordings.add_recording(db, app.extensions["ildscreen"].blobs, audit.CLI_OPERATOR, visit["id"],
                                 chest_site="trachea", chest_piece="membrane", stream=io.BytesIO(b"not audio"),
                                 max_bytes=10_000)
    assert refused.value.fields[0]["field"] == "chest_piece"


def visit_on_an_app(data_dir, **settings) -> tuple:
    """A nurse's open visit on an app built with ``settings``: (her client, her headers, the visit's id)."""
    app = create_app(load_settings(data_dir=data_dir, max_upload_mb=2, **settings))
    client = app.test_client()
    create_user(app.extensions["ildscreen"].folder.connect(), audit.CLI_OPERATOR, username="nurse9", role="nurse",
                password=PASSWORD)
    headers = login(client, "nurse9")
    patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
    return client, headers, client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]


def test_the_tablet_form_offers_every_piece_starting_on_the_setting_and_refuses_an_unknown_one(
        tmp_path, no_env_settings):
    client, headers, visit_id = visit_on_an_app(tmp_path / "other", chest_piece_default="extended")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    select = re.search(r'<select name="chest_piece" id="chest-piece" required>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="(\w+)"', select) == ["diaphragm", "bell", "extended", "not_stated"]
    assert re.findall(r'<option value="(\w+)" selected', select) == ["extended"]

    csrf = csrf_of(page)
    sent = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data", data={
        "csrf_token": csrf, "chest_site": "trachea", "chest_piece": "bell", "file": (io.BytesIO(wav_bytes(3)), "t.wav")})
    assert sent.status_code == 302
    assert client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"][0]["chest_piece"] \
        == "bell"
    refused = client.post(f"/visits/{visit_id}/recordings", content_type="multipart/form-data", data={
        "csrf_token": csrf, "chest_site": "trachea", "chest_piece": "cone", "file": (io.BytesIO(wav_bytes(4)), "t.wav")})
    assert refused.status_code == 302 and "upload_error=err_chest_piece" in refused.headers["Location"]
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert str(escape(CATALOG["err_chest_piece"]["en"])) in shown
    scripted = client.post(f"/visits/{visit_id}/recordings", headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
                           data={"chest_site": "trachea", "chest_piece": "cone", "source": "microphone",
                                 "file": (io.BytesIO(wav_bytes(5)), "microphone.wav")})
    assert scripted.status_code == 422 and scripted.json["error"]["message"] == CATALOG["err_chest_piece"]["en"]
    assert len(client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"]) == 1


# --- what the nurse sees ------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clear_bell_take_says_it_does_not_rule_out_crackles_and_its_site_stays_to_do(client, nurse, db, visit,
                                                                                    lang):
    bell = stored_take(db, visit["id"], "posterior_left_base", 0.02, "bell")
    diaphragm = stored_take(db, visit["id"], "posterior_right_base", 0.02, "diaphragm")
    crackles = stored_take(db, visit["id"], "lateral_left_base", 0.9, "bell")
    unsaid = stored_take(db, visit["id"], "lateral_right_base", 0.02, "not_stated")
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)

    def item(pk):
        return page.split(f'id="take-{pk}"', 1)[1].split("</li>", 1)[0]

    bell_name = CATALOG["chest_piece_bell"][lang]
    line = str(escape(translate("chest_piece_cannot_clear", lang, piece=bell_name)))
    assert line in item(bell) and f'id="chest-piece-note-{bell}"' in item(bell)
    # What to record through: the shipped model's devices that count (all three of the Littmann's), less the bell.
    can_clear = presenters.validated_devices(["Littmann 3200 diaphragm", "Littmann 3200 extended"], lang)
    assert str(escape(translate("record_again_can_clear_one", lang, devices=can_clear))) in item(bell)
    assert CATALOG["chest_piece_bell"][lang] in item(bell)
    assert line not in item(diaphragm) and "chest-piece-note" not in item(diaphragm)
    assert CATALOG["chest_piece_diaphragm"][lang] in item(diaphragm)
    assert "chest-piece-note" not in item(crackles)  # crackles found through the bell: nothing to add
    assert str(escape(translate("chest_piece_not_stated_clear", lang, pieces=bell_name))) in item(unsaid)
    assert str(escape(translate("record_again_can_clear_if_not_stated", lang, devices=can_clear))) in item(unsaid)
    # The chest map: the bell's clear base is still to do; the others are done.
    assert '✓' not in page.split('data-site="posterior_left_base"', 1)[1].split("</g>", 1)[0]
    for site in ("posterior_right_base", "lateral_left_base", "lateral_right_base"):
        assert '✓' in page.split(f'data-site="{site}"', 1)[1].split("</g>", 1)[0]


def step_state(page: str, step: str) -> str:
    """The checklist state of ``step`` on a served visit page (``done``, ``skipped``, ``pending``)."""
    return re.search(rf'class="step step-(\w+)" data-step="{step}"', page).group(1)


def test_only_clear_bell_takes_leave_the_lung_sounds_step_to_do_on_the_visit_and_the_worklist(client, nurse, db,
                                                                                             visit):
    for base in BASES:
        stored_take(db, visit["id"], base, 0.02, "bell")
    assert step_state(client.get(f"/visits/{visit['id']}").get_data(as_text=True), "auscultation") == "pending"
    # The worklist's missing steps come from the same checklist.
    client.set_cookie("lang", "en")

    def worklist_missing() -> str:
        row = client.get("/").get_data(as_text=True).split(f"/visits/{visit['id']}", 1)[1].split("</tr>", 1)[0]
        return row.rsplit("<td>", 1)[1]

    assert CATALOG["checklist_auscultation"]["en"] in worklist_missing()

    # Crackles found through the bell are heard: the step is done.
    stored_take(db, visit["id"], "lateral_left_base", 0.9, "bell")
    assert step_state(client.get(f"/visits/{visit['id']}").get_data(as_text=True), "auscultation") == "done"
    assert CATALOG["checklist_auscultation"]["en"] not in worklist_missing()


def wait_for_score(db, pk: int, *, gated: bool) -> None:
    """Make a stored take one that waits to be scored: as ``add_recording`` stores it while the crackle
    model is unavailable (no verdict, no score: ``gated`` False), or one the gate passed without a score."""
    db["recordings"].update(pk, {"crackle_probability": None, "model_version": None,
                                 "quality": json.dumps({"ok": True, "issues": []}) if gated else None,
                                 "result": json.dumps({"windows": []}) if gated else None})
    db.conn.commit()


def site_done(page: str, site: str) -> bool:
    """Whether the served chest map ticks ``site``."""
    return '✓' in page.split(f'data-site="{site}"', 1)[1].split("</g>", 1)[0]


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_take_waiting_to_be_scored_leaves_its_site_and_the_step_to_do_and_says_what_helps(client, nurse, db,
                                                                                           visit, lang, gated):
    """One rule (presenters.makes_its_site_heard) for the chest map and the checklist: a take the model has
    not scored yet is neither usable nor clear, so the checklist never reads "done" beside a map that
    leaves its site to do; the nurse reads why, and what to do, under the take and beside the step."""
    stored_take(db, visit["id"], "posterior_left_base", 0.02, "bell")  # a clear bell take: not heard either
    waiting = stored_take(db, visit["id"], "posterior_right_base", 0.02, "diaphragm")
    wait_for_score(db, waiting, gated=gated)
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert step_state(page, "auscultation") == "pending"
    assert not site_done(page, "posterior_right_base")
    take_item = page.split(f'id="take-{waiting}"', 1)[1].split("</li>", 1)[0]
    assert f'class="recording" id="take-{waiting}"' in page  # waiting, not marked as refused
    assert f'id="waiting-score-{waiting}"' in take_item
    assert str(escape(CATALOG["take_waiting_score"][lang])) in take_item
    assert str(escape(CATALOG["checklist_waiting_score"][lang])) in \
        page.split('data-step="auscultation"', 1)[1].split("</li>", 1)[0]

    # Once scored (the risk is calculated with the model back), the clear diaphragm take is heard.
    db["recordings"].update(waiting, {"crackle_probability": 0.02, "quality": json.dumps({"ok": True, "issues": []}),
                                      "result": json.dumps({"windows": []})})
    db.conn.commit()
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert step_state(page, "auscultation") == "done" and site_done(page, "posterior_right_base")
    assert "waiting-score-" not in page and "checklist-waiting-score" not in page


def test_a_refused_take_is_not_one_waiting_to_be_scored(client, nurse, db, visit):
    refused = stored_take(db, visit["id"], "posterior_left_base", 0.02, "diaphragm")
    db["recordings"].update(refused, {"quality": json.dumps({"ok": False, "issues": ["silent"]}),
                                      "crackle_probability": None})
    db.conn.commit()
    assert not recordings.awaits_score(recordings.list_recordings(db, visit["id"])[0])
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert step_state(page, "auscultation") == "pending" and "waiting-score-" not in page
    assert f'class="recording refused" id="take-{refused}"' in page


VALIDATED = {"status": "validated"}


@pytest.mark.parametrize(("recording", "require", "reason"), [
    ({**take("posterior_left_base", 0.02, "diaphragm"), "stethoscope_validation": VALIDATED}, False, None),
    ({**take("posterior_left_base", 0.9, "bell")}, False, None),  # crackles through the bell still count
    ({**take("posterior_left_base", 0.02, "bell")}, False, "cannot_clear"),
    ({**take("posterior_left_base", 0.02, "diaphragm"), "quality": {"ok": False, "issues": ["silent"]}}, False, "refused"),
    ({**take("posterior_left_base", None, "diaphragm"), "quality": {"ok": False, "issues": ["silent"]}}, False, "refused"),
    ({**take("posterior_left_base", None, "diaphragm"), "quality": None}, False, "waiting_score"),
    ({**take("posterior_left_base", 0.9, "diaphragm"), "stethoscope_validation": {"status": "not_validated"}}, False, "stethoscope"),
    ({**take("posterior_left_base", 0.02, "diaphragm")}, True, "stethoscope"),  # names none, the programme requires one
    ({**take("posterior_left_base", 0.9, "bell"), "stethoscope_validation": {**VALIDATED, "device_counts": False}}, False,
     "device_figures"),
    # Clear through the bell and its device's figures fail: the device is what to change, before the piece.
    ({**take("posterior_left_base", 0.02, "bell"), "stethoscope_validation": {**VALIDATED, "device_counts": False}}, False,
     "device_figures"),
])
def test_why_a_take_leaves_its_site_unheard(recording, require, reason):
    rule = {"threshold": THRESHOLD, "cannot_clear": ("bell",), "require_validated_stethoscope": require}
    assert why_not_heard(recording, **rule) == reason and reason in (None, *NOT_HEARD_REASONS)
    heard = presenters.makes_its_site_heard(recording, **rule)
    assert heard is (reason is None)


def test_the_result_says_a_take_waits_to_be_scored_rather_than_every_take_was_refused():
    waiting = {"id": 1, "chest_site": "posterior_left_base", "chest_piece": "diaphragm", "quality": None,
               "crackle_probability": None}
    assessment = {"contributions": {}, "evidence_options": {"protocol_basal_sites": list(BASES)}}
    shown = presenters.lung_sounds(assessment, [waiting], threshold=THRESHOLD, cannot_clear=("bell",))
    assert shown["not_heard"]["reasons"] == ["waiting_score"] and shown["level"] is None
    assert presenters.not_heard_text(shown, "en", visit_status="open") == " ".join(
        CATALOG[key]["en"] for key in ("lung_sounds_none_heard", "lung_sounds_waiting_score"))
    assert shown["bases_not_heard"] == list(BASES)
    refused = {**waiting, "quality": {"ok": False, "issues": ["silent"]}}
    shown = presenters.lung_sounds(assessment, [refused], threshold=THRESHOLD, cannot_clear=("bell",))
    assert presenters.not_heard_text(shown, "zh-CN", visit_status="open") == CATALOG["lung_sounds_no_usable"]["zh-CN"]
    # A waiting take beside a refused one: both reasons, the waiting one first (what to do about it).
    shown = presenters.lung_sounds(assessment, [refused, waiting], threshold=THRESHOLD, cannot_clear=("bell",))
    assert shown["not_heard"]["reasons"] == ["waiting_score", "refused"]
    assert presenters.not_heard_text(shown, "en", visit_status="open").endswith(
        CATALOG["lung_sounds_some_refused"]["en"])


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_with_only_clear_bell_takes_the_result_says_the_bases_were_not_heard_through_that_piece(
        client, nurse, db, visit, monkeypatch, lang):
    counted_detector(monkeypatch)
    for base in BASES:
        stored_take(db, visit["id"], base, 0.02, "bell")
    assess(client, nurse, visit["id"])
    client.set_cookie("lang", lang)
    for url in (f"/visits/{visit['id']}", None):
        if url is None:  # the letter reads the same result
            referral = client.post(f"/api/v1/visits/{visit['id']}/referrals", json={"reason": "clinician's concern"},
                                   headers=nurse).json
            url = f"/referrals/{referral['id']}/letter"
        page = client.get(url).get_data(as_text=True)
        finding = re.search(r'id="lung-sound-finding">(.*?)</p>', page, re.S).group(1)
        assert str(escape(translate("lung_sounds_cannot_clear", lang, pieces=CATALOG["chest_piece_bell"][lang]))) \
            in finding
        assert CATALOG["lung_sounds_no_usable"][lang] not in page and CATALOG["crackle_none"][lang] not in page
        incomplete = re.search(r'id="exam-incomplete">(.*?)</p>', page, re.S).group(1)
        assert all(CATALOG[f"site_{base}"][lang] in incomplete for base in BASES)


def test_a_refused_take_beside_no_bell_take_still_says_every_take_was_refused(client, nurse, db, visit):
    refused = stored_take(db, visit["id"], "posterior_left_base", 0.02, "diaphragm")
    db["recordings"].update(refused, {"quality": json.dumps({"ok": False, "issues": ["clipping: 4.1%"]})})
    db.conn.commit()
    assess(client, nurse, visit["id"])
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    cannot_clear_words = CATALOG["lung_sounds_cannot_clear"]["en"].split(" ({pieces})")[0]  # whichever pieces
    assert CATALOG["lung_sounds_no_usable"]["en"] in page and cannot_clear_words not in page


# --- stored: migration 14 -----------------------------------------------------------------------

def test_migration_14_gives_earlier_recordings_not_stated_and_refuses_an_unknown_piece(tmp_path):
    db = open_database(tmp_path / "v13.db")
    apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version <= 13))
    assert current_version(db) == 13
    patient = db["patients"].insert({"code": "CL40-0001", "birth_year": 1950, "sex": "F", "ctd_diagnosis": "SSc",
                                     "created_at": "t", "updated_at": "t"}).last_pk
    visit = db["visits"].insert({"patient_id": patient, "started_at": "t", "updated_at": "t"}).last_pk
    before = [db["recordings"].insert({
        "visit_id": visit, "chest_site": site, "sha256": f"{site}-sha", "file_path": f"ab/{site}",
        "media_type": "audio/wav", "size_bytes": 1000, "sample_rate": 4000, "channels": 1, "duration_s": 20.0,
        "created_at": "t"}).last_pk for site in BASES]
    db.conn.commit()

    assert apply_migrations(db, migrations=tuple(m for m in MIGRATIONS if m.version <= 14)) == [14]
    assert db.execute("SELECT id, chest_piece FROM recordings ORDER BY id").fetchall() == \
        [(pk, "not_stated") for pk in before]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE recordings SET chest_piece = 'cone' WHERE id = ?", [before[0]])
    db.execute("UPDATE recordings SET chest_piece = 'bell' WHERE id = ?", [before[0]])
    assert db.execute("SELECT chest_piece FROM recordings WHERE id = ?", [before[0]]).fetchone() == ("bell",)


# --- a board capture says nothing about the piece -----------------------------------------------

@contextlib.contextmanager
def board_visit(data_dir, **settings):
    """A simulated stethoscope board (id ``STETH-40``) registered on an app with ``settings``, and a nurse's
    open visit: yields (the app, her client, her headers, the visit's id, the board's port)."""
    app = create_app(load_settings(data_dir=data_dir, max_upload_mb=2, device_simulator=True, **settings))
    client, admin = app.test_client(), app.test_client()
    db = app.extensions["ildscreen"].folder.connect()
    create_user(db, audit.CLI_OPERATOR, username="admin9", role="admin", password=PASSWORD)
    create_user(db, audit.CLI_OPERATOR, username="nurse9", role="nurse", password=PASSWORD)
    pcm = (np.random.default_rng(3).normal(0, 3000, 4000 * 6)).astype(np.int16)
    sim = SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=pcm, sample_rate_hz=4000, speed=None, device_id="STETH-40")
    sim.start()
    try:
        assert admin.post("/api/v1/devices", json={"port": sim.port}, headers=login(admin, "admin9")).status_code == 201
        headers = login(client, "nurse9")
        patient = client.post("/api/v1/patients", json=PATIENT, headers=headers).json
        visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]
        yield app, client, headers, visit_id, sim.port
    finally:
        sim.close()
        db.close()


def capture_from_a_board(data_dir, claim: dict, **settings) -> tuple:
    """A nurse's captures from a board (:func:`board_visit`) into a visit: one request with ``claim`` added to
    it, then a plain one. Returns both answers."""
    with board_visit(data_dir, **settings) as (_, client, headers, visit_id, port):
        url = f"/api/v1/visits/{visit_id}/recordings/capture"
        request = {"port": port, "chest_site": "trachea", "seconds": 5}
        return (client.post(url, json={**request, **claim}, headers=headers),
                client.post(url, json=request, headers=headers))


def test_a_board_capture_is_stored_not_stated_and_its_request_cannot_claim_a_piece(tmp_path, no_env_settings):
    claimed, captured = capture_from_a_board(tmp_path / "boards", {"chest_piece": "diaphragm"})
    assert claimed.status_code == 422 and claimed.json["error"]["fields"][0]["field"] == "chest_piece"
    assert captured.status_code == 201, captured.json
    assert captured.json["source"] == "device" and captured.json["chest_piece"] == "not_stated"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_take_still_waiting_on_a_closed_visit_is_said_to_stay_unscored_with_no_calculate(client, nurse, db, visit,
                                                                                           lang):
    """Brief h114, point 3: nothing scores a closed visit's takes (edge.patients.require_open_visit), so the take
    and the result's lung-sound line say it stays unscored and a new visit records the site; neither invites the
    Calculate a closed visit does not offer."""
    assert client.post(f"/api/v1/visits/{visit['id']}/assessments", json={}, headers=nurse).status_code == 201
    waiting = stored_take(db, visit["id"], "posterior_right_base", 0.02, "diaphragm")
    wait_for_score(db, waiting, gated=False)
    assert patch_visit(client, visit["id"], {"status": "completed"}, nurse).status_code == 200
    client.set_cookie("lang", lang)

    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)

    take_item = page.split(f'id="take-{waiting}"', 1)[1].split("</li>", 1)[0]
    assert (f'id="waiting-score-{waiting}">{escape(CATALOG["take_waiting_score_closed"][lang])}</p>'
            in take_item)
    finding = re.search(r'id="lung-sound-finding"><strong>([^<]+)</strong>', page)
    assert finding is not None and str(escape(CATALOG["lung_sounds_waiting_score_closed"][lang])) in finding[1]
    for open_words in ("take_waiting_score", "lung_sounds_waiting_score"):
        assert str(escape(CATALOG[open_words][lang])) not in page
    assert 'id="assess-button"' not in page
