"""The triage's and monitoring's programme assumptions that a programme may change are settings: the
tier each red flag forces (``triage_red_flag_tiers``) and the first-year PFT line of the CTDs the
guideline does not cover (``monitoring_pft_months_first_year``); the prior's age setting is tested
with the prior's other settings (test_prior_settings.py). Set through the real settings path, each
changes the advice exactly as its rule says and is stored with the result; the defaults keep today's
advice for every CTD; bad values stop the start, naming the problem.
"""
import datetime as dt
import json
import os

import pytest

from edge.config import load_settings
from edge.errors import ConfigError
from edge.fusion.clinical_prior import BASE_PREVALENCE, ClinicalPicture
from edge.fusion.monitoring import PFT_MONTHS, PROGRAMME_FIRST_YEAR, add_months
from edge.fusion.triage import PRIORITY_TEXT, RED_FLAGS, TIER_ORDER, TriageThresholds, red_flags
from edge.screening import assess
from edge.vocabulary import UNDETERMINED_CTD

CTDS = sorted(BASE_PREVALENCE) + [UNDETERMINED_CTD]
CONFIRMED_ON = "2025-01-15"
VISIT = "2025-03-01"  # in the first year after CONFIRMED_ON


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in [key for key in os.environ if key.startswith("ILDSCREEN_")]:
        monkeypatch.delenv(key)


def assessed(picture, settings, **kwargs):
    return assess(picture, [], thresholds=settings.triage_thresholds, options=settings.evidence_options, on=VISIT,
                  **kwargs)


def risk_tier(probability, thresholds):
    return "high" if probability >= thresholds.high else "intermediate" if probability >= thresholds.intermediate \
        else "low"


def highest(*tiers):
    return max(tiers, key=TIER_ORDER.index)


# (autoantibodies, symptoms, FVC % predicted): each red flag, alone and together.
FLAGGED = [
    (("anti-MDA5",), (), None),
    ((), ("rapidly_worsening_dyspnoea",), None),
    (("anti-MDA5",), ("rapidly_worsening_dyspnoea",), None),
    ((), (), 70.0),
    (("anti-MDA5",), (), 70.0),
]


@pytest.mark.parametrize("ctd", CTDS)
@pytest.mark.parametrize(("antibodies", "symptoms", "fvc"), FLAGGED)
def test_by_default_each_red_flag_forces_its_rows_tier_for_every_ctd(tmp_path, ctd, antibodies, symptoms, fvc):
    settings = load_settings(data_dir=tmp_path)
    assert settings.triage_thresholds == TriageThresholds()
    picture = ClinicalPicture(ctd, 60, "F", autoantibodies=antibodies, symptoms=symptoms, ages=(60, 60))
    result = assessed(picture, settings, fvc_percent=fvc)
    expected_flags = red_flags(autoantibodies=antibodies, symptoms=symptoms, fvc_percent=fvc)
    assert result["red_flags"] == expected_flags  # unchanged: tier and source of their rows
    tier = highest(risk_tier(result["probability"], settings.triage_thresholds),
                   *(RED_FLAGS[flag["code"]][0] for flag in expected_flags))
    assert result["tier"] == tier
    priority = "urgent" if tier == "urgent" else "within_3_months"  # every flag forces at least high
    assert result["recommendation"]["priority"] == priority
    assert result["recommendation"]["advice"] == "hrct_pfts"
    assert result["recommendation"]["text"].endswith(f"({PRIORITY_TEXT[priority]}).")
    assert result["thresholds"]["red_flag_tiers"] == {}


def test_a_red_flag_set_to_high_in_the_environment_is_no_longer_urgent(tmp_path, monkeypatch):
    # SLE, low risk by its picture: the tier is the flag's alone.
    picture = ClinicalPicture("SLE", 55, "F", autoantibodies=("anti-MDA5",), ages=(55, 55))
    before = assessed(picture, load_settings(data_dir=tmp_path))
    assert before["tier"] == "urgent"
    monkeypatch.setenv("ILDSCREEN_TRIAGE_RED_FLAG_TIERS", '{"anti_mda5": "high"}')
    after = assessed(picture, load_settings(data_dir=tmp_path))
    assert after["probability"] == before["probability"]
    assert after["tier_from_risk"] != "high"  # so the tier below comes from the flag
    assert (after["tier"], after["recommendation"]["priority"]) == ("high", "within_3_months")
    assert after["recommendation"]["text"].endswith(f"({PRIORITY_TEXT['within_3_months']}).")
    flag, = after["red_flags"]
    assert flag["tier"] == "high"
    assert flag["source"] == RED_FLAGS["anti_mda5"][2] + "; tier high (setting triage_red_flag_tiers, default urgent)"
    assert after["thresholds"]["red_flag_tiers"] == {"anti_mda5": "high"}


