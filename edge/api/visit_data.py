"""Lab panels and breath readings of a visit: entered, stored with original and SI values, scored."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from flask import Blueprint, current_app, g, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from edge import breath, labs
from edge.api.operations import CLINICAL_ROLES, Replayed, operation
from edge.recordings import check_file_name
from edge.schemas import RequestModel
from tabular_models.errors import TabularInputError
from tabular_models.lab_catalogue import ANALYTES
from tabular_models.lab_io import read_fhir_bundle
from tabular_models.lab_panels import MAX_ENTRIES

blueprint = Blueprint("visit_data", __name__, url_prefix="/api/v1")


# The catalogue's LOINC codes and names, and every unit it converts, as the API's vocabulary.
# Which unit fits which analyte, and the plausible range, are checked by tabular_models.lab_panels
# (a 422 naming the analyte): rules across two fields that a JSON Schema enum cannot carry.
_ANALYTE_NAMES = frozenset(name for a in ANALYTES for name in (*a.loinc, a.key, *a.aliases))


def _analyte_case(value):
    # Names are matched regardless of case and surrounding spaces, as lab exports write them
    # ("KL-6", "Hgb"); the enum lists the lower-case forms.
    if isinstance(value, str) and value not in _ANALYTE_NAMES and value.strip().lower() in _ANALYTE_NAMES:
        return value.strip().lower()
    return value


AnalyteName = Annotated[Literal[tuple(sorted(_ANALYTE_NAMES))], BeforeValidator(_analyte_case)]  # type: ignore
LabUnit = Literal[tuple(sorted({unit for a in ANALYTES for unit in a.units}))]  # type: ignore
CENSORED_VALUE_PATTERN = r"^[<>]?[0-9]+([.,][0-9]+)?$"


class LabResultIn(RequestModel):
    analyte: AnalyteName = Field(description="LOINC code (e.g. 718-7) or a known name (e.g. hgb, any case).")
    value: Union[float, Annotated[str, StringConstraints(pattern=CENSORED_VALUE_PATTERN)]] = Field(
        description="The number as reported; '<0.5' style censored values are kept with a warning.")
    unit: LabUnit = Field(description="UCUM unit string as reported, e.g. g/dL, 10*3/uL, umol/L.")
    collected_at: Optional[str] = Field(
        None, max_length=40, description="When the sample was drawn: an ISO 8601 date or date-time in a FHIR dateTime "
                                         "form (YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with Z or +hh:mm; YYYY and "
                                         "YYYY-MM too), on or before the visit's date plus one day (422 otherwise).")
    confirm_unusual: bool = Field(
        False, description="True when the value and unit were checked after a unit_check answer (HTTP 422): the "
                           "result is stored although it looks like a unit slip, and the audit trail says it was "
                           "confirmed. Ignored for a result that does not look like one.")


class LabPanelIn(RequestModel):
    results: list[LabResultIn] = Field(min_length=1, max_length=MAX_ENTRIES, description="One entry per analyte.")


class FhirBundleIn(BaseModel):
    """A FHIR R4 Bundle of Observations; other FHIR fields are allowed and ignored."""

    model_config = ConfigDict(extra="allow")
    resourceType: Literal["Bundle"]
    entry: list[dict] = Field(max_length=MAX_ENTRIES)


CONFIRM_UNUSUAL_BY_NAME = (
    "Analytes whose value and unit were checked after a unit_check answer (HTTP 422), comma-separated as that "
    "answer names them (e.g. bilirubin,urea; LOINC codes too): their results in this import are stored although "
    "they look like a unit slip, marked confirmed_unusual, and the audit trail names them. A file or Bundle has no "
    "per-result place for it (FHIR R4 Observation has no element for a checked unusual value).")


class LabImportQuery(RequestModel):
    confirm_unusual: Optional[str] = Field(None, max_length=1000, description=CONFIRM_UNUSUAL_BY_NAME)


class LabFileUpload(RequestModel):
    """The ``file`` part holds CSV (analyte,value,unit[,date]), JSON or a FHIR Bundle."""

    confirm_unusual: Optional[str] = Field(None, max_length=1000, description=CONFIRM_UNUSUAL_BY_NAME)


class BreathUpload(RequestModel):
    """No form fields: the ``file`` part holds the e-nose reading as CSV or JSON."""


class ModelStamp(BaseModel):
    name: str
    version: str
    synthetic: bool
    note: str


class LabResult(BaseModel):
    id: int
    visit_id: int
    loinc: str
    analyte: str
    value: float = Field(description="As entered.")
    unit: str = Field(description="As entered.")
    si_value: Optional[float]
    si_unit: Optional[str]
    collected_at: Optional[str]
    created_at: str
    confirmed_unusual: bool = Field(
        description="The result looked like a unit slip and was stored because whoever entered or imported it "
                    "confirmed value and unit (confirm_unusual): confirmed by the nurse as unusual.")


class LabScore(BaseModel):
    probability: float = Field(description="Calibrated ILD probability from the labs model.")
    normalized: dict[str, float] = Field(description="SI values and derived ratios by feature name.")
    missing: list[str] = Field(description="CBC/CMP analytes not measured; the model scores without them.")
    warnings: list[str]
    model: ModelStamp


class LabPanel(BaseModel):
    results: list[LabResult]
    score: Optional[LabScore] = Field(description="Score of all the visit's results; null when there are none, "
                                                  "or when the labs model is unavailable.")
    score_unavailable: Optional[str] = Field(
        default=None, description="Why stored results are not scored (the labs model is unavailable); they are "
                                  "kept and scored once it is back.")


class BreathReading(BaseModel):
    id: int
    visit_id: int
    source: str
    sha256: Optional[str]
    features: Optional[dict[str, float]] = Field(description="Per-sensor features; null when quality failed.")
    quality: Optional[dict] = Field(description="{ok, issues: [{code, reason, sensor?}]}")
    probability: Optional[float] = Field(description="Calibrated ILD probability given by the breath model named "
                                                     "in model_version, when the reading was read (or, for one "
                                                     "kept unscored, when it was first scored), kept for the "
                                                     "record: an assessment does not weigh it but scores the "
                                                     "features with the breath model served then (its breath "
                                                     "finding). Null when quality failed or the breath model was "
                                                     "unavailable.")
    model_version: Optional[str] = Field(description="The breath model that gave probability.")
    scored_at: Optional[str] = Field(
        description="When the breath model in model_version gave probability (UTC, ISO 8601): when the reading was "
                    "read, or, for one kept unscored, when it was first scored. Null while probability is null, and "
                    "for a score given before schema migration 20, whose time is not recorded (a non-null "
                    "probability with a null scored_at).")
    score_unavailable: Optional[str] = Field(
        default=None, description="Set when the reading passed its checks but has no score, or, on an open visit, "
                                  "when the served breath model cannot score the features of one that kept a score "
                                  "(read with another model): why, as the served breath model now finds it "
                                  "(score_unavailable_code).")
    score_unavailable_code: Optional[Literal[breath.UNSCORED_CODES]] = Field(  # type: ignore[valid-type]
        default=None, description="Why the reading has no score the next assessment can weigh: not_scorable (the "
                                  "served breath model cannot take its features: it stays unscored, or keeps the "
                                  "score it was read with for the record, and the result leaves it out, reason_code "
                                  "not_scorable; take it again); else, of a closed visit, visit_closed (nothing "
                                  "scores it any more); of an open one, model_unavailable (no breath model; it is "
                                  "scored once one is back, when the visit is assessed) or not_scored_yet (read "
                                  "while the model was unavailable; assessing the visit scores it).")
    created_at: str


class BreathReadingList(BaseModel):
    breath_readings: list[BreathReading]


def _db():
    return current_app.extensions["ildscreen"].db()


@operation(blueprint, "/visits/<int:visit_id>/labs", "GET", summary="Lab results of a visit and their score",
           roles=CLINICAL_ROLES, response=LabPanel)
def get_labs(visit_id: int):
    return labs.visit_lab_panel(_db(), visit_id)


def _unit_check_factor() -> float:
    return current_app.extensions["ildscreen"].settings.lab_unit_check_factor


#: What makes a lab panel the same one again, for every way one arrives (JSON, FHIR Bundle, file).
SAME_PANEL = ("Already stored: every result is already the visit's latest of its analyte (same value, unit and "
              "collected_at; edge.labs.not_yet_stored), as when a panel is sent again after a timeout; the visit's "
              "lab panel is returned and nothing new is stored (no row, no audit entry)")


def panel_answer(added: labs.AddedLabPanel):
    """A lab panel for the client, however it arrived: 201 with the stored results, or 200
    (:class:`Replayed`) when nothing was new (the same panel sent again)."""
    return added.panel if added.created else Replayed(added.panel)


@operation(blueprint, "/visits/<int:visit_id>/labs", "POST",
           summary="Enter a lab panel (JSON list of results); a likely unit slip: 422 unit_check until confirmed",
           roles=CLINICAL_ROLES, body=LabPanelIn, response=LabPanel, status=201, atomic=True, replay=SAME_PANEL)
def add_labs(visit_id: int, body: LabPanelIn):
    return panel_answer(labs.add_lab_panel(_db(), g.actor, visit_id, [entry.model_dump() for entry in body.results],
                                           unit_check_factor=_unit_check_factor(), date_field="results.{index}.collected_at"))


@operation(blueprint, "/visits/<int:visit_id>/labs/fhir", "POST",
           summary="Import a lab panel as a FHIR R4 Bundle; a likely unit slip: 422 unit_check until confirmed",
           roles=CLINICAL_ROLES, body=FhirBundleIn, query=LabImportQuery, response=LabPanel, status=201, atomic=True,
           replay=SAME_PANEL)
def add_labs_fhir(visit_id: int, body: FhirBundleIn, query: LabImportQuery):
    try:
        entries = read_fhir_bundle(body.model_dump())
    except TabularInputError as exc:
        raise labs.input_error(exc) from exc
    return panel_answer(labs.add_lab_panel(_db(), g.actor, visit_id, entries, unit_check_factor=_unit_check_factor(),
                                           confirmed_analytes=labs.confirmed_analyte_keys(query.confirm_unusual),
                                           date_field="effectiveDateTime"))


@operation(blueprint, "/visits/<int:visit_id>/labs/file", "POST",
           summary="Upload a lab panel file (multipart: file = CSV, JSON or FHIR Bundle); a likely unit slip: "
                   "422 unit_check until confirmed",
           roles=CLINICAL_ROLES, form=LabFileUpload, response=LabPanel, status=201, replay=SAME_PANEL)
def add_labs_file(visit_id: int, form: LabFileUpload):
    upload = request.files.get("file")
    check_file_name(upload.filename if upload else None)
    confirmed = labs.confirmed_analyte_keys(form.confirm_unusual)
    entries = labs.read_lab_file(upload.stream)
    return panel_answer(labs.add_lab_panel(_db(), g.actor, visit_id, entries, unit_check_factor=_unit_check_factor(),
                                           confirmed_analytes=confirmed, date_field=labs.FILE_DATE_FIELD))


@operation(blueprint, "/visits/<int:visit_id>/breath", "GET", summary="Breath readings of a visit",
           roles=CLINICAL_ROLES, response=BreathReadingList)
def list_breath(visit_id: int):
    return {"breath_readings": breath.list_breath_readings(_db(), visit_id)}


@operation(blueprint, "/visits/<int:visit_id>/breath", "POST",
           summary="Upload an e-nose breath reading (multipart: file = CSV or JSON)",
           roles=CLINICAL_ROLES, form=BreathUpload, response=BreathReading, status=201)
def upload_breath(visit_id: int, form: BreathUpload):
    resources = current_app.extensions["ildscreen"]
    upload = request.files.get("file")
    check_file_name(upload.filename if upload else None)
    return breath.add_breath_reading(resources.db(), resources.blobs, g.actor, visit_id, stream=upload.stream,
                                     max_bytes=resources.settings.max_upload_bytes)
