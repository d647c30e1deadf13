"""E-nose signal processing: quality checks, compensation, drift correction, per-sensor features.

The steps, in order (each a pure function of a reading from ``breath_io``):

1. ``check_breath_quality``: phases present and long enough, heater warm-up finished (a flat
   baseline), no saturated or dead sensor, breath actually delivered (humidity rises: exhaled
   air is near water saturation, while clinic air is not).
2. ``compensate_environment``: metal-oxide sensors respond to water vapour and temperature as
   well as to VOCs (cross-sensitivity of roughly 0.5-1.5 % conductance per %RH; Wang et al.,
   Sensors 2010;10:2088). The signal is divided by ``1 + a_h (RH - RH0) + a_t (T - T0)`` with
   the baseline's RH0 and T0.
3. ``relative_response``: the ambient level is interpolated linearly between the baseline and
   the ambient reference at the end (the ``reference`` phase, else the tail of the purge), so
   slow sensor drift during the capture is removed; the response is ``x / ambient - 1``.
4. ``breath_features``: per sensor, the peak relative response during exposure (signed), its
   area over the exposure (response x seconds), the steepest rise in exposure and the steepest
   decay in purge (per second, positive when the signal returns towards ambient), plus the
   humidity rise that shows breath was delivered.
"""
from __future__ import annotations

import logging

import numpy as np

from tabular_models.errors import BreathReadingError

logger = logging.getLogger(__name__)

REQUIRED_PHASES = ("baseline", "exposure", "purge")
MIN_PHASE_S = {"baseline": 10.0, "exposure": 5.0, "purge": 10.0}
SATURATION_FRACTION = 0.995
SATURATED_SAMPLES = 3
DEAD_STD_FRACTION = 1e-5  # a live sensor always shows some noise; a stuck ADC shows none
DEAD_LEVEL_FRACTION = 0.005
WARMUP_DRIFT = 0.03
WARMUP_TEMPERATURE_C = 1.5
BREATH_HUMIDITY_RISE_PCT = 5.0
BREATH_RESPONSE = 0.02
HUMIDITY_COEFFICIENT = 0.01
TEMPERATURE_COEFFICIENT = -0.01
PER_SENSOR_FEATURES = ("response", "area", "rise", "decay")
# What the chamber's environment sensor can measure (Bosch Sensortec BME688 datasheet, operating range:
# -40 to 85 C, 0 to 100 %RH, 300 to 1100 hPa). A value outside is a sensor fault or a unit slip, never
# the chamber: compensating with it would make up the features, so the reading is not scored.
ENVIRONMENT_RANGES = {"temperature_c": (-40.0, 85.0), "humidity_pct": (0.0, 100.0), "pressure_hpa": (300.0, 1100.0)}


def breath_feature_names(n_sensors: int) -> tuple[str, ...]:
    """Feature names in model order for ``n_sensors`` sensors.

    Examples
    --------
    >>> breath_feature_names(2)[:5]
    ('sensor_1_response', 'sensor_1_area', 'sensor_1_rise', 'sensor_1_decay', 'sensor_2_response')
    """
    per_sensor = tuple(f"sensor_{i}_{name}" for i in range(1, n_sensors + 1) for name in PER_SENSOR_FEATURES)
    return (*per_sensor, "humidity_rise_pct")


def _mask(reading: dict, phase: str) -> np.ndarray:
    return reading["phase"] == phase


def _duration(reading: dict, phase: str) -> float:
    times = reading["t_s"][_mask(reading, phase)]
    return float(times[-1] - times[0]) if times.size > 1 else 0.0


