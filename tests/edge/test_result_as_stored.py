"""The result page and the letter show the assessment as it was decided (brief h44): the takes are
read with the rule the assessment kept (its crackle threshold and the chest pieces that cannot
clear), never with today's settings, which an admin may have changed after the advice was acted
on. An assessment stored before it kept that rule falls back to today's and says so; an open
visit whose settings changed since its assessment says that calculating again applies them."""
from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from edge import freshness, modalities
from edge.web import presenters
from edge.web.i18n import CATALOG, translate
from support import PATIENT, patch_visit
from test_chest_piece import BASES, stored_take
from test_ui_lung_sound_result import assess, counted_detector


@pytest.fixture
def visit(client, nurse):
    patient = client.post("/api/v1/patients", json={**PATIENT, "ctd_diagnosis": "SLE"}, headers=nurse).json
    return client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=nurse).json


@pytest.fixture
def settings_now(app):
    """The service's live settings: an admin's change after the nurse assessed."""
    return app.extensions["ildscreen"].settings


def words(key: str, lang: str = "en", **values) -> str:
    return str(escape(translate(key, lang, **values)))


def bell_words(lang: str = "en") -> str:
    """The result's line on clear takes through the bell, which cannot clear (a bell-only visit's)."""
    return words("lung_sounds_cannot_clear", lang, pieces=CATALOG["chest_piece_bell"][lang])


def finding(page: str) -> str:
    match = re.search(r'id="lung-sound-finding">(.*?)</p>', page, re.S)
    assert match, "no lung-sound finding on the page"
    return match.group(1)


def refer(client, nurse, visit_id: int) -> int:
    """The referral's id (sent while the result is current: edge.freshness.require_current)."""
    response = client.post(f"/api/v1/visits/{visit_id}/referrals", json={"reason": "clinician's concern"},
                           headers=nurse)
    assert response.status_code == 201, response.json
    return response.json["id"]


def letter_of(client, referral_id: int) -> str:
    return client.get(f"/referrals/{referral_id}/letter").get_data(as_text=True)


def bell_only_visit(client, nurse, db, visit) -> dict:
    """Both bases clear through the bell only: under the shipped rule nothing was heard."""
    for base in BASES:
        stored_take(db, visit["id"], base, 0.02, "bell")
    assessment = assess(client, nurse, visit["id"])
    assert "auscultation" in assessment["missing"]
    return assessment


def test_an_assessment_keeps_the_crackle_threshold_it_read_the_takes_with(client, nurse, db, visit, monkeypatch):
    counted_detector(monkeypatch)
    assessment = bell_only_visit(client, nurse, db, visit)
    assert assessment["crackle_threshold"] == pytest.approx(modalities.manifest_entry("auscultation")["threshold"])
    assert assessment["evidence_options"]["chest_pieces_cannot_clear"] == ["bell"]


def test_the_threshold_and_figures_an_assessment_keeps_come_from_one_reading_of_the_served_entry(
        client, nurse, db, visit, monkeypatch):
    """An assessment keeps its crackle threshold and the model's adult figures from the same reading of
    the served manifest entry, so the two always describe one model."""
    counted_detector(monkeypatch)
    real_entry, readings = modalities.manifest_entry, []

    def numbered_entry(name):
        """Each reading of the crackle model's entry, told apart by its threshold and a mark on its figures."""
        entry = real_entry(name)
        if name != "auscultation":
            return entry
        readings.append(len(readings))
        adults = {**entry["validation"]["populations"]["adults"], "reading": readings[-1]}
        return {**entry, "threshold": 0.1 + readings[-1] / 100,
                "validation": {**entry["validation"], "populations": {"adults": adults}}}

    monkeypatch.setattr(modalities, "manifest_entry", numbered_entry)
    assessment = bell_only_visit(client, nurse, db, visit)
    reading = assessment["crackle_model_adults"]["reading"]
    assert assessment["crackle_threshold"] == pytest.approx(0.1 + reading / 100)
    # Unavailable, both are None, not an error: the assessment still stores what it computed.
    def unavailable(name):
        raise modalities.ModelUnavailable(f"the {name} model is not available")

    monkeypatch.setattr(modalities, "manifest_entry", unavailable)
    assert modalities.served_crackle_model() == (None, None, None)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_changed_chest_piece_setting_does_not_rewrite_the_result_or_the_letter(client, nurse, db, visit,
                                                                                 settings_now, monkeypatch, lang):
    counted_detector(monkeypatch)
    bell_only_visit(client, nurse, db, visit)
    referral_id = refer(client, nurse, visit["id"])  # sent under the settings of the result
    # The admin decides the bell can clear after all: today's rule would call both bases heard
    # and drop the lung-sound lines (a usable take "after" the assessment).
    monkeypatch.setattr(settings_now, "evidence_chest_pieces_cannot_clear", [])
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    for shown in (page, letter_of(client, referral_id)):
        assert bell_words(lang) in finding(shown)
        incomplete = re.search(r'id="exam-incomplete">(.*?)</p>', shown, re.S).group(1)
        assert all(CATALOG[f"site_{base}"][lang] in incomplete for base in BASES)
        assert 'id="rule-from-today"' not in shown
    # The checklist is what the next assessment counts: today's rule.
    assert re.search(r'class="step step-(\w+)" data-step="auscultation"', page).group(1) == "done"


