"""The clinical prior: base prevalence per CTD and the odds ratios that apply to it."""
import pytest

from edge.errors import ValidationError
from edge.fusion.clinical_prior import BASE_PREVALENCE, ClinicalPicture, clinical_prior


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
