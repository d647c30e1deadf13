"""Triage follows the 2023 ACR/CHEST guideline: every CTD x risk factor x tier gives the advice
of its guideline line; SSc, IIM and MCTD are always advised HRCT + PFTs; RA and SjD with a risk
factor or with symptoms of ILD are tested; red flags are urgent and cite their source; a chest X-ray,
walk test or oximetry is never the confirming test."""
import itertools

import pytest

from edge.config import load_settings
from edge.fusion.triage import (ADVICE, ILD_SYMPTOMS, RA_RISK_FACTORS, RED_FLAGS, SCREENING_LINES, SJD_RISK_FACTORS,
                                WORKUP_STEP, TriageThresholds, patient_factors, red_flags, triage)
from edge.vocabulary import CTD_DIAGNOSES

DEFAULT = TriageThresholds()
PROBABILITY_BY_TIER = {"low": 0.05, "intermediate": 0.2, "high": 0.5}
# Recorded facts, and the guideline lines they should select, per CTD.
FACTORS = [frozenset(), frozenset({"RF-high-titre"}), frozenset({"anti-CCP-high-titre"}), frozenset({"ever_smoker"}),
           frozenset({"male"}), frozenset({"anti-Ro52"}), frozenset({"ANA"}), frozenset({"raynaud"}),
           frozenset({"anti-Scl-70"}), frozenset({"exertional_dyspnoea"}), frozenset({"dry_cough"}),
           frozenset({"finger_clubbing"}), frozenset({"fatigue"}), frozenset({"male", "dry_cough"})]
ALWAYS_SCREENED = {"SSc": "ssc", "IIM": "iim", "MCTD": "mctd"}


def expected_line(ctd, factors):
    if ctd == "undetermined":  # whatever the factors: never screened as one of the known diseases
        return "undetermined"
    if ctd in ALWAYS_SCREENED:
        return ALWAYS_SCREENED[ctd]
    if ctd == "RA" and factors & RA_RISK_FACTORS:
        return "ra_risk"
    if ctd == "SjD" and factors & SJD_RISK_FACTORS:
        return "sjd_risk"
    if ctd in ("RA", "SjD") and factors & ILD_SYMPTOMS:
        return {"RA": "ra_symptoms", "SjD": "sjd_symptoms"}[ctd]
    return "none"


def expected_advice(line, tier, factors=frozenset()):
    if line not in ("none", "undetermined") or tier == "high":
        return "hrct_pfts"
    # Outside every line, a symptom of ILD gets a clinician review now (programme assumption).
    return "discuss" if tier == "intermediate" or factors & ILD_SYMPTOMS else "rescreen"


@pytest.mark.parametrize(("ctd", "factors", "tier"),
                         list(itertools.product(CTD_DIAGNOSES, FACTORS, PROBABILITY_BY_TIER)))
def test_every_ctd_risk_factor_and_tier_gets_its_guideline_advice(ctd, factors, tier):
    result = triage(PROBABILITY_BY_TIER[tier], thresholds=DEFAULT, flags=[], ctd_diagnosis=ctd, factors=set(factors))
    recommendation = result["recommendation"]
    line = expected_line(ctd, factors)
    assert result["tier"] == tier
    assert recommendation["guideline"]["code"] == line
    assert recommendation["advice"] == expected_advice(line, tier, factors)
    assert recommendation["priority"] == ("within_3_months" if tier == "high" else "routine")
    workup = [WORKUP_STEP] if ctd == "undetermined" else []
    months = {"hrct_pfts": None, "discuss": 6, "rescreen": 12}[recommendation["advice"]]
    assert recommendation["rescreen_months"] == months
    assert recommendation["next_steps"] == workup + [step.format(months=months)
                                                     for step in ADVICE[recommendation["advice"]]["next_steps"]]


@pytest.mark.parametrize(("ctd", "tier"), list(itertools.product(ALWAYS_SCREENED, PROBABILITY_BY_TIER)))
def test_ssc_iim_and_mctd_are_always_advised_hrct_plus_pfts(ctd, tier):
    recommendation = triage(PROBABILITY_BY_TIER[tier], thresholds=DEFAULT, flags=[], ctd_diagnosis=ctd,
                            factors=set())["recommendation"]
    assert recommendation["advice"] == "hrct_pfts"
    assert recommendation["next_steps"] == ["HRCT of the chest", "PFTs (spirometry, lung volumes, DLCO)"]
    assert "Johnson SR" in recommendation["guideline"]["source"]