def test_a_flag_set_to_high_does_not_lower_a_flag_still_urgent(tmp_path):
    """Each flag forces its own tier: setting one flag high leaves another's urgency, and a higher risk tier."""
    settings = load_settings(data_dir=tmp_path, triage_red_flag_tiers={"low_fvc": "urgent", "anti_mda5": "high"})
    picture = ClinicalPicture("SLE", 55, "F", autoantibodies=("anti-MDA5",), ages=(55, 55))
    result = assessed(picture, settings, fvc_percent=70.0)
    assert {flag["code"]: flag["tier"] for flag in result["red_flags"]} == {"anti_mda5": "high", "low_fvc": "urgent"}
    assert result["tier"] == "urgent"


def test_a_low_fvc_set_to_urgent_in_the_settings_file_makes_the_referral_urgent(tmp_path):
    (tmp_path / "config.toml").write_text('[triage_red_flag_tiers]\nlow_fvc = "urgent"\n')
    picture = ClinicalPicture("RA", 55, "F", ages=(55, 55))
    default = assessed(picture, load_settings(data_dir=tmp_path / "none"), fvc_percent=70.0)
    result = assessed(picture, load_settings(data_dir=tmp_path), fvc_percent=70.0)
    assert default["tier"] == "high"
    assert (result["tier"], result["recommendation"]["priority"]) == ("urgent", "urgent")


def test_on_the_monitoring_pathway_the_tier_in_force_sets_the_priority(tmp_path):
    picture = ClinicalPicture("IIM", 60, "F", autoantibodies=("anti-MDA5",), ages=(60, 60))
    confirmed = {"source": "clinician_outcome", "date": CONFIRMED_ON, "referral_id": None}
    default = assessed(picture, load_settings(data_dir=tmp_path), ild_confirmed=confirmed)
    changed = assessed(picture, load_settings(data_dir=tmp_path, triage_red_flag_tiers={"anti_mda5": "high"}),
                       ild_confirmed=confirmed)
    assert (default["recommendation"]["priority"], changed["recommendation"]["priority"]) == ("urgent", "routine")


@pytest.mark.parametrize("ctd", CTDS)
def test_by_default_the_first_year_pft_line_is_the_tables_for_every_ctd(tmp_path, ctd):
    picture = ClinicalPicture(ctd, 60, "F", ages=(60, 60))
    confirmed = {"source": "clinician_outcome", "date": CONFIRMED_ON, "referral_id": None}
    plan = assessed(picture, load_settings(data_dir=tmp_path), ild_confirmed=confirmed)["monitoring"]
    (low, high), _later, source = PFT_MONTHS[ctd]
    assert plan["pft_every_months"] == [low, high]
    assert plan["next_pft_due"] == add_months(dt.date.fromisoformat(CONFIRMED_ON), high).isoformat()
    assert plan["source"] == source


