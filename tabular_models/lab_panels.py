"""Normalising a lab panel to SI units, with plausibility checks and derived features.

A panel is a list of entries ``{"analyte", "value", "unit", "collected_at"?}`` where
``analyte`` is a LOINC code or a known name (see ``lab_catalogue``). Normalising checks every
entry up front and raises ``LabPanelError`` naming the first offending analyte, so a panel is
either accepted whole or refused whole.

A plausible value can still be a unit slip (bilirubin 0.8 typed into umol/L from a report in
mg/dL): :func:`unit_slip` says when an accepted value looks like one, so whoever enters it is
asked to check before it is stored.
"""
from __future__ import annotations

import logging
import math
from typing import Optional

import numpy as np

from tabular_models.errors import LabPanelError
from tabular_models.lab_catalogue import BY_KEY, CORE_ANALYTES, Analyte, find_analyte, si_factor

logger = logging.getLogger(__name__)

MAX_ENTRIES = 200
DIFFERENTIAL_SUM_TOLERANCE_PCT = 105.0
# Features fed to the labs model, in this order. Differential percentages are turned into
# counts first; ratios follow the CTD-ILD literature (NLR, PLR, CRP/albumin).
LAB_FEATURES: tuple[str, ...] = (
    "wbc", "rbc", "hgb", "hct", "mcv", "platelets", "rdw", "neutrophils", "lymphocytes", "monocytes",
    "eosinophils", "sodium", "potassium", "chloride", "bicarbonate", "urea", "creatinine", "glucose",
    "calcium", "total_protein", "albumin", "bilirubin", "alp", "ast", "alt", "ldh", "crp", "esr", "kl6",
    "nlr", "plr", "globulin", "crp_albumin_ratio",
)


def _number(raw: object, *, analyte: str) -> tuple[float, Optional[str]]:
    """The numeric value of an entry; censored results ("<0.5") keep the bound with a warning."""
    warning = None
    if isinstance(raw, bool):
        raise LabPanelError(f"{analyte}: value must be a number, got {raw!r}", field=analyte)
    if isinstance(raw, str):
        text = raw.strip().replace(",", ".")
        if text[:1] in "<>":
            warning = f"{analyte}: censored result {raw!r} used as {text[1:].strip()}"
            text = text[1:].strip()
        try:
            raw = float(text)
        except ValueError:
            raise LabPanelError(f"{analyte}: value must be a number, got {raw!r}", field=analyte) from None
    if not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise LabPanelError(f"{analyte}: value must be a finite number, got {raw!r}", field=analyte)
    return float(raw), warning


def normalize_entry(entry: dict) -> tuple[dict, list[str]]:
    """Convert one entry to SI and check it is physiologically possible.

    Returns the stored record (original and SI value) and any warnings.

    Raises
    ------
    LabPanelError
        Unknown analyte or unit, non-numeric value, or a value outside the plausible range
        (the message names the analyte, the value, the unit and the range).

    Examples
    --------
    >>> record, _ = normalize_entry({"analyte": "718-7", "value": 13.5, "unit": "g/dL"})
    >>> record["analyte"], record["si_value"], record["si_unit"]
    ('hgb', 135.0, 'g/L')
    """
    if not isinstance(entry, dict):
        raise LabPanelError(f"each result must be an object, got {type(entry).__name__}")
    name = str(entry.get("analyte", "")).strip()
    analyte = find_analyte(name)
    if analyte is None:
        raise LabPanelError(f"unknown analyte {name!r}: give a LOINC code or a known name", field=name or "analyte")
    code = name if name in analyte.loinc else (analyte.loinc[0] if analyte.loinc else "")
    unit = str(entry.get("unit") or "").strip()
    value, warning = _number(entry.get("value"), analyte=analyte.key)
    factor = si_factor(analyte, unit, code=code)
    if factor is None:
        raise LabPanelError(
            f"{analyte.key} ({analyte.display}): unit {unit!r} is not accepted; use one of {sorted(analyte.units)}",
            field=analyte.key,
        )
    si_value = value * factor
    low, high = analyte.plausible
    if not low <= si_value <= high:
        raise LabPanelError(
            f"{analyte.key} ({analyte.display}) {value:g} {unit} is implausible: "
            f"a living patient has {low:g}-{high:g} {analyte.si_unit}; check the value and the unit",
            field=analyte.key,
        )
    record = {
        "loinc": code, "analyte": analyte.key, "value": value, "unit": unit,
        "si_value": si_value, "si_unit": analyte.si_unit, "collected_at": entry.get("collected_at"),
    }
    return record, [warning] if warning else []


