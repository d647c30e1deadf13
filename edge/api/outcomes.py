"""Confirmed outcomes of a patient (HRCT, PFT): entered by a clinician, or from the hospital's
radiologist-confirmed CT report."""
from __future__ import annotations

from typing import Literal, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field, field_validator

from edge import outcomes
from edge.api.operations import CLINICAL_ROLES, operation
from edge.schemas import RequestModel
from edge.vocabulary import calendar_date

blueprint = Blueprint("outcomes", __name__, url_prefix="/api/v1")
Pattern = Literal[outcomes.PATTERNS]


class OutcomeCreate(RequestModel):
    date: str = Field(description="Date of the HRCT or PFT, YYYY-MM-DD.")
    source: Literal["hrct", "pft"]
    ild: Literal["present", "absent", "indeterminate"]
    pattern: Optional[Pattern] = Field(None, description="HRCT pattern (hrct only).")
    extent_percent: Optional[float] = Field(None, ge=0, le=100, description="ILD extent on HRCT, % of lung.")
    fvc_percent: Optional[float] = Field(None, ge=10, le=200, description="FVC, % predicted (pft only).")
    dlco_percent: Optional[float] = Field(None, ge=5, le=200, description="DLCO, % predicted (pft only).")
    notes: str = Field("", max_length=500, description="Free text; no names or identifiers.")

    @field_validator("date")
    @classmethod
    def iso_date(cls, value: str) -> str:
        return calendar_date(value).isoformat()


class Outcome(BaseModel):
    id: Optional[int] = Field(description="Null for an outcome read from a hospital CT report.")
    patient_id: int
    date: str
    source: Literal["hrct", "pft"]
    ild: Literal["present", "absent", "indeterminate"]
    pattern: Optional[str]
    extent_percent: Optional[float]
    fvc_percent: Optional[float]
    dlco_percent: Optional[float]
    notes: str
    origin: Literal["clinician", "hospital"]
    referral_id: Optional[int]
    confirmed: bool = Field(description="True when it confirms ILD present or absent (an HRCT read either way).")
    created_at: str


class OutcomeList(BaseModel):
    outcomes: list[Outcome]


def _db():
    return current_app.extensions["ildscreen"].db()


@operation(blueprint, "/patients/<int:patient_id>/outcomes", "POST",
           summary="Record a confirmed HRCT or PFT outcome (clinicians)", roles=("clinician",),
           body=OutcomeCreate, response=Outcome, status=201, never_answers=(409,))
def create_outcome(patient_id: int, body: OutcomeCreate):
    return outcomes.record_outcome(_db(), g.actor, patient_id, body.model_dump())


@operation(blueprint, "/patients/<int:patient_id>/outcomes", "GET",
           summary="A patient's outcomes, oldest first, entered and from hospital CT reports",
           roles=CLINICAL_ROLES, response=OutcomeList)
def list_outcomes(patient_id: int):
    return {"outcomes": outcomes.list_outcomes(_db(), patient_id)}
