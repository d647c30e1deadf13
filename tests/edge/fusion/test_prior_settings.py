"""The clinical prior's programme assumptions are settings: each odds-ratio magnitude
(``evidence_odds_ratios``, keyed by factor), the bounds the prior is held within
(``evidence_prior_bounds``) and the age the age factor counts from (``evidence_prior_age_from``). The
value in force is what the prior uses, what the result shows (its factor table and sources) and what
is stored with it; bad values stop the start, naming the problem.
"""
import json
import math
import os

import pytest

from edge.config import load_settings
from edge.errors import ConfigError
from edge.fusion.clinical_prior import (BASE_PREVALENCE, ODDS_RATIOS, PROGRAMME, ClinicalPicture, OddsRatios,
                                        PriorBounds, clinical_prior)
from edge.fusion.evidence import Z95
from edge.screening import assess

SCL70 = ClinicalPicture("SSc", 50, "F", autoantibodies=("anti-Scl-70",), ages=(50, 50))
CENTROMERE = ClinicalPicture("SSc", 50, "F", autoantibodies=("anti-centromere",), ages=(50, 50))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in [key for key in os.environ if key.startswith("ILDSCREEN_")]:
        monkeypatch.delenv(key)


def odds(p):
    return p / (1 - p)


def probability(odds_):
    return odds_ / (1 + odds_)


def assessed(picture, settings):
    return assess(picture, [], thresholds=settings.triage_thresholds, options=settings.evidence_options)


@pytest.mark.parametrize(("picture", "expected"), [
    # The magnitudes shipped before they were settings: anti-Scl-70 3.0, anti-centromere 0.35,
    # high-titre anti-CCP 1.8, male 1.6, ever smoker 1.6, age 1.3 per decade over 50, anti-MDA5 5.0,
    # rapidly worsening dyspnoea 3.0; the prior held within 0.01-0.95.
    (SCL70, probability(odds(0.47) * 3.0)),
    (CENTROMERE, probability(odds(0.47) * 0.35)),
    (ClinicalPicture("RA", 70, "M", smoking="former", autoantibodies=("anti-CCP-high-titre",)),
     probability(odds(0.11) * 1.8 * 1.6 * 1.6 * 1.3 ** 2)),
    (ClinicalPicture("IIM", 58, "F", autoantibodies=("anti-MDA5",), symptoms=("rapidly_worsening_dyspnoea",)),
     probability(odds(0.41) * 5.0 * 3.0 * 1.3 ** 0.8)),
    (ClinicalPicture("IIM", 80, "M", autoantibodies=("anti-Jo-1", "anti-MDA5"), symptoms=("finger_clubbing",)),
     0.95),
])
def test_the_defaults_keep_the_shipped_prior(picture, expected):
    assert clinical_prior(picture).probability == pytest.approx(expected, rel=1e-12)
    assert (PriorBounds().low, PriorBounds().high) == (0.01, 0.95)


def test_every_factor_of_the_table_is_a_setting_whose_default_is_its_magnitude():
    assert list(OddsRatios.model_fields) == list(ODDS_RATIOS)
    defaults = OddsRatios()
    for name, (magnitude, _applies_to, source) in ODDS_RATIOS.items():
        assert getattr(defaults, name) == magnitude, name
        field = OddsRatios.model_fields[name]
        assert field.title == f"Odds ratio: {name}"
        # The description names the direction's source of its row (the citations after the marker).
        cited = source[len(PROGRAMME):].lstrip("; ")
        assert field.description.startswith("Programme assumption") and cited in field.description, name


def test_an_odds_ratio_set_in_the_environment_changes_the_prior_by_exactly_its_factor(tmp_path, monkeypatch):
    before = assessed(SCL70, load_settings(data_dir=tmp_path))
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_ODDS_RATIOS", '{"anti-Scl-70": 6.0}')
    settings = load_settings(data_dir=tmp_path)
    after = assessed(SCL70, settings)
    assert odds(after["pretest_probability"]) / odds(before["pretest_probability"]) == pytest.approx(2.0, rel=1e-12)
    # Shown with the result: the factor table, its source, the interval's term; and stored with it.
    shown = after["contributions"]["clinical_prior"]
    assert shown["odds_ratios"] == {"anti-Scl-70": 6.0}
    assert shown["odds_ratio_sources"]["anti-Scl-70"].endswith("OR 6 (setting evidence_odds_ratios, default 3)")
    assert "Walker 2007" in shown["odds_ratio_sources"]["anti-Scl-70"]
    spread = settings.evidence_options.assumption_spread
    assert after["interval_sources"]["programme_assumptions"]["odds_ratio:anti-Scl-70"] == pytest.approx(
        math.log(6.0) * spread / Z95)
    assert after["evidence_options"]["odds_ratios"]["anti-Scl-70"] == 6.0
    assert after["evidence_options"]["odds_ratios"]["male"] == 1.6  # unset factors keep their defaults