def test_the_matched_risk_factors_are_named():
    factors = patient_factors(sex="M", smoking="current", autoantibodies=("anti-CCP-high-titre",), symptoms=())
    recommendation = triage(0.01, thresholds=DEFAULT, flags=[], ctd_diagnosis="RA", factors=factors)["recommendation"]
    assert recommendation["guideline"]["risk_factors"] == ["anti-CCP-high-titre", "ever_smoker", "male"]


def test_a_merely_positive_anti_ccp_selects_no_ra_line():
    factors = patient_factors(sex="F", smoking="never", autoantibodies=("anti-CCP",), symptoms=())
    recommendation = triage(0.01, thresholds=DEFAULT, flags=[], ctd_diagnosis="RA", factors=factors)["recommendation"]
    assert recommendation["guideline"]["code"] == "none" and recommendation["advice"] == "rescreen"


@pytest.mark.parametrize(
    ("antibodies", "symptoms", "code"),
    [(("anti-MDA5",), ("rapidly_worsening_dyspnoea",), "anti_mda5_rapid_dyspnoea"),
     ((), ("rapidly_worsening_dyspnoea",), "rapid_dyspnoea"),
     (("anti-MDA5",), (), "anti_mda5")],
)
@pytest.mark.parametrize("ctd", list(CTD_DIAGNOSES))
def test_red_flags_are_always_urgent_hrct_plus_pfts(antibodies, symptoms, code, ctd):
    flags = red_flags(autoantibodies=antibodies, symptoms=symptoms)
    result = triage(0.01, thresholds=DEFAULT, flags=flags, ctd_diagnosis=ctd, factors=set())
    assert [flag["code"] for flag in flags] == [code]
    assert result["tier"] == "urgent" and result["tier_from_risk"] == "low"
    assert result["recommendation"]["advice"] == "hrct_pfts" and result["recommendation"]["priority"] == "urgent"


@pytest.mark.parametrize(("fvc", "dlco", "codes"), [(79, None, ["low_fvc"]), (80, 79.9, ["low_dlco"]),
                                                      (80, 80, []), (60, 50, ["low_fvc", "low_dlco"])])
def test_abnormal_pfts_raise_to_high(fvc, dlco, codes):
    flags = red_flags(autoantibodies=(), symptoms=(), fvc_percent=fvc, dlco_percent=dlco)
    assert [f["code"] for f in flags] == codes
    result = triage(0.01, thresholds=DEFAULT, flags=flags, ctd_diagnosis="SLE", factors=set())
    assert result["tier"] == ("high" if codes else "low")


def test_flags_never_lower_the_tier():
    flags = red_flags(autoantibodies=(), symptoms=(), fvc_percent=70)
    assert triage(0.9, thresholds=DEFAULT, flags=flags, ctd_diagnosis="RA", factors=set())["tier"] == "high"


@pytest.mark.parametrize(("probability", "tier"), [(0.0, "low"), (0.0999, "low"), (0.10, "intermediate"),
                                                   (0.2999, "intermediate"), (0.30, "high"), (1.0, "high")])
def test_each_tier_at_its_boundaries(probability, tier):
    assert triage(probability, thresholds=DEFAULT, flags=[], ctd_diagnosis="SLE", factors=set())["tier"] == tier


def test_thresholds_are_configurable_per_programme():
    strict = TriageThresholds(intermediate=0.05, high=0.15)
    assert triage(0.16, thresholds=strict, flags=[], ctd_diagnosis="SLE", factors=set())["tier"] == "high"
    with pytest.raises(ValueError, match="intermediate \\(0.4\\) must be below high \\(0.3\\)"):
        TriageThresholds(intermediate=0.4, high=0.3)


@pytest.mark.parametrize(("ctd", "factors", "tier"),
                         list(itertools.product(CTD_DIAGNOSES, FACTORS, PROBABILITY_BY_TIER)))
