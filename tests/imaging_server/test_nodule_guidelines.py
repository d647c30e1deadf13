"""Lung-RADS v2022 and Fleischner 2017 engines: every row and boundary of the published tables.

Each case names the table row it checks. Boundaries are tested on both sides at the 0.1 mm
reporting precision of Lung-RADS and at the whole-millimetre rounding of Fleischner.
"""
from __future__ import annotations

import pytest

from imaging_server.nodule_guidelines import (FLEISCHNER_ROWS, LUNG_RADS_ROWS, GuidelineInputError, NoduleDescription,
                                              applicable_guideline, exam_lung_rads, fleischner_recommendation,
                                              lung_rads_category, nodule_status)

# (type, mean diameter, solid component, status, expected category, the v2022 table row)
LUNG_RADS_CASES = [
    # Solid nodules
    ("solid", 5.9, 0, "baseline", "2", "2: solid < 6 mm at baseline"),
    ("solid", 6.0, 0, "baseline", "3", "3: solid >= 6 to < 8 mm at baseline (lower bound)"),
    ("solid", 7.9, 0, "baseline", "3", "3: solid >= 6 to < 8 mm at baseline (upper bound)"),
    ("solid", 8.0, 0, "baseline", "4A", "4A: solid >= 8 to < 15 mm at baseline (lower bound)"),
    ("solid", 14.9, 0, "baseline", "4A", "4A: solid >= 8 to < 15 mm at baseline (upper bound)"),
    ("solid", 15.0, 0, "baseline", "4B", "4B: solid >= 15 mm at baseline"),
    ("solid", 3.9, 0, "new", "2", "2: solid new < 4 mm"),
    ("solid", 4.0, 0, "new", "3", "3: solid new 4 to < 6 mm (lower bound)"),
    ("solid", 5.9, 0, "new", "3", "3: solid new 4 to < 6 mm (upper bound)"),
    ("solid", 6.0, 0, "new", "4A", "4A: solid new 6 to < 8 mm (lower bound)"),
    ("solid", 7.9, 0, "new", "4A", "4A: solid new 6 to < 8 mm (upper bound)"),
    ("solid", 8.0, 0, "new", "4B", "4B: solid new and >= 8 mm"),
    ("solid", 4.0, 0, "growing", "4A", "4A: solid growing < 8 mm"),
    ("solid", 7.9, 0, "growing", "4A", "4A: solid growing < 8 mm (upper bound)"),
    ("solid", 8.0, 0, "growing", "4B", "4B: solid growing and >= 8 mm"),
    ("solid", 7.0, 0, "stable", "3", "stable without a known prior category: sized as at baseline (3)"),
    # Part-solid nodules: the cases other implementations get wrong
    ("part_solid", 5.9, 3.0, "baseline", "2", "2: part-solid < 6 mm total diameter at baseline"),
    ("part_solid", 6.0, 5.9, "baseline", "3", "3: part-solid >= 6 mm total with solid component < 6 mm"),
    ("part_solid", 20.0, 1.0, "baseline", "3", "3: a large part-solid nodule with a small solid component"),
    ("part_solid", 9.0, 6.0, "baseline", "4A", "4A: part-solid >= 6 mm with solid component >= 6 to < 8 mm (low)"),
    ("part_solid", 9.0, 7.9, "baseline", "4A", "4A: part-solid >= 6 mm with solid component >= 6 to < 8 mm (high)"),
    ("part_solid", 10.0, 8.0, "baseline", "4B", "4B: part-solid with solid component >= 8 mm at baseline"),
    ("part_solid", 5.9, 4.5, "new", "3", "3: part-solid new < 6 mm total diameter (even with a 4.5 mm solid part)"),
    ("part_solid", 6.0, 3.9, "new", "4A", "4A: part-solid >= 6 mm with a new < 4 mm solid component"),
    ("part_solid", 6.0, 4.0, "new", "4B", "4B: part-solid with a new >= 4 mm solid component"),
    ("part_solid", 12.0, 3.9, "growing", "4A", "4A: part-solid with a growing < 4 mm solid component"),
    ("part_solid", 12.0, 4.0, "growing", "4B", "4B: part-solid with a growing >= 4 mm solid component"),
    ("part_solid", 5.0, 4.2, "growing", "4B", "4B: growing >= 4 mm solid component at any total size"),
    # Non-solid (ground-glass) nodules: growing GGNs stay category 2 below 30 mm
    ("ground_glass", 29.9, 0, "baseline", "2", "2: non-solid < 30 mm"),
    ("ground_glass", 29.9, 0, "new", "2", "2: non-solid < 30 mm, new"),
    ("ground_glass", 12.0, 0, "growing", "2", "2: non-solid < 30 mm, growing (not 4A)"),
    ("ground_glass", 30.0, 0, "baseline", "3", "3: non-solid >= 30 mm on baseline CT"),
    ("ground_glass", 30.0, 0, "new", "3", "3: non-solid >= 30 mm, new"),
    ("ground_glass", 30.0, 0, "stable", "2", "2: non-solid >= 30 mm and unchanged"),
    ("ground_glass", 31.0, 0, "growing", "3", "programme resolution: non-solid >= 30 mm and growing"),
]


