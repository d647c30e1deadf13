"""A crackle model validated on a clinic's own adults (``validation.populations.adults_<folder>``, from
``python -m audio_models.train --data CLINIC_FOLDER``) is validated in adults (issue 24): a take through a
device that any adult population lists is ``validated`` and quotes that population's figures; the
lung-sound evidence counts it with that population's figures, and with no other's; the shipped bundle
(``adults`` only) gives the results it gave before.

The real flow for the risk: a bundle with ``adults`` and ``adults_clinic`` installed with ``ildscreen models
install``, and the service started again on it (as tests/edge/test_result_after_model_update.py does).
"""
from __future__ import annotations

import copy
import json
import re

import pytest
from markupsafe import escape

from audio_models.scoring import cohort
from edge import auscultation
from edge.auscultation import stethoscope_validation
from edge.config import load_settings
from edge.fusion.evidence import (ADULT_POPULATION, REASON_CODES, ValidationRule, _population_figures, adult_populations,
                                  crackle_log_lrs, crackle_potential_range, crackle_sign_for, detector_validation,
                                  least_informative_device, population_counts, stethoscope_free_population)
from edge.modalities import take_populations
from edge.vocabulary import CHEST_PIECE_NOT_STATED, STETHOSCOPE_NOT_STATED
from edge.web import presenters
from edge.web.i18n import CATALOG, translate
from support import PATIENT, TEST_PUBLIC_KEY, edit_manifest, model_bundle, trust_test_key
from test_chest_piece import site_done, stored_take
from test_result_after_model_update import models_command, restarted
from test_result_as_stored import refer
from test_stethoscope import CLINIC, LITTMANN, OTHER, shipped_entry

# Figures that pass ValidationRule's defaults, and figures of too few patients: the two kinds of population.
KAUH_PASSING = {"patients": 60, "assessable_patients": 60, "positive_patients": 20, "sensitivity": 0.8,
                "sensitivity_ci95": [0.7, 0.88], "specificity": 0.9, "specificity_ci95": [0.84, 0.94]}
CLINIC_PASSING = {"patients": 50, "assessable_patients": 50, "positive_patients": 18, "sensitivity": 0.6,
                  "sensitivity_ci95": [0.45, 0.74], "specificity": 0.75, "specificity_ci95": [0.62, 0.85]}
TOO_FEW = {"patients": 6, "assessable_patients": 6, "positive_patients": 2, "sensitivity": 0.5,
           "sensitivity_ci95": [0.1, 0.9], "specificity": 0.75, "specificity_ci95": [0.3, 0.95]}
# One device's own figures (by_device) that pass the rule, on fewer of KAUH_PASSING's patients; the bundle below
# keeps the shipped figures of the bell and the extended filter (15 adults: too few).
DIAPHRAGM_PASSING = {"patients": 40, "assessable_patients": 40, "positive_patients": 12, "sensitivity": 0.9,
                     "sensitivity_ci95": [0.6, 0.98], "specificity": 0.85, "specificity_ci95": [0.7, 0.93]}
FIGURES = ("patients", "positive_patients", "sensitivity", "sensitivity_ci95", "specificity", "specificity_ci95")


def population(devices, figures, **more) -> dict:
    return {"devices": devices, "dataset": "fixture", **figures, **more}


def entry_with(**populations) -> dict:
    return {"name": "auscultation", "version": "9.9.9", "validation": {
        "unit": "patient", "ci_method": "patient_cluster_bootstrap", "populations": populations}}


# --- one home for which populations are adults ----------------------------------------------------

def test_the_adult_populations_are_those_the_training_calls_adults():
    populations = {"children_sprsound2022": {}, "adults": {}, "adults_clinic-2026": {}, "children_clinic": {},
                   "adultsx": {}}
    assert adult_populations(populations) == ["adults", "adults_clinic-2026"]
    assert all(cohort(name) == "adults" for name in adult_populations(populations))


@pytest.mark.parametrize(("names", "chosen"), [
    (["adults", "adults_clinic"], "adults"),  # KAUH's, as before clinics trained their own
    (["adults_clinic", "children_sprsound2022"], "adults_clinic"),  # the only adult population
    (["adults_a", "adults_b"], None),  # several: nothing says which
    (["children_sprsound2022"], None),
])
def test_a_take_naming_no_stethoscope_counts_with_kauh_else_the_only_adult_population(names, chosen):
    assert stethoscope_free_population(dict.fromkeys(names, {})) == chosen


# --- a take's stethoscope --------------------------------------------------------------------------

BOTH = entry_with(
    adults=population(["Stetho A diaphragm", "Scope B"], KAUH_PASSING,
                      by_device={"Stetho A diaphragm": {**TOO_FEW, "patients": 5, "assessable_patients": 5}}),
    adults_clinic=population(["Stetho A diaphragm", "Clinic C"], CLINIC_PASSING),
    children_sprsound2022=population(["Kid K"], TOO_FEW))


@pytest.mark.parametrize(("stethoscope", "piece", "status", "chosen", "figures"), [
    # Listed by both: the clinic's pooled figures rest on 50 assessable patients, KAUH's device figures on 5.
    ("Stetho A", "diaphragm", "validated", "adults_clinic", CLINIC_PASSING),
    ("Scope B", "bell", "validated", "adults", KAUH_PASSING),  # KAUH's alone
    ("Clinic C", "not_stated", "validated", "adults_clinic", CLINIC_PASSING),  # the clinic's alone: not not_in_adults
    ("Stetho A", "bell", "chest_piece_not_validated", "adults", None),  # both list it: KAUH's 60 patients
    ("Kid K", "diaphragm", "not_in_adults", None, None),
    ("Other", "diaphragm", "not_validated", None, None),
])
def test_a_device_any_adult_population_lists_is_validated_with_that_populations_figures(
        stethoscope, piece, status, chosen, figures):
    found = stethoscope_validation(BOTH, stethoscope=stethoscope, chest_piece=piece)
    assert (found["status"], found.get("population")) == (status, chosen)
    assert found["devices"] == ["Stetho A diaphragm", "Scope B", "Clinic C"]
    if figures:
        assert {key: found[key] for key in FIGURES} == {key: figures[key] for key in FIGURES}
        assert found["figures_over"] == "all_devices"