def test_the_age_odds_ratio_set_in_the_settings_file_counts_per_decade(tmp_path):
    (tmp_path / "config.toml").write_text('[evidence_odds_ratios]\nage_per_decade_over_50 = 1.5\n')
    picture = ClinicalPicture("RA", 75, "F", ages=(75, 75))
    result = assessed(picture, load_settings(data_dir=tmp_path))
    assert result["pretest_probability"] == pytest.approx(probability(odds(0.11) * 1.5 ** 2.5), rel=1e-12)
    assert result["contributions"]["clinical_prior"]["odds_ratios"] == {
        "age_per_decade_over_50": pytest.approx(1.5 ** 2.5)}
    assert "OR 1.5 per decade over 50" in result["contributions"]["clinical_prior"]["odds_ratio_sources"][
        "age_per_decade_over_50"]


@pytest.mark.parametrize(("bounds", "picture", "clipped"), [
    ({"high": 0.6}, SCL70, 0.6),        # 0.727 unbounded
    ({"low": 0.3}, CENTROMERE, 0.3),    # 0.237 unbounded
])
def test_the_prior_bounds_set_in_the_settings_clip_the_prior(tmp_path, monkeypatch, bounds, picture, clipped):
    assert not 0.3 <= clinical_prior(picture).probability <= 0.6
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_PRIOR_BOUNDS", json.dumps(bounds))
    result = assessed(picture, load_settings(data_dir=tmp_path))
    assert result["pretest_probability"] == clipped
    assert result["evidence_options"]["prior_bounds"] == {**PriorBounds().model_dump(), **bounds}


def test_an_odds_ratio_small_enough_meets_the_lower_bound(tmp_path):
    settings = load_settings(data_dir=tmp_path, evidence_odds_ratios={"anti-centromere": 0.001})
    assert assessed(CENTROMERE, settings)["pretest_probability"] == 0.01


def test_the_prior_age_from_set_in_the_environment_moves_the_age_factor(tmp_path, monkeypatch):
    picture = ClinicalPicture("RA", 70, "F", ages=(70, 70))
    before = assessed(picture, load_settings(data_dir=tmp_path))
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_PRIOR_AGE_FROM", "60")
    after = assessed(picture, load_settings(data_dir=tmp_path))
    per_decade = 1.3  # the age factor's odds ratio: two decades over 50 before, one over 60 after
    assert odds(before["pretest_probability"]) / odds(after["pretest_probability"]) == pytest.approx(per_decade)
    shown = after["contributions"]["clinical_prior"]
    assert shown["odds_ratios"] == {"age_per_decade_over_50": pytest.approx(per_decade)}
    assert "OR 1.3 per decade over 60" in shown["odds_ratio_sources"]["age_per_decade_over_50"]
    assert after["evidence_options"]["prior_age_from"] == 60
    assert before["evidence_options"]["prior_age_from"] == 50


def test_below_the_prior_age_from_age_adds_nothing(tmp_path):
    result = assessed(ClinicalPicture("RA", 58, "F", ages=(58, 58)),
                      load_settings(data_dir=tmp_path, evidence_prior_age_from=60))
    assert result["contributions"]["clinical_prior"]["odds_ratios"] == {}
    assert result["pretest_probability"] == pytest.approx(BASE_PREVALENCE["RA"])


@pytest.mark.parametrize(("values", "message"), [
    ({"evidence_odds_ratios": {"male": 0}}, r"evidence_odds_ratios: \('male',\): Input should be greater than 0"),
    ({"evidence_odds_ratios": {"anti-Jo-1": -2.0}},
     r"evidence_odds_ratios: \('anti-Jo-1',\): Input should be greater than 0"),
    ({"evidence_odds_ratios": {"gout": 2.0}}, r"evidence_odds_ratios: Value error, unknown risk factor 'gout'; "
                                              r"expected one of \[.*'anti-Scl-70'"),
    ({"evidence_prior_bounds": {"low": 0.5, "high": 0.5}}, r"evidence_prior_bounds: Value error, need low < high, "
                                                          r"got 0.5, 0.5"),
    ({"evidence_prior_bounds": {"low": 0.96}}, r"evidence_prior_bounds: Value error, need low < high, got 0.96, 0.95"),
    ({"evidence_prior_bounds": {"low": 0}}, r"evidence_prior_bounds: \('low',\): Input should be greater than 0"),
    ({"evidence_prior_bounds": {"high": 1}}, r"evidence_prior_bounds: \('high',\): Input should be less than 1"),
    ({"evidence_prior_bounds": {"middle": 0.5}}, r"evidence_prior_bounds: \('middle',\): Extra inputs"),
    ({"evidence_prior_age_from": 10}, r"evidence_prior_age_from: Input should be greater than or equal to 16"),
    ({"evidence_prior_age_from": 101}, r"evidence_prior_age_from: Input should be less than or equal to 100"),
    ({"evidence_prior_age_from": "fifty"}, r"evidence_prior_age_from: Input should be a valid integer"),
])
def test_a_refused_prior_setting_is_named_at_start_up(tmp_path, values, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(data_dir=tmp_path, **values)


def test_an_unknown_factor_in_the_environment_is_refused_by_its_name(tmp_path, monkeypatch):
    """Factor names are matched exactly, as everywhere else: a misspelt one must not fall back to a default."""
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_ODDS_RATIOS", '{"anti-scl-70": 6.0}')
    with pytest.raises(ConfigError, match="unknown risk factor 'anti-scl-70'"):
        load_settings(data_dir=tmp_path)