def derived_features(values: dict) -> dict:
    """Ratios from the SI values; a ratio is absent when a part is missing or zero."""
    def ratio(numerator: str, denominator: str) -> Optional[float]:
        top, bottom = values.get(numerator), values.get(denominator)
        return top / bottom if top is not None and bottom else None

    derived = {
        "nlr": ratio("neutrophils", "lymphocytes"),
        "plr": ratio("platelets", "lymphocytes"),
        "crp_albumin_ratio": ratio("crp", "albumin"),
        "globulin": (values["total_protein"] - values["albumin"])
        if "total_protein" in values and "albumin" in values else None,
    }
    return {key: value for key, value in derived.items() if value is not None}


def normalize_panel(entries: list[dict]) -> dict:
    """Normalise a whole panel: SI values, derived features, what is missing, warnings.

    Returns ``{"records", "normalized", "missing", "warnings"}``: ``records`` are the stored
    rows (original and SI value per entry), ``normalized`` maps feature names to SI values
    (derived ratios included), ``missing`` lists the core CBC/CMP analytes not given.

    Raises
    ------
    LabPanelError
        On the first invalid entry, or an empty or oversized panel.

    Examples
    --------
    >>> panel = normalize_panel([{"analyte": "WBC", "value": 8, "unit": "10*3/uL"},
    ...                          {"analyte": "770-8", "value": 75, "unit": "%"},
    ...                          {"analyte": "lymphocytes", "value": 1.0, "unit": "10*9/L"}])
    >>> panel["normalized"]["neutrophils"], panel["normalized"]["nlr"]
    (6.0, 6.0)
    >>> "hgb" in panel["missing"]
    True
    """
    if not isinstance(entries, list) or not entries:
        raise LabPanelError("the panel holds no results")
    if len(entries) > MAX_ENTRIES:
        raise LabPanelError(f"the panel holds {len(entries)} results; at most {MAX_ENTRIES} are accepted")
    records, warnings = [], []
    for entry in entries:
        record, entry_warnings = normalize_entry(entry)
        records.append(record)
        warnings.extend(entry_warnings)
    values: dict[str, float] = {}
    for record in records:
        if record["analyte"] in values and values[record["analyte"]] != record["si_value"]:
            warnings.append(f"{record['analyte']}: reported more than once; the last value is used")
        values[record["analyte"]] = record["si_value"]
    warnings.extend(_counts_from_percentages(values))
    normalized = {key: value for key, value in values.items() if not BY_KEY[key].percent_of}
    normalized.update(derived_features(normalized))
    missing = [key for key in CORE_ANALYTES if key not in normalized]
    logger.debug("normalised a panel of %s results, %s core analytes missing", len(records), len(missing))
    return {"records": records, "normalized": normalized, "missing": missing, "warnings": warnings}


def _counts_from_percentages(values: dict) -> list[str]:
    """Fill absolute differential counts from percentages and the WBC (in place)."""
    warnings = []
    percentages = [a for a in BY_KEY.values() if a.percent_of and a.key in values]
    if sum(values[a.key] for a in percentages) > DIFFERENTIAL_SUM_TOLERANCE_PCT:
        warnings.append("the differential percentages add up to more than 100 %")
    for analyte in percentages:
        if analyte.percent_of in values:
            continue
        if "wbc" not in values:
            warnings.append(f"{analyte.key} needs the WBC to become a count; it is not used")
            continue
        values[analyte.percent_of] = values[analyte.key] * values["wbc"] / 100.0
    return warnings


