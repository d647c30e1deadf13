"""Reading lab panels: CSV, JSON, or a FHIR R4 Bundle of Observations.

All three become the same list of entries ``{"analyte", "value", "unit", "collected_at"}``
for ``lab_panels.normalize_panel``.

- CSV: a header ``analyte,value,unit[,date]`` (``collected_at`` is accepted for ``date``).
- JSON: a list of entries, or an object ``{"results": [...]}``.
- FHIR: ``{"resourceType": "Bundle", "entry": [{"resource": Observation}, ...]}``; the analyte
  is ``Observation.code.coding[system=http://loinc.org].code``, the value and unit come from
  ``valueQuantity`` (``code`` preferred to ``unit``, as it holds the UCUM string), the date from
  ``effectiveDateTime``. The structure is parsed directly: the serving path does not depend
  on ``fhir.resources``.
"""
from __future__ import annotations

from typing import Optional

from tabular_models.errors import LabPanelError
from tabular_models.text_formats import csv_rows, parse_json_text

LOINC_SYSTEM = "http://loinc.org"
CSV_COLUMNS = ("analyte", "value", "unit")
CANCELLED_STATUSES = ("cancelled", "entered-in-error")


def read_lab_csv(text: str) -> list[dict]:
    """Entries from CSV text with columns ``analyte,value,unit[,date]``.

    Examples
    --------
    >>> read_lab_csv("analyte,value,unit\\n718-7,13.5,g/dL\\n")
    [{'analyte': '718-7', 'value': '13.5', 'unit': 'g/dL', 'collected_at': None}]
    """
    rows = csv_rows(text, error=LabPanelError)
    header = [name.strip().lower() for name in next(rows, [])]
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        raise LabPanelError(f"the CSV header lacks column(s) {missing}; expected analyte,value,unit[,date]",
                            field="header", missing_column=missing[0])
    entries = []
    for line_number, cells in enumerate(rows, start=2):
        if len(cells) > len(header):
            raise LabPanelError(f"CSV line {line_number} has more fields than the header", field=f"line {line_number}")
        row = dict(zip(header, cells))
        if not any(value.strip() for value in row.values()):
            continue
        entries.append({
            "analyte": row.get("analyte", "").strip(),
            "value": row.get("value", "").strip(),
            "unit": row.get("unit", "").strip(),
            "collected_at": (row.get("date") or row.get("collected_at") or "").strip() or None,
        })
    return entries


def _loinc_code(observation: dict, index: int) -> str:
    codings = (observation.get("code") or {}).get("coding") or []
    if not isinstance(codings, list):
        raise LabPanelError(f"Observation {index}: code.coding must be a list", field=f"entry[{index}].code")
    for coding in codings:
        if isinstance(coding, dict) and coding.get("system") == LOINC_SYSTEM and coding.get("code"):
            return str(coding["code"])
    raise LabPanelError(f"Observation {index} has no LOINC coding (system {LOINC_SYSTEM})",
                        field=f"entry[{index}].code")


def _observation_entry(observation: dict, index: int) -> Optional[dict]:
    if observation.get("resourceType") != "Observation":
        return None
    if observation.get("status") in CANCELLED_STATUSES:
        return None
    code = _loinc_code(observation, index)
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict) or "value" not in quantity:
        raise LabPanelError(f"Observation {index} ({code}) has no valueQuantity.value", field=code)
    return {
        "analyte": code,
        "value": quantity["value"],
        "unit": quantity.get("code") or quantity.get("unit") or "",
        "collected_at": observation.get("effectiveDateTime"),
    }


def read_fhir_bundle(bundle: dict) -> list[dict]:
    """Entries from a FHIR R4 Bundle; resources other than Observation are skipped.

    Examples
    --------
    >>> read_fhir_bundle({"resourceType": "Bundle", "entry": [{"resource": {
    ...     "resourceType": "Observation", "status": "final",
    ...     "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
    ...     "valueQuantity": {"value": 1.1, "unit": "mg/dL", "code": "mg/dL"}}}]})
    [{'analyte': '2160-0', 'value': 1.1, 'unit': 'mg/dL', 'collected_at': None}]
    """
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        raise LabPanelError("the FHIR Bundle has no entry list", field="entry")
    observations = []
    for index, item in enumerate(entries):
        resource = item.get("resource") if isinstance(item, dict) else None
        if not isinstance(resource, dict):
            raise LabPanelError(f"Bundle entry {index} has no resource", field=f"entry[{index}]")
        entry = _observation_entry(resource, index)
        if entry is not None:
            observations.append(entry)
    return observations


def read_lab_json(data: object) -> list[dict]:
    """Entries from parsed JSON: a list, ``{"results": [...]}`` or a FHIR Bundle."""
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return read_fhir_bundle(data)
    if isinstance(data, dict) and "results" in data:
        data = data["results"]
    if not isinstance(data, list):
        raise LabPanelError("JSON lab panels are a list of results, {\"results\": [...]} or a FHIR Bundle")
    return data


def read_lab_panel(text: str) -> list[dict]:
    """Entries from a file's text: JSON (incl. FHIR) when it starts with ``{`` or ``[``, else CSV."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in "{[":
        return read_lab_json(parse_json_text(stripped, error=LabPanelError))
    return read_lab_csv(text)
