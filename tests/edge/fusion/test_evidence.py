"""The evidence model (docs/evidence.md): crackles become ILD evidence only through the
published accuracy of fine crackles and the detector's own validation; labs and breath through
their real training prevalence; bad manifest numbers are refused, naming them."""
import math

import pytest

from edge.errors import ValidationError
from edge.fusion.evidence import (CRACKLE_SIGN, EvidenceOptions, binormal_separation, crackle_evidence,
                                  crackle_finding, crackle_potential_range, crackle_sign_for, tabular_evidence,
                                  tabular_potential_range)
from evaluation.metrics import wilson_interval
from manifest_fixtures import CRACKLE_ENTRY, DETECTOR, LABS_ENTRY, STATUS, UNVALIDATED_ENTRY

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
    evidence = crackles({"posterior_right_base": 0.9}, {**CRACKLE_ENTRY, "validation": perfect}, ctd="RA")
    assert evidence.likelihood_ratio == pytest.approx(sign.sensitivity / (1 - sign.specificity), rel=1e-3)


def test_without_a_validation_block_the_detector_contributes_nothing():
    evidence = crackles({"posterior_left_base": 0.99, "posterior_right_base": 0.99}, UNVALIDATED_ENTRY)
    assert evidence.likelihood_ratio == 1 and evidence.log_lr_range == (0.0, 0.0)
    assert evidence.finding["validated"] is False and "not validated" in evidence.finding["note"]
    assert crackle_potential_range(UNVALIDATED_ENTRY, ctd_diagnosis="SSc") == (0.0, 0.0)


def test_the_range_of_a_finding_comes_from_every_ci_corner_and_contains_it():
    evidence = crackles({"posterior_left_base": 0.9})
    low, high = evidence.log_lr_range
    assert low < evidence.log_likelihood_ratio < high
    wider = {**DETECTOR, "sensitivity_ci95": [0.5, 0.95], "specificity_ci95": [0.6, 0.98]}
    wide_low, wide_high = crackles({"posterior_left_base": 0.9}, {**CRACKLE_ENTRY, "validation": wider}).log_lr_range
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


def test_bilateral_basal_crackles_are_reported_and_a_one_sided_clear_chest_counts_half():
    both = crackle_finding({"posterior_left_base": 0.6, "lateral_right_base": 0.8}, threshold=0.5)
    assert both["bilateral_basal"] and both["any_base_probability"] == pytest.approx(1 - 0.4 * 0.2)
    one_side = crackles({"posterior_left_base": 0.1})
    assert one_side.log_likelihood_ratio == pytest.approx(crackles(BASES).log_likelihood_ratio / 2)
    assert crackles({"anterior_left": 0.1}).log_likelihood_ratio == 0  # no base heard: rules nothing out


def test_crackles_away_from_the_bases_weigh_less():
    basal = crackles({"posterior_left_base": 0.9})
    other = crackles({"posterior_left_upper": 0.9})
    assert other.log_likelihood_ratio == pytest.approx(OPTIONS.other_site_weight * basal.log_likelihood_ratio)
    assert 0 < other.log_likelihood_ratio < basal.log_likelihood_ratio


@pytest.mark.parametrize(
    ("entry", "message"),
    [({**CRACKLE_ENTRY, "validation": {**DETECTOR, "sensitivity": 1.4}}, "validation sensitivity must be in"),
     ({**CRACKLE_ENTRY, "validation": {"auc": 0.9}}, "validation block is incomplete"),
     ({**CRACKLE_ENTRY, "validation": {**DETECTOR, "sensitivity": 0.4, "specificity": 0.5}}, "better than chance"),
     ({**CRACKLE_ENTRY, "threshold": 2}, "crackle threshold must be in")],
)
def test_a_bad_detector_validation_block_is_refused_naming_it(entry, message):
    with pytest.raises(ValidationError, match=message):
        crackles({"posterior_left_base": 0.9}, entry)


def test_a_bad_site_probability_is_refused_naming_the_site():
    with pytest.raises(ValidationError, match="crackle probability of 'posterior_left_base' must be in"):
        crackles({"posterior_left_base": 1.3})


def test_labs_lr_is_the_output_odds_over_the_real_training_prevalence_odds():
    evidence = tabular_evidence("labs", 0.6, LABS_ENTRY, model_version="labs-1")
    assert evidence.likelihood_ratio == pytest.approx((0.6 / 0.4) / (0.29 / 0.71))
    assert tabular_evidence("labs", 0.29, LABS_ENTRY, model_version="labs-1").likelihood_ratio == pytest.approx(1)
    assert evidence.validation == STATUS and evidence.finding["training_prevalence"] == 0.29


def test_the_labs_range_scales_the_log_lr_by_the_auc_ci():
    evidence = tabular_evidence("labs", 0.8, LABS_ENTRY, model_version="labs-1")
    d = binormal_separation(0.88)
    expected = [evidence.log_likelihood_ratio * binormal_separation(a) / d for a in (0.87, 0.89)]
    assert list(evidence.log_lr_range) == pytest.approx(expected)
    bare = {**LABS_ENTRY, "metrics": {}}
    assert tabular_evidence("labs", 0.8, bare, model_version="l").log_lr_range == pytest.approx(
        (0.0, evidence.log_likelihood_ratio))
    assert tabular_potential_range(bare) is None
    low, high = tabular_potential_range(LABS_ENTRY)
    assert low == pytest.approx(-high) and high == pytest.approx(1.6449 * d + d * d / 2, rel=1e-4)


@pytest.mark.parametrize(
    ("entry", "probability", "message"),
    [({**LABS_ENTRY, "training_data": {"prevalence": 1.0}}, 0.5, r"training_data.prevalence must be in \(0, 1\)"),
     ({**LABS_ENTRY, "training_data": {}}, 0.5, "training_data.prevalence must be a number"),
     (LABS_ENTRY, math.nan, "labs probability must be in")],
)
def test_bad_tabular_numbers_are_refused_naming_them(entry, probability, message):
    with pytest.raises(ValidationError, match=message):
        tabular_evidence("labs", probability, entry, model_version="labs-1")
