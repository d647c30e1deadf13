"""Fusion: monotone in every site and model, a missing modality changes nothing, dependence
shrinks agreeing evidence as documented, and both uncertainties come from the stated numbers."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from edge.errors import ValidationError
from edge.fusion.clinical_prior import ClinicalPicture, clinical_prior
from edge.fusion.evidence import Z90, Z95, EvidenceOptions, ModalityEvidence, crackle_evidence, tabular_evidence
from edge.fusion.fusion import assumption_terms, combined_log_lr, fuse, sigmoid
from manifest_fixtures import CRACKLE_ENTRY, LABS_ENTRY, STATUS

OPTIONS = EvidenceOptions()
PRIOR = clinical_prior(ClinicalPicture("RA", 64, "F"))
SITES = ("posterior_left_base", "posterior_right_base", "lateral_left_base", "posterior_left_mid",
         "posterior_right_upper", "anterior_right")
BREATH_ENTRY = {**LABS_ENTRY, "name": "breath", "training_data": {"prevalence": 0.35}}


def crackles(sites, options=OPTIONS):
    return crackle_evidence(sites, CRACKLE_ENTRY, ctd_diagnosis="RA", model_version="a", options=options)


def risk(evidence, options=OPTIONS):
    return fuse(PRIOR, [e for e in evidence if e is not None], options=options)["probability"]


def neutral(modality):
    return ModalityEvidence(modality, 0.0, (0.0, 0.0), "v", STATUS)


site_maps = st.dictionaries(st.sampled_from(SITES), st.floats(0, 1), max_size=len(SITES))
probability = st.floats(0.001, 0.999)


@settings(max_examples=150, deadline=None)
@given(sites=site_maps, site=st.sampled_from(SITES), crackle=st.floats(0.5, 1), labs=probability)
def test_adding_a_site_with_crackles_never_lowers_the_risk(sites, site, crackle, labs):
    others = [tabular_evidence("labs", labs, LABS_ENTRY, model_version="l")]
    before = risk(others + [crackles(sites)])
    after = risk(others + [crackles({**sites, site: crackle})])
    assert after >= before - 1e-12


@settings(max_examples=150, deadline=None)
@given(sites=site_maps, site=st.sampled_from(SITES), low=st.floats(0, 1), high=st.floats(0, 1),
       labs=probability, breath=probability)
def test_the_risk_is_monotone_in_every_sites_probability(sites, site, low, high, labs, breath):
    low, high = sorted((low, high))
    others = [tabular_evidence("labs", labs, LABS_ENTRY, model_version="l"),
              tabular_evidence("breath", breath, BREATH_ENTRY, model_version="b")]
    assert risk(others + [crackles({**sites, site: high})]) >= risk(others + [crackles({**sites, site: low})]) - 1e-12


@settings(max_examples=150, deadline=None)
@given(modality=st.sampled_from(["labs", "breath"]), low=probability, high=probability, other=probability,
       sites=site_maps, weight=st.floats(0, 1), cap=st.floats(1.5, 100))
def test_the_risk_is_monotone_in_every_models_probability(modality, low, high, other, sites, weight, cap):
    low, high = sorted((low, high))
    options = EvidenceOptions(dependence_weight=weight, lr_cap=cap)
    entries = {"labs": LABS_ENTRY, "breath": BREATH_ENTRY}
    other_name = "breath" if modality == "labs" else "labs"
    rest = [tabular_evidence(other_name, other, entries[other_name], model_version="o"), crackles(sites, options)]
    weaker = risk(rest + [tabular_evidence(modality, low, entries[modality], model_version="m")], options)
    stronger = risk(rest + [tabular_evidence(modality, high, entries[modality], model_version="m")], options)
    assert stronger >= weaker - 1e-12


@settings(max_examples=100, deadline=None)
@given(present=st.lists(st.sampled_from(["labs", "breath"]), unique=True), labs=probability, breath=probability,
       missing=st.sampled_from(["auscultation", "breath", "labs"]))
def test_a_missing_modality_changes_nothing(present, labs, breath, missing):
    values = {"labs": labs, "breath": breath}
    entries = {"labs": LABS_ENTRY, "breath": BREATH_ENTRY}
    evidence = [tabular_evidence(m, values[m], entries[m], model_version=m) for m in present if m != missing]
    without = fuse(PRIOR, evidence, options=OPTIONS)
    with_neutral = fuse(PRIOR, evidence + [neutral(missing)], options=OPTIONS)
    assert with_neutral["probability"] == pytest.approx(without["probability"], abs=1e-12)
    assert with_neutral["interval"] == pytest.approx(without["interval"], abs=1e-12)
    assert missing in without["missing"]


def test_agreeing_evidence_is_shrunk_by_the_dependence_weight_and_weight_one_is_naive_bayes():
    log_lrs = {"labs": 1.2, "breath": 0.8, "auscultation": -0.5}
    combined, weights = combined_log_lr(log_lrs, EvidenceOptions(dependence_weight=0.25))
    assert combined == pytest.approx(1.2 + 0.25 * 0.8 - 0.5)
    assert weights == {"labs": 1.0, "breath": 0.25, "auscultation": 1.0}
    assert combined_log_lr(log_lrs, EvidenceOptions(dependence_weight=1))[0] == pytest.approx(1.5)


def test_each_modality_lr_is_held_within_the_cap():
    assert combined_log_lr({"labs": 9.0}, EvidenceOptions(lr_cap=10))[0] == pytest.approx(math.log(10))
    assert combined_log_lr({"labs": -9.0}, EvidenceOptions(lr_cap=4))[0] == pytest.approx(-math.log(4))
    extreme = tabular_evidence("labs", 0.999, LABS_ENTRY, model_version="l")
    result = fuse(PRIOR, [extreme], options=EvidenceOptions(lr_cap=10))
    assert result["contributions"]["labs"]["applied_likelihood_ratio"] == pytest.approx(10)
    assert result["contributions"]["labs"]["likelihood_ratio"] > 10
    assert result["probability"] == pytest.approx(sigmoid(PRIOR.log_odds + math.log(10)))


def test_the_interval_comes_from_the_prior_range_each_models_range_and_the_programme_assumptions():
    labs = tabular_evidence("labs", 0.7, LABS_ENTRY, model_version="l")
    result = fuse(PRIOR, [labs], options=OPTIONS)
    prior_low, prior_high = PRIOR.log_odds_range
    labs_low, labs_high = labs.log_lr_range
    assumed = assumption_terms(PRIOR, {"labs": labs.log_likelihood_ratio}, OPTIONS)
    # RA woman of 64: the age odds ratio is a programme assumption and widens the interval.
    assert set(assumed) == {"odds_ratio:age_per_decade_over_50"}
    sd = math.sqrt(((prior_high - prior_low) / (2 * Z95)) ** 2 + ((labs_high - labs_low) / (2 * Z95)) ** 2
                   + sum(v ** 2 for v in assumed.values()))
    centre = PRIOR.log_odds + labs.log_likelihood_ratio
    assert result["interval"] == pytest.approx([sigmoid(centre - Z90 * sd), sigmoid(centre + Z90 * sd)])
    assert result["interval"][0] < result["probability"] < result["interval"][1]


def test_the_spread_is_taken_before_the_cap_so_a_capped_lr_keeps_its_uncertainty():
    extreme = ModalityEvidence("labs", math.log(40), (math.log(15), math.log(90)), "v", STATUS)
    result = fuse(PRIOR, [extreme], options=EvidenceOptions(lr_cap=10, assumption_spread=0))
    assert result["interval_sources"]["measured"]["labs"] == pytest.approx((math.log(90) - math.log(15)) / (2 * Z95))
    assert result["interval"][0] < result["probability"] < result["interval"][1]


def test_the_dependence_weight_widens_the_interval_when_evidence_agrees():
    a = ModalityEvidence("labs", 1.0, (1.0, 1.0), "v", STATUS)
    b = ModalityEvidence("breath", 0.8, (0.8, 0.8), "v", STATUS)
    result = fuse(PRIOR, [a, b], options=OPTIONS)
    assert result["interval_sources"]["programme_assumptions"]["dependence_weight"] == pytest.approx(0.8 / (2 * Z95))
    assert "dependence_weight" not in fuse(PRIOR, [a], options=OPTIONS)["interval_sources"]["programme_assumptions"]


def test_what_missing_modalities_could_change_is_reported_apart_from_the_interval():
    potential = {"labs": (-2.0, 2.0), "breath": None, "auscultation": (0.0, 0.0)}
    result = fuse(PRIOR, [], options=OPTIONS, potential=potential)
    missing = result["if_missing_measured"]
    assert missing["modalities"] == ["labs"] and missing["unknown"] == ["breath"]
    assert missing["not_informative"] == ["auscultation"]
    assert missing["low"] == pytest.approx(sigmoid(PRIOR.log_odds - 2))
    assert missing["high"] == pytest.approx(sigmoid(PRIOR.log_odds + 2))
    everything = fuse(PRIOR, [neutral("labs"), neutral("breath"), neutral("auscultation")], options=OPTIONS,
                      potential=potential)
    assert everything["if_missing_measured"] is None


def test_duplicate_modalities_are_refused():
    with pytest.raises(ValidationError, match="given once"):
        fuse(PRIOR, [neutral("labs"), neutral("labs")], options=OPTIONS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"modality": "xray"}, "unknown modality 'xray'"),
     ({"log_likelihood_ratio": 3.0}, "must be finite and within its range"),
     ({"log_likelihood_ratio": math.inf, "log_lr_range": (0, math.inf)}, "must be finite")],
)
def test_bad_evidence_is_refused_naming_the_value(kwargs, message):
    values = {"modality": "labs", "log_likelihood_ratio": 0.5, "log_lr_range": (0.0, 1.0), "model_version": "v",
              "validation": STATUS, **kwargs}
    with pytest.raises(ValidationError, match=message):
        ModalityEvidence(**values)
