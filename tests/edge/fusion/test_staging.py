"""GAP and ILD-GAP at every boundary of the published tables (Ley 2012, Ryerson 2014), the
ILD-GAP floor at 0, and the age ambiguity of a birth year."""
import pytest

from edge.errors import ValidationError
from edge.fusion.staging import age_points, gap_points, gap_stage, ild_gap_group, ild_gap_index, stage

BASE = {"sex": "F", "age": 50, "fvc_percent": 90, "dlco_percent": 80}


@pytest.mark.parametrize(("age", "points"), [(16, 0), (60, 0), (61, 1), (65, 1), (66, 2), (120, 2)])
def test_age_points(age, points):
    assert age_points(age) == points and gap_points(**{**BASE, "age": age})["age"] == points


@pytest.mark.parametrize(("fvc", "points"), [(200, 0), (75.1, 0), (75, 1), (50, 1), (49.9, 2), (5, 2)])
def test_fvc_points(fvc, points):
    assert gap_points(**{**BASE, "fvc_percent": fvc})["fvc"] == points


@pytest.mark.parametrize(("dlco", "points"), [(55.1, 0), (55, 1), (36, 1), (35.1, 1), (35, 2), (1, 2), (None, 3)])
def test_dlco_points_including_cannot_perform(dlco, points):
    assert gap_points(**{**BASE, "dlco_percent": dlco})["dlco"] == points


def test_gender_points():
    assert gap_points(**BASE)["gender"] == 0 and gap_points(**{**BASE, "sex": "M"})["gender"] == 1


@pytest.mark.parametrize(("points", "stage_name"), [(0, "I"), (3, "I"), (4, "II"), (5, "II"), (6, "III"), (8, "III")])
def test_gap_stages(points, stage_name):
    assert gap_stage(points) == stage_name


@pytest.mark.parametrize(
    ("gap", "subtype", "index"),
    [(0, "CTD-ILD", 0), (1, "CTD-ILD", 0), (2, "CTD-ILD", 0), (3, "CTD-ILD", 1), (8, "CTD-ILD", 6),
     (1, "chronic HP", 0), (1, "idiopathic NSIP", 0), (4, "IPF", 4), (0, "unclassifiable", 0)],
)
def test_ild_gap_index_adds_the_subtype_and_is_floored_at_zero(gap, subtype, index):
    assert ild_gap_index(gap, subtype) == index


@pytest.mark.parametrize(("index", "group"), [(0, "0-1"), (1, "0-1"), (2, "2-3"), (3, "2-3"), (4, "4-5"), (5, "4-5"),
                                              (6, "6-8"), (8, "6-8")])
def test_ild_gap_groups(index, group):
    assert ild_gap_group(index) == group


def test_a_negative_ild_gap_index_cannot_be_grouped():
    with pytest.raises(ValidationError, match="floored at 0, got -2"):
        ild_gap_group(-2)


def test_a_birth_year_that_straddles_an_age_band_is_shown_as_a_range():
    result = stage(sex="M", ages=(65, 66), fvc_percent=60, dlco_percent=50)
    assert result["age_ambiguous"] and result["domains"]["age"] == [1, 2]
    assert result["gap"] == {"points": [4, 5], "stage": "II"}
    assert result["ild_gap"]["index"] == [2, 3] and result["ild_gap"]["group"] == "2-3"
    crossing = stage(sex="M", ages=(65, 66), fvc_percent=49, dlco_percent=50)
    assert crossing["gap"] == {"points": [5, 6], "stage": "II or III"}
    assert crossing["ild_gap"]["group"] == "2-3 or 4-5"


def test_a_birth_year_inside_one_band_is_not_ambiguous():
    result = stage(sex="F", ages=(70, 71), fvc_percent=80, dlco_percent=60)
    assert not result["age_ambiguous"] and result["gap"] == {"points": [2, 2], "stage": "I"}
    assert result["ild_gap"] == {"index": [0, 0], "group": "0-1", "subtype": "CTD-ILD"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sex": "X"}, "sex must be F or M"), ({"fvc_percent": 300}, "fvc_percent must be between"),
     ({"dlco_percent": 0}, "dlco_percent must be between"), ({"ages": (70, 69)}, "ages must be"),
     ({"ild_subtype": "sarcoid"}, "unknown ILD subtype 'sarcoid'")],
)
def test_bad_inputs_are_named(kwargs, message):
    values = {"sex": "F", "ages": (60, 61), "fvc_percent": 80, "dlco_percent": 60, **kwargs}
    with pytest.raises(ValidationError, match=message):
        stage(**values)
