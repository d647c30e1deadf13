"""Request and response bodies of the JSON API, as pydantic models.

Request models forbid unknown fields, so a typo is a 422 naming the field rather than a value
silently dropped. The OpenAPI document is generated from these models.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.vocabulary import AUTOANTIBODIES, CHEST_SITES, CTD_DIAGNOSES, SYMPTOMS, unknown_word_message

# Pseudonymous codes only: letters, digits and dashes. Anything else (quotes, spaces,
# semicolons) is refused rather than escaped, so a code can never carry a name or markup.
PATIENT_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{2,31}$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
FREE_TEXT_MAX = 2000


def _check_members(values: Optional[list[str]], allowed: dict, what: str) -> Optional[list[str]]:
    if values is None:
        return None
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(unknown_word_message(what, unknown[0], allowed))
    return sorted(set(values))


def check_birth_year(value: Optional[int]) -> Optional[int]:
    """Adults in screening age: 16 to 120 years old this year."""
    this_year = dt.date.today().year
    if value is not None and not this_year - 120 <= value <= this_year - 16:
        raise ValueError(f"must be between {this_year - 120} and {this_year - 16}, got {value}")
    return value


def check_antibodies(values: Optional[list[str]]) -> Optional[list[str]]:
    return _check_members(values, AUTOANTIBODIES, "autoantibody")


def check_symptoms(values: Optional[list[str]]) -> Optional[list[str]]:
    return _check_members(values, SYMPTOMS, "symptom")


def check_medications(values: Optional[list[str]]) -> Optional[list[str]]:
    for value in values or []:
        if not 2 <= len(value) <= 80 or any(ch in value for ch in "<>{};\"'\\\n\r\t"):
            raise ValueError(f"medication names are 2-80 plain characters, got {value!r}")
    return values


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Sex = Literal["F", "M"]
CtdDiagnosis = Literal["SSc", "RA", "IIM", "SjD", "SLE", "MCTD"]
Smoking = Literal["never", "former", "current"]
Role = Literal["nurse", "clinician", "admin"]


class PatientFields(RequestModel):
    birth_year: int = Field(description="Year of birth (not the date: less identifying).")
    sex: Sex = Field(description="Sex recorded for reference ranges and risk: F or M.")
    ctd_diagnosis: CtdDiagnosis = Field(description="Connective-tissue disease: " + ", ".join(CTD_DIAGNOSES))
    autoantibodies: list[str] = Field(default_factory=list, max_length=20, description="Positive autoantibodies.")
    smoking: Smoking = Field("never", description="Smoking status.")
    pack_years: Optional[float] = Field(None, ge=0, le=200, description="Pack-years for current or former smokers.")
    symptoms: list[str] = Field(default_factory=list, max_length=20, description="Current respiratory symptoms.")
    medications: list[str] = Field(
        default_factory=list, max_length=30, description="Current medications, generic names (e.g. methotrexate)."
    )

    _birth_year = field_validator("birth_year")(check_birth_year)
    _antibodies = field_validator("autoantibodies")(check_antibodies)
    _symptoms = field_validator("symptoms")(check_symptoms)
    _medications = field_validator("medications")(check_medications)


class PatientCreate(PatientFields):
    code: str = Field(
        pattern=PATIENT_CODE_PATTERN,
        description="Pseudonymous patient code (3-32 letters, digits, dashes); never a name or ID number.",
    )


class PatientUpdate(RequestModel):
    birth_year: Optional[int] = None
    sex: Optional[Sex] = None
    ctd_diagnosis: Optional[CtdDiagnosis] = None
    autoantibodies: Optional[list[str]] = Field(None, max_length=20)
    smoking: Optional[Smoking] = None
    pack_years: Optional[float] = Field(None, ge=0, le=200)
    symptoms: Optional[list[str]] = Field(None, max_length=20)
    medications: Optional[list[str]] = Field(None, max_length=30)

    _birth_year = field_validator("birth_year")(check_birth_year)
    _antibodies = field_validator("autoantibodies")(check_antibodies)
    _symptoms = field_validator("symptoms")(check_symptoms)
    _medications = field_validator("medications")(check_medications)


class Patient(BaseModel):
    id: int
    code: str
    birth_year: int
    sex: Sex
    ctd_diagnosis: CtdDiagnosis
    autoantibodies: list[str]
    smoking: Smoking
    pack_years: Optional[float]
    symptoms: list[str]
    medications: list[str]
    created_at: str
    updated_at: str


class PatientList(BaseModel):
    patients: list[Patient]
    total: int


class PatientQuery(RequestModel):
    code: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9-]{1,32}$", description="Code prefix to search for.")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class VisitCreate(RequestModel):
    notes: str = Field("", max_length=FREE_TEXT_MAX, description="Free-text notes; no names or ID numbers.")


class VisitUpdate(RequestModel):
    status: Optional[Literal["open", "completed", "cancelled"]] = None
    notes: Optional[str] = Field(None, max_length=FREE_TEXT_MAX)
    draft: Optional[dict] = Field(None, description="Unfinished form state kept server-side for the tablet UI.")


class Visit(BaseModel):
    id: int
    patient_id: int
    status: Literal["open", "completed", "cancelled"]
    notes: str
    draft: dict
    started_at: str
    completed_at: Optional[str]
    updated_at: str


class VisitList(BaseModel):
    visits: list[Visit]


class Recording(BaseModel):
    id: int
    visit_id: int
    chest_site: str
    source: str
    sha256: str
    media_type: str
    size_bytes: int
    sample_rate: int
    channels: int
    duration_s: float
    quality: Optional[dict]
    crackle_probability: Optional[float]
    model_version: Optional[str]
    windows: Optional[list[dict]] = Field(None, description="Per-window crackle probabilities, when scored.")
    created_at: str


class RecordingList(BaseModel):
    recordings: list[Recording]


class RecordingUpload(RequestModel):
    """Form fields sent beside the ``file`` part of a multipart upload."""

    chest_site: str = Field(description="Where the stethoscope was placed: " + ", ".join(CHEST_SITES))

    @field_validator("chest_site")
    @classmethod
    def known_site(cls, value: str) -> str:
        if value not in CHEST_SITES:
            raise ValueError(unknown_word_message("chest site", value, CHEST_SITES))
        return value


class LoginRequest(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(RequestModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=10, max_length=1024, description="At least 10 characters.")


class PasswordChanged(BaseModel):
    password_changed: bool
    sessions_and_tokens_ended: int = Field(
        description="Other browser sessions and bearer tokens of the account that stopped working.")


class UserCreate(RequestModel):
    username: str = Field(pattern=USERNAME_PATTERN, description="Lower-case login name, 2-32 characters.")
    role: Role
    password: Optional[str] = Field(
        None, min_length=10, max_length=1024, description="Leave out to have a one-time password generated."
    )


class UserUpdate(RequestModel):
    role: Optional[Role] = None
    disabled: Optional[bool] = None


class User(BaseModel):
    id: int
    username: str
    role: Role
    disabled: bool
    must_change_password: bool
    locked: bool
    created_at: str
    last_login_at: Optional[str]


class UserList(BaseModel):
    users: list[User]


class UserCreated(User):
    one_time_password: Optional[str] = Field(None, description="Shown once; the user must change it at first login.")


class Session(BaseModel):
    user: User
    csrf_token: str = Field(description="Send back as the X-CSRF-Token header on every state-changing request.")
    expires_at: str


class TokenCreate(RequestModel):
    name: str = Field(pattern=r"^[A-Za-z0-9 ._-]{2,64}$", description="What the token is for, e.g. 'lab importer'.")


class TokenCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once. Send as 'Authorization: Bearer <token>'.")


class AuditEntry(BaseModel):
    id: int
    at: str
    user_id: Optional[int]
    username: Optional[str]
    action: str
    entity: str
    entity_id: Optional[str]
    detail: Optional[dict]


class AuditQuery(RequestModel):
    entity: Optional[Literal["patient", "visit", "recording", "user", "token", "session", "assessment",
                             "referral"]] = None
    entity_id: Optional[str] = Field(None, max_length=32)
    limit: int = Field(100, ge=1, le=1000)
    before_id: Optional[int] = Field(None, ge=1, description="Page backwards from this entry id.")


class AuditList(BaseModel):
    entries: list[AuditEntry]


class AssessmentRequest(RequestModel):
    fvc_percent: Optional[float] = Field(None, ge=5, le=200, description="FVC, % predicted, when PFTs were done.")
    dlco_percent: Optional[float] = Field(None, ge=1, le=200, description="DLCO, % predicted, when measured.")
    dlco_not_performed: bool = Field(False, description="The patient could not perform DLCO (GAP: 3 points).")


class Assessment(BaseModel):
    id: int
    visit_id: int
    created_at: str
    probability: float = Field(description="Fused post-test probability of ILD.")
    score: int = Field(description="The probability as 0-100.")
    interval: list[float] = Field(description="90% interval of the probability from the validation numbers the "
                                              "estimate rests on (prior base-rate range, models' CIs).")
    if_missing_measured: Optional[dict] = Field(None, description="The range the probability could still take if "
                                                                  "the missing modalities were measured.")
    uncertainty: Optional[str] = Field(None, description="Both uncertainties in one sentence.")
    pretest_probability: float
    tier: Literal["low", "intermediate", "high", "urgent"]
    tier_from_risk: Literal["low", "intermediate", "high"]
    recommendation: dict
    red_flags: list[dict]
    contributions: dict
    missing: list[str] = Field(description="Modalities without usable evidence: they contributed nothing.")
    model_versions: dict[str, str]
    synthetic_models: list[str] = Field(description="Modalities whose model was trained on synthetic data.")
    staging: Optional[dict] = Field(description="GAP / ILD-GAP, only with confirmed ILD and PFT values.")
    confirmed_ild: Optional[dict] = Field(None, description="What on record confirms ILD (an HRCT report), if anything.")
    validation: Optional[dict] = Field(None, description="Validation status of each model used and the note shown "
                                                         "with the risk.")
    evidence_options: Optional[dict] = Field(None, description="The evidence model's programme settings used.")
    thresholds: dict
    inputs: dict
    calibration: Optional[dict] = Field(
        None, description="Site calibration used: version, the fused probability before it, and the shadow "
                          "calibration's probability (null for assessments made before site calibration).")


class AssessmentList(BaseModel):
    assessments: list[Assessment]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: Optional[list[dict]] = None


class ErrorResponse(BaseModel):
    error: ErrorBody
