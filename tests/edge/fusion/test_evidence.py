"""The evidence model (docs/evidence.md): crackles become ILD evidence only through the
published accuracy of fine crackles and the detector's own patient-level adult validation; labs
and breath only when validated on patients, through their real training prevalence; KL-6 by its
published accuracy; an unvalidated modality gives LR 1 with its reason; bad manifest numbers are
refused, naming them."""
import json
import math
from pathlib import Path

import pytest

from edge.errors import ValidationError
from edge.fusion.evidence import (CRACKLE_SIGN, KL6_ACCURACY, NOT_COUNTED, EvidenceOptions, ValidationRule,
                                  binormal_separation, crackle_evidence, crackle_finding, crackle_potential_range,
                                  crackle_sign_for, detector_validation, kl6_evidence, regional_status,
                                  tabular_evidence, tabular_potential_range, tabular_validation)
from evaluation.metrics import wilson_interval
from evaluation.proportions import auc_score_interval
from manifest_fixtures import (CHILDREN, CRACKLE_ENTRY, DETECTOR, LABS_ENTRY, REAL_STATUS, RECORDING_LEVEL_ENTRY,
                               SMALL_ADULTS, SYNTHETIC_LABS_ENTRY, UNVALIDATED_ENTRY, detector_block)

SHIPPED_MANIFEST = Path(__file__).resolve().parents[3] / "edge" / "bundled_models" / "manifest.json"

OPTIONS = EvidenceOptions()
BASES = {"posterior_left_base": 0.1, "posterior_right_base": 0.1}


def crackles(sites, entry=CRACKLE_ENTRY, ctd="SSc", options=OPTIONS):
    return crackle_evidence(sites, entry, ctd_diagnosis=ctd, model_version="auscultation-test", options=options)


@pytest.mark.parametrize("ctd", list(CRACKLE_SIGN))
def test_published_crackle_cis_are_the_wilson_intervals_of_the_published_counts(ctd):
    sign = CRACKLE_SIGN[ctd]
    assert sign.sensitivity_ci95 == pytest.approx(wilson_interval(sign.true_positive, sign.with_ild), abs=1e-4)
    assert sign.specificity_ci95 == pytest.approx(wilson_interval(sign.true_negative, sign.without_ild), abs=1e-4)


def test_ra_uses_the_ra_cohort_and_other_ctds_the_mixed_cohort():
    assert crackle_sign_for("RA") is CRACKLE_SIGN["RA"]
    assert {crackle_sign_for(ctd) for ctd in ("SSc", "IIM", "SjD", "SLE", "MCTD")} == {CRACKLE_SIGN["CTD"]}


def test_a_basal_crackle_finding_has_the_lr_of_the_sign_seen_through_the_detector():
    sign = crackle_sign_for("SSc")
    se, sp, dse, dsp = sign.sensitivity, sign.specificity, DETECTOR["sensitivity"], DETECTOR["specificity"]
    positive_if_ild = dse * se + (1 - dsp) * (1 - se)
    positive_if_not = dse * (1 - sp) + (1 - dsp) * sp
    evidence = crackles({**BASES, "posterior_left_base": 0.7})
    assert evidence.likelihood_ratio == pytest.approx(positive_if_ild / positive_if_not)
    assert evidence.finding["level"] == "basal" and evidence.finding["validated"]
    clear = crackles(BASES)
    assert clear.likelihood_ratio == pytest.approx((1 - positive_if_ild) / (1 - positive_if_not))
    # The detector's errors can only weaken the sign: the LR stays inside the sign's own LRs.
    assert 1 < evidence.likelihood_ratio < se / (1 - sp)
    assert (1 - se) / sp < clear.likelihood_ratio < 1