def _ambient_windows(reading: dict) -> tuple[np.ndarray, np.ndarray]:
    """Samples of the settled baseline (its second half) and of the closing ambient reference."""
    baseline = np.flatnonzero(_mask(reading, "baseline"))
    closing = np.flatnonzero(_mask(reading, "reference"))
    if closing.size == 0:
        purge = np.flatnonzero(_mask(reading, "purge"))
        closing = purge[-max(1, purge.size // 4):]
    return baseline[baseline.size // 2:], closing


def _humidity_rise(reading: dict) -> float:
    baseline = reading["humidity_pct"][_mask(reading, "baseline")]
    exposure = reading["humidity_pct"][_mask(reading, "exposure")]
    return float(np.max(exposure) - np.median(baseline))


def check_breath_quality(reading: dict) -> dict:
    """Check a reading before it is scored; ``ok`` is False when any issue was found.

    Returns ``{"ok": bool, "issues": [{"code", "reason", "sensor"?}]}`` with codes
    ``missing_phase``, ``too_short``, ``warmup_incomplete``, ``saturated``, ``dead_sensor``,
    ``environment_out_of_range`` (naming the ``column``) and ``no_breath``.

    Examples
    --------
    >>> from tabular_models.breath_io import build_reading
    >>> flat = build_reading({"t_s": range(40), "phase": ["baseline"] * 40, "sensors": [[900.0] * 40],
    ...                       "temperature_c": [30.0] * 40, "humidity_pct": [40.0] * 40,
    ...                       "pressure_hpa": [1013.0] * 40})
    >>> [issue["code"] for issue in check_breath_quality(flat)["issues"]]
    ['missing_phase', 'missing_phase', 'dead_sensor']
    """
    issues = []
    for phase in REQUIRED_PHASES:
        if not _mask(reading, phase).any():
            issues.append({"code": "missing_phase", "reason": f"the reading has no {phase} phase"})
        elif _duration(reading, phase) < MIN_PHASE_S[phase]:
            issues.append({"code": "too_short", "reason": f"the {phase} phase lasts {_duration(reading, phase):.1f} s; "
                                                          f"at least {MIN_PHASE_S[phase]:g} s is needed"})
    issues.extend(_sensor_issues(reading))
    issues.extend(_environment_issues(reading))
    if _mask(reading, "baseline").sum() >= 4:
        issues.extend(_warmup_issues(reading))
    if not any(issue["code"] == "missing_phase" for issue in issues):
        issues.extend(_breath_issues(reading))
    return {"ok": not issues, "issues": issues}


def _sensor_issues(reading: dict) -> list[dict]:
    issues = []
    full_scale = reading["full_scale"]
    for index, signal in enumerate(reading["sensors"].T):
        sensor = f"sensor_{index + 1}"
        if np.count_nonzero(signal >= SATURATION_FRACTION * full_scale) >= SATURATED_SAMPLES:
            issues.append({"code": "saturated", "sensor": sensor,
                           "reason": f"{sensor} reached full scale ({full_scale:g}); the response is clipped"})
        elif np.std(signal) < DEAD_STD_FRACTION * full_scale or np.median(signal) < DEAD_LEVEL_FRACTION * full_scale:
            issues.append({"code": "dead_sensor", "sensor": sensor,
                           "reason": f"{sensor} shows no signal (flat or at zero); check the board"})
    return issues


def _environment_issues(reading: dict) -> list[dict]:
    issues = []
    for column, (low, high) in ENVIRONMENT_RANGES.items():
        values = reading[column]
        outside = np.flatnonzero((values < low) | (values > high))
        if outside.size:
            first = int(outside[0])
            issues.append({"code": "environment_out_of_range", "column": column,
                           "reason": f"{column} reads {values[first]:g} at sample {first}, outside the {low:g} to "
                                     f"{high:g} the chamber's sensor measures; check the board"})
    return issues


def _warmup_issues(reading: dict) -> list[dict]:
    baseline = _mask(reading, "baseline")
    signals = reading["sensors"][baseline]
    third = max(1, signals.shape[0] // 3)
    start, end = np.median(signals[:third], axis=0), np.median(signals[-third:], axis=0)
    drift = np.abs(end - start) / np.maximum(np.abs(start), 1e-9)
    temperature = reading["temperature_c"][baseline]
    temperature_change = abs(float(np.median(temperature[-third:]) - np.median(temperature[:third])))
    if np.mean(drift > WARMUP_DRIFT) > 0.5 or temperature_change > WARMUP_TEMPERATURE_C:
        return [{"code": "warmup_incomplete",
                 "reason": f"the baseline is still moving (median sensor drift {np.median(drift):.1%}, "
                           f"temperature change {temperature_change:.1f} C); let the heaters settle and repeat"}]
    return []


def _breath_issues(reading: dict) -> list[dict]:
    rise = _humidity_rise(reading)
    response = relative_response(compensate_environment(reading), reading)
    peak = np.max(np.abs(response[_mask(reading, "exposure")]), axis=0)
    if rise < BREATH_HUMIDITY_RISE_PCT and np.median(peak) < BREATH_RESPONSE:
        return [{"code": "no_breath",
                 "reason": f"no breath detected: humidity rose {rise:.1f} %RH and the median sensor response "
                           f"was {np.median(peak):.1%}; ask the patient to exhale into the mouthpiece"}]
    return []


def compensate_environment(
    reading: dict, *, humidity_coefficient: float | np.ndarray = HUMIDITY_COEFFICIENT,
    temperature_coefficient: float | np.ndarray = TEMPERATURE_COEFFICIENT,
) -> np.ndarray:
    """Sensor signals with humidity and temperature cross-sensitivity divided out.

    The coefficients (fractional change per %RH and per degree C) are one number for every
    sensor or one per sensor, e.g. from the board's calibration.

    Examples
    --------
    >>> from tabular_models.breath_io import build_reading
    >>> humid = build_reading({"t_s": range(10), "phase": ["baseline"] * 5 + ["exposure"] * 5,
    ...                        "sensors": [[1000.0] * 5 + [1300.0] * 5], "temperature_c": [30.0] * 10,
    ...                        "humidity_pct": [40.0] * 5 + [70.0] * 5, "pressure_hpa": [1013.0] * 10})
    >>> float(compensate_environment(humid)[-1, 0])
    1000.0
    """
    baseline = _mask(reading, "baseline")
    if not baseline.any():
        raise BreathReadingError("the reading has no baseline phase to compensate against", field="phase")
    humidity = reading["humidity_pct"] - np.median(reading["humidity_pct"][baseline])
    temperature = reading["temperature_c"] - np.median(reading["temperature_c"][baseline])
    factor = (1.0 + np.asarray(humidity_coefficient) * humidity[:, None]
              + np.asarray(temperature_coefficient) * temperature[:, None])
    return reading["sensors"] / np.maximum(factor, 0.1)


def relative_response(signals: np.ndarray, reading: dict) -> np.ndarray:
    """``signals / ambient - 1`` with the ambient level drifting linearly across the capture."""
    settled, closing = _ambient_windows(reading)
    if settled.size == 0 or closing.size == 0:
        raise BreathReadingError("the reading needs baseline and purge phases", field="phase")
    t = reading["t_s"]
    t0, t1 = float(np.median(t[settled])), float(np.median(t[closing]))
    level0, level1 = np.median(signals[settled], axis=0), np.median(signals[closing], axis=0)
    weight = np.clip((t - t0) / max(t1 - t0, 1e-9), 0.0, 1.0)[:, None]
    ambient = level0 + (level1 - level0) * weight
    return signals / np.maximum(ambient, 1e-9) - 1.0


def breath_features(reading: dict, **compensation: float) -> dict:
    """Per-sensor features of a reading, by name (see ``breath_feature_names``).

    Raises
    ------
    BreathReadingError
        When a required phase is missing (check quality first).
    """
    for phase in REQUIRED_PHASES:
        if _mask(reading, phase).sum() < 2:
            raise BreathReadingError(f"the reading needs at least two {phase} samples", field="phase")
    response = relative_response(compensate_environment(reading, **compensation), reading)
    t = reading["t_s"]
    slope = np.gradient(response, t, axis=0)
    exposure, purge = _mask(reading, "exposure"), _mask(reading, "purge")
    features = {}
    for index in range(response.shape[1]):
        during = response[exposure, index]
        peak = float(during[np.argmax(np.abs(during))])
        direction = 1.0 if peak >= 0 else -1.0
        name = f"sensor_{index + 1}"
        features[f"{name}_response"] = peak
        features[f"{name}_area"] = float(np.sum(0.5 * (during[1:] + during[:-1]) * np.diff(t[exposure])))
        features[f"{name}_rise"] = float(np.max(direction * slope[exposure, index]))
        features[f"{name}_decay"] = float(np.max(-direction * slope[purge, index]))
    features["humidity_rise_pct"] = _humidity_rise(reading)
    return features


def breath_feature_vector(features: dict, *, n_sensors: int) -> np.ndarray:
    """The model input: a float32 row in ``breath_feature_names(n_sensors)`` order.

    Raises
    ------
    BreathReadingError
        When the reading has a different number of sensors than the model expects.
    """
    names = breath_feature_names(n_sensors)
    given = sum(1 for name in features if name.endswith("_response"))
    if given != n_sensors:
        raise BreathReadingError(f"the model expects {n_sensors} sensors, the reading has {given}", field="sensors")
    return np.array([[features[name] for name in names]], dtype=np.float32)
