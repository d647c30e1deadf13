"""Monitoring of confirmed ILD (2023 ACR/CHEST Table 4): PFT interval by CTD, next PFTs due from
the later of the confirmation and the last PFTs, and the assessment's pathway."""
import datetime as dt

import pytest

from edge.fusion.clinical_prior import ClinicalPicture
from edge.fusion.evidence import EvidenceOptions
from edge.fusion.monitoring import ENDED, add_months, monitoring_plan
from edge.fusion.triage import TriageThresholds
from edge.screening import assess
from edge.vocabulary import MONITORING_END_REASONS


@pytest.mark.parametrize(("ctd", "months"), [("SSc", [3, 6]), ("IIM", [3, 6]), ("RA", [3, 12]), ("SjD", [3, 12]),
                                             ("MCTD", [3, 12])])
def test_the_first_year_pft_interval_follows_the_guideline(ctd, months):
    plan = monitoring_plan(ctd, confirmed_on="2026-01-15", pft_dates=[], on="2026-03-01")
    assert plan["pft_every_months"] == months and plan["first_year"]
    assert plan["desaturation_every_months"] == [3, 12] and plan["hrct"] == "when clinically indicated"


def test_the_next_pfts_are_due_after_the_later_of_confirmation_and_the_last_pfts():
    plan = monitoring_plan("SSc", confirmed_on="2026-01-15", pft_dates=["2026-02-10", "2026-04-20"], on="2026-05-01")
    assert plan["last_pft"] == "2026-04-20"
    assert (plan["next_pft_from"], plan["next_pft_due"]) == ("2026-07-20", "2026-10-20")
    late = monitoring_plan("SSc", confirmed_on="2026-01-15", pft_dates=[], on="2026-08-01")
    assert late["next_pft_due"] == "2026-07-15" and late["pft_overdue"]
    after_a_year = monitoring_plan("RA", confirmed_on="2024-01-15", pft_dates=["2025-12-01"], on="2026-01-10")
    assert not after_a_year["first_year"] and after_a_year["next_pft_due"] == "2026-12-01"
    undated = monitoring_plan("RA", confirmed_on=None, pft_dates=[])
    assert undated["next_pft_due"] is None and undated["next_steps"][0].startswith("PFTs")


def test_add_months_holds_the_end_of_a_month():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 15), 3) == dt.date(2027, 2, 15)


def test_confirmed_ild_replaces_screening_advice_by_monitoring_and_a_red_flag_keeps_it_urgent():
    picture = ClinicalPicture("RA", 66, "M", ages=(66, 66))
    screening = assess(picture, [], thresholds=TriageThresholds(), options=EvidenceOptions())
    assert screening["pathway"] == "screening" and screening["recommendation"]["advice"] == "hrct_pfts"
    confirmed = {"source": "clinician_outcome", "date": "2026-01-15", "referral_id": None}
    monitored = assess(picture, [], thresholds=TriageThresholds(), options=EvidenceOptions(), ild_confirmed=confirmed,
                       pft_dates=["2026-02-01"], on="2026-03-01")
    assert monitored["pathway"] == "monitoring" and monitored["recommendation"]["advice"] == "monitoring"
    assert "HRCT plus" not in monitored["recommendation"]["text"]
    assert monitored["monitoring"]["next_pft_due"] == "2027-02-01"
    rapid = assess(ClinicalPicture("RA", 66, "M", symptoms=("rapidly_worsening_dyspnoea",), ages=(66, 66)), [],
                   thresholds=TriageThresholds(), options=EvidenceOptions(), ild_confirmed=confirmed)
    assert rapid["recommendation"]["priority"] == "urgent"


@pytest.mark.parametrize(("overrides", "ctd", "months"), [({}, "SSc", [6, 6]), ({}, "RA", [12, 12]),
                                                          ({"SSc": 12}, "SSc", [12, 12]), ({"SSc": 12}, "RA", [12, 12]),
                                                          ({"RA": 18}, "RA", [18, 18])])
def test_the_interval_after_the_first_year_is_a_programme_setting(tmp_path, overrides, ctd, months):
    """After the first year the guideline says only "less frequently once stable": the default (the
    first-year upper end) is a programme assumption each programme can set per CTD."""
    from edge.config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", monitoring_pft_months_after_first_year=overrides)
    thresholds = settings.triage_thresholds
    picture = ClinicalPicture(ctd, 66, "F", ages=(66, 66))
    result = assess(picture, [], thresholds=thresholds, options=EvidenceOptions(),
                    ild_confirmed={"source": "clinician_outcome", "date": "2024-01-15", "referral_id": None},
                    pft_dates=["2025-12-01"], on="2026-01-10")
    plan = result["monitoring"]
    assert not plan["first_year"] and plan["pft_every_months"] == months
    assert plan["next_steps"][0].startswith(f"PFTs (spirometry, lung volumes, DLCO) every {months[0]} months")