@pytest.mark.parametrize(("ctd", "months"), [("SLE", [3, 6]), (UNDETERMINED_CTD, [2, 4]), ("SLE", [6, 6])])
def test_a_first_year_line_set_in_the_environment_sets_the_plan_and_the_later_interval(tmp_path, monkeypatch, ctd,
                                                                                    months):
    assert PFT_MONTHS[ctd][0] != tuple(months)
    monkeypatch.setenv("ILDSCREEN_MONITORING_PFT_MONTHS_FIRST_YEAR", json.dumps({ctd: months}))
    settings = load_settings(data_dir=tmp_path)
    picture = ClinicalPicture(ctd, 60, "F", ages=(60, 60))
    confirmed = {"source": "clinician_outcome", "date": CONFIRMED_ON, "referral_id": None}
    result = assessed(picture, settings, ild_confirmed=confirmed)
    plan = result["monitoring"]
    assert plan["pft_every_months"] == months
    assert plan["next_pft_from"] == add_months(dt.date.fromisoformat(CONFIRMED_ON), months[0]).isoformat()
    assert plan["next_pft_due"] == add_months(dt.date.fromisoformat(CONFIRMED_ON), months[1]).isoformat()
    assert plan["source"].endswith(f"first year every {months[0]}-{months[1]} months "
                                   "(setting monitoring_pft_months_first_year)")
    assert result["thresholds"]["monitoring_first_year"] == {ctd: months}
    # After the first year: the high end of the line in force, unless that setting is set too.
    later = assess(picture, [], thresholds=settings.triage_thresholds, options=settings.evidence_options,
                   on="2026-03-01", ild_confirmed=confirmed)["monitoring"]
    assert later["pft_every_months"] == [months[1], months[1]]
    both = load_settings(data_dir=tmp_path, monitoring_pft_months_after_first_year={ctd: 9})
    assert assess(picture, [], thresholds=both.triage_thresholds, options=both.evidence_options, on="2026-03-01",
                  ild_confirmed=confirmed)["monitoring"]["pft_every_months"] == [9, 9]


def test_only_the_ctds_outside_the_guideline_have_a_first_year_setting():
    assert PROGRAMME_FIRST_YEAR == ("SLE", UNDETERMINED_CTD)


def test_a_first_year_line_leaves_the_other_ctds_alone(tmp_path):
    settings = load_settings(data_dir=tmp_path, monitoring_pft_months_first_year={"SLE": [3, 6]})
    confirmed = {"source": "clinician_outcome", "date": CONFIRMED_ON, "referral_id": None}
    plan = assessed(ClinicalPicture(UNDETERMINED_CTD, 60, "F", ages=(60, 60)), settings,
                    ild_confirmed=confirmed)["monitoring"]
    assert plan["pft_every_months"] == list(PFT_MONTHS[UNDETERMINED_CTD][0])


@pytest.mark.parametrize(("values", "message"), [
    ({"triage_red_flag_tiers": {"mda5": "high"}},
     r"triage_red_flag_tiers: Value error, unknown red flag 'mda5' in the red-flag tiers; expected one of "
     r"\['anti_mda5', "),
    ({"triage_red_flag_tiers": {"anti_mda5": "intermediate"}},
     r"triage_red_flag_tiers: Value error, the tier of red flag anti_mda5 must be one of \['high', 'urgent'\], "
     r"got 'intermediate'"),
    ({"triage_red_flag_tiers": {"low_fvc": "Urgent"}}, r"the tier of red flag low_fvc must be one of"),
    ({"monitoring_pft_months_first_year": {"SSc": [3, 12]}},
     r"monitoring_pft_months_first_year: Value error, the first-year PFT interval of 'SSc' is not a setting: it "
     r"follows the guideline's Table 4; expected one of \['SLE', 'undetermined'\]"),
    ({"monitoring_pft_months_first_year": {"Gout": [3, 12]}},
     r"the first-year PFT interval of 'Gout' is not a setting: it is not a CTD of the programme"),
    ({"monitoring_pft_months_first_year": {"SLE": [6, 3]}},
     r"the first-year PFT interval for SLE must be \[low, high\] whole months with 1 <= low <= high <= 12, "
     r"got \[6, 3\]"),
    ({"monitoring_pft_months_first_year": {"SLE": [0, 3]}}, r"the first-year PFT interval for SLE must be"),
    ({"monitoring_pft_months_first_year": {"SLE": [3, 13]}}, r"the first-year PFT interval for SLE must be"),
    ({"monitoring_pft_months_first_year": {"SLE": [3, 6, 9]}}, r"the first-year PFT interval for SLE must be"),
    ({"monitoring_pft_months_first_year": {"SLE": [3]}}, r"the first-year PFT interval for SLE must be"),
    ({"monitoring_pft_months_first_year": {"SLE": "3-6"}},
     r"monitoring_pft_months_first_year.SLE: Input should be a valid list"),
])
def test_a_refused_setting_is_named_at_start_up(tmp_path, values, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(data_dir=tmp_path, **values)

