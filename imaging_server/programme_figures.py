"""The wire contract of a clinic's programme figures (``POST /api/v1/programme/figures``).

One clinic's de-identified aggregate for a reporting month, as :func:`edge.programme.programme_figures`
builds it. Every key is required and no other is accepted, so nothing a clinic adds by mistake (a
patient code, a list of visits) is stored; strings that are not numbers are restricted to labels
(versions, device ids). A suppressed small cell is ``null``. ``imaging_server/README.md`` shows an example.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticValidationError, model_validator

from imaging_client.client import FIGURES_LABEL, FIGURES_SCHEMA
from imaging_server.errors import ValidationError

MONTH = r"^20\d\d-(0[1-9]|1[0-2])$"
LABEL = f"^{FIGURES_LABEL}$"  # device ids, versions: no free text
Modality = Literal["auscultation", "breath", "labs"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Proportion(_Strict):
    value: Optional[float] = Field(ge=0, le=1)
    ci95: Optional[tuple[float, float]]
    k: Optional[int] = Field(ge=0)
    n: Optional[int] = Field(ge=0)

    @model_validator(mode="after")
    def _consistent(self):
        if (self.k is None) != (self.n is None) or (self.k is not None and self.k > self.n):
            raise ValueError("k and n must both be given, with k <= n, or both null (suppressed)")
        return self


class Counts(_Strict):
    screened_patients: Optional[int] = Field(ge=0)
    assessed_visits: Optional[int] = Field(ge=0)
    referred: Optional[int] = Field(ge=0)
    hrct_done: Optional[int] = Field(ge=0)
    ild_confirmed: Optional[int] = Field(ge=0)
    outcomes_confirmed: Optional[int] = Field(ge=0)


class Proportions(_Strict):
    referral_yield: Proportion
    hrct_completion: Proportion


class DaysToHrct(_Strict):
    median: Optional[float] = Field(ge=0)
    iqr: Optional[tuple[float, float]]
    n: Optional[int] = Field(ge=0)


class CalibrationBin(_Strict):
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    count: Optional[int] = Field(ge=0)
    mean_predicted: Optional[float] = Field(ge=0, le=1)
    observed: Optional[float] = Field(ge=0, le=1)


class Calibration(_Strict):
    n_outcomes: int = Field(ge=1)
    n_events: int = Field(ge=0)
    ece: float = Field(ge=0, le=1)
    calibration_in_the_large: float = Field(ge=-1, le=1)
    calibration_slope: Optional[float]  # any finite value: a wild slope is a finding, not an error
    bins: list[CalibrationBin] = Field(max_length=100)


class Covers(_Strict):
    first_month: str = Field(pattern=MONTH)
    last_month: str = Field(pattern=MONTH)


class ModelVersion(_Strict):
    version: str = Field(pattern=LABEL)
    synthetic: bool
    clinically_validated: bool


class Drift(_Strict):
    modality: Modality
    n: Optional[int] = Field(ge=0)
    psi: Optional[float] = Field(ge=0)


class Refusals(_Strict):
    kind: Literal["lung sounds", "breath"]
    device: str = Field(pattern=LABEL)
    refusals: Proportion


class DataQuality(_Strict):
    missing_modality: dict[Modality, Proportion]
    quality_refusals: list[Refusals] = Field(max_length=200)


class Figures(_Strict):
    """One clinic's programme figures for a reporting month (the wire contract)."""

    schema_: Literal[FIGURES_SCHEMA] = Field(alias="schema")
    period: str = Field(pattern=MONTH)
    sequence: int = Field(ge=1)
    covers: Optional[Covers]
    window_months: float = Field(gt=0, le=36)
    min_cell: int = Field(ge=1, le=100)
    counts: Counts
    proportions: Proportions
    days_to_hrct: DaysToHrct
    calibration: Optional[Calibration]
    bundle: Optional[str] = Field(pattern=LABEL)
    models: dict[Modality, ModelVersion]
    calibration_version: Optional[str] = Field(pattern=LABEL)
    drift: list[Drift] = Field(max_length=10)
    data_quality: DataQuality
    suppressed: list[str] = Field(max_length=500)


def validate_figures(body, *, today: Optional[dt.date] = None) -> Figures:
    """Check a figures payload against the contract.

    Raises
    ------
    ValidationError
        Naming every offending field (``fields``), e.g. ``counts.referred``.
    """
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object of programme figures",
                              fields=[{"field": "body", "reason": "not an object"}])
    try:  # from JSON text: strict types, yet arrays may fill tuples and integers floats
        figures = Figures.model_validate_json(json.dumps(body))
    except PydanticValidationError as exc:
        fields = [{"field": ".".join(str(part) for part in error["loc"]) or "body", "reason": error["msg"]}
                  for error in exc.errors()]
        summary = "; ".join(f"{item['field']}: {item['reason']}" for item in fields[:5])
        raise ValidationError(f"invalid programme figures: {summary}", fields=fields) from exc
    this_month = f"{today or dt.datetime.now(dt.timezone.utc).date():%Y-%m}"
    if figures.period > _next_month(this_month):  # a clinic's clock may be a little ahead, not a month
        raise ValidationError(f"period {figures.period} is in the future",
                              fields=[{"field": "period", "reason": "after the next month"}])
    return figures


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12}-{number % 12 + 1:02d}"
