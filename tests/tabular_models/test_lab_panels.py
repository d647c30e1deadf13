"""Lab panels: LOINC lookup, SI conversion, plausibility, missing analytes, readers."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabular_models.errors import LabPanelError
from tabular_models.lab_catalogue import ANALYTES, CORE_ANALYTES, find_analyte, si_factor
from tabular_models.lab_io import read_fhir_bundle, read_lab_csv, read_lab_panel
from tabular_models.lab_panels import LAB_FEATURES, lab_feature_vector, normalize_panel, unit_slips

# One patient's panel as a US lab reports it, and the same values in SI units.
US_PANEL = [
    ("6690-2", 7.2, "10*3/uL", 7.2, "10*9/L"), ("789-8", 4.5, "10*6/uL", 4.5, "10*12/L"),
    ("718-7", 13.1, "g/dL", 131.0, "g/L"), ("4544-3", 39.5, "%", 0.395, "L/L"),
    ("787-2", 88.0, "fL", 88.0, "fL"), ("777-3", 250.0, "10*3/uL", 250.0, "10*9/L"),
    ("788-0", 14.2, "%", 14.2, "%"), ("751-8", 5.1, "10*3/uL", 5.1, "10*9/L"),
    ("731-0", 1.3, "10*3/uL", 1.3, "10*9/L"), ("742-7", 0.5, "10*3/uL", 0.5, "10*9/L"),
    ("711-2", 0.2, "10*3/uL", 0.2, "10*9/L"), ("2951-2", 139.0, "meq/L", 139.0, "mmol/L"),
    ("2823-3", 4.2, "meq/L", 4.2, "mmol/L"), ("2075-0", 103.0, "meq/L", 103.0, "mmol/L"),
    ("2028-9", 25.0, "meq/L", 25.0, "mmol/L"), ("3094-0", 18.0, "mg/dL", 18.0 * 0.357, "mmol/L"),
    ("2160-0", 1.1, "mg/dL", 1.1 * 88.42, "umol/L"), ("2345-7", 104.0, "mg/dL", 104.0 * 0.0555, "mmol/L"),
    ("17861-6", 9.4, "mg/dL", 9.4 * 0.2495, "mmol/L"), ("2885-2", 7.1, "g/dL", 71.0, "g/L"),
    ("1751-7", 3.8, "g/dL", 38.0, "g/L"), ("1975-2", 0.6, "mg/dL", 0.6 * 17.1, "umol/L"),
    ("6768-6", 80.0, "U/L", 80.0 / 60.0, "ukat/L"), ("1920-8", 24.0, "U/L", 24.0, "U/L"),
    ("1742-6", 21.0, "U/L", 21.0, "U/L"), ("2532-0", 260.0, "U/L", 260.0, "U/L"),
    ("1988-5", 1.2, "mg/dL", 12.0, "mg/L"), ("4537-7", 35.0, "mm/h", 35.0, "mm/h"),
]


def panel(columns: str):
    value, unit = (1, 2) if columns == "us" else (3, 4)
    return [{"analyte": row[0], "value": row[value], "unit": row[unit]} for row in US_PANEL]


def test_us_and_si_units_give_the_same_normalized_values():
    us, si = normalize_panel(panel("us")), normalize_panel(panel("si"))
    assert us["normalized"].keys() == si["normalized"].keys()
    for key, value in us["normalized"].items():
        assert si["normalized"][key] == pytest.approx(value, rel=1e-12), key
    assert us["missing"] == [] and us["warnings"] == []
    assert us["normalized"]["hgb"] == 131.0 and us["normalized"]["creatinine"] == pytest.approx(97.262)


def test_a_usual_panel_in_either_units_holds_no_unit_slip():
    # The unit check (test_lab_unit_check.py) must not ask about an ordinary patient's panel.
    for columns in ("us", "si"):
        assert unit_slips(normalize_panel(panel(columns))["records"], far_factor=2.0) == []


def test_every_record_keeps_the_original_and_the_si_value():
    records = normalize_panel(panel("us"))["records"]
    creatinine = next(r for r in records if r["analyte"] == "creatinine")
    assert (creatinine["value"], creatinine["unit"], creatinine["si_unit"]) == (1.1, "mg/dL", "umol/L")
    assert creatinine["loinc"] == "2160-0" and creatinine["si_value"] == pytest.approx(97.262)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"analyte": "718-7", "value": 150, "unit": "g/dL"}, ["hgb", "150 g/dL", "20-250 g/L"]),
        ({"analyte": "creatinine", "value": 97, "unit": "mg/dL"}, ["creatinine", "97 mg/dL", "umol/L"]),
        ({"analyte": "4544-3", "value": 0.42, "unit": "%"}, ["hct", "0.42 %", "implausible"]),
        ({"analyte": "potassium", "value": -1, "unit": "mmol/L"}, ["potassium", "implausible"]),
    ],
)
def test_impossible_values_and_unit_mixups_are_rejected_naming_the_analyte(entry, words):
    with pytest.raises(LabPanelError) as raised:
        normalize_panel(panel("si") + [entry])
    for word in words:
        assert word in raised.value.message
    assert raised.value.field == find_analyte(entry["analyte"]).key


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ({"analyte": "1234-5", "value": 1, "unit": "g/L"}, "1234-5", "unknown analyte"),
        ({"analyte": "718-7", "value": 13, "unit": "mg/dL"}, "hgb", "unit 'mg/dL' is not accepted"),
        ({"analyte": "718-7", "value": "high", "unit": "g/dL"}, "hgb", "must be a number"),
        ({"analyte": "718-7", "value": float("nan"), "unit": "g/dL"}, "hgb", "finite"),
        ({"analyte": "718-7", "value": True, "unit": "g/dL"}, "hgb", "must be a number"),
    ],
)
def test_unreadable_entries_are_rejected_naming_the_field(entry, field, words):
    with pytest.raises(LabPanelError) as raised:
        normalize_panel([entry])
    assert raised.value.field == field and words in raised.value.message


def test_an_empty_panel_is_rejected():
    with pytest.raises(LabPanelError, match="no results"):
        normalize_panel([])


def test_a_partial_panel_lists_what_is_missing_and_keeps_nan_for_the_model():
    result = normalize_panel([{"analyte": "hgb", "value": 12.0, "unit": "g/dL"},
                              {"analyte": "crp", "value": "<0.5", "unit": "mg/L"}])
    assert "wbc" in result["missing"] and "hgb" not in result["missing"] and "crp" not in result["missing"]
    assert len(result["missing"]) == len(CORE_ANALYTES) - 1
    assert any("censored" in warning for warning in result["warnings"])
    row = lab_feature_vector(result["normalized"])
    assert row.dtype == np.float32 and row.shape == (1, len(LAB_FEATURES))
    assert np.isnan(row[0, LAB_FEATURES.index("wbc")]) and row[0, LAB_FEATURES.index("crp")] == 0.5


def test_differential_percentages_become_counts_only_with_a_wbc():
    with_wbc = normalize_panel([{"analyte": "wbc", "value": 10, "unit": "10*9/L"},
                                {"analyte": "lymphocytes %", "value": 20, "unit": "%"}])
    assert with_wbc["normalized"]["lymphocytes"] == pytest.approx(2.0)
    without = normalize_panel([{"analyte": "lymphocytes %", "value": 20, "unit": "%"}])
    assert "lymphocytes" not in without["normalized"]
    assert any("needs the WBC" in warning for warning in without["warnings"])


def test_counts_per_microlitre_and_caret_units_convert():
    result = normalize_panel([{"analyte": "wbc", "value": 7200, "unit": "/uL"},
                              {"analyte": "platelets", "value": 250, "unit": "10^9/L"},
                              {"analyte": "rbc", "value": 4.5, "unit": "10^6/uL"}])
    assert result["normalized"]["wbc"] == pytest.approx(7.2)
    assert result["normalized"]["platelets"] == 250.0 and result["normalized"]["rbc"] == 4.5


def test_urea_by_mass_and_urea_nitrogen_convert_differently():
    assert si_factor(find_analyte("3094-0"), "mg/dL", code="3094-0") == 0.357
    assert si_factor(find_analyte("3091-6"), "mg/dL", code="3091-6") == 0.1665


def test_catalogue_ranges_hold_their_reference_ranges():
    for analyte in ANALYTES:
        low, high = analyte.plausible
        assert low < high
        if analyte.reference:
            assert low <= analyte.reference[0] and analyte.reference[1] <= high, analyte.key


def test_csv_json_and_fhir_read_to_the_same_panel():
    csv_text = "analyte,value,unit,date\n" + "".join(f"{code},{value},{unit},2026-01-02\n"
                                                     for code, value, unit, *_ in US_PANEL)
    from_csv = normalize_panel(read_lab_panel(csv_text))["normalized"]
    json_text = json.dumps({"results": panel("us")})
    from_json = normalize_panel(read_lab_panel(json_text))["normalized"]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                      "effectiveDateTime": "2026-01-02",
                      "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}}}
        for code, value, unit, *_ in US_PANEL
    ] + [{"resource": {"resourceType": "Patient"}}]}
    from_fhir = normalize_panel(read_lab_panel(json.dumps(bundle)))["normalized"]
    assert from_csv == pytest.approx(from_json) and from_fhir == pytest.approx(from_json)
    assert read_lab_csv(csv_text)[0]["collected_at"] == "2026-01-02"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name,value\nhgb,13\n", "lacks column"),
        ("analyte,value,unit\nhgb,13,g/dL,extra\n", "more fields"),
        ("{not json", "not valid JSON"),
        ('{"resourceType": "Bundle"}', "no entry list"),
        ('{"panel": 1}', "list of results"),
    ],
)
def test_malformed_files_are_rejected(text, words):
    with pytest.raises(LabPanelError, match=words):
        read_lab_panel(text)


@pytest.mark.parametrize(("text", "column"), [("name,value\nhgb,13\n", "analyte"), ("analyte,value\nhgb,13\n", "unit"),
                                              ("analyte,result,unit\nhgb,13,g/dL\n", "value")])
def test_a_file_without_an_expected_column_names_the_first_one_it_lacks(text, column):
    """The edge's page shows ``missing_column`` to the nurse: one of the format's own names, never the file's text."""
    with pytest.raises(LabPanelError) as raised:
        read_lab_panel(text)
    assert raised.value.missing_column == column