def test_a_changed_crackle_threshold_does_not_rewrite_the_result(client, nurse, db, visit, monkeypatch):
    counted_detector(monkeypatch)
    bell_only_visit(client, nurse, db, visit)
    # A new crackle model whose threshold sits below the clear takes: today they would find crackles.
    real_entry = modalities.manifest_entry
    monkeypatch.setattr(modalities, "manifest_entry", lambda name: (
        {**real_entry(name), "threshold": 0.01} if name == "auscultation" else real_entry(name)))
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert bell_words() in finding(page)
    assert 'id="rule-from-today"' not in page


def test_the_crackle_model_note_gives_the_figures_of_the_model_the_assessment_used(client, nurse, db, visit,
                                                                                   monkeypatch):
    counted_detector(monkeypatch)  # checked on 60 adults, 20 with crackles
    for base in BASES:
        stored_take(db, visit["id"], base, 0.02, "diaphragm")
    kept = assess(client, nurse, visit["id"])["crackle_model_adults"]
    assert (kept["patients"], kept["positive_patients"]) == (60, 20)
    # A new crackle model, checked on other adults, is served afterwards.
    real_entry = modalities.manifest_entry
    other = {"patients": 200, "positive_patients": 70, "sensitivity": 0.5, "sensitivity_ci95": [0.4, 0.6],
             "specificity": 0.7, "specificity_ci95": [0.6, 0.8]}
    monkeypatch.setattr(modalities, "manifest_entry", lambda name: (
        {**real_entry(name), "validation": {"populations": {"adults": other}}} if name == "auscultation"
        else real_entry(name)))
    client.set_cookie("lang", "en")
    note = re.search(r'id="crackle-model-note">(.*?)</p>', client.get(f"/visits/{visit['id']}").get_data(as_text=True),
                     re.S).group(1)
    assert note == str(escape(CATALOG["crackle_model_adults"]["en"].format(
        patients=60, positive=20, sensitivity="80", sensitivity_low="70", sensitivity_high="88",
        specificity="90", specificity_low="84", specificity_high="94", through="",
        population=CATALOG["adult_population_adults"]["en"])))


def forget_the_rule(db, assessment_id: int) -> None:
    """Make a stored assessment look like one made before it kept its rule."""
    row = db.execute("SELECT result FROM risk_assessments WHERE id = ?", [assessment_id]).fetchone()
    result = json.loads(row[0])
    del result["crackle_threshold"], result["crackle_model_adults"]
    del result["evidence_options"]["chest_pieces_cannot_clear"]
    db["risk_assessments"].update(assessment_id, {"result": json.dumps(result)})
    db.conn.commit()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_older_assessment_falls_back_to_todays_rule_and_says_so(client, nurse, db, visit, monkeypatch, lang):
    counted_detector(monkeypatch)
    assessment = bell_only_visit(client, nurse, db, visit)
    forget_the_rule(db, assessment["id"])
    client.set_cookie("lang", lang)
    for shown in (client.get(f"/visits/{visit['id']}").get_data(as_text=True),
                  letter_of(client, refer(client, nurse, visit["id"]))):
        assert bell_words(lang) in finding(shown)  # read with today's rule: still the bell
        note = re.search(r'id="rule-from-today">(.*?)</p>', shown, re.S)
        assert note and note.group(1) == words("rule_from_today", lang)


def test_an_older_assessment_without_lung_sounds_says_nothing_about_their_rule(client, nurse, db, visit):
    assessment = assess(client, nurse, visit["id"])
    forget_the_rule(db, assessment["id"])
    assert 'id="rule-from-today"' not in client.get(f"/visits/{visit['id']}").get_data(as_text=True)


def count_crackle_model_readings(monkeypatch) -> list[modalities.ServedCrackleModel]:
    """Record each reading of the served crackle model (:func:`edge.modalities.served_crackle_model`;
    other readings of its manifest entry, such as the potential log-LR ranges', are not counted)."""
    real, readings = modalities.ServedCrackleModel, []

    def counted(*fields):
        readings.append(real(*fields))
        return readings[-1]

    monkeypatch.setattr(modalities, "ServedCrackleModel", counted)
    return readings


