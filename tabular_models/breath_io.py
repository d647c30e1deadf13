"""The breath-reading format: one e-nose capture as CSV or JSON, read into numpy arrays.

A reading is a time series from N gas sensors (metal-oxide sensors read through an ADC, in
counts from 0 to ``full_scale``; larger means more conductive) plus the chamber's temperature,
relative humidity and pressure, over the phases of one capture:

``warmup`` (optional, heater settling) -> ``baseline`` (ambient air) -> ``exposure`` (exhaled
breath) -> ``purge`` (ambient air flushes the chamber) -> ``reference`` (optional ambient air
sample at the end, used for drift correction).

CSV: header ``t_s,phase,sensor_1,...,sensor_N,temperature_c,humidity_pct,pressure_hpa``, one
row per sample; ``full_scale`` is 4095 (12-bit ADC) unless the JSON form says otherwise.
JSON: ``{"t_s": [...], "phase": [...], "sensors": [[sensor 1 samples], ...],
"temperature_c": [...], "humidity_pct": [...], "pressure_hpa": [...], "full_scale": 4095}``.

The reading is returned as a dict of arrays: ``t_s`` (n,), ``phase`` (n,) str, ``sensors``
(n, N) float64, ``temperature_c``, ``humidity_pct``, ``pressure_hpa`` (n,), ``full_scale``.
"""
from __future__ import annotations

import re

import numpy as np

from tabular_models.errors import BreathReadingError
from tabular_models.text_formats import csv_rows, parse_json_text

PHASES = ("warmup", "baseline", "exposure", "purge", "reference")
ENVIRONMENT = ("temperature_c", "humidity_pct", "pressure_hpa")
DEFAULT_FULL_SCALE = 4095.0
MIN_SAMPLES = 10
MAX_SAMPLES = 100_000
MAX_SENSORS = 32
SENSOR_COLUMN = re.compile(r"^sensor_(\d+)$")
#: Every column (CSV) or key (JSON) name a reading may lack: a page may name these, and only these.
EXPECTED_COLUMNS = frozenset({"t_s", "phase", "sensors", *ENVIRONMENT,
                              *(f"sensor_{number}" for number in range(1, MAX_SENSORS + 1))})


