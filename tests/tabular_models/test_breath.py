"""Breath readings: the file format, compensation, drift correction, features and quality checks."""
import json

import numpy as np
import pytest

from tabular_models.breath_io import EXPECTED_COLUMNS, read_breath_reading
from tabular_models.breath_signal import (
    ENVIRONMENT_RANGES,
    breath_feature_names,
    breath_feature_vector,
    breath_features,
    check_breath_quality,
    compensate_environment,
    relative_response,
)
from tabular_models.errors import BreathReadingError
from tabular_models.training.synthetic_breath import N_SENSORS, device_profile, simulate_reading


def reading(seed: int = 0, **options):
    rng = np.random.default_rng(seed)
    device = device_profile(rng)
    device["drift_per_s"][:] = options.pop("drift_per_s", 0.0)
    return simulate_reading(rng, concentrations=options.pop("concentrations", np.ones(6)), device=device, **options)


def codes(quality):
    return [issue["code"] for issue in quality["issues"]]


def to_csv(r) -> str:
    header = ["t_s", "phase", *[f"sensor_{i + 1}" for i in range(r["sensors"].shape[1])],
              "temperature_c", "humidity_pct", "pressure_hpa"]
    rows = [",".join(header)]
    for i in range(r["t_s"].size):
        rows.append(",".join([f"{r['t_s'][i]:.3f}", r["phase"][i], *[f"{v:.4f}" for v in r["sensors"][i]],
                              f"{r['temperature_c'][i]:.3f}", f"{r['humidity_pct'][i]:.3f}",
                              f"{r['pressure_hpa'][i]:.3f}"]))
    return "\n".join(rows) + "\n"


def test_a_good_reading_passes_quality_and_yields_every_feature():
    good = reading()
    assert check_breath_quality(good) == {"ok": True, "issues": []}
    features = breath_features(good)
    assert tuple(features) == breath_feature_names(N_SENSORS)
    assert all(features[f"sensor_{i}_response"] > 0.05 for i in range(1, N_SENSORS + 1))
    assert features["humidity_rise_pct"] > 40


def test_no_breath_is_detected():
    quality = check_breath_quality(reading(breath_delivered=False))
    assert not quality["ok"] and codes(quality) == ["no_breath"]
    assert "exhale" in quality["issues"][0]["reason"]


def test_a_saturated_sensor_is_detected_and_named():
    r = reading()
    r["sensors"][80:100, 2] = r["full_scale"]
    quality = check_breath_quality(r)
    assert codes(quality) == ["saturated"] and quality["issues"][0]["sensor"] == "sensor_3"


def test_a_dead_sensor_is_detected_and_named():
    r = reading()
    r["sensors"][:, 5] = 0.0
    quality = check_breath_quality(r)
    assert codes(quality) == ["dead_sensor"] and quality["issues"][0]["sensor"] == "sensor_6"


@pytest.mark.parametrize("column", sorted(ENVIRONMENT_RANGES))
def test_an_environment_value_outside_what_the_chamber_sensor_measures_is_an_issue_at_each_bound(column):
    """Every row of ENVIRONMENT_RANGES, at both bounds: on the bound passes, just past it is an issue
    naming the column (h130: a reading at 500 %RH passed and was scored)."""
    low, high = ENVIRONMENT_RANGES[column]
    for value, ok in ((low, True), (high, True), (low - 0.1, False), (high + 0.1, False)):
        r = reading()
        r[column] = r[column].copy()
        r[column][40] = value
        quality = check_breath_quality(r)
        if ok:
            assert "environment_out_of_range" not in codes(quality), (value, quality)
        else:
            issue = next(i for i in quality["issues"] if i["code"] == "environment_out_of_range")
            assert issue["column"] == column and f"{value:g}" in issue["reason"] and not quality["ok"]


def test_incomplete_warm_up_is_detected():
    quality = check_breath_quality(reading(warmup_drift=0.5))
    assert codes(quality) == ["warmup_incomplete"] and "heaters" in quality["issues"][0]["reason"]


def test_missing_and_short_phases_are_detected():
    r = reading()
    keep = r["phase"] != "purge"
    short = {key: (value[keep] if isinstance(value, np.ndarray) else value) for key, value in r.items()}
    assert "missing_phase" in codes(check_breath_quality(short))
    with pytest.raises(BreathReadingError, match="purge"):
        breath_features(short)
    r["phase"][:50] = "warmup"  # leaves 5 s of baseline
    assert "too_short" in codes(check_breath_quality(r))