@pytest.mark.parametrize(("overrides", "message"), [({"Gout": 12}, "unknown CTD 'Gout'"),
                                                    ({"SSc": 0}, "whole months from 1 to 24, got 0"),
                                                    ({"SSc": 6.5}, "(?s)SSc.*fractional part")])
def test_an_unknown_ctd_or_interval_in_the_setting_is_refused_naming_it(overrides, message):
    with pytest.raises(ValueError, match=message):
        TriageThresholds(monitoring_after_first_year=overrides)


CONFIRMED = {"source": "clinician_outcome", "date": "2026-01-15", "referral_id": None}


def test_every_reason_the_clinic_can_record_has_a_row_that_says_it_is_a_clinicians_decision():
    assert set(ENDED) == set(MONITORING_END_REASONS)
    for reason, (pathway, words, source) in ENDED.items():
        # Only an MDT that ruled ILD out leaves the monitoring pathway (docs/evidence.md, section 7a).
        assert pathway == ("screening" if reason == "mdt_no_ild" else "monitoring"), reason
        assert words and "a clinician's decision, not a guideline rule" in source


@pytest.mark.parametrize("reason", [reason for reason in MONITORING_END_REASONS if reason != "mdt_no_ild"])
def test_an_end_keeps_the_monitoring_pathway_shows_no_interval_and_asks_for_a_review(reason):
    picture = ClinicalPicture("SSc", 66, "F", ages=(66, 66))
    ended = {"date": "2026-02-20", "reason": reason, "note": "x" if reason == "other" else ""}
    result = assess(picture, [], thresholds=TriageThresholds(), options=EvidenceOptions(), ild_confirmed=CONFIRMED,
                    pft_dates=["2026-02-01"], on="2026-03-01", monitoring_ended=ended)
    assert result["pathway"] == "monitoring" and result["monitoring"]["ended"] == ended
    assert result["monitoring"]["pft_every_months"] is None and result["monitoring"]["next_pft_due"] is None
    recommendation = result["recommendation"]
    assert recommendation["advice"] == "monitoring_ended" and recommendation["monitoring_ended"] == ended
    assert f"ended on 2026-02-20 ({ENDED[reason][1]})" in recommendation["text"]
    assert recommendation["text"].endswith("A new concern needs a clinician's review.")
    assert "HRCT plus" not in recommendation["text"] and "PFTs (" not in recommendation["text"]
    rapid = assess(ClinicalPicture("SSc", 66, "F", symptoms=("rapidly_worsening_dyspnoea",), ages=(66, 66)), [],
                   thresholds=TriageThresholds(), options=EvidenceOptions(), ild_confirmed=CONFIRMED,
                   monitoring_ended=ended)
    assert rapid["recommendation"]["priority"] == "urgent"  # a red flag still makes the review urgent


def test_an_mdt_ruling_resumes_screening_until_a_later_read_with_ild():
    picture = ClinicalPicture("SSc", 66, "F", ages=(66, 66))
    mdt = {"date": "2026-02-20", "reason": "mdt_no_ild", "note": ""}
    kwargs = dict(thresholds=TriageThresholds(), options=EvidenceOptions(), ild_confirmed=CONFIRMED,
                  on="2026-03-01", monitoring_ended=mdt, fvc_percent=90, dlco_percent=85)
    screened = assess(picture, [], **kwargs)
    assert screened["pathway"] == "screening" and screened["monitoring"] is None and screened["staging"] is None
    assert screened["recommendation"]["advice"] == "hrct_pfts"  # SSc: the guideline's screening line
    assert screened["recommendation"]["text"].startswith("Monitoring of ILD was ended on 2026-02-20 (an MDT ruled "
                                                         "ILD out)")
    later = assess(picture, [], **kwargs, last_ild_read={"date": "2026-02-25", "ild": "present"})
    assert later["pathway"] == "monitoring" and later["recommendation"]["advice"] == "monitoring"
    earlier = assess(picture, [], **kwargs, last_ild_read={"date": "2026-01-15", "ild": "present"})
    assert earlier["pathway"] == "screening"


def test_without_confirmed_ild_an_end_changes_nothing():
    picture = ClinicalPicture("SSc", 66, "F", ages=(66, 66))
    plain = assess(picture, [], thresholds=TriageThresholds(), options=EvidenceOptions())
    ended = assess(picture, [], thresholds=TriageThresholds(), options=EvidenceOptions(),
                   monitoring_ended={"date": "2026-02-20", "reason": "transferred", "note": ""})
    assert ended["recommendation"] == plain["recommendation"] and ended["pathway"] == "screening"