def test_fhir_observations_without_loinc_or_quantity_are_rejected():
    observation = {"resourceType": "Observation", "code": {"coding": [{"system": "http://snomed.info/sct",
                                                                       "code": "1"}]}}
    with pytest.raises(LabPanelError, match="no LOINC coding"):
        read_fhir_bundle({"entry": [{"resource": observation}]})
    observation["code"]["coding"].append({"system": "http://loinc.org", "code": "718-7"})
    with pytest.raises(LabPanelError, match="no valueQuantity"):
        read_fhir_bundle({"entry": [{"resource": observation}]})
    observation["status"] = "entered-in-error"
    assert read_fhir_bundle({"entry": [{"resource": observation}]}) == []


@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_any_accepted_unit_normalises_back_to_the_same_si_value(data):
    analyte = data.draw(st.sampled_from(ANALYTES))
    low, high = analyte.plausible
    # Away from the bounds by a hair, so converting there and back cannot round outside them.
    si_value = data.draw(st.floats(min_value=max(low, 1e-3) * (1 + 1e-9), max_value=high * (1 - 1e-9)))
    unit, factor = data.draw(st.sampled_from(sorted(analyte.units.items())))
    name = analyte.loinc[0] if analyte.loinc else analyte.key
    record = normalize_panel([{"analyte": name, "value": si_value / factor, "unit": unit}])["records"][0]
    assert record["analyte"] == analyte.key and record["si_unit"] == analyte.si_unit
    assert record["si_value"] == pytest.approx(si_value, rel=1e-9)
