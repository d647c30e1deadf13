"""The clinical prior: base prevalence per CTD and the odds ratios that apply to it."""
import math

import pytest

from edge.errors import ValidationError
from edge.fusion.clinical_prior import (BASE_PREVALENCE, BASE_PREVALENCE_RANGE, ODDS_RATIOS, ClinicalPicture,
                                        UndeterminedPrior, clinical_prior)


@pytest.mark.parametrize("ctd", sorted(BASE_PREVALENCE))
def test_a_patient_without_risk_factors_gets_the_base_prevalence(ctd):
    assert clinical_prior(ClinicalPicture(ctd, 45, "F")).probability == pytest.approx(BASE_PREVALENCE[ctd])


def test_ssc_is_higher_risk_than_ra_and_scl70_raises_anti_centromere_lowers():
    ssc = clinical_prior(ClinicalPicture("SSc", 60, "F")).probability
    assert ssc > clinical_prior(ClinicalPicture("RA", 60, "F")).probability
    assert clinical_prior(ClinicalPicture("SSc", 60, "F", autoantibodies=("anti-Scl-70",))).probability > ssc
    assert clinical_prior(ClinicalPicture("SSc", 60, "F", autoantibodies=("anti-centromere",))).probability < ssc


def test_factors_apply_only_to_their_ctd():
    ra = clinical_prior(ClinicalPicture("RA", 60, "F", autoantibodies=("anti-Scl-70", "anti-CCP-high-titre")))
    assert set(ra.factors) == {"anti-CCP-high-titre", "age_per_decade_over_50"}


def test_only_a_high_titre_anti_ccp_is_the_guidelines_risk_factor():
    positive = clinical_prior(ClinicalPicture("RA", 45, "F", autoantibodies=("anti-CCP",)))
    assert positive.factors == {} and positive.probability == pytest.approx(BASE_PREVALENCE["RA"])
    high = clinical_prior(ClinicalPicture("RA", 45, "F", autoantibodies=("anti-CCP-high-titre",)))
    assert high.probability > positive.probability


@pytest.mark.parametrize(("ctd", "base", "low", "high"), [
    ("RA", 0.11, 0.07, 0.15),    # Joy GM et al. Eur Respir Rev 2023;32:220210
    ("SjD", 0.23, 0.16, 0.30),   # J Clin Med 2023;12(7):2586
    ("IIM", 0.41, 0.35, 0.48),   # Sun KY et al. Semin Arthritis Rheum 2021;51:175-191
    ("SSc", 0.47, 0.44, 0.50),   # Joy 2023, abstract (Results)
    ("MCTD", 0.56, 0.39, 0.72),  # Joy 2023, abstract (Results)
    ("SLE", 0.06, 0.03, 0.10),   # Joy 2023, abstract (Results)
])
def test_the_base_rates_and_their_cis_are_the_sources(ctd, base, low, high):
    prior = clinical_prior(ClinicalPicture(ctd, 45, "F"))
    assert prior.base_prevalence == base and prior.base_prevalence_range == (low, high)


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


def test_every_defined_ctd_has_its_sources_95_percent_ci():
    assert set(BASE_PREVALENCE_RANGE) == set(BASE_PREVALENCE)


def test_a_diagnosis_not_yet_established_takes_the_programme_prior_and_its_wide_range():
    prior = clinical_prior(ClinicalPicture("undetermined", 45, "F"))
    assert prior.probability == pytest.approx(0.29) and prior.base_prevalence_range == (0.06, 0.56)
    # Wider than any defined CTD's range: the interval must not look surer than the evidence.
    width = prior.log_odds_range[1] - prior.log_odds_range[0]
    for ctd in BASE_PREVALENCE:
        defined = clinical_prior(ClinicalPicture(ctd, 45, "F")).log_odds_range
        assert width > defined[1] - defined[0]


def test_the_undetermined_prior_is_a_setting_and_is_checked():
    chosen = UndeterminedPrior(base=0.15, low=0.05, high=0.4)
    prior = clinical_prior(ClinicalPicture("undetermined", 45, "F"), undetermined=chosen)
    assert prior.probability == pytest.approx(0.15)
    with pytest.raises(ValueError, match="need low < base < high"):
        UndeterminedPrior(base=0.7, low=0.06, high=0.56)


def test_a_diagnosis_not_yet_established_is_not_given_a_known_diseases_factors():
    """Antibodies that carry ILD risk before classification count; RA's and SSc's lowering ones do not."""
    picture = ClinicalPicture("undetermined", 45, "F",
                              autoantibodies=("anti-Jo-1", "anti-Scl-70", "anti-centromere", "anti-CCP-high-titre"))
    assert set(clinical_prior(picture).factors) == {"anti-Jo-1", "anti-Scl-70"}


def test_every_odds_ratio_says_where_it_comes_from():
    assert all(source for _ratio, _applies, source in ODDS_RATIOS.values())
