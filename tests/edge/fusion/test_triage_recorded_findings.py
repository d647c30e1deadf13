"""Table 2 factors the record measures rather than ticks (brief h48): lymphopenia on the visit's
blood count and, only when the programme sets a cut-off, older age select the Sjögren's risk line
(HRCT + PFTs) and are named with the value they came from; neither selects an RA line; the
cut-offs are settings; a count that is not a count is refused naming it."""
import math

import pytest

from edge.config import load_settings
from edge.errors import ConfigError, ValidationError
from edge.fusion.triage import TriageThresholds, patient_factors, recorded_findings, triage

DEFAULT = TriageThresholds()
NO_FACTOR = patient_factors(sex="F", smoking="never", autoantibodies=(), symptoms=())


def advise(ctd, *, lymphocytes=None, ages=(70, 71), thresholds=DEFAULT, factors=NO_FACTOR, probability=0.02):
    findings = recorded_findings(lymphocytes=lymphocytes, ages=ages, thresholds=thresholds)
    return triage(probability, thresholds=thresholds, flags=[], ctd_diagnosis=ctd, factors=set(factors),
                  findings=findings)["recommendation"]


# (lymphocytes x10^9/L, line, advice) for a Sjögren's patient with no ticked factor and a low score.
SJD_BY_COUNT = [(None, "none", "rescreen"), (0.0, "sjd_risk", "hrct_pfts"), (0.8, "sjd_risk", "hrct_pfts"),
                (0.99, "sjd_risk", "hrct_pfts"), (1.0, "none", "rescreen"), (2.4, "none", "rescreen")]


@pytest.mark.parametrize(("lymphocytes", "line", "advice"), SJD_BY_COUNT)
def test_lymphopenia_on_the_visit_blood_count_selects_the_sjogren_risk_line(lymphocytes, line, advice):
    recommendation = advise("SjD", lymphocytes=lymphocytes)
    assert recommendation["guideline"]["code"] == line
    assert recommendation["advice"] == advice
    assert recommendation["guideline"]["risk_factors"] == (["lymphopenia"] if line == "sjd_risk" else [])


def test_the_lymphopenia_is_named_with_the_count_it_came_from():
    recommendation = advise("SjD", lymphocytes=0.8)
    finding, = recommendation["guideline"]["risk_factor_findings"]
    assert (finding["code"], finding["value"], finding["cutoff"]) == ("lymphopenia", 0.8, 1.0)
    assert "lymphocytes 0.8 x10^9/L on this visit's blood count" in finding["text"]
    assert finding["text"] in recommendation["text"]
    assert "Table 2" in finding["source"] and "triage_lymphopenia_below" in finding["source"]


def test_ticked_and_measured_factors_are_named_together():
    factors = patient_factors(sex="F", smoking="never", autoantibodies=("anti-Ro52",), symptoms=())
    guideline = advise("SjD", lymphocytes=0.5, factors=factors)["guideline"]
    assert guideline["risk_factors"] == ["anti-Ro52", "lymphopenia"]
    assert [item["code"] for item in guideline["risk_factor_findings"]] == ["lymphopenia"]


@pytest.mark.parametrize("ctd", ["RA", "SLE", "SSc", "undetermined"])
def test_lymphopenia_is_a_sjogren_factor_only(ctd):
    with_count, without = advise(ctd, lymphocytes=0.5), advise(ctd)
    assert with_count["guideline"]["code"] == without["guideline"]["code"]
    assert with_count["advice"] == without["advice"]
    assert with_count["guideline"]["risk_factor_findings"] == []
    assert "lymphocytes" not in with_count["text"]


def test_the_lymphopenia_cut_off_is_a_setting(tmp_path):
    assert advise("SjD", lymphocytes=1.2)["guideline"]["code"] == "none"
    stricter = load_settings(data_dir=tmp_path / "data", triage_lymphopenia_below=1.5).triage_thresholds
    assert stricter.lymphopenia_below == 1.5
    recommendation = advise("SjD", lymphocytes=1.2, thresholds=stricter)
    assert recommendation["guideline"]["code"] == "sjd_risk"
    assert recommendation["guideline"]["risk_factor_findings"][0]["cutoff"] == 1.5


@pytest.mark.parametrize("cutoff", [0, -1, 5.0])
def test_an_impossible_lymphopenia_cut_off_is_refused(tmp_path, cutoff):
    with pytest.raises(ConfigError, match="triage_lymphopenia_below"):
        load_settings(data_dir=tmp_path / "data", triage_lymphopenia_below=cutoff)


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, "0.8", True])
def test_a_lymphocyte_value_that_is_not_a_count_is_refused_naming_it(value):
    with pytest.raises(ValidationError) as caught:
        recorded_findings(lymphocytes=value, ages=None, thresholds=DEFAULT)
    assert repr(value) in caught.value.message
    assert caught.value.fields[0]["field"] == "lymphocytes"


def test_older_age_selects_nothing_unless_the_programme_sets_its_cut_off():
    # Table 2 gives no age; everyone this programme screens is older, so there is no default.
    assert DEFAULT.sjd_older_age_from is None
    assert advise("SjD", ages=(94, 95))["guideline"]["code"] == "none"


@pytest.mark.parametrize(("ages", "line"), [((73, 74), "none"), ((74, 75), "none"), ((75, 76), "sjd_risk")])
def test_older_age_counts_when_both_possible_ages_reach_the_set_cut_off(tmp_path, ages, line):
    thresholds = load_settings(data_dir=tmp_path / "data", triage_sjd_older_age_from=75).triage_thresholds
    recommendation = advise("SjD", ages=ages, thresholds=thresholds)
    assert recommendation["guideline"]["code"] == line
    if line == "sjd_risk":
        finding, = recommendation["guideline"]["risk_factor_findings"]
        assert (finding["code"], finding["value"], finding["cutoff"]) == ("older_age", 75, 75)
        assert advise("RA", ages=ages, thresholds=thresholds)["guideline"]["code"] == "none"