def test_the_device_figures_with_most_patients_win_and_a_tie_goes_to_the_first_population():
    own = {**KAUH_PASSING, "patients": 55, "assessable_patients": 55}
    entry = copy.deepcopy(BOTH)
    entry["validation"]["populations"]["adults"]["by_device"] = {"Stetho A diaphragm": own}
    found = stethoscope_validation(entry, stethoscope="Stetho A", chest_piece="diaphragm")
    assert (found["population"], found["figures_over"], found["patients"]) == ("adults", "device", 55)
    entry["validation"]["populations"]["adults_clinic"].update(patients=55, assessable_patients=55)
    found = stethoscope_validation(entry, stethoscope="Stetho A", chest_piece="diaphragm")
    assert found["population"] == "adults"


# --- which figures the evidence counts with ----------------------------------------------------------

MIXED = entry_with(adults=population(["Stetho A"], KAUH_PASSING),
                   adults_clinic=population(["Clinic C"], TOO_FEW))


@pytest.mark.parametrize(("entry", "populations", "validated", "chosen", "code"), [
    (MIXED, ["adults"], True, "adults", None),
    (MIXED, ["adults_clinic"], False, None, "too_few"),  # never KAUH's figures for the clinic's device
    (MIXED, [None], True, "adults", None),  # no stethoscope named: KAUH's
    (MIXED, [None, "adults"], True, "adults", None),
    (MIXED, ["adults", "adults_clinic"], False, None, "mixed_populations"),
    (MIXED, [None, "adults_clinic"], False, None, "mixed_populations"),
    (entry_with(adults_clinic=population(["Clinic C"], CLINIC_PASSING)), [None], True, "adults_clinic", None),
    (entry_with(adults_a=population(["A"], CLINIC_PASSING), adults_b=population(["B"], KAUH_PASSING)), [None],
     False, None, "population_not_stated"),
    (entry_with(adults_a=population(["A"], CLINIC_PASSING), adults_b=population(["B"], KAUH_PASSING)),
     ["adults_b"], True, "adults_b", None),
])
def test_the_takes_count_with_their_own_adult_populations_figures_only(entry, populations, validated, chosen, code):
    found = detector_validation(entry, take_populations=populations)
    assert found["validated"] is validated and found.get("population_key") == chosen
    assert found.get("reason_code") == code
    if validated:
        block = entry["validation"]["populations"][chosen]
        assert {key: list(found[key]) if key.endswith("_ci95") else found[key] for key in FIGURES} == {
            key: block[key] for key in FIGURES}


def test_the_shipped_bundle_counts_every_take_with_kauhs_adults_as_before():
    """The shipped manifest has one adult population (``adults``): every take that counts is read with its
    figures, and the decision is the one the adults' figures alone give under the rule (as before issue 24)."""
    entry = shipped_entry()
    adults = _population_figures(entry["validation"]["populations"][ADULT_POPULATION], name="adults")
    weak = population_counts(adults, ValidationRule())
    before = ({"validated": True, "reason": "validated in adults, per patient", "population": "adults",
               "transfer": False, **adults, "population_key": "adults"} if weak is None
              else {"validated": False, "reason_code": weak[0], "reason": weak[1]})
    takes = [{"stethoscope_validation": stethoscope_validation(entry, stethoscope=s, chest_piece=p)}
             for s, p in ((LITTMANN, "diaphragm"), (LITTMANN, "bell"), (LITTMANN, "not_stated"),
                          ("not_stated", "diaphragm"))]
    assert set(take_populations(takes)) == {"adults", None}
    for populations in ((), ["adults"], [None], take_populations(takes)):
        assert detector_validation(entry, take_populations=populations) == before


# --- through the service: ildscreen models install, restart ---------------------------------------

@pytest.fixture
def settings(tmp_path, no_env_settings):
    """A clinic naming its stethoscopes, trusting the test signing key (to install the bundles below)."""
    trust_test_key(tmp_path / "data")
    return load_settings(data_dir=tmp_path / "data", max_upload_mb=2, model_signing_keys=[TEST_PUBLIC_KEY], **CLINIC)


def install_populations(runner, settings, folder, *, clinic: dict) -> None:
    """The bundled models with KAUH's adults passing the rule (through the Littmann's diaphragm alone too:
    ``DIAPHRAGM_PASSING``; its bell and extended filter keep the shipped figures, which fail) and a clinic's adults
    (through ``OTHER``) with ``clinic``'s figures, installed and made active."""
    def change(models):
        populations = models["auscultation"]["validation"]["populations"]
        populations["adults"].update(KAUH_PASSING)
        populations["adults"]["by_device"][f"{LITTMANN} diaphragm"].update(DIAPHRAGM_PASSING)
        populations["adults_clinic"] = {**{key: value for key, value in populations["adults"].items()
                                           if key != "by_device"},
                                        **clinic, "devices": [OTHER], "population": "adults of labelled folder clinic"}
    bundle = model_bundle(folder)
    edit_manifest(bundle, change)
    models_command(runner, settings, "install", str(bundle))


def visit_with_takes(client, headers, db, code: str, stethoscopes: tuple) -> int:
    """A visit of PATIENT (as ``code``): a positive take at the left base and a clear one at the right, through
    the diaphragm of the first and the last of ``stethoscopes`` (empty: no take)."""
    patient = client.post("/api/v1/patients", json={**PATIENT, "code": code}, headers=headers).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]
    if stethoscopes:
        for (site, p), stethoscope in zip((("posterior_left_base", 0.9), ("posterior_right_base", 0.02)),
                                          (stethoscopes[0], stethoscopes[-1])):
            db["recordings"].update(stored_take(db, visit_id, site, p, "diaphragm"), {"stethoscope": stethoscope})
        db.conn.commit()
    return visit_id


