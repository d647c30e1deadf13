"""Triage after a negative HRCT, and for symptomatic patients no guideline line covers.

Last session's wrong advices: an SSc / IIM / MCTD patient (or RA / SjD with a risk factor) was told
"HRCT + PFTs" again at every visit after an HRCT read as no ILD; an SLE patient or one whose
diagnosis is not yet established, breathless or coughing now, was told "re-screen in 12 months,
sooner if breathlessness or cough appear" when the score was low."""
import itertools

import pytest

from edge.config import load_settings
from edge.fusion.triage import (ADVICE, ILD_SYMPTOMS, TriageThresholds, negative_hrct, patient_factors, red_flags,
                                triage)
from edge.vocabulary import CTD_DIAGNOSES, SYMPTOMS

DEFAULT = TriageThresholds()
VISIT = "2026-06-01"
NEGATIVE = {"date": "2025-09-15", "ild": "absent"}
PROBABILITY_BY_TIER = {"low": 0.05, "intermediate": 0.2, "high": 0.5}
FACTORS = [frozenset(), frozenset({"RF-high-titre"}), frozenset({"anti-Ro52"}), frozenset({"exertional_dyspnoea"}),
           frozenset({"dry_cough"}), frozenset({"fatigue"})]


def _triage(probability, ctd, factors, *, hrct=NEGATIVE, on=VISIT, flags=(), thresholds=DEFAULT):
    return triage(probability, thresholds=thresholds, flags=list(flags), ctd_diagnosis=ctd, factors=set(factors),
                  last_hrct=hrct, on=on)


@pytest.mark.parametrize(("ctd", "factors", "tier"),
                         list(itertools.product(CTD_DIAGNOSES, FACTORS, PROBABILITY_BY_TIER)))
def test_after_a_negative_hrct_no_line_advises_hrct_again_without_a_red_flag(ctd, factors, tier):
    before = _triage(PROBABILITY_BY_TIER[tier], ctd, factors, hrct=None)["recommendation"]
    recommendation = _triage(PROBABILITY_BY_TIER[tier], ctd, factors)["recommendation"]
    symptomatic = bool(factors & ILD_SYMPTOMS)
    if tier == "high" or symptomatic:
        expected = "discuss"  # a clinician weighs the score or the symptoms against the recent scan
    elif before["advice"] == "rescreen":
        expected = "rescreen"  # nothing to add for a well, low-risk patient no line covers
    else:
        expected = "pfts"
    assert recommendation["advice"] == expected
    assert recommendation["negative_hrct"] == {"date": "2025-09-15", "valid_until": "2027-09-15"}
    assert "HRCT on 2025-09-15 showed no ILD" in recommendation["text"]
    assert recommendation["priority"] == ("within_3_months" if tier == "high" else "routine")
    assert recommendation["guideline"] == before["guideline"]  # the line is unchanged; only its HRCT is done


@pytest.mark.parametrize("ctd", ["SSc", "IIM", "MCTD"])
def test_a_well_patient_of_a_screening_line_gets_pfts_and_a_symptom_review_naming_the_hrct(ctd):
    recommendation = _triage(0.05, ctd, set())["recommendation"]
    months = DEFAULT.rescreen_low_months
    assert recommendation["advice"] == "pfts" and recommendation["rescreen_months"] == months
    assert recommendation["next_steps"] == [step.format(months=months) for step in ADVICE["pfts"]["next_steps"]]
    assert "HRCT of the chest" not in recommendation["next_steps"]
    assert "below 80% predicted" in recommendation["text"]  # the programme's red-flag cut-off, named
    assert recommendation["text"].count("HRCT on 2025-09-15") == 1


@pytest.mark.parametrize(("antibodies", "symptoms", "fvc", "tier"), [
    (("anti-MDA5",), (), None, "urgent"), ((), ("rapidly_worsening_dyspnoea",), None, "urgent"),
    ((), (), 72, "high")])
def test_a_red_flag_after_a_negative_hrct_still_advises_hrct(antibodies, symptoms, fvc, tier):
    flags = red_flags(autoantibodies=antibodies, symptoms=symptoms, fvc_percent=fvc)
    result = _triage(0.05, "SSc", set(symptoms), flags=flags)
    assert result["tier"] == tier
    recommendation = result["recommendation"]
    assert recommendation["advice"] == "hrct_pfts"
    assert recommendation["priority"] == ("urgent" if tier == "urgent" else "within_3_months")
    assert "HRCT on 2025-09-15 showed no ILD" in recommendation["text"]