def _array(values: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BreathReadingError(f"{name} must hold numbers only", field=name) from None
    if array.ndim != 1:
        raise BreathReadingError(f"{name} must be a flat list of numbers", field=name)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise BreathReadingError(f"{name} has a missing or non-finite value at sample {bad[0]}", field=name)
    return array


def build_reading(columns: dict, *, full_scale: float = DEFAULT_FULL_SCALE) -> dict:
    """Validate columns (``t_s``, ``phase``, ``sensors`` list, environment) into a reading.

    Raises
    ------
    BreathReadingError
        Naming the column that is missing, not numeric, of the wrong length, out of order,
        or holding an unknown phase.

    Examples
    --------
    >>> reading = build_reading({"t_s": range(12), "phase": ["baseline"] * 12, "sensors": [[100.0] * 12],
    ...                          "temperature_c": [30.0] * 12, "humidity_pct": [40.0] * 12,
    ...                          "pressure_hpa": [1013.0] * 12})
    >>> reading["sensors"].shape
    (12, 1)
    """
    for name in ("t_s", "phase", "sensors", *ENVIRONMENT):
        if name not in columns:
            raise BreathReadingError(f"the reading has no {name!r}", field=name, missing_column=name)
    t_s = _array(columns["t_s"], "t_s")
    if not MIN_SAMPLES <= t_s.size <= MAX_SAMPLES:
        raise BreathReadingError(f"a reading has {MIN_SAMPLES}-{MAX_SAMPLES} samples, got {t_s.size}", field="t_s")
    if np.any(np.diff(t_s) <= 0):
        raise BreathReadingError("t_s must increase from sample to sample", field="t_s")
    phase = np.asarray([str(p).strip().lower() for p in columns["phase"]])
    unknown = sorted(set(phase.tolist()) - set(PHASES))
    if unknown:
        raise BreathReadingError(f"unknown phase {unknown[0]!r}; expected one of {list(PHASES)}", field="phase")
    sensor_lists = columns["sensors"]
    if not isinstance(sensor_lists, (list, tuple)) or not 1 <= len(sensor_lists) <= MAX_SENSORS:
        raise BreathReadingError(f"a reading has 1-{MAX_SENSORS} sensors", field="sensors")
    sensor_arrays = []
    for number, values in enumerate(sensor_lists, start=1):
        array = _array(values, f"sensor_{number}")
        if array.size != t_s.size:
            _wrong_length(f"sensor_{number}", array.size, t_s.size)
        sensor_arrays.append(array)
    sensors = np.stack(sensor_arrays, axis=1)
    reading = {"t_s": t_s, "phase": phase, "sensors": sensors}
    for name in ENVIRONMENT:
        reading[name] = _array(columns[name], name)
    for name in ("phase", *ENVIRONMENT):
        if len(reading[name]) != t_s.size:
            _wrong_length(name, len(reading[name]), t_s.size)
    if not np.isfinite(full_scale) or full_scale <= 0:
        raise BreathReadingError(f"full_scale must be > 0, got {full_scale}", field="full_scale")
    reading["full_scale"] = float(full_scale)
    return reading


def _wrong_length(name: str, got: int, expected: int):
    raise BreathReadingError(f"{name} has {got} samples but t_s has {expected}", field=name)


def read_breath_csv(text: str) -> dict:
    """A reading from CSV text (see the module docstring for the columns)."""
    rows = list(csv_rows(text, error=BreathReadingError))
    if not rows:
        raise BreathReadingError("the CSV file is empty", field="file")
    header = [name.strip().lower() for name in rows[0]]
    sensor_columns = sorted(((int(m.group(1)), i) for i, name in enumerate(header)
                             if (m := SENSOR_COLUMN.match(name))))
    numbers = [number for number, _ in sensor_columns]
    if not numbers:
        raise BreathReadingError("the CSV header has no sensor columns (sensor_1..sensor_N)", field="header",
                                 missing_column="sensor_1")
    if numbers != list(range(1, len(numbers) + 1)):
        # A gap names the first sensor missing; a column given twice is no missing column.
        gap = next(number for number in range(1, len(numbers) + 2) if number not in numbers)
        raise BreathReadingError("sensor columns must be sensor_1..sensor_N without gaps", field="header",
                                 missing_column=f"sensor_{gap}" if len(set(numbers)) == len(numbers)
                                 and gap <= MAX_SENSORS else None)
    missing = [name for name in ("t_s", "phase", *ENVIRONMENT) if name not in header]
    if missing:
        raise BreathReadingError(f"the CSV header lacks column(s) {missing}", field="header", missing_column=missing[0])
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    for line_number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise BreathReadingError(f"CSV line {line_number} has {len(row)} fields, the header {len(header)}",
                                     field=f"line {line_number}")
    column = {name: [row[i] for row in body] for i, name in enumerate(header)}
    return build_reading({
        "t_s": column["t_s"], "phase": column["phase"],
        "sensors": [[row[i] for row in body] for _, i in sensor_columns],
        **{name: column[name] for name in ENVIRONMENT},
    })


def read_breath_json(data: object) -> dict:
    """A reading from parsed JSON (see the module docstring for the keys)."""
    if not isinstance(data, dict):
        raise BreathReadingError("a JSON breath reading is an object", field="reading")
    full_scale = data.get("full_scale", DEFAULT_FULL_SCALE)
    if isinstance(full_scale, bool) or not isinstance(full_scale, (int, float)):
        raise BreathReadingError(f"full_scale must be a number, got {full_scale!r}", field="full_scale")
    return build_reading(data, full_scale=float(full_scale))


def read_breath_reading(text: str) -> dict:
    """A reading from a file's text: JSON when it starts with ``{``, else CSV."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        return read_breath_json(parse_json_text(stripped, error=BreathReadingError))
    return read_breath_csv(text)