def unit_slip(analyte: Analyte, value: float, unit: str, *, far_factor: float,
              code: Optional[str] = None) -> Optional[dict]:
    """Whether an accepted value looks like a unit slip, and what would make it usual.

    The analyte's reference range widened ``far_factor``-fold, ``[low / far_factor, high * far_factor]``
    (in SI), is where a value is usual; ``far_factor`` is a programme assumption (the service's
    ``lab_unit_check_factor``). A slip is a value outside that window in its ``unit`` whose number,
    read in another accepted unit with a different SI factor, falls inside it and inside the
    plausible range. Never a slip: an analyte without a reference range, one whose reference range
    starts at 0 (any small value is usual, so a smaller unit always looks right: CRP, eosinophils),
    or one whose units share one factor.

    Returns None, or ``{"analyte", "display", "value", "unit", "direction", "reference",
    "usual_unit", "usual_reference", "message"}``: ``direction`` is ``"low"`` or ``"high"``,
    ``reference`` the reference range in ``unit``, ``usual_unit`` the unit that makes the number
    usual (the one that puts it inside the reference range, else nearest to it) and
    ``usual_reference`` the range in that unit (the number there is within or near it); ``message``
    says it in English.

    Raises
    ------
    ValueError
        When ``far_factor`` is below 1 or ``unit`` is not accepted for the analyte.

    Examples
    --------
    >>> slip = unit_slip(BY_KEY["bilirubin"], 0.8, "umol/L", far_factor=2.0)
    >>> slip["direction"], slip["usual_unit"]
    ('low', 'mg/dL')
    >>> unit_slip(BY_KEY["bilirubin"], 12, "umol/L", far_factor=2.0) is None
    True
    """
    if not far_factor >= 1.0:
        raise ValueError(f"far_factor must be >= 1, got {far_factor!r}")
    factor = si_factor(analyte, unit, code=code)
    if factor is None:
        raise ValueError(f"{analyte.key}: unit {unit!r} is not accepted")
    if not unit_check_applies(analyte):
        return None
    low, high = analyte.reference
    window = (low / far_factor, high * far_factor)
    if window[0] <= value * factor <= window[1]:
        return None
    candidates = []
    for other in analyte.units:
        other_factor = si_factor(analyte, other, code=code)
        reading = value * other_factor
        if math.isclose(other_factor, factor) or not window[0] <= reading <= window[1]:
            continue
        if analyte.plausible[0] <= reading <= analyte.plausible[1]:
            # Inside the reference range first, then the nearest to it (by ratio); ties: the catalogue's order.
            candidates.append((max(low / reading, reading / high, 1.0), other, other_factor))
    if not candidates:
        return None
    _, usual_unit, usual_factor = min(candidates, key=lambda candidate: candidate[0])
    direction = "low" if value * factor < low else "high"
    reference = (low / factor, high / factor)
    return {
        "analyte": analyte.key, "display": analyte.display, "value": value, "unit": unit, "direction": direction,
        "reference": reference, "usual_unit": usual_unit, "usual_reference": (low / usual_factor, high / usual_factor),
        "message": f"{analyte.key} ({analyte.display}) {value:g} {unit} is far {'below' if direction == 'low' else 'above'} "
                   f"the reference range ({shown_number(reference[0])}-{shown_number(reference[1])} {unit}); "
                   f"{value:g} {usual_unit} would be within or near it: check the unit",
    }


def shown_number(value: float) -> str:
    """A range limit as it is shown: three significant digits, never in exponent form.

    Examples
    --------
    >>> shown_number(1000.0), shown_number(0.08333), shown_number(140.54)
    ('1000', '0.0833', '141')
    """
    return f"{float(f'{value:.3g}'):g}" if abs(value) < 1e6 else f"{value:.0f}"


def unit_check_applies(analyte: Analyte) -> bool:
    """Whether :func:`unit_slip` can ever find a slip for the analyte: it has a reference range that
    starts above 0 and accepted units with more than one SI factor.

    Examples
    --------
    >>> unit_check_applies(BY_KEY["bilirubin"]), unit_check_applies(BY_KEY["sodium"]), unit_check_applies(BY_KEY["crp"])
    (True, False, False)
    """
    return (analyte.reference is not None and analyte.reference[0] > 0
            and len({*analyte.units.values(), *(f for units in analyte.code_units.values() for f in units.values())}) > 1)


def unit_slips(records: list[dict], *, far_factor: float) -> list[dict]:
    """:func:`unit_slip` of each normalised record (``normalize_panel``'s ``records``) that looks like one."""
    slips = (unit_slip(BY_KEY[record["analyte"]], record["value"], record["unit"], code=record["loinc"],
                       far_factor=far_factor) for record in records)
    return [slip for slip in slips if slip is not None]


def lab_feature_vector(normalized: dict) -> np.ndarray:
    """The model input: a float32 row in ``LAB_FEATURES`` order, NaN where missing.

    Examples
    --------
    >>> row = lab_feature_vector({"hgb": 135.0})
    >>> row.shape, float(row[0, LAB_FEATURES.index("hgb")]), bool(np.isnan(row[0, 0]))
    ((1, 33), 135.0, True)
    """
    return np.array([[normalized.get(name, np.nan) for name in LAB_FEATURES]], dtype=np.float32)

