"""Issue 24 item 8: what the nurse is told the crackle model was validated on says what each chest piece found
when the manifest has figures per device (``validation.populations.<population>.by_device``): pooled over the
three Littmann 3200 filter modes, KAUH's test adults' sensitivity is 3 of 3, but through the bell alone it
found none of them. The visit page's note and the referral letter say it in the nurse's language, built from
the manifest's numbers; the Chinese letter words the model's validation from the same catalogue pieces as
the English one, and its caveats too (test_crackle_caveats; the manifest's own statement is English only)."""
from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from edge import auscultation
from edge.config import load_settings
from edge.web import presenters
from edge.web.i18n import CATALOG, translate
from test_clinic_adult_population import DIAPHRAGM_PASSING, KAUH_PASSING, visit_with_takes
from test_result_as_stored import letter_of, refer
from test_stethoscope import CLINIC, LITTMANN, shipped_entry
from test_ui_lung_sound_result import assess

DIAPHRAGM = f"{LITTMANN} diaphragm"


@pytest.fixture
def settings(tmp_path, no_env_settings):
    """A clinic whose stethoscopes include the shipped model's adults' Littmann 3200."""
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2, **CLINIC)


def shipped_by_device() -> dict:
    return shipped_entry()["validation"]["populations"]["adults"]["by_device"]


def element(page: str, element_id: str) -> str | None:
    match = re.search(rf'id="{element_id}">(.*?)</(?:p|span)>', page, re.S)
    return match.group(1) if match else None


# --- the words, from figures of a fixture ------------------------------------------------------------

FIGURES = {"patients": 20, "assessable_patients": 20, "positive_patients": 4, "sensitivity": 0.5,
           "sensitivity_ci95": [0.15, 0.85], "specificity": 0.75, "specificity_ci95": [0.5, 0.9]}
BY_DEVICE = {"Stetho A bell": {**FIGURES, "sensitivity": 0.25, "specificity": 0.9375},
             "Stetho A diaphragm": {**FIGURES, "sensitivity": 1.0, "specificity": 0.8125},
             "Scope B": {**FIGURES, "positive_patients": 3, "sensitivity": 0.6667, "specificity": 0.8}}


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "Of those adults with crackles, each chest piece alone found: Stetho A (Bell 1 of 4, Diaphragm 4 of 4); "
           "Scope B (2 of 3). Record through Stetho A (Diaphragm)."),
    ("zh-CN", "在这些有爆裂音的成人中，各听诊头单独检出：Stetho A（钟型面 4 名中 1 名、膜型面 4 名中 4 名）；"
              "Scope B（3 名中 2 名）。请用 Stetho A（膜型面）录音。"),
])
def test_the_note_counts_what_each_device_found_and_names_the_one_to_record_through(lang, expected):
    adults = auscultation.adult_validation({**FIGURES, "population_key": "adults", "figures_over": "all_devices"},
                                           BY_DEVICE)
    assert [(item["device"], item["found"], item["positive"]) for item in adults["devices_found"]] == [
        ("Stetho A bell", 1, 4), ("Stetho A diaphragm", 4, 4), ("Scope B", 2, 3)]
    assert presenters.crackle_model_devices_note(adults, lang, advise=True) == expected
    # The letter's statement is the note on the figures, then the devices' (Chinese sentences take no space), without
    # which to record through: the hospital records nothing (brief h124).
    found = expected.split("Record through" if lang == "en" else "请用", 1)[0].rstrip()
    assert presenters.crackle_model_devices_note(adults, lang, advise=False) == found
    statement = presenters.crackle_model_statement(adults, lang)
    assert statement == presenters.crackle_model_note(adults, lang) + {"en": " ", "zh-CN": ""}[lang] + found


