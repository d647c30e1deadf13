"""The "must show" cases of issue 25, end to end through the evidence model, fusion and triage:
an RA woman of 60 with crackles at one base and three clear sites."""
import pytest

from edge.fusion.clinical_prior import ClinicalPicture
from edge.fusion.evidence import EvidenceOptions, crackle_evidence
from edge.fusion.triage import TriageThresholds
from edge.labs import score_lab_panel
from edge.modalities import labs_evidence_from_score, site_probabilities
from edge.screening import assess
from manifest_fixtures import CRACKLE_ENTRY

OPTIONS = EvidenceOptions()
RA_WOMAN = ClinicalPicture("RA", 60, "F", ages=(60, 60))
NORMAL_PANEL = [{"analyte": name, "value": value, "unit": unit} for name, value, unit in (
    ("wbc", 7.5, "10*9/L"), ("rbc", 4.8, "10*12/L"), ("hgb", 145.0, "g/L"), ("hct", 0.43, "L/L"), ("mcv", 90, "fL"),
    ("platelets", 250, "10*9/L"), ("rdw", 13.0, "%"), ("neutrophils", 4.5, "10*9/L"),
    ("lymphocytes", 2.2, "10*9/L"), ("monocytes", 0.5, "10*9/L"), ("eosinophils", 0.2, "10*9/L"),
    ("sodium", 140, "mmol/L"), ("potassium", 4.2, "mmol/L"), ("chloride", 102, "mmol/L"),
    ("bicarbonate", 25, "mmol/L"), ("urea", 5.0, "mmol/L"), ("creatinine", 75, "umol/L"),
    ("glucose", 5.2, "mmol/L"), ("calcium", 2.35, "mmol/L"), ("total_protein", 72, "g/L"),
    ("albumin", 44, "g/L"), ("bilirubin", 10, "umol/L"), ("alp", 70, "U/L"), ("ast", 22, "U/L"),
    ("alt", 20, "U/L"))]


def recording(site, probability, ok=True):
    return {"chest_site": site, "quality": {"ok": ok}, "crackle_probability": probability}


ONE_CRACKLY_BASE = [recording("posterior_left_base", 0.85), recording("posterior_right_base", 0.05),
                    recording("posterior_left_mid", 0.04), recording("anterior_right", 0.03)]


def crackles(recordings):
    return crackle_evidence(site_probabilities(recordings), CRACKLE_ENTRY, ctd_diagnosis="RA", model_version="a",
                            options=OPTIONS)


def assessed(evidence):
    return assess(RA_WOMAN, evidence, thresholds=TriageThresholds(), options=OPTIONS)


def test_a_normal_panel_from_the_synthetic_lab_model_moves_the_risk_by_at_most_001_and_not_the_advice():
    sounds = crackles(ONE_CRACKLY_BASE)
    without = assessed([sounds])
    labs = labs_evidence_from_score(score_lab_panel(NORMAL_PANEL), OPTIONS)
    assert labs.finding["counted"] is False and "synthetic" in labs.finding["reason"]
    with_panel = assessed([sounds, labs])
    assert abs(with_panel["probability"] - without["probability"]) <= 0.01
    assert with_panel["recommendation"]["advice"] == without["recommendation"]["advice"]
    assert with_panel["tier"] == without["tier"]
    assert with_panel["not_counted"] == {"labs": labs.finding["reason"]}


@pytest.mark.parametrize(("kl6", "direction"), [(1500, 1), (200, -1)])
def test_a_kl6_of_1500_raises_the_risk_and_200_lowers_it(kl6, direction):
    sounds = crackles(ONE_CRACKLY_BASE)
    without = assessed([sounds])["probability"]
    panel = NORMAL_PANEL + [{"analyte": "KL-6", "value": kl6, "unit": "U/mL"}]
    labs = labs_evidence_from_score(score_lab_panel(panel), OPTIONS)
    assert labs.model_version.startswith("kl6") and labs.finding["lab_model"]["counted"] is False
    assert direction * (assessed([sounds, labs])["probability"] - without) > 0.01


def test_a_clear_second_recording_at_the_crackly_base_never_lowers_the_risk():
    before = assessed([crackles(ONE_CRACKLY_BASE)])["probability"]
    again = ONE_CRACKLY_BASE + [recording("posterior_left_base", 0.02)]
    assert assessed([crackles(again)])["probability"] >= before
    # A refused recording (quality not ok) counts for nothing, however crackly.
    refused = ONE_CRACKLY_BASE + [recording("posterior_right_base", 0.99, ok=False)]
    assert assessed([crackles(refused)])["probability"] == pytest.approx(before)


def test_a_sites_finding_is_the_maximum_over_its_accepted_recordings():
    sites = site_probabilities([recording("posterior_left_base", 0.7), recording("posterior_left_base", 0.1),
                                recording("posterior_right_base", 0.9, ok=False),
                                recording("anterior_left", None)])
    assert sites == {"posterior_left_base": 0.7, "posterior_right_base": None, "anterior_left": None}


def test_the_90_interval_holds_the_estimate_and_is_not_collapsed_for_one_crackly_base():
    result = assessed([crackles(ONE_CRACKLY_BASE)])
    low, high = result["interval"]
    assert low < result["probability"] < high and high - low >= 0.05
    assert result["interval_sources"]["programme_assumptions"]  # the assumed odds ratios widen it


def test_an_unvalidated_modality_is_named_in_the_sentence_instead_of_narrowing_the_interval():
    sounds = crackles(ONE_CRACKLY_BASE)
    labs = labs_evidence_from_score(score_lab_panel(NORMAL_PANEL), OPTIONS)
    without, with_panel = assessed([sounds]), assessed([sounds, labs])
    assert with_panel["interval"] == pytest.approx(without["interval"])
    assert "Measured, not yet counted: Blood tests" in with_panel["uncertainty"]
    assert "not yet counted" not in without["uncertainty"] and "We are 90% sure" in without["uncertainty"]