def test_humidity_compensation_removes_a_pure_water_response():
    r = reading(concentrations=np.zeros(6))
    rng = np.random.default_rng(0)
    coefficient = device_profile(rng)["humidity_coefficient"]  # the device the reading was simulated on
    raw = relative_response(r["sensors"], r)
    compensated = relative_response(compensate_environment(r, humidity_coefficient=coefficient), r)
    exposure = r["phase"] == "exposure"
    assert np.abs(raw[exposure]).max() > 0.2
    assert np.abs(compensated[exposure]).max() < 0.03


def test_drift_is_corrected_against_the_ambient_reference():
    steady, drifting = reading(seed=3), reading(seed=3, drift_per_s=8e-4)
    for key in ("response", "area"):
        assert breath_features(drifting)[f"sensor_1_{key}"] == pytest.approx(
            breath_features(steady)[f"sensor_1_{key}"], rel=0.05)


def test_csv_and_json_files_read_to_the_same_features():
    r = reading()
    from_csv = breath_features(read_breath_reading(to_csv(r)))
    as_json = {"t_s": r["t_s"].tolist(), "phase": r["phase"].tolist(), "sensors": r["sensors"].T.tolist(),
               "temperature_c": r["temperature_c"].tolist(), "humidity_pct": r["humidity_pct"].tolist(),
               "pressure_hpa": r["pressure_hpa"].tolist(), "full_scale": 4095}
    from_json = breath_features(read_breath_reading(json.dumps(as_json)))
    assert from_csv == pytest.approx(from_json, rel=1e-3, abs=1e-4)


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (lambda d: d.pop("humidity_pct"), "humidity_pct", "no 'humidity_pct'"),
        (lambda d: d["t_s"].reverse(), "t_s", "must increase"),
        (lambda d: d["phase"].__setitem__(3, "sniff"), "phase", "unknown phase 'sniff'"),
        (lambda d: d["sensors"][1].pop(), "sensor_2", "samples but t_s has"),
        (lambda d: d["sensors"][0].__setitem__(7, None), "sensor_1", "non-finite"),
        (lambda d: d.__setitem__("full_scale", "max"), "full_scale", "must be a number"),
        (lambda d: d.__setitem__("sensors", []), "sensors", "1-32 sensors"),
    ],
)
def test_malformed_json_readings_are_rejected_naming_the_field(edit, field, words):
    r = reading()
    data = {"t_s": r["t_s"].tolist(), "phase": r["phase"].tolist(), "sensors": r["sensors"].T.tolist(),
            "temperature_c": r["temperature_c"].tolist(), "humidity_pct": r["humidity_pct"].tolist(),
            "pressure_hpa": r["pressure_hpa"].tolist()}
    edit(data)
    with pytest.raises(BreathReadingError) as raised:
        read_breath_reading(json.dumps(data))
    assert raised.value.field == field and words in raised.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("t_s,phase,sensor_1,sensor_3,temperature_c,humidity_pct,pressure_hpa\n", "without gaps"),
        ("t_s,phase,sensor_1,temperature_c\n", "lacks column"),
        ("t_s,phase,sensor_1,temperature_c,humidity_pct,pressure_hpa\n0,baseline,1\n", "has 3 fields"),
        ("{oops", "not valid JSON"),
    ],
)
def test_malformed_csv_files_are_rejected(text, words):
    with pytest.raises(BreathReadingError, match=words):
        read_breath_reading(text)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("t_s,phase,sensor_1,sensor_3,temperature_c,humidity_pct,pressure_hpa\n", "sensor_2"),
        ("t_s,phase,sensor_2,temperature_c,humidity_pct,pressure_hpa\n", "sensor_1"),
        ("t_s,phase,temperature_c,humidity_pct,pressure_hpa\n", "sensor_1"),
        ("t_s,phase,sensor_1,temperature_c,pressure_hpa\n", "humidity_pct"),
        ("time,phase,sensor_1,temperature_c,humidity_pct,pressure_hpa\n", "t_s"),
        ("t_s,phase,sensor_1,sensor_1,temperature_c,humidity_pct,pressure_hpa\n", None),  # twice: none missing
        ('{"t_s": [], "phase": [], "sensors": [], "temperature_c": [], "humidity_pct": []}', "pressure_hpa"),
    ],
)
def test_a_file_without_an_expected_column_names_it_from_the_formats_own_names(text, column):
    """The edge's page shows ``missing_column`` to the nurse: only a name of the format's own, never the file's text."""
    with pytest.raises(BreathReadingError) as raised:
        read_breath_reading(text)
    assert raised.value.missing_column == column
    assert column is None or column in EXPECTED_COLUMNS


def test_the_feature_vector_refuses_a_different_sensor_count():
    features = breath_features(reading())
    assert breath_feature_vector(features, n_sensors=N_SENSORS).shape == (1, 4 * N_SENSORS + 1)
    with pytest.raises(BreathReadingError, match="expects 6 sensors"):
        breath_feature_vector(features, n_sensors=6)