def test_the_device_to_record_through_is_the_one_that_found_most_then_cleared_most():
    tied = {"Stetho A bell": {**FIGURES, "sensitivity": 1.0, "specificity": 0.9},
            "Stetho A diaphragm": {**FIGURES, "sensitivity": 1.0, "specificity": 0.95},
            "Stetho A extended": {**FIGURES, "sensitivity": 0.5}}
    assert auscultation.record_through(auscultation.devices_found(tied)) == "Stetho A diaphragm"
    # Every device found the same share: nothing to choose, so the note tells no device to prefer.
    same = {device: FIGURES for device in BY_DEVICE}
    adults = auscultation.adult_validation(FIGURES, same)
    assert adults["record_through"] is None
    assert presenters.crackle_model_devices_note(adults, "en", advise=True) == (
        "Of those adults with crackles, each chest piece alone found: Stetho A (Bell 2 of 4, Diaphragm 2 of 4); "
        "Scope B (2 of 4).")


@pytest.mark.parametrize("by_device", [None, {}, {"Stetho A diaphragm": FIGURES}])
def test_without_figures_of_two_devices_there_is_no_note_on_them(by_device):
    adults = auscultation.adult_validation(FIGURES, by_device)
    assert presenters.crackle_model_devices_note(adults, "en", advise=True) is None
    assert presenters.crackle_model_devices_note(None, "en", advise=True) is None
    assert presenters.crackle_model_statement(adults, "zh-CN") == presenters.crackle_model_note(adults, "zh-CN")


def test_the_population_of_figures_of_one_device_gives_its_figures_per_device():
    populations = {"adults": {**FIGURES, "by_device": BY_DEVICE}}
    one = {**BY_DEVICE["Stetho A diaphragm"], "population_key": "adults", "figures_over": "device",
           "device": "Stetho A diaphragm"}
    assert auscultation.population_by_device(one, populations) == BY_DEVICE
    assert auscultation.population_by_device(one, None) is None  # one device's figures do not carry them
    pooled = {**populations["adults"], "population_key": "adults", "figures_over": "all_devices"}
    assert auscultation.population_by_device(pooled, None) == BY_DEVICE
    assert auscultation.population_by_device(None, populations) is None
    assert auscultation.population_by_device({**FIGURES, "figures_over": "all_devices"}, populations) is None


# --- through the real app: the shipped manifest's figures ---------------------------------------------

def shipped_note_words(lang: str, by_device: dict | None = None, *, advise: bool = True) -> str:
    """The devices note the shipped manifest's KAUH adults give (or ``by_device``), built here from its numbers:
    what each piece found, then, where it may ``advise`` (an open visit's page), which piece to record through."""
    by_device = by_device or shipped_by_device()
    counts = {device: translate("crackle_model_found", lang,
        found=round(figures["sensitivity"] * figures["positive_patients"]), positive=figures["positive_patients"])
        for device, figures in by_device.items()}
    pieces = [f"{CATALOG[f'chest_piece_{device.split()[-1]}'][lang]} {count}" for device, count in counts.items()]
    listed = {"en": f"{LITTMANN} ({', '.join(pieces)})", "zh-CN": f"{LITTMANN}（{'、'.join(pieces)}）"}[lang]
    best = max(by_device.items(), key=lambda item: (item[1]["sensitivity"], item[1]["specificity"]))[0]
    if not advise:
        return translate("crackle_model_by_device", lang, devices=listed)
    return (translate("crackle_model_by_device", lang, devices=listed)
            + {"en": " ", "zh-CN": ""}[lang]
            + translate("crackle_model_record_through", lang, device=presenters.validated_devices([best], lang)))


def test_the_shipped_manifest_says_the_bell_found_none_of_its_adults_with_crackles():
    """The figures the note words (h93's KAUH test adults): the bell 0 of 3, the diaphragm 3 of 3."""
    found = {item["device"]: (item["found"], item["positive"]) for item in auscultation.devices_found(shipped_by_device())}
    assert found[f"{LITTMANN} bell"] == (0, 3) and found[DIAPHRAGM] == (3, 3)
    assert auscultation.record_through(auscultation.devices_found(shipped_by_device())) == DIAPHRAGM
    assert "Bell 0 of 3" in shipped_note_words("en") and "钟型面 3 名中 0 名" in shipped_note_words("zh-CN")
    assert shipped_note_words("en").endswith(f"Record through {LITTMANN} (Diaphragm).")


