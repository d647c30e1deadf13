"""A patient whose connective-tissue disease is suspected but not yet diagnosed: the prior is the
programme's (a setting), the advice says to complete the work-up and is never that of a known
disease, and a red flag is still urgent."""
import pytest

from edge.fusion.clinical_prior import BASE_PREVALENCE, ClinicalPicture, UndeterminedPrior
from edge.fusion.evidence import EvidenceOptions
from edge.fusion.monitoring import monitoring_plan
from edge.fusion.triage import WORKUP_STEP, TriageThresholds
from edge.screening import assess

OPTIONS = EvidenceOptions()


def assessed(picture, options=OPTIONS, **kwargs):
    return assess(picture, [], thresholds=TriageThresholds(), options=options, **kwargs)


def test_the_advice_asks_for_the_work_up_and_is_not_a_known_diseases_line():
    result = assessed(ClinicalPicture("undetermined", 45, "F", ages=(45, 45)))
    recommendation = result["recommendation"]
    assert recommendation["guideline"]["code"] == "undetermined"
    assert recommendation["next_steps"][0] == WORKUP_STEP
    assert recommendation["text"].startswith("Diagnosis not yet established: complete the rheumatology work-up.")
    assert "outside" in recommendation["guideline"]["source"]
    # 0.29 at 45 is intermediate: discussed with the rheumatologist, not sent for HRCT as SSc would be.
    assert result["pretest_probability"] == pytest.approx(0.29)
    assert (result["tier"], recommendation["advice"]) == ("intermediate", "discuss")


def test_the_same_woman_with_ssc_would_be_sent_for_hrct_whatever_the_score():
    """The contrast that shows the undetermined diagnosis is not silently treated as SSc."""
    low = UndeterminedPrior(base=0.05, low=0.02, high=0.2)
    undetermined = assessed(ClinicalPicture("undetermined", 45, "F", ages=(45, 45)),
                            options=EvidenceOptions(undetermined_prior=low))
    assert (undetermined["tier"], undetermined["recommendation"]["advice"]) == ("low", "rescreen")
    ssc = assessed(ClinicalPicture("SSc", 45, "F", ages=(45, 45)))
    assert ssc["recommendation"]["advice"] == "hrct_pfts"


def test_an_older_patient_under_work_up_reaches_hrct_by_score_and_a_red_flag_is_urgent():
    older = assessed(ClinicalPicture("undetermined", 75, "F", ages=(75, 75)))
    assert (older["tier"], older["recommendation"]["advice"]) == ("high", "hrct_pfts")
    assert older["recommendation"]["next_steps"][0] == WORKUP_STEP
    flagged = assessed(ClinicalPicture("undetermined", 45, "F", symptoms=("rapidly_worsening_dyspnoea",),
                                       ages=(45, 45)))
    assert flagged["tier"] == "urgent" and flagged["recommendation"]["priority"] == "urgent"


def test_the_interval_is_wider_than_for_any_defined_ctd():
    def width(ctd):
        low, high = assessed(ClinicalPicture(ctd, 45, "F", ages=(45, 45)))["interval"]
        return high - low
    assert all(width("undetermined") > width(ctd) for ctd in BASE_PREVALENCE)


def test_confirmed_ild_before_the_diagnosis_is_monitored_on_the_more_frequent_line():
    plan = monitoring_plan("undetermined", confirmed_on="2026-01-10", pft_dates=[], on="2026-02-01")
    assert plan["pft_every_months"] == [3, 6]
    result = assessed(ClinicalPicture("undetermined", 60, "F", ages=(60, 60)),
                      ild_confirmed={"source": "clinician_outcome", "date": "2026-01-10"}, on="2026-02-01")
    assert result["pathway"] == "monitoring"


def test_a_bad_override_of_the_undetermined_prior_setting_is_refused_by_name(tmp_path):
    from edge.config import load_settings
    from edge.errors import ConfigError

    with pytest.raises(ConfigError, match="evidence_undetermined_prior: .*need low < base < high"):
        load_settings(data_dir=tmp_path / "data", evidence_undetermined_prior={"base": 0.9})