@pytest.mark.parametrize(("kind", "diameter", "solid", "status", "category", "row"), LUNG_RADS_CASES,
                         ids=[case[-1] for case in LUNG_RADS_CASES])
def test_lung_rads_v2022_rows_and_boundaries(kind, diameter, solid, status, category, row):
    result = lung_rads_category(NoduleDescription(kind, diameter, solid, status))
    assert result["category"] == category, result["rule"]
    assert result["source"].startswith("ACR Lung-RADS v2022") and result["management"]


@pytest.mark.parametrize(("description", "category", "row"), [
    (NoduleDescription("solid", 7.0, status="stable", prior_category="3"), "2",
     "stepped management: category 3 stable at 6-month follow-up -> 2"),
    (NoduleDescription("solid", 10.0, status="stable", prior_category="4A"), "3",
     "stepped management: category 4A stable at 3-month follow-up -> 3"),
    (NoduleDescription("solid", 10.0, status="growing", prior_category="4A"), "4B",
     "stepped management does not apply to a growing nodule"),
    (NoduleDescription("solid", 9.9, juxtapleural_benign=True), "2", "2: juxtapleural solid < 10 mm"),
    (NoduleDescription("solid", 10.0, juxtapleural_benign=True), "4A", "juxtapleural rule ends below 10 mm"),
    (NoduleDescription("solid", 12.0, benign_calcification=True), "1", "1: specific calcification"),
    (NoduleDescription("solid", 7.0, suspicious_features=True), "4X", "4X: category 3 with suspicious features"),
    (NoduleDescription("part_solid", 10.0, 8.5, suspicious_features=True), "4X", "4X: category 4B with features"),
    (NoduleDescription("solid", 5.0, suspicious_features=True), "2", "4X needs category 3 or 4 first"),
])
def test_lung_rads_override_rules(description, category, row):
    assert lung_rads_category(description)["category"] == category, row


def test_every_lung_rads_row_is_reached_by_a_case():
    """A row that no case reaches is either dead or untested."""
    reached = {lung_rads_category(NoduleDescription(kind, diameter, solid, status))["rule"]
               for kind, diameter, solid, status, _, _ in LUNG_RADS_CASES}
    reached |= {lung_rads_category(NoduleDescription("solid", 7.0, status="stable", prior_category=p))["rule"]
                for p in ("3", "4A")}
    reached |= {lung_rads_category(NoduleDescription("solid", 9.0, juxtapleural_benign=True))["rule"],
                lung_rads_category(NoduleDescription("solid", 9.0, benign_calcification=True))["rule"]}
    missing = [row.cites for row in LUNG_RADS_ROWS if row.cites not in reached]
    assert not missing


def test_growth_is_more_than_1_5_mm_of_mean_diameter():
    """Lung-RADS v2022: growth = mean diameter increase > 1.5 mm (exactly 1.5 is stable)."""
    assert nodule_status(8.0, None, has_prior_exam=False) == "baseline"
    assert nodule_status(8.0, None, has_prior_exam=True) == "new"
    assert nodule_status(8.0, 6.5, has_prior_exam=True) == "stable"
    assert nodule_status(8.1, 6.5, has_prior_exam=True) == "growing"


@pytest.mark.parametrize(("description", "probability"), [
    (NoduleDescription("solid", 5.0), "< 1%"), (NoduleDescription("solid", 7.0), "1-2%"),
    (NoduleDescription("solid", 9.0), "5-15%"), (NoduleDescription("solid", 16.0), "> 15%"),
    (NoduleDescription("solid", 7.0, suspicious_features=True), "> 15%"),
])
def test_each_category_gives_its_probability_of_malignancy(description, probability):
    """'Probability + advice': the v2022 table's probability column with the management."""
    assert lung_rads_category(description)["malignancy_probability"] == probability


def test_exam_category_is_the_most_suspicious_nodule():
    assert exam_lung_rads([]) == "1"
    assert exam_lung_rads(["2", "4A", "3"]) == "4A"
    assert exam_lung_rads(["4B", "4X"]) == "4X"


