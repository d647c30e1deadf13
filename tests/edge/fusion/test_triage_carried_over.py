"""The three carried-over rules at the triage's own level (brief h76): what answers the anti-MDA5 flag
and what it then advises for every CTD; an HRCT without ILD after the confirming read; a dated
lymphopenia from an earlier blood count. The visit flow is tested in tests/edge/test_carried_over_triage_rules.py."""
import itertools

import pytest

from edge.config import load_settings
from edge.errors import ConfigError
from edge.fusion.monitoring import DISCORDANT_STEP, discordant_hrct, monitoring_plan, monitoring_recommendation
from edge.fusion.triage import (TriageThresholds, anti_mda5_hrct_sentence, hrct_since_anti_mda5, patient_factors,
                                recorded_findings, red_flags, triage)
from edge.vocabulary import CTD_DIAGNOSES

DEFAULT = TriageThresholds()
VISIT = "2026-06-01"
NO_ILD = {"date": "2026-03-01", "ild": "absent"}
PROBABILITY_BY_TIER = {"low": 0.05, "intermediate": 0.2, "high": 0.5}


@pytest.mark.parametrize(("hrct", "since", "answers"), [
    (NO_ILD, "2026-03-01", True),   # read the day the antibody was first on record
    (NO_ILD, "2026-01-10", True),
    (NO_ILD, "2026-03-02", False),  # read before the antibody was on record
    ({"date": "2026-03-01", "ild": "present"}, "2026-01-10", True),
    (None, "2026-01-10", False),
    (NO_ILD, None, False)])        # no date for the antibody: nothing answers it
def test_an_hrct_answers_anti_mda5_only_when_read_since_the_antibody_was_on_record(hrct, since, answers):
    answered = hrct_since_anti_mda5(hrct, since=since)
    assert (answered is not None) == answers
    flags = red_flags(autoantibodies=("anti-MDA5",), symptoms=(), anti_mda5_hrct=answered)
    assert [flag["code"] for flag in flags] == ([] if answers else ["anti_mda5"])


@pytest.mark.parametrize("ild", ["absent", "present"])
def test_rapidly_worsening_breathlessness_with_anti_mda5_stays_urgent_whatever_the_hrct(ild):
    flags = red_flags(autoantibodies=("anti-MDA5",), symptoms=("rapidly_worsening_dyspnoea",),
                      anti_mda5_hrct={"date": "2026-03-01", "ild": ild})
    assert [(flag["code"], flag["tier"]) for flag in flags] == [("anti_mda5_rapid_dyspnoea", "urgent")]


def test_an_answered_anti_mda5_leaves_the_pft_flags_alone():
    flags = red_flags(autoantibodies=("anti-MDA5",), symptoms=(), fvc_percent=70, anti_mda5_hrct=NO_ILD)
    assert [flag["code"] for flag in flags] == ["low_fvc"]


@pytest.mark.parametrize(("ctd", "tier"), list(itertools.product(CTD_DIAGNOSES, PROBABILITY_BY_TIER)))
def test_after_an_hrct_without_ild_anti_mda5_gets_the_negative_hrct_advice_at_its_own_interval(ctd, tier):
    factors = patient_factors(sex="F", smoking="never", autoantibodies=("anti-MDA5",), symptoms=())
    flags = red_flags(autoantibodies=("anti-MDA5",), symptoms=(), anti_mda5_hrct=NO_ILD)
    result = triage(PROBABILITY_BY_TIER[tier], thresholds=DEFAULT, flags=flags, ctd_diagnosis=ctd, factors=factors,
                    last_hrct=NO_ILD, on=VISIT, anti_mda5_hrct=NO_ILD)
    plain = triage(PROBABILITY_BY_TIER[tier], thresholds=DEFAULT, flags=[], ctd_diagnosis=ctd, factors=factors,
                   last_hrct=NO_ILD, on=VISIT)["recommendation"]
    recommendation = result["recommendation"]
    assert result["tier"] == tier and result["red_flags"] == []
    assert recommendation["advice"] == plain["advice"] != "hrct_pfts"  # the negative HRCT's advice, as for anyone
    assert recommendation["rescreen_months"] == min(plain["rescreen_months"], DEFAULT.anti_mda5_rescreen_months)
    assert recommendation["anti_mda5_hrct"] == NO_ILD
    assert "the HRCT on 2026-03-01, read since, showed no ILD" in recommendation["text"]


def test_once_the_negative_hrct_has_lapsed_the_line_asks_for_hrct_again_at_the_score_priority():
    factors = patient_factors(sex="F", smoking="never", autoantibodies=("anti-MDA5",), symptoms=())
    old = {"date": "2023-03-01", "ild": "absent"}
    result = triage(0.05, thresholds=DEFAULT, flags=[], ctd_diagnosis="IIM", factors=factors, last_hrct=old, on=VISIT,
                    anti_mda5_hrct=old)
    assert result["recommendation"]["advice"] == "hrct_pfts" and result["recommendation"]["priority"] == "routine"