def test_a_perfect_detector_passes_the_published_sign_through():
    perfect = {**DETECTOR, "sensitivity": 0.99999, "specificity": 0.99999,
               "sensitivity_ci95": [0.99998, 0.999999], "specificity_ci95": [0.99998, 0.999999]}
    sign = crackle_sign_for("RA")
    evidence = crackles({"posterior_right_base": 0.9}, {**CRACKLE_ENTRY, "validation": detector_block(perfect)},
                        ctd="RA")
    assert evidence.likelihood_ratio == pytest.approx(sign.sensitivity / (1 - sign.specificity), rel=1e-3)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [(UNVALIDATED_ENTRY, "no validation on patients"),
     (RECORDING_LEVEL_ENTRY, "per recording, not per patient"),
     ({**CRACKLE_ENTRY, "validation": {**detector_block(), "ci_method": "recording_bootstrap"}}, "not by patient"),
     ({**CRACKLE_ENTRY, "validation": detector_block(adults=None, children_sprsound2022_test=CHILDREN)},
      "not been validated in adults"),
     ({**CRACKLE_ENTRY, "validation": detector_block(SMALL_ADULTS)}, "11 patients; at least 20"),
     ({**CRACKLE_ENTRY, "validation": detector_block({**DETECTOR, "sensitivity": 0.4, "sensitivity_ci95": [0.3, 0.5],
                                                      "specificity": 0.5, "specificity_ci95": [0.4, 0.6]})},
      "no better than chance")],
)
def test_an_unvalidated_detector_is_measured_not_counted_with_its_reason(entry, reason):
    evidence = crackles({"posterior_left_base": 0.99, "posterior_right_base": 0.99}, entry)
    assert evidence.likelihood_ratio == 1 and evidence.log_lr_range == (0.0, 0.0)
    assert evidence.finding["counted"] is False and evidence.finding["status"] == "unvalidated"
    assert reason in evidence.finding["reason"] and evidence.finding["note"].startswith(NOT_COUNTED)
    expected_code = ("too_few" if "at least" in reason else "uncertain" if "chance" in reason
                     else "no_patient_validation")
    assert evidence.finding["reason_code"] == expected_code
    assert crackle_potential_range(entry, ctd_diagnosis="SSc") == (0.0, 0.0)


def test_the_shipped_manifests_block_is_read_without_error():
    entry = json.loads(SHIPPED_MANIFEST.read_text())["models"]["auscultation"]
    status = detector_validation(entry)
    assert isinstance(status["validated"], bool) and status["reason"]


def test_childrens_figures_stand_in_for_adults_only_when_allowed_and_then_widen_the_range():
    entry = {**CRACKLE_ENTRY, "validation": detector_block(adults=None, children_sprsound2022_test=CHILDREN)}
    allowed = EvidenceOptions(validation_rule=ValidationRule(allow_child_transfer=True))
    evidence = crackles({"posterior_left_base": 0.9}, entry, options=allowed)
    assert evidence.finding["counted"] and evidence.finding["detector_transfer"]
    assert evidence.log_lr_range[0] == 0.0 < evidence.log_likelihood_ratio  # in adults it may tell nothing
    assert crackles({"posterior_left_base": 0.9}, entry).finding["counted"] is False


def test_the_range_of_a_finding_comes_from_every_ci_corner_and_contains_it():
    evidence = crackles({"posterior_left_base": 0.9})
    low, high = evidence.log_lr_range
    assert low < evidence.log_likelihood_ratio < high
    wider = {**DETECTOR, "sensitivity_ci95": [0.5, 0.95], "specificity_ci95": [0.6, 0.98]}
    wide_low, wide_high = crackles({"posterior_left_base": 0.9},
                                  {**CRACKLE_ENTRY, "validation": detector_block(wider)}).log_lr_range
    assert wide_low < low and wide_high > high


@pytest.mark.parametrize(
    ("sites", "level", "sides"),
    [({"posterior_left_base": 0.6}, "basal", ["left"]),
     ({"posterior_left_mid": 0.9, "posterior_left_base": 0.2}, "other_sites", ["left"]),
     ({"trachea": 0.99, "anterior_left": 0.1}, "none", []),
     ({"trachea": 0.99}, None, []),
     ({"posterior_left_base": None}, None, [])],
)
def test_site_findings(sites, level, sides):
    finding = crackle_finding(sites, threshold=0.5)
    assert finding["level"] == level and finding["basal_sides_recorded"] == sides


