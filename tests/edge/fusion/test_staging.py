"""GAP and ILD-GAP points at every boundary value of the published tables."""
import pytest

from edge.errors import ValidationError
from edge.fusion.staging import gap_points, gap_stage, ild_gap_category, stage

BASE = {"sex": "F", "age": 50, "fvc_percent": 90, "dlco_percent": 80}


@pytest.mark.parametrize(("age", "points"), [(60, 0), (60.5, 1), (61, 1), (65, 1), (65.5, 2), (66, 2)])
def test_age_points(age, points):
    assert gap_points(**{**BASE, "age": age})["age"] == points


@pytest.mark.parametrize(("fvc", "points"), [(75.1, 0), (75, 1), (50, 1), (49.9, 2)])
def test_fvc_points(fvc, points):
    assert gap_points(**{**BASE, "fvc_percent": fvc})["fvc"] == points


@pytest.mark.parametrize(("dlco", "points"), [(55.1, 0), (55, 1), (36, 1), (35, 2), (None, 3)])
def test_dlco_points_including_cannot_perform(dlco, points):
    assert gap_points(**{**BASE, "dlco_percent": dlco})["dlco"] == points


def test_gender_points():
    assert gap_points(**BASE)["gender"] == 0 and gap_points(**{**BASE, "sex": "M"})["gender"] == 1


@pytest.mark.parametrize(("points", "stage_name"), [(0, "I"), (3, "I"), (4, "II"), (5, "II"), (6, "III"), (8, "III")])
def test_gap_stages(points, stage_name):
    assert gap_stage(points) == stage_name


@pytest.mark.parametrize(("points", "category"), [(-2, "0-1"), (1, "0-1"), (2, "2-3"), (3, "2-3"), (4, "4-5"),
                                                  (5, "4-5"), (6, "6-8")])
def test_ild_gap_categories(points, category):
    assert ild_gap_category(points) == category


def test_ctd_ild_subtracts_two_points():
    result = stage(sex="M", age=70, fvc_percent=45, dlco_percent=None)
    assert result["gap"] == {"points": 8, "stage": "III"}
    assert result["ild_gap"]["points"] == 6 and result["ild_gap"]["category"] == "6-8"
    assert stage(sex="M", age=70, fvc_percent=45, dlco_percent=None, ild_subtype="IPF")["ild_gap"]["points"] == 8


@pytest.mark.parametrize(("kwargs", "message"), [({"fvc_percent": 500}, "fvc_percent must be between"),
                                                 ({"sex": "X"}, "sex must be F or M"),
                                                 ({"dlco_percent": 0}, "dlco_percent must be between")])
def test_impossible_values_are_refused(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        gap_points(**{**BASE, **kwargs})
