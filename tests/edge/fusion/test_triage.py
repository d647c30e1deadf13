"""Triage tiers at their boundaries, red flags that override them, and guideline-conform advice."""
import pytest

from edge.fusion.triage import RECOMMENDATIONS, TriageThresholds, red_flags, triage

DEFAULT = TriageThresholds()


@pytest.mark.parametrize(
    ("probability", "tier", "rescreen"),
    [(0.0, "low", 12), (0.0999, "low", 12), (0.10, "intermediate", 6), (0.2999, "intermediate", 6),
     (0.30, "high", None), (1.0, "high", None)],
)
def test_each_tier_at_its_boundaries(probability, tier, rescreen):
    result = triage(probability, thresholds=DEFAULT, flags=[])
    assert result["tier"] == tier and result["recommendation"]["rescreen_months"] == rescreen


def test_thresholds_are_configurable_per_programme():
    strict = TriageThresholds(intermediate=0.05, high=0.15)
    assert triage(0.16, thresholds=strict, flags=[])["tier"] == "high"
    with pytest.raises(ValueError, match="intermediate \\(0.4\\) must be below high \\(0.3\\)"):
        TriageThresholds(intermediate=0.4, high=0.3)


def test_intermediate_advises_pfts_and_high_advises_hrct_plus_pfts():
    intermediate = triage(0.2, thresholds=DEFAULT, flags=[])["recommendation"]
    assert "spirometry, lung volumes, DLCO" in intermediate["text"] and "3 months" in intermediate["text"]
    high = triage(0.5, thresholds=DEFAULT, flags=[])["recommendation"]
    assert high["next_steps"][0] == "Refer for HRCT" and "DLCO" in high["next_steps"][1]


def test_anti_mda5_with_rapid_dyspnoea_is_urgent_whatever_the_risk():
    flags = red_flags(autoantibodies=("anti-MDA5",), symptoms=("rapidly_worsening_dyspnoea",))
    result = triage(0.02, thresholds=DEFAULT, flags=flags)
    assert result["tier"] == "urgent" and result["tier_from_risk"] == "low"
    assert flags[0]["code"] == "anti_mda5_rapid_dyspnoea" and "this week" in result["recommendation"]["text"]


def test_rapid_dyspnoea_alone_is_urgent_and_anti_mda5_alone_is_not_a_flag():
    assert red_flags(autoantibodies=(), symptoms=("rapidly_worsening_dyspnoea",))[0]["code"] == "rapid_dyspnoea"
    assert red_flags(autoantibodies=("anti-MDA5",), symptoms=()) == []


@pytest.mark.parametrize(("fvc", "dlco", "codes"), [(79, None, ["low_fvc"]), (80, 79.9, ["low_dlco"]),
                                                      (80, 80, []), (60, 50, ["low_fvc", "low_dlco"])])
def test_abnormal_pfts_raise_to_high(fvc, dlco, codes):
    flags = red_flags(autoantibodies=(), symptoms=(), fvc_percent=fvc, dlco_percent=dlco)
    assert [f["code"] for f in flags] == codes
    assert triage(0.01, thresholds=DEFAULT, flags=flags)["tier"] == ("high" if codes else "low")


def test_flags_never_lower_the_tier():
    flags = red_flags(autoantibodies=(), symptoms=(), fvc_percent=70)
    assert triage(0.9, thresholds=DEFAULT, flags=flags)["tier"] == "high"


@pytest.mark.parametrize("tier", list(RECOMMENDATIONS))
def test_no_step_offers_x_ray_walk_test_or_oximetry(tier):
    steps = " ".join(RECOMMENDATIONS[tier]["next_steps"] + [RECOMMENDATIONS[tier]["text"]]).lower()
    for forbidden in ("x-ray", "radiograph", "6-minute", "walk", "oximetry"):
        assert forbidden not in steps