# (type, diameter, solid, multiple, low-risk advice starts with, high-risk advice starts with, Table 1 cell)
FLEISCHNER_CASES = [
    ("solid", 5.4, 0, False, "No routine follow-up", "Optional CT at 12 months", "Solid, single, < 6 mm"),
    ("solid", 5.5, 0, False, "CT at 6-12 months, then consider", "CT at 6-12 months, then CT at 18-24",
     "Solid, single, 6-8 mm (5.5 rounds to 6)"),
    ("solid", 8.4, 0, False, "CT at 6-12 months, then consider", "CT at 6-12 months, then CT at 18-24",
     "Solid, single, 6-8 mm (8.4 rounds to 8)"),
    ("solid", 8.5, 0, False, "Consider CT at 3 months", "Consider CT at 3 months", "Solid, single, > 8 mm"),
    ("solid", 5.4, 0, True, "No routine follow-up", "Optional CT at 12 months", "Solid, multiple, < 6 mm"),
    ("solid", 6.0, 0, True, "CT at 3-6 months, then consider", "CT at 3-6 months, then at 18-24",
     "Solid, multiple, 6-8 mm"),
    ("solid", 12.0, 0, True, "CT at 3-6 months, then consider", "CT at 3-6 months, then at 18-24",
     "Solid, multiple, > 8 mm"),
    ("ground_glass", 5.4, 0, False, "No routine follow-up", "No routine follow-up", "Subsolid, single GGN, < 6 mm"),
    ("ground_glass", 5.5, 0, False, "CT at 6-12 months to confirm persistence, then CT every 2 years",
     "CT at 6-12 months", "Subsolid, single GGN, >= 6 mm"),
    ("part_solid", 5.4, 2.0, False, "No routine follow-up", "No routine follow-up", "Subsolid, single part solid, < 6 mm"),
    ("part_solid", 6.0, 5.4, False, "CT at 3-6 months to confirm persistence; if unchanged and solid component",
     "CT at 3-6 months", "Subsolid, single part solid, >= 6 mm"),
    ("part_solid", 9.0, 5.5, False, "CT at 3-6 months to confirm persistence; persistent with solid component >= 6",
     "CT at 3-6 months", "Subsolid, single part solid, solid component >= 6 mm (5.5 rounds to 6): highly suspicious"),
    ("ground_glass", 5.4, 0, True, "CT at 3-6 months; if stable, consider CT at 2 and 4 years", "CT at 3-6 months",
     "Subsolid, multiple, < 6 mm"),
    ("part_solid", 7.0, 3.0, True, "CT at 3-6 months; subsequent management based on the most suspicious",
     "CT at 3-6 months", "Subsolid, multiple, >= 6 mm"),
]


@pytest.mark.parametrize(("kind", "diameter", "solid", "multiple", "low", "high", "row"), FLEISCHNER_CASES,
                         ids=[case[-1] for case in FLEISCHNER_CASES])
def test_fleischner_2017_rows_and_boundaries(kind, diameter, solid, multiple, low, high, row):
    result = fleischner_recommendation(NoduleDescription(kind, diameter, solid), multiple=multiple)
    assert result["low_risk"].startswith(low), result["rule"]
    assert result["high_risk"].startswith(high), result["rule"]
    assert "immunosuppression" in result["applies_to"] and "Radiology 2017;284:228-243" in result["source"]


def test_every_fleischner_row_is_reached_by_a_case():
    reached = {fleischner_recommendation(NoduleDescription(kind, diameter, solid), multiple=multiple)["rule"]
               for kind, diameter, solid, multiple, *_ in FLEISCHNER_CASES}
    assert not [row.cites for row in FLEISCHNER_ROWS if row.cites not in reached]


def test_the_report_names_the_guideline_for_its_context():
    assert applicable_guideline("screening")["applies"] == "Lung-RADS v2022"
    incidental = applicable_guideline("incidental")
    assert incidental["applies"] == "Fleischner 2017" and "immunosuppression" in incidental["caveat"]
    with pytest.raises(GuidelineInputError, match="got 'diagnostic'"):
        applicable_guideline("diagnostic")


@pytest.mark.parametrize(("arguments", "message"), [
    (("calcified", 5.0), "nodule type must be one of"),
    (("solid", 0.0), "mean diameter must be within 0-300 mm, got 0.0"),
    (("solid", 5.0, 6.0), "solid component must be within 0 and the mean diameter, got 6.0"),
    (("solid", 5.0, 0.0, "shrinking"), "nodule status must be one of"),
])
def test_impossible_descriptions_are_refused_with_the_value(arguments, message):
    with pytest.raises(GuidelineInputError, match=message):
        NoduleDescription(*arguments)
    with pytest.raises(GuidelineInputError, match="prior Lung-RADS category"):
        NoduleDescription("solid", 5.0, prior_category="5")