@pytest.mark.parametrize("months", [3, 12])
def test_the_anti_mda5_interval_is_a_programme_setting(tmp_path, months):
    thresholds = load_settings(data_dir=tmp_path / "d", triage_anti_mda5_rescreen_months=months).triage_thresholds
    recommendation = triage(0.05, thresholds=thresholds, flags=[], ctd_diagnosis="IIM", factors={"anti-MDA5"},
                            last_hrct=NO_ILD, on=VISIT, anti_mda5_hrct=NO_ILD)["recommendation"]
    assert recommendation["rescreen_months"] == min(months, thresholds.rescreen_low_months)


@pytest.mark.parametrize(("setting", "value"), [("triage_anti_mda5_rescreen_months", 0),
                                                ("triage_lymphopenia_lookback_months", -1),
                                                ("triage_lymphopenia_lookback_months", 37)])
def test_impossible_intervals_are_refused_naming_the_setting(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=setting):
        load_settings(data_dir=tmp_path / "d", **{setting: value})


@pytest.mark.parametrize(("confirmed", "last", "discordant"), [
    ({"date": "2025-05-01"}, {"date": "2026-03-01", "ild": "absent"},
     {"ild_on": "2025-05-01", "no_ild_on": "2026-03-01"}),
    ({"date": "2025-05-01"}, {"date": "2025-05-01", "ild": "absent"}, None),   # not later than the confirmation
    ({"date": "2025-05-01"}, {"date": "2026-03-01", "ild": "present"}, None),  # the last read agrees
    (None, {"date": "2026-03-01", "ild": "absent"}, None),
    ({"date": None}, {"date": "2026-03-01", "ild": "absent"}, None)])        # confirmed without a date (CLI)
def test_a_later_read_without_ild_is_discordant(confirmed, last, discordant):
    assert discordant_hrct(confirmed, last) == discordant


@pytest.mark.parametrize("ctd", list(CTD_DIAGNOSES))
def test_a_discordant_read_keeps_the_monitoring_plan_and_asks_for_a_review_first(ctd):
    plan = monitoring_plan(ctd, confirmed_on="2025-05-01", pft_dates=[], on=VISIT)
    discordant = {"ild_on": "2025-05-01", "no_ild_on": "2026-03-01"}
    recommendation = monitoring_recommendation(plan, priority="routine", discordant=discordant)
    assert recommendation["advice"] == "monitoring" and recommendation["discordant_hrct"] == discordant
    assert recommendation["next_steps"] == [DISCORDANT_STEP, *plan["next_steps"]]
    plain = monitoring_recommendation(plan, priority="routine")
    assert plain["next_steps"] == plan["next_steps"] and plain["discordant_hrct"] is None
    assert plain["text"] == "ILD is confirmed: monitor it. " + "; ".join(plan["next_steps"]) + "."


def test_the_monitoring_advice_keeps_the_hrct_that_answered_anti_mda5_before_the_review():
    """Brief h82: the stored text (and the referral's advice note) says why anti-MDA5 is not urgent."""
    plan = monitoring_plan("IIM", confirmed_on="2026-03-01", pft_dates=[], on=VISIT)
    sentence = anti_mda5_hrct_sentence({"date": "2026-03-01", "ild": "present"})
    assert sentence.startswith("anti-MDA5 on record; the HRCT on 2026-03-01, read since, showed ILD: no urgent HRCT")
    discordant = {"ild_on": "2025-05-01", "no_ild_on": "2026-03-01"}
    text = monitoring_recommendation(plan, priority="routine", discordant=discordant, kept=[sentence])["text"]
    assert text.startswith(f"ILD is confirmed: monitor it. {sentence} The HRCT on 2026-03-01 read no ILD")


def test_an_earlier_count_is_named_with_its_date():
    finding, = recorded_findings(lymphocytes=0.8, ages=None, thresholds=DEFAULT, lymphocytes_date="2026-01-10")
    assert (finding["code"], finding["value"], finding["date"]) == ("lymphopenia", 0.8, "2026-01-10")
    assert finding["text"] == "lymphocytes 0.8 x10^9/L on the blood count of 2026-01-10 (lymphopenia: below 1)"
    assert "triage_lymphopenia_lookback_months" in finding["source"]
    this_visit, = recorded_findings(lymphocytes=0.8, ages=None, thresholds=DEFAULT)
    assert this_visit["date"] is None and "on this visit's blood count" in this_visit["text"]
