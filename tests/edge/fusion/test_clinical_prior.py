"""The clinical prior: base prevalence per CTD and the odds ratios that apply to it."""
import math

import pytest

from edge.errors import ValidationError
from edge.fusion.clinical_prior import (BASE_PREVALENCE, ODDS_RATIOS, UNRANGED_ODDS_FACTOR, ClinicalPicture,
                                        clinical_prior)


@pytest.mark.parametrize("ctd", sorted(BASE_PREVALENCE))
def test_a_patient_without_risk_factors_gets_the_base_prevalence(ctd):
    assert clinical_prior(ClinicalPicture(ctd, 45, "F")).probability == pytest.approx(BASE_PREVALENCE[ctd])


def test_ssc_is_higher_risk_than_ra_and_scl70_raises_anti_centromere_lowers():
    ssc = clinical_prior(ClinicalPicture("SSc", 60, "F")).probability
    assert ssc > clinical_prior(ClinicalPicture("RA", 60, "F")).probability
    assert clinical_prior(ClinicalPicture("SSc", 60, "F", autoantibodies=("anti-Scl-70",))).probability > ssc
    assert clinical_prior(ClinicalPicture("SSc", 60, "F", autoantibodies=("anti-centromere",))).probability < ssc


def test_factors_apply_only_to_their_ctd():
    ra = clinical_prior(ClinicalPicture("RA", 60, "F", autoantibodies=("anti-Scl-70", "anti-CCP")))
    assert set(ra.factors) == {"anti-CCP", "age_per_decade_over_50"}


def test_age_sex_smoking_and_symptoms_raise_the_prior():
    base = clinical_prior(ClinicalPicture("RA", 55, "F")).probability
    for picture in (ClinicalPicture("RA", 75, "F"), ClinicalPicture("RA", 55, "M"),
                    ClinicalPicture("RA", 55, "F", smoking="former"),
                    ClinicalPicture("RA", 55, "F", symptoms=("exertional_dyspnoea",))):
        assert clinical_prior(picture).probability > base


def test_bad_inputs_are_named():
    with pytest.raises(ValidationError, match="unknown CTD diagnosis 'gout'"):
        clinical_prior(ClinicalPicture("gout", 60, "F"))
    with pytest.raises(ValidationError, match="age must be between 16 and 120, got 140"):
        clinical_prior(ClinicalPicture("RA", 140, "F"))


@pytest.mark.parametrize("ctd", sorted(BASE_PREVALENCE))
def test_every_base_rate_lies_in_its_range_and_the_prior_range_moves_with_it(ctd):
    prior = clinical_prior(ClinicalPicture(ctd, 45, "F"))
    low, high = prior.base_prevalence_range
    assert low < prior.base_prevalence <= high
    log_low, log_high = prior.log_odds_range
    assert log_low == pytest.approx(math.log(low / (1 - low))) and log_high == pytest.approx(math.log(high / (1 - high)))


def test_a_ctd_without_a_published_range_gets_odds_times_and_over_the_stated_factor():
    low, high = clinical_prior(ClinicalPicture("IIM", 45, "F")).base_prevalence_range
    odds = BASE_PREVALENCE["IIM"] / (1 - BASE_PREVALENCE["IIM"])
    assert low / (1 - low) == pytest.approx(odds / UNRANGED_ODDS_FACTOR)
    assert high / (1 - high) == pytest.approx(odds * UNRANGED_ODDS_FACTOR)


def test_every_odds_ratio_says_where_it_comes_from():
    assert all(source for _ratio, _applies, source in ODDS_RATIOS.values())