def test_chest_x_ray_walk_test_or_oximetry_is_never_the_confirming_test(ctd, factors, tier):
    recommendation = triage(PROBABILITY_BY_TIER[tier], thresholds=DEFAULT, flags=[], ctd_diagnosis=ctd,
                            factors=set(factors))["recommendation"]
    steps = " ".join(recommendation["next_steps"] + [recommendation["text"]]).lower()
    for forbidden in ("x-ray", "radiograph", "6-minute", "walk", "oximetry"):
        assert forbidden not in steps
    assert "x-ray" in recommendation["not_confirming"].lower()


def test_every_guideline_line_cites_the_guideline():
    assert {line.code for line in SCREENING_LINES} == {"ssc", "iim", "mctd", "ra_risk", "sjd_risk", "ra_symptoms",
                                                       "sjd_symptoms"}
    assert all("ACR/CHEST" in line.source for line in SCREENING_LINES)


@pytest.mark.parametrize("ctd", ["RA", "SjD"])
@pytest.mark.parametrize("symptom", ["exertional_dyspnoea", "dry_cough", "finger_clubbing"])
def test_a_breathless_or_coughing_patient_without_a_risk_factor_is_tested_not_told_to_wait(ctd, symptom):
    """The guideline spares screening only people without risk factors *and* without symptoms:
    a low score must not send a breathless RA or SjD patient away for 12 months."""
    factors = patient_factors(sex="F", smoking="never", autoantibodies=(), symptoms=(symptom,))
    recommendation = triage(0.05, thresholds=DEFAULT, flags=[], ctd_diagnosis=ctd, factors=factors)["recommendation"]
    assert recommendation["advice"] == "hrct_pfts" and recommendation["rescreen_months"] is None
    assert recommendation["guideline"]["risk_factors"] == [symptom]
    assert "Table 2 note" in recommendation["guideline"]["source"]


def test_unspecific_symptoms_select_no_line():
    factors = patient_factors(sex="F", smoking="never", autoantibodies=(), symptoms=("fatigue", "chest_pain"))
    recommendation = triage(0.05, thresholds=DEFAULT, flags=[], ctd_diagnosis="RA", factors=factors)["recommendation"]
    assert recommendation["guideline"]["code"] == "none" and recommendation["advice"] == "rescreen"


def test_every_red_flag_names_its_source():
    flags = red_flags(autoantibodies=("anti-MDA5",), symptoms=(), fvc_percent=50, dlco_percent=50)
    flags += red_flags(autoantibodies=(), symptoms=("rapidly_worsening_dyspnoea",))
    assert {flag["code"] for flag in flags} == set(RED_FLAGS) - {"anti_mda5_rapid_dyspnoea"}
    assert all(flag["source"] for flag in flags)
    assert "Hallowell" in RED_FLAGS["anti_mda5"][2] and "programme assumption" in RED_FLAGS["low_fvc"][2]


@pytest.mark.parametrize(("cutoff", "fvc", "codes"), [(70, 75, []), (70, 69.9, ["low_fvc"]), (90, 85, ["low_fvc"])])
def test_the_abnormal_pft_cut_off_is_a_programme_setting(tmp_path, cutoff, fvc, codes):
    settings = load_settings(data_dir=tmp_path / "d", triage_pft_abnormal_below=cutoff)
    thresholds = settings.triage_thresholds
    flags = red_flags(autoantibodies=(), symptoms=(), fvc_percent=fvc,
                      pft_abnormal_below=thresholds.pft_abnormal_below)
    assert [flag["code"] for flag in flags] == codes
    if codes:
        assert flags[0]["cutoff"] == cutoff and f"< {cutoff:g}%" in flags[0]["reason"]


@pytest.mark.parametrize(("probability", "advice", "months"), [(0.05, "rescreen", 24), (0.2, "discuss", 3),
                                                               (0.5, "hrct_pfts", None)])
def test_re_screening_intervals_are_programme_settings(tmp_path, probability, advice, months):
    settings = load_settings(data_dir=tmp_path / "d", triage_rescreen_discuss_months=3, triage_rescreen_low_months=24)
    recommendation = triage(probability, thresholds=settings.triage_thresholds, flags=[], ctd_diagnosis="SLE",
                            factors=set())["recommendation"]
    assert recommendation["advice"] == advice and recommendation["rescreen_months"] == months
    if months:
        assert f"Re-screen in {months} months" in recommendation["next_steps"]
        assert f"e-screen in {months} months" in recommendation["text"]
