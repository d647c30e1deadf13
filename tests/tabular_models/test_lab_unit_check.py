"""The unit check (lab_panels.unit_slip): a plausible value that looks like a unit slip is found,
with the unit that would make it usual; a value that is merely unusual, or one no unit explains, is not."""
import pytest

from tabular_models.lab_catalogue import ANALYTES, BY_KEY, Analyte, si_factor
from tabular_models.lab_panels import normalize_panel, unit_check_applies, unit_slip, unit_slips


@pytest.mark.parametrize(
    ("key", "value", "unit", "direction", "usual_unit"),
    [
        ("bilirubin", 0.8, "umol/L", "low", "mg/dL"),  # 0.8 mg/dL typed into the SI unit
        ("bilirubin", 12, "mg/dL", "high", "umol/L"),  # 12 umol/L typed into mg/dL
        ("urea", 20, "mmol/L", "high", "mg/dL"),  # a BUN of 20 mg/dL typed into mmol/L
        ("urea", 3, "mg/dL", "low", "mmol/L"),
        ("glucose", 12, "mg/dL", "low", "mmol/L"),  # a diabetic's 12 mmol/L: above the range, but near it
        ("alt", 30, "ukat/L", "high", "U/L"),
        ("lymphocytes", 1.5, "/uL", "low", "10*9/L"),
        ("hgb", 25, "g/L", "low", "g/dL"),
    ],
)
def test_a_unit_slip_is_found_in_both_directions_naming_the_unit_that_makes_it_usual(
        key, value, unit, direction, usual_unit):
    analyte = BY_KEY[key]
    slip = unit_slip(analyte, value, unit, far_factor=2.0)
    assert slip is not None
    assert (slip["analyte"], slip["value"], slip["unit"]) == (key, value, unit)
    assert (slip["direction"], slip["usual_unit"]) == (direction, usual_unit)
    low, high = analyte.reference
    factor, usual_factor = si_factor(analyte, unit), si_factor(analyte, usual_unit)
    assert slip["reference"] == pytest.approx((low / factor, high / factor))
    assert slip["usual_reference"] == pytest.approx((low / usual_factor, high / usual_factor))
    # Far outside in its unit, within the widened window in the other: the rule, recomputed.
    assert not low / 2 <= value * factor <= high * 2 and low / 2 <= value * usual_factor <= high * 2
    assert key in slip["message"] and f"{value:g} {usual_unit}" in slip["message"]


@pytest.mark.parametrize(
    ("key", "value", "unit"),
    [
        ("bilirubin", 12, "umol/L"),  # usual
        ("bilirubin", 0.8, "mg/dL"),  # usual
        ("creatinine", 12, "umol/L"),  # far below, but 12 mg/dL is far above: no unit explains it
        ("creatinine", 3.4, "mg/dL"),  # kidney failure, 300 umol/L: unusual, not a slip
        ("lymphocytes", 0.3, "10*9/L"),  # lymphopenia: 0.3 /uL explains nothing
        ("glucose", 25, "mmol/L"),  # hyperglycaemia: 25 mg/dL is as far below
        ("hgb", 30, "g/L"),  # 30 g/dL would be 300 g/L: beyond the plausible range, so no explanation
        ("urea", 15, "mmol/L"),  # within twice the upper limit: unusual, not far
    ],
)
def test_usual_values_and_unusual_values_no_unit_explains_are_not_slips(key, value, unit):
    assert unit_slip(BY_KEY[key], value, unit, far_factor=2.0) is None


@pytest.mark.parametrize(
    ("key", "value", "unit"),
    [
        ("crp", 3, "mg/dL"),  # 30 mg/L, and 3 mg/L is usual: but any small CRP is usual (range from 0)
        ("eosinophils", 50, "10*9/L"),  # range from 0: any smaller unit looks right
        ("potassium", 1.2, "mmol/L"),  # far below, but its units share one factor
        ("sodium", 300, "meq/L"),
    ],
)
def test_analytes_whose_range_starts_at_0_or_whose_units_share_a_factor_are_never_asked(key, value, unit):
    assert not unit_check_applies(BY_KEY[key])
    assert unit_slip(BY_KEY[key], value, unit, far_factor=2.0) is None


def test_an_analyte_without_a_reference_range_is_never_asked():
    bare = Analyte("bare", "No reference", "g/L", {"g/L": 1.0, "g/dL": 10.0}, (1.0, 1000.0))
    with_range = Analyte("ranged", "With reference", "g/L", {"g/L": 1.0, "g/dL": 10.0}, (1.0, 1000.0),
                         reference=(100.0, 200.0))
    assert unit_slip(with_range, 15, "g/L", far_factor=2.0)["usual_unit"] == "g/dL"  # the same value, a range
    assert unit_slip(bare, 15, "g/L", far_factor=2.0) is None and not unit_check_applies(bare)


def test_the_far_factor_setting_changes_the_outcome():
    bilirubin, urea = BY_KEY["bilirubin"], BY_KEY["urea"]
    assert unit_slip(bilirubin, 1.0, "umol/L", far_factor=2.0) is not None  # below 3 / 2
    assert unit_slip(bilirubin, 1.0, "umol/L", far_factor=4.0) is None  # within [0.75, 84]
    assert unit_slip(urea, 20, "mmol/L", far_factor=2.0) is not None  # above 7.8 x 2
    assert unit_slip(urea, 20, "mmol/L", far_factor=3.0) is None  # within 7.8 x 3
    assert unit_slip(bilirubin, 2.5, "umol/L", far_factor=1.0) is None  # 2.5 mg/dL is outside 3-21 umol/L
    assert unit_slip(bilirubin, 1.0, "umol/L", far_factor=1.0) is not None  # 1 mg/dL = 17.1, inside it


def test_a_correctly_converted_usual_value_is_never_asked_in_any_accepted_unit():
    for analyte in ANALYTES:
        if analyte.reference is None:
            continue
        low, high = analyte.reference
        for si_value in (low, (low + high) / 2, high):
            for unit, factor in analyte.units.items():
                assert unit_slip(analyte, si_value / factor, unit, far_factor=1.0) is None, (analyte.key, unit)


def test_urea_by_mass_is_read_with_its_own_factor():
    by_mass, nitrogen = normalize_panel([{"analyte": "3091-6", "value": 40, "unit": "mmol/L"},
                                         {"analyte": "3094-0", "value": 40, "unit": "mmol/L"}])["records"]
    by_mass_slip, nitrogen_slip = unit_slips([by_mass, nitrogen], far_factor=2.0)
    assert by_mass_slip["usual_reference"] == pytest.approx((2.5 / 0.1665, 7.8 / 0.1665))
    assert nitrogen_slip["usual_reference"] == pytest.approx((2.5 / 0.357, 7.8 / 0.357))


@pytest.mark.parametrize(("unit", "far_factor", "words"),
                         [("umol/L", 0.5, "far_factor must be >= 1, got 0.5"),
                          ("umol/L", float("nan"), "far_factor must be >= 1"),
                          ("g/dL", 2.0, "bilirubin: unit 'g/dL' is not accepted")])
def test_a_bad_factor_or_unit_is_refused_naming_it(unit, far_factor, words):
    with pytest.raises(ValueError, match=words):
        unit_slip(BY_KEY["bilirubin"], 1.0, unit, far_factor=far_factor)