def assess(client, headers, visit_id: int) -> dict:
    response = client.post(f"/api/v1/visits/{visit_id}/assessments", json={}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def test_each_take_moves_the_risk_only_by_its_own_adult_populations_figures(runner, settings, db, nurse, tmp_path):
    install_populations(runner, settings, tmp_path / "failing", clinic=TOO_FEW)
    client, headers = restarted(settings)
    visits = {name: visit_with_takes(client, headers, db, f"CL24-000{number}", stethoscopes)
              for number, (name, stethoscopes) in enumerate((("kauh", (LITTMANN,)), ("clinic", (OTHER,)),
                                                             ("mixed", (LITTMANN, OTHER)), ("none", ())))}
    listed = client.get(f"/api/v1/visits/{visits['clinic']}/recordings", headers=headers).json["recordings"]
    assert {(r["stethoscope_validation"]["status"], r["stethoscope_validation"]["population"],
             r["stethoscope_validation"]["counts"], r["stethoscope_validation"]["patients"]) for r in listed} == {
        ("validated", "adults_clinic", True, TOO_FEW["patients"])}

    first = {name: assess(client, headers, visit_id) for name, visit_id in visits.items()}
    kauh = first["kauh"]["contributions"]["auscultation"]
    assert kauh["counted"] and kauh["finding"]["detector_population_key"] == "adults"
    # Every take through the diaphragm, which has figures of its own: they count with those (h107).
    assert (kauh["finding"]["figures_over"], kauh["finding"]["device"]) == ("device", f"{LITTMANN} diaphragm")
    assert kauh["finding"]["detector_sensitivity"] == DIAPHRAGM_PASSING["sensitivity"]
    assert first["kauh"]["probability"] > first["none"]["probability"]
    # The nurse's note quotes what the takes counted with: their one device's own figures (KAUH's by_device).
    assert first["kauh"]["crackle_model_adults"] == {**{key: DIAPHRAGM_PASSING[key] for key in FIGURES},
                                                     "population_key": "adults", "figures_over": "device",
                                                     "device": f"{LITTMANN} diaphragm"}
    # The clinic's adults are too few: its takes do not count, and KAUH's figures never stand in for them.
    clinic = first["clinic"]["contributions"]["auscultation"]
    assert not clinic["counted"] and clinic["reason_code"] == "too_few"
    assert first["clinic"]["probability"] == first["none"]["probability"]

    install_populations(runner, settings, tmp_path / "passing", clinic=CLINIC_PASSING)
    client, headers = restarted(settings)
    second = {name: assess(client, headers, visit_id) for name, visit_id in visits.items()}
    clinic = second["clinic"]["contributions"]["auscultation"]
    assert clinic["counted"] and clinic["finding"]["detector_population_key"] == "adults_clinic"
    assert (clinic["finding"]["detector_sensitivity"], clinic["finding"]["detector_specificity"]) == (
        CLINIC_PASSING["sensitivity"], CLINIC_PASSING["specificity"])
    assert second["none"]["probability"] < second["clinic"]["probability"] != second["kauh"]["probability"]
    assert {key: second["clinic"]["crackle_model_adults"][key] for key in FIGURES} == {
        key: CLINIC_PASSING[key] for key in FIGURES}
    assert (second["clinic"]["crackle_model_adults"]["population_key"],
            second["clinic"]["crackle_model_adults"]["figures_over"]) == ("adults_clinic", "all_devices")
    # Nothing counted by a population: the note quotes the adults a take naming no stethoscope counts with.
    assert second["mixed"]["crackle_model_adults"]["sensitivity"] == KAUH_PASSING["sensitivity"]
    # KAUH's takes read as before: the clinic's figures do not move them.
    assert second["kauh"]["probability"] == first["kauh"]["probability"]
    # Takes through devices of both populations: figures over different patients are not combined.
    mixed = second["mixed"]["contributions"]["auscultation"]
    assert not mixed["counted"] and mixed["reason_code"] == "mixed_populations"
    assert second["mixed"]["probability"] == second["none"]["probability"]


def test_every_reason_lung_sounds_do_not_count_is_worded_for_the_nurse_in_both_languages():
    """The visit page words a not-counted modality by its reason code (not_counted_<code>), the two new
    ones (mixed_populations, population_not_stated) included."""
    for code in REASON_CODES:
        assert set(CATALOG[f"not_counted_{code}"]) == {"en", "zh-CN"}, code


# --- whose figures the nurse is told a crackle result rests on (the visit page, en and zh-CN) --------------

def note_and_take_lines(client, visit_id: int) -> tuple[str, list[str]]:
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    note = re.search(r'id="crackle-model-note">(.*?)</p>', page, re.S)
    assert note, "no crackle model note on the visit page"
    return note.group(1), re.findall(r'id="stethoscope-note-\d+">(.*?)</p>', page, re.S)


def percent(value: float) -> str:
    return f"{100 * value:.0f}"


def note_words(figures: dict, lang: str, *, population: str, through: str = "") -> str:
    return str(escape(translate("crackle_model_adults", lang,
        patients=figures["patients"], positive=figures["positive_patients"], sensitivity=percent(figures["sensitivity"]),
        sensitivity_low=percent(figures["sensitivity_ci95"][0]), sensitivity_high=percent(figures["sensitivity_ci95"][1]),
        specificity=percent(figures["specificity"]), specificity_low=percent(figures["specificity_ci95"][0]),
        specificity_high=percent(figures["specificity_ci95"][1]), through=through, population=population)))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_visit_page_says_whose_adults_and_which_devices_figures_a_crackle_result_rests_on(
        runner, settings, db, nurse, tmp_path, lang):
    """The note quotes the figures the takes counted with and names their population from the manifest's key
    (KAUH's patients and where their crackles came from; a clinic folder's own labelled takes, never KAUH's
    heart failure); each validated take's line names its population and whose recordings its figures are over."""
    install_populations(runner, settings, tmp_path / "passing", clinic=CLINIC_PASSING)
    client, headers = restarted(settings)
    clinic = visit_with_takes(client, headers, db, "CL24-0101", (OTHER,))
    kauh = visit_with_takes(client, headers, db, "CL24-0102", (LITTMANN,))
    for visit_id in (clinic, kauh):
        assess(client, headers, visit_id)
    client.set_cookie("lang", lang)
    kauh_words = CATALOG["adult_population_adults"][lang]
    clinic_words = translate("adult_population_folder", lang, folder="clinic")

    note, takes = note_and_take_lines(client, clinic)
    assert note == note_words(CLINIC_PASSING, lang, population=clinic_words)
    assert kauh_words not in note and "clinic" in note
    assert len(takes) == 2
    for line in takes:  # pooled over the clinic's own devices (OTHER), not KAUH's Littmann
        assert str(escape(clinic_words)) in line and OTHER in line and LITTMANN not in line
        assert str(escape(kauh_words)) not in line

    note, takes = note_and_take_lines(client, kauh)
    diaphragm = DIAPHRAGM_PASSING
    device = presenters.validated_devices([f"{LITTMANN} diaphragm"], lang)
    assert note == note_words(diaphragm, lang, population=kauh_words,
                              through=translate("crackle_model_through_device", lang, device=device))
    assert all(str(escape(kauh_words)) in line and str(escape(device)) in line for line in takes)


def test_a_kept_note_from_before_it_said_whose_figures_reads_as_kauhs_adults():
    """An assessment kept before its figures named their population quoted KAUH's adults (the only adult
    population then): it reads so; a key the catalogue does not know is not worded as KAUH's."""
    kept = auscultation.adult_validation(KAUH_PASSING)
    assert kept["population_key"] == "adults" and kept["device"] is None
    assert CATALOG["adult_population_adults"]["en"] in presenters.crackle_model_note(kept, "en")
    other = presenters.crackle_model_note({**kept, "population_key": "children_sprsound2022"}, "zh-CN")
    assert CATALOG["adult_population_other"]["zh-CN"] in other
    assert presenters.crackle_model_note(None, "en") == CATALOG["crackle_model_no_adults"]["en"]


# --- a take is judged by its own device's figures (h107, issue 24) ------------------------------------

NO_BETTER_THAN_CHANCE = {"patients": 30, "assessable_patients": 30, "positive_patients": 9, "sensitivity": 0.44,
                         "sensitivity_ci95": [0.14, 0.79], "specificity": 0.76, "specificity_ci95": [0.55, 0.9]}
BY_DEVICE = entry_with(
    adults=population(["Stetho A diaphragm", "Stetho A bell", "Stetho A extended", "Scope B"], KAUH_PASSING,
                      by_device={"Stetho A diaphragm": DIAPHRAGM_PASSING, "Stetho A bell": TOO_FEW,
                                 "Stetho A extended": NO_BETTER_THAN_CHANCE}))


@pytest.mark.parametrize(("devices", "validated", "code", "figures"), [
    (["Stetho A diaphragm"] * 2, True, None, DIAPHRAGM_PASSING),  # its own figures, which pass
    (["Stetho A bell"], False, "device_too_few", None),  # 6 adults
    (["Stetho A extended"], False, "device_uncertain", None),  # lower bounds 0.14 + 0.55 - 1 < 0
    (["Stetho A diaphragm", "Stetho A bell"], False, "device_too_few", None),  # each device must pass
    ([None], True, None, KAUH_PASSING),  # a device without figures of its own (Scope B), or none named: pooled
    (["Stetho A diaphragm", None], True, None, KAUH_PASSING),  # the pooled figures stand for the device without
    ([], True, None, KAUH_PASSING),  # no take's device known
])
def test_takes_through_one_device_count_with_its_own_figures_when_they_pass(devices, validated, code, figures):
    found = detector_validation(BY_DEVICE, take_populations=["adults"], devices=devices)
    assert found["validated"] is validated and found.get("reason_code") == code
    if validated:
        assert {key: list(found[key]) if key.endswith("_ci95") else found[key] for key in FIGURES} == {
            key: figures[key] for key in FIGURES}
        own = figures is DIAPHRAGM_PASSING
        assert (found["figures_over"], found.get("device")) == (("device", devices[0]) if own else ("all_devices", None))
    else:
        assert devices[-1] in found["reason"]


# Two devices whose own figures pass: the extended filter finds crackles less often, the diaphragm calls fewer
# of the others clear.
EXTENDED_PASSING = {**DIAPHRAGM_PASSING, "sensitivity": 0.7, "sensitivity_ci95": [0.45, 0.88], "specificity": 0.95,
                    "specificity_ci95": [0.83, 0.99]}
TWO_PASSING = entry_with(
    adults=population(["Stetho A diaphragm", "Stetho A bell", "Stetho A extended"], KAUH_PASSING,
                      by_device={"Stetho A diaphragm": DIAPHRAGM_PASSING, "Stetho A bell": TOO_FEW,
                                 "Stetho A extended": EXTENDED_PASSING}))


def test_takes_through_several_devices_with_figures_of_their_own_count_with_the_least_informative_for_the_finding():
    """No pooled figures (they are over the bell's recordings too): each device's own, and the finding made picks
    the one that gives it the least evidence, whatever the order the takes came in."""
    found = detector_validation(TWO_PASSING, take_populations=["adults"],
                                devices=["Stetho A extended", "Stetho A diaphragm", "Stetho A extended"])
    assert (found["validated"], found["figures_over"]) == (True, "weakest_device")
    assert list(found["device_figures"]) == ["Stetho A diaphragm", "Stetho A extended"]  # the manifest's order
    assert not set(FIGURES) & set(found)  # nothing counts before a device is chosen
    sign = crackle_sign_for("SSc")
    lrs = {device: crackle_log_lrs(sign, _population_figures(figures, name=device))
           for device, figures in (("Stetho A diaphragm", DIAPHRAGM_PASSING), ("Stetho A extended", EXTENDED_PASSING))}
    weakest_positive = min(lrs, key=lambda device: lrs[device]["positive"][0])
    weakest_clear = max(lrs, key=lambda device: lrs[device]["negative"][0])
    # These figures make the choice differ by the finding: the diaphragm's LR+ is lower, the extended's LR- higher.
    assert (weakest_positive, weakest_clear) == ("Stetho A diaphragm", "Stetho A extended")
    assert least_informative_device(found["device_figures"], sign, positive=True) == weakest_positive
    assert least_informative_device(found["device_figures"], sign, positive=False) == weakest_clear


def test_a_takes_device_verdict_is_its_own_figures_under_the_rule_only_while_its_population_passes():
    """stethoscope_validation carries the verdict (device_counts) the risk, the chest map and the API read; a
    population that fails the rule decides for itself (its own reason), so no device is judged apart."""
    verdicts = {piece: stethoscope_validation(BY_DEVICE, stethoscope="Stetho A", chest_piece=piece)
                for piece in ("diaphragm", "bell", "extended")}
    assert {piece: (v["device_counts"], v.get("device_reason_code")) for piece, v in verdicts.items()} == {
        "diaphragm": (True, None), "bell": (False, "device_too_few"), "extended": (False, "device_uncertain")}
    assert "Stetho A bell" in verdicts["bell"]["device_reason"]
    assert "device_counts" not in stethoscope_validation(BY_DEVICE, stethoscope="Scope B", chest_piece="bell")
    strict = ValidationRule(min_patients=100)  # the adults' 60 patients fail it: nothing is judged per device
    assert stethoscope_validation(BY_DEVICE, stethoscope="Stetho A", chest_piece="bell", rule=strict)["device_counts"]
    assert detector_validation(BY_DEVICE, strict, take_populations=["adults"], devices=["Stetho A bell"])[
        "reason_code"] == "too_few"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_take_left_out_for_its_device_names_the_devices_that_count_or_says_none_does(lang):
    """The devices to record through are the population's that count under the rule (their own figures pass, or
    they have none); when none does, the take says recording again will not help, naming nothing."""
    bell = stethoscope_validation(BY_DEVICE, stethoscope="Stetho A", chest_piece="bell")
    assert bell["devices_counting"] == ["Stetho A diaphragm", "Scope B"]  # not the extended filter (uncertain)
    statement = presenters.stethoscope_statement(bell, lang)
    assert statement.startswith(translate("stethoscope_device_does_not_count", lang,
        device=presenters.validated_devices(["Stetho A bell"], lang),
        why=CATALOG["stethoscope_device_why_device_too_few"][lang]))
    assert translate("record_again_through_one", lang,
        devices=presenters.validated_devices(["Stetho A diaphragm", "Scope B"], lang)) in statement

    none_counts = copy.deepcopy(BY_DEVICE)
    adults = none_counts["validation"]["populations"]["adults"]
    adults["devices"] = ["Stetho A bell", "Stetho A extended"]
    del adults["by_device"]["Stetho A diaphragm"]
    bell = stethoscope_validation(none_counts, stethoscope="Stetho A", chest_piece="bell")
    assert bell["devices_counting"] == []
    assert CATALOG["record_again_none_counts_one"][lang] in presenters.stethoscope_statement(bell, lang)
    line = presenters.not_heard_text({"not_heard": {"reasons": ["device_figures"], "devices_left_out": [bell]}}, lang,
                                     visit_status="open")
    assert line.endswith(CATALOG["record_again_none_counts_several"][lang])


def test_the_shipped_manifest_counts_no_take_for_adults_through_any_of_its_devices():
    """KAUH's 15 test adults are under the rule's 20: nothing counts, and the reason is the adults' (too few), not
    a device's; every take through the Littmann still makes its site heard as before (device_counts True)."""
    entry = shipped_entry()
    for device in entry["validation"]["populations"]["adults"]["devices"]:
        found = detector_validation(entry, take_populations=["adults"], devices=[device])
        assert (found["validated"], found["reason_code"]) == (False, "too_few")
        stethoscope, piece = auscultation.device_parts(device)
        assert stethoscope_validation(entry, stethoscope=stethoscope, chest_piece=piece)["device_counts"] is True


def test_the_complete_exam_range_is_the_populations_and_none_when_no_device_of_it_can_count():
    sign = crackle_sign_for("SSc")
    pooled = crackle_log_lrs(sign, _population_figures(KAUH_PASSING, name="pooled"))
    assert crackle_potential_range(BY_DEVICE, ctd_diagnosis="SSc") == (pooled["negative"][0], pooled["positive"][0])
    none_counts = copy.deepcopy(BY_DEVICE)
    adults = none_counts["validation"]["populations"]["adults"]
    adults["devices"] = ["Stetho A bell", "Stetho A extended"]
    del adults["by_device"]["Stetho A diaphragm"]
    assert crackle_potential_range(none_counts, ctd_diagnosis="SSc") == (0.0, 0.0)


def install_devices(runner, settings, folder, by_device: dict) -> None:
    """The bundled models with KAUH's adults passing the rule and ``by_device``'s figures for those Littmann
    chest pieces (the others keep the shipped figures: 15 adults, too few), installed and made active."""
    def change(models):
        adults = models["auscultation"]["validation"]["populations"]["adults"]
        adults.update(KAUH_PASSING)
        for piece, figures in by_device.items():
            adults["by_device"][f"{LITTMANN} {piece}"].update(figures)
    bundle = model_bundle(folder)
    edit_manifest(bundle, change)
    models_command(runner, settings, "install", str(bundle))


def visit_of(client, headers, db, code: str, takes: tuple) -> int:
    """A visit of PATIENT (as ``code``) with ``takes``: (site, crackle probability, chest piece), each through the
    Littmann 3200."""
    patient = client.post("/api/v1/patients", json={**PATIENT, "code": code}, headers=headers).json
    visit_id = client.post(f"/api/v1/patients/{patient['id']}/visits", json={}, headers=headers).json["id"]
    for site, p, piece in takes:
        db["recordings"].update(stored_take(db, visit_id, site, p, piece), {"stethoscope": LITTMANN})
    db.conn.commit()
    return visit_id


LEFT, RIGHT = "posterior_left_base", "posterior_right_base"


def test_each_take_counts_by_its_own_devices_figures_through_the_service(runner, settings, db, nurse, tmp_path):
    """The adults pass the rule, the diaphragm's and extended filter's own figures pass, the bell's (the shipped
    15 adults) do not: crackles through the bell leave the risk as with no take, the bell's reason under the
    take; a diaphragm-only exam counts with the diaphragm's figures; diaphragm and extended together, with the
    figures of whichever of the two gives the finding the least evidence (never the adults' pooled figures, which
    are over the bell's recordings too)."""
    install_devices(runner, settings, tmp_path / "devices",
                    {"diaphragm": DIAPHRAGM_PASSING, "extended": EXTENDED_PASSING})
    client, headers = restarted(settings)
    exams = {"none": (), "bell": ((LEFT, 0.9, "bell"),),
             "diaphragm": ((LEFT, 0.9, "diaphragm"), (RIGHT, 0.02, "diaphragm")),
             "mixed": ((LEFT, 0.9, "diaphragm"), (RIGHT, 0.02, "extended")),
             "mixed_clear": ((LEFT, 0.02, "diaphragm"), (RIGHT, 0.02, "extended")),
             "bell_and_diaphragm": ((LEFT, 0.9, "bell"), (LEFT, 0.02, "diaphragm"), (RIGHT, 0.02, "diaphragm"))}
    visits = {name: visit_of(client, headers, db, f"CL24-02{number:02d}", takes)
              for number, (name, takes) in enumerate(exams.items())}
    result = {name: assess(client, headers, visit_id) for name, visit_id in visits.items()}
    sign = crackle_sign_for(PATIENT["ctd_diagnosis"])

    # Through the bell: not counted, positive as it is; its site is not heard; the take says why, naming the bell.
    assert "auscultation" not in result["bell"]["contributions"]
    assert {key: result["bell"][key] for key in ("probability", "tier")} == {
        key: result["none"][key] for key in ("probability", "tier")}
    [bell] = client.get(f"/api/v1/visits/{visits['bell']}/recordings", headers=headers).json["recordings"]
    validation = bell["stethoscope_validation"]
    assert (validation["counts"], validation["device_counts"], validation["device_reason_code"]) == (
        False, False, "device_too_few")
    # It leads with what the nurse acts on: it does not count, and the chest pieces that do; the figures follow.
    assert validation["devices_counting"] == [f"{LITTMANN} diaphragm", f"{LITTMANN} extended"]
    assert validation["statement"].startswith(" ".join((
        translate("stethoscope_device_does_not_count", "en",
            device=presenters.validated_devices([f"{LITTMANN} bell"], "en"),
            why=CATALOG["stethoscope_device_why_device_too_few"]["en"]),
        translate("record_again_through_one", "en", devices=f"{LITTMANN} (Diaphragm, Extended filter)"))))
    assert validation["statement"].index("does not count") < validation["statement"].index("Validated on adults")
    page = client.get(f"/visits/{visits['bell']}").get_data(as_text=True)
    assert not site_done(page, LEFT)

    # The diaphragm alone: its own figures, the log LR recomputed from them.
    diaphragm = result["diaphragm"]["contributions"]["auscultation"]
    own = crackle_log_lrs(sign, _population_figures(DIAPHRAGM_PASSING, name="diaphragm"))
    assert diaphragm["counted"] and diaphragm["finding"]["level"] == "basal"
    assert (diaphragm["finding"]["figures_over"], diaphragm["finding"]["device"]) == ("device", f"{LITTMANN} diaphragm")
    assert diaphragm["log_likelihood_ratio"] == pytest.approx(own["positive"][0])
    assert diaphragm["log_lr_range95"] == pytest.approx(list(own["positive"][1:]))

    # Two devices of the adults, each with figures of its own: crackles count with the lower LR+ of the two, a
    # clear chest with the higher LR- (for these figures, the diaphragm and the extended filter), each recomputed
    # from that device's own figures; the note quotes them.
    lrs = {piece: crackle_log_lrs(sign, _population_figures(figures, name=piece))
           for piece, figures in (("diaphragm", DIAPHRAGM_PASSING), ("extended", EXTENDED_PASSING))}
    pooled = crackle_log_lrs(sign, _population_figures(KAUH_PASSING, name="pooled"))
    for exam, level, direction, piece, figures in (("mixed", "basal", "positive", "diaphragm", DIAPHRAGM_PASSING),
                                                    ("mixed_clear", "none", "negative", "extended", EXTENDED_PASSING)):
        assert lrs[piece][direction][0] == pytest.approx(
            (min if direction == "positive" else max)(lrs[name][direction][0] for name in lrs))
        mixed = result[exam]["contributions"]["auscultation"]
        assert mixed["counted"] and mixed["finding"]["level"] == level
        assert (mixed["finding"]["figures_over"], mixed["finding"]["device"]) == ("weakest_device", f"{LITTMANN} {piece}")
        assert mixed["finding"]["counted_devices"] == [f"{LITTMANN} diaphragm", f"{LITTMANN} extended"]
        assert mixed["log_likelihood_ratio"] == pytest.approx(lrs[piece][direction][0]) != pooled[direction][0]
        assert mixed["log_lr_range95"] == pytest.approx(list(lrs[piece][direction][1:]))
        assert result[exam]["crackle_model_adults"] == {
            **{key: figures[key] for key in FIGURES}, "population_key": "adults", "figures_over": "weakest_device",
            "device": f"{LITTMANN} {piece}"}
        # The nurse's note quotes them, saying they are the weakest of the visit's chest pieces.
        weakest = CATALOG["crackle_model_through_weakest_device"]["en"].format(
            device=presenters.validated_devices([f"{LITTMANN} {piece}"], "en"))
        assert note_and_take_lines(client, visits[exam])[0] == note_words(
            figures, "en", population=CATALOG["adult_population_adults"]["en"], through=weakest)

    # Crackles through the bell beside a clear diaphragm exam: the bell's take is left out (named in the finding),
    # so the chest is clear, by the diaphragm's own figures.
    both = result["bell_and_diaphragm"]["contributions"]["auscultation"]
    assert both["counted"] and both["finding"]["level"] == "none"
    assert both["finding"]["devices_not_counted"] == [
        {"device": f"{LITTMANN} bell", "reason_code": "device_too_few",
         "reason": validation["device_reason"]}]
    assert both["log_likelihood_ratio"] == pytest.approx(own["negative"][0])
    assert result["bell_and_diaphragm"]["probability"] < result["none"]["probability"]


def test_a_result_counted_before_takes_were_judged_by_their_device_reads_out_of_date(runner, settings, db, nurse,
                                                                                     tmp_path):
    """A result stored before h107 counted a diaphragm exam with the adults' pooled figures (its finding says
    no figures_over): with a served model that has figures per device, calculating again may count otherwise,
    so it reads out of date, and a referral waits, until it is calculated again."""
    install_devices(runner, settings, tmp_path / "devices", {"diaphragm": DIAPHRAGM_PASSING})
    client, headers = restarted(settings)
    visit_id = visit_of(client, headers, db, "CL24-0301", ((LEFT, 0.9, "diaphragm"), (RIGHT, 0.02, "diaphragm")))
    kept = assess(client, headers, visit_id)

    def latest_freshness() -> dict:
        return client.get(f"/api/v1/visits/{visit_id}/assessments", headers=headers).json["assessments"][-1][
            "freshness"]

    assert latest_freshness()["current"]
    stored = json.loads(db.execute("SELECT result FROM risk_assessments WHERE id = ?", [kept["id"]]).fetchone()[0])
    finding = stored["contributions"]["auscultation"]["finding"]
    for key in ("figures_over", "device", "detector_device"):
        finding.pop(key)
    db.execute("UPDATE risk_assessments SET result = ? WHERE id = ?", [json.dumps(stored), kept["id"]])
    db.conn.commit()
    assert (latest_freshness()["current"], latest_freshness()["models_changed"]) == (False, ["crackle_device_rule"])
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert str(escape(CATALOG["model_updated_crackle_device_rule"]["zh-CN"])) in page
    assess(client, headers, visit_id)
    assert latest_freshness()["current"]


def test_a_mixed_exam_counted_with_the_pooled_figures_reads_out_of_date(runner, settings, db, nurse, tmp_path):
    """A result stored before h117 counted a diaphragm and extended exam with the adults' pooled figures (its
    finding says all_devices and keeps no counted_devices): the served model has figures for both devices, so
    calculating again counts with the least informative of them: it reads out of date until calculated again. A
    result counted with the pooled figures today (a take naming no stethoscope) keeps which devices it counted
    through and stays current."""
    install_devices(runner, settings, tmp_path / "devices",
                    {"diaphragm": DIAPHRAGM_PASSING, "extended": EXTENDED_PASSING})
    client, headers = restarted(settings)
    mixed = visit_of(client, headers, db, "CL24-0311", ((LEFT, 0.9, "diaphragm"), (RIGHT, 0.02, "extended")))
    not_stated = visit_of(client, headers, db, "CL24-0312", ((LEFT, 0.9, "diaphragm"), (RIGHT, 0.02, "diaphragm")))
    db.execute("UPDATE recordings SET stethoscope = ? WHERE visit_id = ?", [STETHOSCOPE_NOT_STATED, not_stated])
    db.conn.commit()

    def latest_freshness(visit_id: int) -> dict:
        return client.get(f"/api/v1/visits/{visit_id}/assessments", headers=headers).json["assessments"][-1][
            "freshness"]

    pooled = assess(client, headers, not_stated)["contributions"]["auscultation"]["finding"]
    assert (pooled["figures_over"], pooled["counted_devices"]) == ("all_devices", [None])
    assert latest_freshness(not_stated)["current"]

    kept = assess(client, headers, mixed)
    assert latest_freshness(mixed)["current"]
    stored = json.loads(db.execute("SELECT result FROM risk_assessments WHERE id = ?", [kept["id"]]).fetchone()[0])
    finding = stored["contributions"]["auscultation"]["finding"]
    finding.update(figures_over="all_devices", device=None)
    for key in ("counted_devices", "detector_device"):
        finding.pop(key)
    db.execute("UPDATE risk_assessments SET result = ? WHERE id = ?", [json.dumps(stored), kept["id"]])
    db.conn.commit()
    assert (latest_freshness(mixed)["current"], latest_freshness(mixed)["models_changed"]) == (
        False, ["crackle_weakest_device_rule"])
    client.set_cookie("lang", "zh-CN")
    page = client.get(f"/visits/{mixed}").get_data(as_text=True)
    assert str(escape(CATALOG["model_updated_crackle_weakest_device_rule"]["zh-CN"])) in page
    again = assess(client, headers, mixed)["contributions"]["auscultation"]["finding"]
    assert again["figures_over"] == "weakest_device" and latest_freshness(mixed)["current"]


def test_the_page_the_api_and_the_risk_judge_a_take_by_the_programmes_validation_rule(runner, settings, db, nurse,
                                                                                     tmp_path, monkeypatch):
    """Under the default rule the bell's own figures fail while the adults' pass: the bell take counts nowhere.
    A programme that asks more patients than the adults have (evidence_validation_rule) leaves the adults
    failing, so no device is judged apart: the same take makes its site heard on the page and in the API, and
    the risk says why lung sounds do not count (the adults' reason, not the bell's)."""
    install_devices(runner, settings, tmp_path / "devices", {"diaphragm": DIAPHRAGM_PASSING})
    client, headers = restarted(settings)
    visit_id = visit_of(client, headers, db, "CL24-0401", ((LEFT, 0.9, "bell"),))

    def judged() -> tuple:
        [take] = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"]
        page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
        return take["stethoscope_validation"]["counts"], site_done(page, LEFT)

    assert judged() == (False, False)
    assert "auscultation" not in assess(client, headers, visit_id)["contributions"]
    monkeypatch.setattr(client.application.extensions["ildscreen"].settings, "evidence_validation_rule",
                        {"min_patients": 100})
    assert judged() == (True, True)
    lung_sounds = assess(client, headers, visit_id)["contributions"]["auscultation"]
    assert (lung_sounds["counted"], lung_sounds["reason_code"]) == (False, "too_few")


def lung_sound_line(client, visit_id: int) -> str:
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    return re.search(r'id="lung-sound-finding"><strong>(.*?)</strong>', page, re.S).group(1)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_lung_sound_line_says_why_no_site_was_heard_when_a_devices_figures_leave_its_takes_out(
        runner, settings, db, nurse, tmp_path, monkeypatch, lang):
    """Issue 24: with every lung-site take left out, the result's line gave the unvalidated-stethoscope reason
    even for takes left out by their device's own figures. It names the device, why its figures fail and the
    chest pieces that count (the diaphragm's and extended filter's figures pass, the bell's are the shipped 15
    adults); beside a clear take through a piece the programme says cannot clear, it gives that reason too, and
    the pieces that count and can clear (the diaphragm alone: the bell does not count, the extended cannot clear)."""
    install_devices(runner, settings, tmp_path / "devices", {"diaphragm": DIAPHRAGM_PASSING,
                                                             "extended": DIAPHRAGM_PASSING})
    client, headers = restarted(settings)
    client.set_cookie("lang", lang)
    counting = presenters.validated_devices([f"{LITTMANN} diaphragm", f"{LITTMANN} extended"], lang)
    device_sentences = [
        translate("lung_sounds_device_not_counted", lang,
            device=presenters.validated_devices([f"{LITTMANN} bell"], lang),
            why=CATALOG["stethoscope_device_why_device_too_few"][lang]),
        translate("record_again_through_several", lang, devices=counting)]

    only_bell = visit_of(client, headers, db, f"CL24-05{lang[:2]}", ((LEFT, 0.9, "bell"), (RIGHT, 0.02, "bell")))
    assess(client, headers, only_bell)
    assert lung_sound_line(client, only_bell) == str(escape(presenters.join_sentences(
        [CATALOG["lung_sounds_none_heard"][lang], *device_sentences], lang)))

    monkeypatch.setattr(client.application.extensions["ildscreen"].settings, "evidence_chest_pieces_cannot_clear",
                        ["bell", "extended"])
    with_clear = visit_of(client, headers, db, f"CL24-06{lang[:2]}", ((LEFT, 0.9, "bell"), (RIGHT, 0.02, "extended")))
    assess(client, headers, with_clear)
    line = lung_sound_line(client, with_clear)
    assert line == str(escape(presenters.join_sentences(
        [CATALOG["lung_sounds_none_heard"][lang], *device_sentences,
         translate("lung_sounds_cannot_clear", lang, pieces=CATALOG["chest_piece_extended"][lang]),
         translate("record_again_can_clear_several", lang,
             devices=presenters.validated_devices([f"{LITTMANN} diaphragm"], lang))], lang)))
    assert CATALOG["lung_sounds_stethoscope_not_validated"][lang] not in line

    # The referral letter reads the same result, in the hospital's words: what did not count and why, not what to
    # record again (brief h124).
    letter = client.get(f"/referrals/{refer(client, headers, with_clear)}/letter").get_data(as_text=True)
    assert re.search(r'id="lung-sound-finding"><strong>(.*?)</strong>', letter, re.S).group(1) == str(escape(
        presenters.join_sentences([CATALOG["lung_sounds_none_heard_closed"][lang], device_sentences[0],
                                   translate("lung_sounds_cannot_clear", lang,
                                             pieces=CATALOG["chest_piece_extended"][lang])], lang)))


def take_notes(client, visit_id: int) -> list[str]:
    """The lines under the visit page's takes that say their chest piece cannot rule crackles out."""
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    return re.findall(r'id="chest-piece-note-\d+">(.*?)</p>', page, re.S)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clear_take_through_a_piece_that_cannot_clear_names_the_pieces_that_count_not_the_diaphragm_when_it_does_not(
        runner, settings, db, nurse, tmp_path, lang):
    """The diaphragm's own figures fail the rule (the shipped 15 adults), the bell's and extended filter's pass: a
    clear take through the bell (which cannot clear) is told, under it and in the result's line, to record again
    through the extended filter, the one device that counts and can clear, as the line of a take left out for its
    device names the devices that count; never through the diaphragm, whose takes do not count."""
    install_devices(runner, settings, tmp_path / "devices", {"bell": DIAPHRAGM_PASSING, "extended": DIAPHRAGM_PASSING})
    client, headers = restarted(settings)
    client.set_cookie("lang", lang)
    visit_id = visit_of(client, headers, db, f"CL24-07{lang[:2]}", ((LEFT, 0.02, "bell"), (RIGHT, 0.02, "bell")))
    [bell, _] = client.get(f"/api/v1/visits/{visit_id}/recordings", headers=headers).json["recordings"]
    assert bell["stethoscope_validation"]["device_counts"] is True  # the bell counts: only its clear result does not
    assert bell["stethoscope_validation"]["devices_counting"] == [f"{LITTMANN} bell", f"{LITTMANN} extended"]
    record = translate("record_again_can_clear_one", lang,
        devices=presenters.validated_devices([f"{LITTMANN} extended"], lang))
    note = str(escape(presenters.join_sentences([
        translate("chest_piece_cannot_clear", lang, piece=CATALOG["chest_piece_bell"][lang]), record], lang)))
    assert take_notes(client, visit_id) == [note, note]
    assert CATALOG["chest_piece_diaphragm"][lang] not in note

    assess(client, headers, visit_id)
    line = lung_sound_line(client, visit_id)
    assert line == str(escape(presenters.join_sentences([
        CATALOG["lung_sounds_none_heard"][lang],
        translate("lung_sounds_cannot_clear", lang, pieces=CATALOG["chest_piece_bell"][lang]),
        translate("record_again_can_clear_several", lang,
            devices=presenters.validated_devices([f"{LITTMANN} extended"], lang))], lang)))
    assert CATALOG["chest_piece_diaphragm"][lang] not in line


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_what_a_clear_take_through_a_piece_that_cannot_clear_is_told_to_record_through(lang):
    """From the take's devices that count (its stethoscope_validation's devices_counting): those whose piece can
    clear; none of them, then a clear take will not make the site heard; nothing said of which count (no served
    model, a take naming no stethoscope among several clinics' adults), a piece that can clear, unnamed. A take
    whose piece is not stated is told so only if it was the bell (the piece that cannot clear)."""
    found = stethoscope_validation(BY_DEVICE, stethoscope=STETHOSCOPE_NOT_STATED, chest_piece="bell")
    assert found["devices_counting"] == ["Stetho A diaphragm", "Scope B"]  # the adults': KAUH's, for no stethoscope
    assert stethoscope_validation(BY_DEVICE, stethoscope="Stetho A", chest_piece="not_stated")[
        "devices_counting"] == ["Stetho A diaphragm", "Scope B"]  # chest_piece_not_validated: its population's
    several = entry_with(adults_a=population(["A"], KAUH_PASSING), adults_b=population(["B"], KAUH_PASSING))
    assert "devices_counting" not in stethoscope_validation(several, stethoscope=STETHOSCOPE_NOT_STATED,
                                                            chest_piece="bell")
    rule = {"threshold": 0.5, "cannot_clear": ["bell"], "visit_status": "open"}
    clear = {"chest_site": LEFT, "quality": {"ok": True}, "crackle_probability": 0.1}
    bell = {**clear, "chest_piece": "bell", "stethoscope_validation": found}
    assert presenters.chest_piece_text(bell, lang, **rule) == presenters.join_sentences([
        translate("chest_piece_cannot_clear", lang, piece=CATALOG["chest_piece_bell"][lang]),
        translate("record_again_can_clear_one", lang,
            devices=presenters.validated_devices(["Stetho A diaphragm", "Scope B"], lang))], lang)
    only_bell = {**bell, "stethoscope_validation": {**found, "devices_counting": ["Stetho A bell"]}}
    assert presenters.chest_piece_text(only_bell, lang, **rule).endswith(CATALOG["record_again_none_can_clear_one"][lang])
    unknown = {**bell, "stethoscope_validation": None}
    assert presenters.chest_piece_text(unknown, lang, **rule).endswith(CATALOG["record_again_other_piece_one"][lang])
    unsaid = {**bell, "chest_piece": CHEST_PIECE_NOT_STATED}
    assert presenters.chest_piece_text(unsaid, lang, **rule) == presenters.join_sentences([
        translate("chest_piece_not_stated_clear", lang, pieces=CATALOG["chest_piece_bell"][lang]),
        translate("record_again_can_clear_if_not_stated", lang,
            devices=presenters.validated_devices(["Stetho A diaphragm", "Scope B"], lang))], lang)
    assert presenters.chest_piece_text({**bell, "crackle_probability": 0.9}, lang, **rule) is None
    heard_rule = {"threshold": 0.5, "cannot_clear": ["bell"]}
    sounds = presenters.lung_sounds({}, [bell, unknown], **heard_rule)  # the takes that say which count name them
    assert sounds["not_heard"]["clear_through"] == ["Stetho A diaphragm", "Scope B"]
    assert presenters.lung_sounds({}, [unknown], **heard_rule)["not_heard"]["clear_through"] is None
    assert presenters.not_heard_text(presenters.lung_sounds({}, [unknown], **heard_rule), lang,
                                     visit_status="open").endswith(CATALOG["record_again_other_piece_several"][lang])