def test_a_high_score_the_tests_raised_after_a_negative_hrct_is_discussed_within_3_months():
    recommendation = _triage(0.6, "SSc", set())["recommendation"]
    assert recommendation["advice"] == "discuss" and recommendation["priority"] == "within_3_months"
    assert recommendation["review_symptoms"] == []


@pytest.mark.parametrize(("ctd", "advice"), [("SSc", "pfts"), ("SLE", "pfts")])
def test_a_score_high_from_the_clinical_picture_alone_does_not_undo_a_negative_hrct(ctd, advice):
    """The HRCT answered the picture (CTD, antibodies, age) the prior is built from."""
    result = triage(0.6, thresholds=DEFAULT, flags=[], ctd_diagnosis=ctd, factors=set(), last_hrct=NEGATIVE,
                    on=VISIT, tests_raised=False)
    assert result["tier"] == "high" and result["recommendation"]["advice"] == advice


@pytest.mark.parametrize(("hrct", "on", "counts"), [
    ({"date": "2024-06-01", "ild": "absent"}, "2026-05-31", True),   # last day inside 24 months
    ({"date": "2024-06-01", "ild": "absent"}, "2026-06-01", False),  # 24 months on: HRCT again
    ({"date": "2026-06-02", "ild": "absent"}, "2026-06-01", False),  # read after this visit
    ({"date": "2026-01-01", "ild": "present"}, "2026-06-01", False),  # ILD: monitoring, not screening
    (None, "2026-06-01", False)])
def test_a_negative_hrct_counts_only_within_its_window_and_before_the_visit(hrct, on, counts):
    recommendation = _triage(0.05, "SSc", set(), hrct=hrct, on=on)["recommendation"]
    assert recommendation["advice"] == ("pfts" if counts else "hrct_pfts")
    assert (recommendation["negative_hrct"] is not None) == counts
    assert negative_hrct(hrct, on=on, valid_months=24) == recommendation["negative_hrct"]


@pytest.mark.parametrize(("months", "advice"), [(6, "hrct_pfts"), (12, "pfts")])
def test_how_long_a_negative_hrct_counts_is_a_programme_setting(tmp_path, months, advice):
    settings = load_settings(data_dir=tmp_path / "d", triage_hrct_negative_valid_months=months)
    thresholds = settings.triage_thresholds
    assert thresholds.hrct_negative_valid_months == months
    recommendation = _triage(0.05, "IIM", set(), thresholds=thresholds)["recommendation"]  # HRCT 8.5 months ago
    assert recommendation["advice"] == advice


def test_the_negative_hrct_window_is_checked():
    with pytest.raises(ValueError):
        TriageThresholds(hrct_negative_valid_months=0)


@pytest.mark.parametrize("ctd", ["SLE", "undetermined"])
@pytest.mark.parametrize("symptom", ["exertional_dyspnoea", "dry_cough", "finger_clubbing"])
def test_a_symptomatic_patient_no_line_covers_is_reviewed_now_never_told_to_wait(ctd, symptom):
    factors = patient_factors(sex="F", smoking="never", autoantibodies=(), symptoms=(symptom, "fatigue"))
    result = _triage(0.02, ctd, factors, hrct=None)
    recommendation = result["recommendation"]
    assert result["tier"] == "low"
    assert recommendation["advice"] == "discuss" and recommendation["review_symptoms"] == [symptom]
    assert SYMPTOMS[symptom].lower() in recommendation["text"].lower()
    assert "sooner if breathlessness or cough appear" not in recommendation["text"]


@pytest.mark.parametrize("ctd", ["SLE", "undetermined"])
def test_an_asymptomatic_low_risk_patient_no_line_covers_still_re_screens(ctd):
    factors = patient_factors(sex="F", smoking="never", autoantibodies=(), symptoms=("fatigue",))
    recommendation = _triage(0.02, ctd, factors, hrct=None)["recommendation"]
    assert recommendation["advice"] == "rescreen" and recommendation["review_symptoms"] == []