def test_a_clear_chest_counts_fully_only_for_a_complete_exam():
    both = crackle_finding({"posterior_left_base": 0.6, "lateral_right_base": 0.8}, threshold=0.5)
    assert both["bilateral_basal"] and both["any_base_probability"] == pytest.approx(1 - 0.4 * 0.2)
    complete = crackles(BASES)
    assert complete.finding["complete_exam"] and complete.log_likelihood_ratio < 0
    one_side = crackles({"posterior_left_base": 0.1, "lateral_right_base": 0.1})
    assert not one_side.finding["complete_exam"] and one_side.finding["negative_share"] == 0.5
    assert one_side.log_likelihood_ratio == pytest.approx(complete.log_likelihood_ratio / 2)
    assert crackles({"anterior_left": 0.1}).log_likelihood_ratio == 0  # no protocol base heard: rules nothing out
    # A base that was not accepted (None: every recording refused) counts for nothing.
    refused = crackles({"posterior_left_base": 0.1, "posterior_right_base": None})
    assert refused.log_likelihood_ratio == pytest.approx(one_side.log_likelihood_ratio)


def test_crackles_away_from_the_bases_weigh_less():
    basal = crackles({"posterior_left_base": 0.9})
    other = crackles({"posterior_left_upper": 0.9})
    assert other.log_likelihood_ratio == pytest.approx(OPTIONS.other_site_weight * basal.log_likelihood_ratio)
    assert 0 < other.log_likelihood_ratio < basal.log_likelihood_ratio


@pytest.mark.parametrize(
    ("entry", "message"),
    [({**CRACKLE_ENTRY, "validation": detector_block({**DETECTOR, "sensitivity": 1.4})},
      r"populations.adults.sensitivity must be in"),
     ({**CRACKLE_ENTRY, "validation": detector_block({"auc": 0.9})}, "adults is incomplete: missing 'patients'"),
     ({**CRACKLE_ENTRY, "validation": detector_block({**DETECTOR, "positive_patients": 81})}, "exceeds patients"),
     ({**CRACKLE_ENTRY, "validation": {**detector_block(), "populations": [1]}}, "populations must be an object"),
     ({**CRACKLE_ENTRY, "validation": detector_block({**DETECTOR, "by_device": {"fixture stethoscope": {
         **DETECTOR, "patients": 81}}})},
      r"adults.by_device.fixture stethoscope.patients 81 exceeds the population's patients 80"),
     ({**CRACKLE_ENTRY, "validation": detector_block({**DETECTOR, "by_device": {"fixture stethoscope": {
         **DETECTOR, "specificity": -0.1}}})}, r"adults.by_device.fixture stethoscope.specificity must be in"),
     ({**CRACKLE_ENTRY, "threshold": 2}, "crackle threshold must be in")],
)
def test_a_bad_detector_validation_block_is_refused_naming_it(entry, message):
    with pytest.raises(ValidationError, match=message):
        crackles({"posterior_left_base": 0.9}, entry)


def test_a_devices_own_figures_are_checked_but_never_counted():
    """by_device is shown on a take's result (edge.auscultation.stethoscope_validation); the likelihood
    ratio stays the adults' pooled one, however poor a device's own figures."""
    missed = {**DETECTOR, "sensitivity": 0.05, "sensitivity_ci95": [0.01, 0.2]}
    entry = {**CRACKLE_ENTRY, "validation": detector_block({**DETECTOR, "by_device": {"fixture stethoscope": missed}})}
    pooled = {**CRACKLE_ENTRY, "validation": detector_block()}
    status = detector_validation(entry)
    assert status["validated"] and status["sensitivity"] == detector_validation(pooled)["sensitivity"]
    finding = {"posterior_left_base": 0.9}
    assert crackles(finding, entry).log_likelihood_ratio == crackles(finding, pooled).log_likelihood_ratio != 0