def test_a_page_reads_the_served_crackle_model_once(client, nurse, db, visit, monkeypatch):
    """The visit page needs today's threshold (checklist, chest map) and, for an assessment stored
    before it kept them, today's adult figures (the model note): one reading of the served entry
    gives all of them, so they describe one model. The worklist reads it once for all its visits."""
    counted_detector(monkeypatch)
    for base in BASES:
        stored_take(db, visit["id"], base, 0.02, "diaphragm")
    forget_the_rule(db, assess(client, nurse, visit["id"])["id"])
    other = client.post("/api/v1/patients", json={**PATIENT, "code": "CL01-0002"}, headers=nurse).json
    client.post(f"/api/v1/patients/{other['id']}/visits", json={}, headers=nurse)
    readings = count_crackle_model_readings(monkeypatch)
    client.set_cookie("lang", "en")
    page = client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    note = re.search(r'id="crackle-model-note">(.*?)</p>', page, re.S)
    assert note and "60" in note.group(1)
    assert len(readings) == 1
    readings.clear()
    home = client.get("/").get_data(as_text=True)
    assert "CL01-0001" in home and "CL01-0002" in home
    assert len(readings) == 1


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_open_visit_says_when_settings_changed_since_its_assessment(client, nurse, visit, settings_now,
                                                                       monkeypatch, lang):
    assess(client, nurse, visit["id"])
    client.set_cookie("lang", lang)
    url = f"/visits/{visit['id']}"
    assert 'id="settings-changed"' not in client.get(url).get_data(as_text=True)
    monkeypatch.setattr(settings_now, "triage_high", settings_now.triage_high + 0.05)
    line = re.search(r'id="settings-changed">(.*?)</p>', client.get(url).get_data(as_text=True), re.S)
    assert line and line.group(1) == words("settings_changed", lang)
    # Calculating again applies them: the line goes.
    assess(client, nurse, visit["id"])
    assert 'id="settings-changed"' not in client.get(url).get_data(as_text=True)


def test_a_closed_visit_and_the_letter_show_no_settings_changed_line(client, nurse, visit, settings_now, monkeypatch):
    assess(client, nurse, visit["id"])
    referral_id = refer(client, nurse, visit["id"])
    monkeypatch.setattr(settings_now, "evidence_lr_cap", settings_now.evidence_lr_cap * 2)
    assert 'id="settings-changed"' in client.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert 'id="settings-changed"' not in letter_of(client, referral_id)
    patch_visit(client, visit['id'], {"status": "completed"}, nurse)
    assert 'id="settings-changed"' not in client.get(f"/visits/{visit['id']}").get_data(as_text=True)


# --- the rules as functions ---------------------------------------------------------------------

TODAY = {"threshold": 0.5, "cannot_clear": ("bell", "extended"), "require_validated_stethoscope": True}
NAMED = {"require_validated_stethoscope": True}  # today's: an assessment that did not keep it


@pytest.mark.parametrize(("assessment", "rule", "from_today"), [
    # the finding's threshold first, then the kept one, then today's
    ({"contributions": {"auscultation": {"finding": {"threshold": 0.2}}}, "crackle_threshold": 0.3,
      "evidence_options": {"chest_pieces_cannot_clear": []}}, {"threshold": 0.2, "cannot_clear": (), **NAMED}, False),
    ({"crackle_threshold": 0.3, "evidence_options": {"chest_pieces_cannot_clear": ["bell"]}},
     {"threshold": 0.3, "cannot_clear": ("bell",), **NAMED}, False),
    # no crackle model when it was assessed: no threshold, kept as such
    ({"crackle_threshold": None, "evidence_options": {"chest_pieces_cannot_clear": ["bell"]}},
     {"threshold": None, "cannot_clear": ("bell",), **NAMED}, False),
    ({"evidence_options": {"chest_pieces_cannot_clear": ["bell"]}},
     {"threshold": 0.5, "cannot_clear": ("bell",), **NAMED}, True),
    ({"crackle_threshold": 0.3, "evidence_options": {"lr_cap": 10}},
     {"threshold": 0.3, "cannot_clear": TODAY["cannot_clear"], **NAMED}, True),
    ({}, TODAY, True),
    # the stethoscope's rule as kept (issue 24), whatever today's
    ({"crackle_threshold": 0.3, "evidence_options": {"chest_pieces_cannot_clear": ["bell"],
                                                     "require_validated_stethoscope": False}},
     {"threshold": 0.3, "cannot_clear": ("bell",), "require_validated_stethoscope": False}, False),
])
def test_the_assessment_rule_is_what_it_kept_and_today_only_for_what_it_did_not(assessment, rule, from_today):
    assert presenters.assessment_heard_rule(assessment, **TODAY) == (rule, from_today)


def test_settings_changed_names_only_the_kept_settings_that_differ():
    assessment = {"evidence_options": {"lr_cap": 10.0, "chest_pieces_cannot_clear": ["bell"],
                                       "validation_rule": {"min_patients": 30}},
                  "thresholds": {"high": 0.2, "intermediate": 0.1}}
    same = {"evidence_options": {"lr_cap": 10.0, "chest_pieces_cannot_clear": ["bell"], "kl6_cutoff": 500.0,
                                 "validation_rule": {"min_patients": 30}},
            "thresholds": {"high": 0.2, "intermediate": 0.1, "pft_abnormal_below": 80.0}}
    assert freshness.settings_changed(assessment, same) == []  # a setting newer than the assessment is no change
    changed = {"evidence_options": {**same["evidence_options"], "chest_pieces_cannot_clear": [],
                                    "validation_rule": {"min_patients": 40}},
               "thresholds": {**same["thresholds"], "high": 0.25}}
    assert freshness.settings_changed(assessment, changed) == [
        "evidence_options.chest_pieces_cannot_clear", "evidence_options.validation_rule", "thresholds.high"]
    assert freshness.settings_changed({}, changed) == []