def counted_through_the_diaphragm(monkeypatch) -> dict:
    """The shipped crackle model with its adults' pooled figures and the Littmann 3200 diaphragm's own figures
    made to pass the validation rule (a device's own figures must pass too: h107), so takes through the
    diaphragm count with that device's own figures; the bell and extended filter keep the shipped ones. Returns
    the adults' figures per device as served."""
    from edge import modalities

    real_entry = modalities.manifest_entry
    by_device = {**shipped_by_device(), DIAPHRAGM: {**shipped_by_device()[DIAPHRAGM], **DIAPHRAGM_PASSING}}

    def entry(name):
        found = real_entry(name)
        if name != "auscultation":
            return found
        populations = found["validation"]["populations"]
        adults = {**populations["adults"], **KAUH_PASSING, "by_device": by_device}
        return {**found, "validation": {**found["validation"], "populations": {**populations, "adults": adults}}}

    monkeypatch.setattr(modalities, "manifest_entry", entry)
    return by_device


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_visit_page_and_the_letter_say_what_each_chest_piece_found(client, nurse, db, lang):
    """The shipped model: the takes through the diaphragm do not count, and the note quotes the adults' pooled
    figures (3 of 3 found); the devices note says the bell found none of them."""
    visit_id = visit_with_takes(client, nurse, db, "CL24-0801", (LITTMANN,))
    assessment = assess(client, nurse, visit_id)
    assert assessment["crackle_model_adults"]["figures_over"] == "all_devices"
    assert assessment["crackle_model_by_device"] == shipped_by_device()
    client.set_cookie("lang", lang)
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert element(page, "crackle-model-devices") == str(escape(shipped_note_words(lang)))

    letter = letter_of(client, refer(client, nurse, visit_id))
    said = element(letter, "letter-crackle-model")
    note = element(page, "crackle-model-note")
    # The hospital reads what each piece found, not which to record through (brief h124).
    assert said == note + {"en": " ", "zh-CN": ""}[lang] + str(escape(shipped_note_words(lang, advise=False)))
    models = letter.split('id="letter-models"', 1)[1].split("</ul>", 1)[0]
    statement = assessment["validation"]["models"]["auscultation"]["statement"]
    # The catalogue's account, from the manifest's numbers, once, then the model's caveats worded from the
    # manifest's numbers in the reader's language (test_crackle_caveats); neither letter quotes the manifest's
    # English statement nor a generic sentence.
    assert models.count(str(escape(note))) == 1
    assert str(escape(CATALOG["model_statement_unvalidated"][lang])) not in models
    assert element(letter, "letter-crackle-statement") is None and 'id="letter-crackle-caveats"' in letter
    assert str(escape(statement)) not in letter and "Crackle detector" not in letter


def test_takes_counted_with_one_devices_figures_keep_their_populations_per_device(client, nurse, db, monkeypatch):
    """Takes that count with the diaphragm's own figures: the assessment keeps the adults' figures per device
    beside them (one device's figures do not carry them), and the page says what each chest piece found. An
    assessment kept before it kept them shows no devices note: nothing is made up from today's model."""
    by_device = counted_through_the_diaphragm(monkeypatch)
    visit_id = visit_with_takes(client, nurse, db, "CL24-0802", (LITTMANN,))
    assessment = assess(client, nurse, visit_id)
    assert assessment["contributions"]["auscultation"]["counted"]
    assert (assessment["crackle_model_adults"]["figures_over"], assessment["crackle_model_adults"]["device"]) == (
        "device", DIAPHRAGM)
    assert assessment["crackle_model_by_device"] == by_device
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert element(page, "crackle-model-devices") == str(escape(shipped_note_words("zh-CN", by_device)))

    row = db.execute("SELECT result FROM risk_assessments WHERE id = ?", [assessment["id"]]).fetchone()
    result = json.loads(row[0])
    del result["crackle_model_by_device"]
    db["risk_assessments"].update(assessment["id"], {"result": json.dumps(result)})
    db.conn.commit()
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert element(page, "crackle-model-note") and element(page, "crackle-model-devices") is None