def test_a_detector_that_found_no_adult_with_crackles_is_read_and_not_counted():
    """0 of 3 is a measurement, not a malformed block: the bundle loads and the detector does not count."""
    missed_all = {**SMALL_ADULTS, "sensitivity": 0.0, "sensitivity_ci95": [0.0, 0.56]}
    status = detector_validation({**CRACKLE_ENTRY, "validation": detector_block(missed_all)})
    assert not status["validated"] and status["reason_code"] == "too_few"
    enough = {**DETECTOR, "sensitivity": 0.0, "sensitivity_ci95": [0.0, 0.05]}
    status = detector_validation({**CRACKLE_ENTRY, "validation": detector_block(enough)})
    assert not status["validated"] and status["reason_code"] == "uncertain"


def test_a_bad_site_probability_is_refused_naming_the_site():
    with pytest.raises(ValidationError, match="crackle probability of 'posterior_left_base' must be in"):
        crackles({"posterior_left_base": 1.3})


def test_labs_lr_is_the_output_odds_over_the_real_training_prevalence_odds():
    evidence = tabular_evidence("labs", 0.6, LABS_ENTRY, model_version="labs-1")
    assert evidence.likelihood_ratio == pytest.approx((0.6 / 0.4) / (0.29 / 0.71))
    assert tabular_evidence("labs", 0.29, LABS_ENTRY, model_version="labs-1").likelihood_ratio == pytest.approx(1)
    assert evidence.validation == REAL_STATUS and evidence.finding["training_prevalence"] == 0.29
    assert evidence.finding["counted"]


def test_a_synthetic_lab_model_is_measured_not_counted():
    evidence = tabular_evidence("labs", 0.02, SYNTHETIC_LABS_ENTRY, model_version="labs-1")
    assert evidence.likelihood_ratio == 1 and evidence.log_lr_range == (0.0, 0.0)
    assert not evidence.finding["counted"] and "synthetic" in evidence.finding["reason"]
    assert evidence.finding["reason_code"] == "synthetic"
    assert evidence.finding["likelihood_ratio_if_counted"] == pytest.approx((0.02 / 0.98) / (0.29 / 0.71))
    assert tabular_potential_range(SYNTHETIC_LABS_ENTRY) == (0.0, 0.0)


def test_a_synthetic_lab_model_counts_once_the_clinics_outcomes_validate_it():
    site = {"validated": True, "reason": "validated on 120 verified patients", "auc": 0.8, "auc_ci95": [0.74, 0.86]}
    evidence = tabular_evidence("labs", 0.6, SYNTHETIC_LABS_ENTRY, model_version="labs-1", site=site)
    assert evidence.finding["counted"] and evidence.finding["validation_source"] == "site"
    assert evidence.likelihood_ratio == pytest.approx((0.6 / 0.4) / (0.29 / 0.71))
    not_yet = tabular_evidence("labs", 0.6, SYNTHETIC_LABS_ENTRY, model_version="labs-1",
                               site={"validated": False, "reason": "too few"})
    assert not_yet.likelihood_ratio == 1


def test_the_labs_range_scales_the_log_lr_by_the_validated_auc_ci():
    evidence = tabular_evidence("labs", 0.8, LABS_ENTRY, model_version="labs-1")
    d = binormal_separation(0.88)
    expected = [evidence.log_likelihood_ratio * binormal_separation(a) / d for a in (0.87, 0.89)]
    assert list(evidence.log_lr_range) == pytest.approx(expected)
    low, high = tabular_potential_range(LABS_ENTRY)
    assert low == pytest.approx(-high) and high == pytest.approx(1.6449 * d + d * d / 2, rel=1e-4)


def labs_validated_on(patients, positives, auc, ci95):
    """LABS_ENTRY with its adult validation replaced by these figures."""
    adults = {"patients": patients, "positive_patients": positives, "auc": auc, "auc_ci95": list(ci95)}
    return {**LABS_ENTRY, "validation": {**LABS_ENTRY["validation"], "populations": {"adults": adults}}}


RULE = ValidationRule()


@pytest.mark.parametrize("auc, low, with_ild, without_ild, judged", [
    # A CI collapsed to a point (every case above every non-case): Newcombe's score bound instead.
    (1.0, 1.0, 3, 17, auc_score_interval(1.0, 3, 17)[0]),
    (1.0, 1.0, 10, 40, auc_score_interval(1.0, 10, 40)[0]),
    # A wide honest bootstrap is never narrowed ...
    (0.88, 0.62, 120, 280, 0.62),
    # ... a narrower one is widened to the score bound (0.84 on 120 / 280).
    (0.88, 0.87, 120, 280, auc_score_interval(0.88, 120, 280)[0]),
    # Effective (non-whole) numbers of patients are read as they are.
    (1.0, 1.0, 4.2, 15.8, auc_score_interval(1.0, 4.2, 15.8)[0]),
    # Nobody in one group: no AUC to judge.
    (1.0, 1.0, 0, 20, 0.0),
    (1.0, 1.0, 20, 0, 0.0),
])
def test_the_auc_row_judges_the_lower_of_the_reported_bound_and_the_score_bound(auc, low, with_ild, without_ild,
                                                                                judged):
    assert RULE.auc_lower_bound(auc, low, with_ild=with_ild, without_ild=without_ild) == pytest.approx(judged)


def test_a_perfectly_ranked_validation_on_few_patients_does_not_pass_the_auc_row():
    # 3 of 20 with ILD, all ranked above the 17 without: the bootstrap says AUC 1.00 (1.00-1.00),
    # which clears 0.70; the score bound from 3 and 17 patients (0.66) does not. A clinic that
    # lowered the fewest patients with ILD to 3 must not have the AUC row pass on a point.
    lenient = ValidationRule(min_positive_patients=3)
    status = tabular_validation(labs_validated_on(20, 3, 1.0, (1.0, 1.0)), name="labs", rule=lenient)
    assert not status["validated"] and status["reason_code"] == "uncertain"
    assert "could be as low as 0.66" in status["reason"]
    evidence = tabular_evidence("labs", 0.8, labs_validated_on(20, 3, 1.0, (1.0, 1.0)), model_version="labs-1",
                                rule=lenient)
    assert not evidence.finding["counted"] and evidence.likelihood_ratio == 1
    # The same perfect ranking on 12 of 60 patients is strong enough (bound 0.90).
    assert tabular_validation(labs_validated_on(60, 12, 1.0, (1.0, 1.0)), name="labs", rule=lenient)["validated"]


def test_a_large_clean_validation_still_passes_the_auc_row_with_its_reported_range():
    status = tabular_validation(LABS_ENTRY, name="labs")  # 400 patients, 120 with ILD, AUC 0.88 (0.87-0.89)
    assert status["validated"] and status["auc"] == (0.88, 0.87, 0.89)
    # A model just above the row on its bootstrap but not on so few patients does not pass.
    assert not tabular_validation(labs_validated_on(40, 8, 0.90, (0.78, 0.97)), name="labs")["validated"]


def test_a_regional_auc_is_judged_on_its_effective_numbers_of_patients():
    figures = {"patients": 60, "positive_patients": 12, "clinics": 4, "auc": 1.0, "auc_ci95": (1.0, 1.0),
               "region": "North", "version": "v", "model_version": "labs-1"}
    assert regional_status(figures, RULE, served_version="labs-1")["validated"]  # bound 0.90 on 12 / 48
    # Verification weights leave 3.5 effective patients with ILD of 18: the bound falls below 0.70.
    weighted = {**figures, "effective_patients": 18.0, "effective_positive_patients": 3.5}
    status = regional_status(weighted, RULE, served_version="labs-1")
    bound = auc_score_interval(1.0, 3.5, 14.5)[0]
    assert bound < RULE.site_min_auc_lower and not status["validated"]
    assert f"could be as low as {bound:.2f}" in status["reason"]


def test_kl6_counts_by_its_published_accuracy_raising_above_the_cutoff_and_lowering_below():
    assert (KL6_ACCURACY.sensitivity, KL6_ACCURACY.specificity) == (0.76, 0.89)
    high = kl6_evidence(1500, options=OPTIONS)
    low = kl6_evidence(200, options=OPTIONS)
    assert high.likelihood_ratio == pytest.approx(0.76 / 0.11) and high.finding["kl6_result"] == "positive"
    assert low.likelihood_ratio == pytest.approx(0.24 / 0.89) and low.finding["kl6_result"] == "negative"
    assert high.log_lr_range[0] < high.log_likelihood_ratio < high.log_lr_range[1]
    assert "e19695" in high.finding["source"]
    assert kl6_evidence(450, options=EvidenceOptions(kl6_cutoff=400)).finding["kl6_result"] == "positive"
    with pytest.raises(ValidationError, match="KL-6 must be a number of U/mL"):
        kl6_evidence(-3, options=OPTIONS)


@pytest.mark.parametrize(
    ("entry", "probability", "message"),
    [({**LABS_ENTRY, "training_data": {"prevalence": 1.0}}, 0.5, r"training_data.prevalence must be in \(0, 1\)"),
     ({**LABS_ENTRY, "training_data": {}}, 0.5, "training_data.prevalence must be a number"),
     (LABS_ENTRY, math.nan, "labs probability must be in")],
)
def test_bad_tabular_numbers_are_refused_naming_them(entry, probability, message):
    with pytest.raises(ValidationError, match=message):
        tabular_evidence("labs", probability, entry, model_version="labs-1")


def test_the_evidence_settings_reach_the_options(tmp_path, monkeypatch):
    from edge.config import load_settings
    from edge.errors import ConfigError

    monkeypatch.setenv("ILDSCREEN_EVIDENCE_VALIDATION_RULE", '{"min_patients": 30}')
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_KL6_CUTOFF", "800")
    options = load_settings(data_dir=tmp_path / "data").evidence_options
    assert options.validation_rule.min_patients == 30 and options.validation_rule.min_positive_patients == 5
    assert options.kl6_cutoff == 800
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_VALIDATION_RULE", '{"min_patientz": 30}')
    with pytest.raises(ConfigError, match="evidence_validation_rule"):
        load_settings(data_dir=tmp_path / "data")


def test_lung_sounds_validated_by_the_clinics_outcomes_count_by_the_clinics_own_accuracy():
    site = {"validated": True, "reason": "validated on 120 verified patients at this clinic", "sensitivity": 0.7,
            "sensitivity_ci95": [0.55, 0.82], "specificity": 0.85, "specificity_ci95": [0.78, 0.9]}
    crackly = crackle_evidence({"posterior_left_base": 0.9, "posterior_right_base": 0.1}, UNVALIDATED_ENTRY,
                               ctd_diagnosis="RA", model_version="a", options=OPTIONS, site=site)
    assert crackly.finding["counted"] and crackly.finding["validation_source"] == "site"
    assert crackly.likelihood_ratio == pytest.approx(0.7 / 0.15)
    clear = crackle_evidence(BASES, UNVALIDATED_ENTRY, ctd_diagnosis="RA", model_version="a", options=OPTIONS,
                             site=site)
    assert clear.likelihood_ratio == pytest.approx(0.3 / 0.85)
    not_yet = crackle_evidence(BASES, UNVALIDATED_ENTRY, ctd_diagnosis="RA", model_version="a", options=OPTIONS,
                               site={"validated": False, "reason": "too few"})
    assert not_yet.likelihood_ratio == 1
    # What lung sounds could still do (ranks the missing modality for the nurse) follows the same
    # validation: from a clear chest to basal crackles, at the clinic's own accuracy.
    low, high = crackle_potential_range(UNVALIDATED_ENTRY, ctd_diagnosis="RA", options=OPTIONS, site=site)
    assert (math.exp(low), math.exp(high)) == (pytest.approx(0.3 / 0.85), pytest.approx(0.7 / 0.15))
    assert crackle_potential_range(UNVALIDATED_ENTRY, ctd_diagnosis="RA", options=OPTIONS,
                                   site={"validated": False, "reason": "too few"}) == (0.0, 0.0)
