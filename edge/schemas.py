"""Request and response bodies of the JSON API, as pydantic models.

Request models forbid unknown fields, so a typo is a 422 naming the field rather than a value
silently dropped. The OpenAPI document is generated from these models.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar, Literal, Optional

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator,
                      model_validator)

from common.passwords import MAX_PASSWORD_LENGTH
from edge.auscultation import FIGURES_OVER, STETHOSCOPE_STATUSES
from edge.freshness import CHANGE_KINDS, MODEL_CHANGES, RESCORED_AT_CALCULATE
from edge.vocabulary import (AUTOANTIBODIES, CHEST_PIECE_NOT_STATED, CHEST_SITES, CTD_DIAGNOSES, ROLES, SMOKING_STATUS,
                             SYMPTOMS, VISIT_STATUSES, ChestPiece, CracklesHeard, StethoscopeName, known_word)

# Pseudonymous codes only: letters, digits and dashes. Anything else (quotes, spaces,
# semicolons) is refused rather than escaped, so a code can never carry a name or markup.
# Codes are stored upper-case (edge.patients.create_patient): cl1-0001 and CL1-0001 are one patient.
PATIENT_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{2,31}$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
FREE_TEXT_MAX = 2000
# SQLite's largest INTEGER: an id beyond it names no record (a 404/422, not an overflow).
MAX_ID = 2**63 - 1
# Generic names of medicines: 2-80 plain characters, nothing that could be markup, a path or a
# control character, and no whitespace at either end (checked as sent: what is accepted is what
# is stored). The whitespace is listed, not ``\s``: JSON Schema's, pydantic's and Python's
# ``\s`` differ (U+FEFF, U+001C-U+001F), and the document must mean what the service checks.
_MEDICATION_CHARACTER = r"[^<>{};\"'\\\x00-\x1f\x7f]"
_MEDICATION_END = r"[^<>{};\"'\\\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
MEDICATION_PATTERN = f"^{_MEDICATION_END}{_MEDICATION_CHARACTER}{{0,78}}{_MEDICATION_END}$"
# What an API token is for: 2-64 letters, digits, spaces, dots, underscores, dashes; no space at an end.
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9._-][A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-]$"
#: How the OpenAPI document states the rule every request body and query follows.
AS_SENT_RULE = ("Every length and pattern is checked on the value as sent; surrounding whitespace of an accepted "
                "text value is then removed before it is used or stored (a free-text note of 2,000 characters "
                "plus a space is refused; identifiers and medication names may not start or end with a space). "
                "Login names and passwords are used as typed, except that a password's surrounding spaces are "
                "dropped wherever it is typed (tablet, API, command line).")

# The vocabularies as types: the same Literal validates a request and enumerates the values in
# the OpenAPI document, so the document cannot drift from what is accepted.
# A word outside the vocabulary is refused naming the closest accepted ones ("did you mean").
# ChestPiece, which the evidence options and the settings take too, is declared in edge.vocabulary.
CtdDiagnosis = Annotated[Literal[tuple(CTD_DIAGNOSES)], known_word(CTD_DIAGNOSES, "CTD diagnosis")]  # type: ignore[valid-type]
Autoantibody = Annotated[Literal[tuple(AUTOANTIBODIES)], known_word(AUTOANTIBODIES, "autoantibody")]  # type: ignore[valid-type]
Symptom = Annotated[Literal[tuple(SYMPTOMS)], known_word(SYMPTOMS, "symptom")]  # type: ignore[valid-type]
ChestSite = Annotated[Literal[tuple(CHEST_SITES)], known_word(CHEST_SITES, "chest site")]  # type: ignore[valid-type]
Medication = Annotated[str, StringConstraints(pattern=MEDICATION_PATTERN)]
Sex = Literal["F", "M"]
Smoking = Literal[SMOKING_STATUS]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]
VisitStatus = Literal[VISIT_STATUSES]  # type: ignore[valid-type]


def _screening_birth_years() -> tuple[int, int]:
    """Adults in screening age: 16 to 120 years old this year (the service restarts yearly at least)."""
    this_year = dt.date.today().year
    return this_year - 120, this_year - 16


BIRTH_YEAR_MIN, BIRTH_YEAR_MAX = _screening_birth_years()


def _integral(value):
    # JSON Schema's "integer" includes 2008.0; strict types would refuse it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral)]


def _unique_sorted(values: Optional[list[str]]) -> Optional[list[str]]:
    return None if values is None else sorted(set(values))


def _not_null(schema: dict) -> None:
    """An optional field of a partial update that may be left out but not set to null."""
    schema.pop("default", None)


class RequestModel(BaseModel):
    """A JSON request body: unknown fields refused, types strict (false is not 0, "1" is not 1), and
    every constraint checked on the value as sent, as the OpenAPI document states it.

    Surrounding whitespace of an accepted text is removed afterwards, for what is used and stored.
    Stripping first and checking after (pydantic's ``str_strip_whitespace``) accepted a note the
    document says is too long and refused a medication the document says is valid: a client
    could not trust the document. Trimming after the check never makes a value longer, and the
    patterns of identifiers and names exclude surrounding spaces, so a stored value always meets
    the document too.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    #: Credentials, compared and never stored as text, so left as typed: a password is normalised
    #: by ``edge.users.normalize_password`` (tablet, API and CLI alike), a login name is looked up
    #: as the tablet's sign-in form looks it up.
    untrimmed: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _trim_surrounding_whitespace(self):
        for name in type(self).model_fields:
            if name in self.untrimmed:
                continue
            value = getattr(self, name)
            if isinstance(value, str):
                trimmed = value.strip()
            elif isinstance(value, list) and any(isinstance(item, str) for item in value):
                trimmed = [item.strip() if isinstance(item, str) else item for item in value]
            else:
                continue
            if trimmed != value:
                self.__dict__[name] = trimmed  # already validated: no second validation
        return self


class QueryModel(RequestModel):
    """Query-string parameters: they arrive as text, so numbers are parsed from it."""

    model_config = ConfigDict(strict=False)


#: What pack-years a patient may have (edge.patients.check_smoking, checked where the record is written: an edit
#: is checked against the stored field it does not send).
PACK_YEARS_DESCRIPTION = ("Pack-years for former or current smokers. With smoking `never` only null or 0: more is "
                          "a 422 naming both `smoking` and `pack_years`, nothing saved (an edit that changes either "
                          "is checked against the other as stored).")


class PatientFields(RequestModel):
    birth_year: JsonInt = Field(ge=BIRTH_YEAR_MIN, le=BIRTH_YEAR_MAX,
                            description="Year of birth (not the date: less identifying); 16 to 120 years old.")
    sex: Sex = Field(description="Sex recorded for reference ranges and risk: F or M.")
    ctd_diagnosis: CtdDiagnosis = Field(description="Connective-tissue disease: " + ", ".join(CTD_DIAGNOSES))
    autoantibodies: list[Autoantibody] = Field(default_factory=list, max_length=20,
                                               description="Positive autoantibodies.")
    smoking: Smoking = Field("never", description="Smoking status.")
    pack_years: Optional[float] = Field(None, ge=0, le=200, description=PACK_YEARS_DESCRIPTION)
    symptoms: list[Symptom] = Field(default_factory=list, max_length=20, description="Current respiratory symptoms.")
    medications: list[Medication] = Field(
        default_factory=list, max_length=30, description="Current medications, generic names (e.g. methotrexate)."
    )

    _lists = field_validator("autoantibodies", "symptoms")(_unique_sorted)


class PatientCreate(PatientFields):
    code: str = Field(
        pattern=PATIENT_CODE_PATTERN,
        description="Pseudonymous patient code (3-32 letters, digits, dashes; stored upper-case); never a name or "
                    "ID number.",
    )


def edit_version_description(record: str, read_at: str) -> str:
    """What a PATCH body's required ``version`` means, in the words of every versioned record."""
    return (f"Required: the {record}'s `version` as the client read it (GET {read_at}). 409 `edit_conflict` "
            "(naming `current_version`, nothing saved) when another edit was saved since. Left out: 422 naming "
            "`version`, nothing saved (an edit without it could overwrite another unseen).")


class PatientUpdate(RequestModel):
    """Only the fields sent change; none may be null except pack_years (unknown). ``version`` is
    required: an edit that names no version could overwrite an edit saved since, unseen."""

    birth_year: JsonInt = Field(None, ge=BIRTH_YEAR_MIN, le=BIRTH_YEAR_MAX, json_schema_extra=_not_null)
    sex: Sex = Field(None, json_schema_extra=_not_null)
    ctd_diagnosis: CtdDiagnosis = Field(None, json_schema_extra=_not_null)
    autoantibodies: list[Autoantibody] = Field(None, max_length=20, json_schema_extra=_not_null)
    smoking: Smoking = Field(None, json_schema_extra=_not_null)
    pack_years: Optional[float] = Field(None, ge=0, le=200, description=PACK_YEARS_DESCRIPTION + " Null: not known. A patient stored "
                                      "before this rule keeps both as stored until an edit changes either.")
    symptoms: list[Symptom] = Field(None, max_length=20, json_schema_extra=_not_null)
    medications: list[Medication] = Field(None, max_length=30, json_schema_extra=_not_null)
    version: JsonInt = Field(ge=0, le=MAX_ID, description=edit_version_description("patient", "/api/v1/patients/{id}"))

    _lists = field_validator("autoantibodies", "symptoms")(_unique_sorted)


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
    version: int = Field(description="The record's version: it changes with every saved edit. Send it back in "
                                     "`PATCH` so that an edit saved meanwhile is not overwritten unseen.")


class PatientList(BaseModel):
    patients: list[Patient]
    total: int


class PatientQuery(QueryModel):
    """Paging only: a patient code never travels in a URL (proxies log URLs); search by POST."""

    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=2**31)

    @model_validator(mode="before")
    @classmethod
    def no_code_in_url(cls, data):
        # Named, not just "unknown field": the code has already reached any proxy's log, so the
        # client has to change how it searches.
        if isinstance(data, dict) and "code" in data:
            raise ValueError("patient codes are not accepted in URLs (proxies log them); "
                             "POST /api/v1/patients/search with the code in the JSON body")
        return data


class PatientSearch(RequestModel):
    code: str = Field(pattern=r"^[A-Za-z0-9-]{1,32}$", description="Code prefix to search for, in any case.")
    limit: JsonInt = Field(50, ge=1, le=500)
    offset: JsonInt = Field(0, ge=0, le=2**31)


class VisitCreate(RequestModel):
    notes: str = Field("", max_length=FREE_TEXT_MAX, description="Free-text notes; no names or ID numbers.")


class VisitUpdate(RequestModel):
    """Only the fields sent change, and in the draft only the keys sent. ``version`` is required, as
    for a patient."""

    status: Optional[VisitStatus] = None
    notes: Optional[str] = Field(None, max_length=FREE_TEXT_MAX)
    draft: Optional[dict] = Field(
        None, description="Unfinished form state kept server-side for the tablet UI, applied as a JSON Merge Patch "
                          "(RFC 7396) to the draft stored: a key sent with a value takes it (an object is merged "
                          "key by key), a key sent as null is removed, a key not sent stays. The tablet keeps typed "
                          "values there without changing the visit's `version`, so keys it kept after you read the "
                          "visit are never dropped; to empty the draft, send each key of it as null.")
    version: JsonInt = Field(ge=0, le=MAX_ID, description=edit_version_description("visit", "/api/v1/visits/{id}"))


class Visit(BaseModel):
    id: int
    patient_id: int
    status: VisitStatus
    notes: str
    draft: dict
    started_at: str
    completed_at: Optional[str]
    updated_at: str
    version: int = Field(description="The visit's version: it changes with every saved edit of its status, notes or "
                                     "draft through `PATCH` (not with the tablet keeping a draft, nor with results, "
                                     "takes or lung function added). Send it back in `PATCH`.")


class VisitList(BaseModel):
    visits: list[Visit]


class StethoscopeValidation(BaseModel):
    """Whether the served crackle model was validated on a take's stethoscope and chest piece, read from
    its manifest's patient-level validation (validation.populations.*.devices), and whether the take
    counts for it (a take through a device the model was not validated on in adults does not: its
    site is not heard and it does not change the risk; docs/evidence.md)."""

    status: Literal[STETHOSCOPE_STATUSES] = Field(  # type: ignore[valid-type]
        description="validated: an adult population's validation (KAUH's adults or a clinic's own, adults_<folder>) "
                    "went through this stethoscope and chest piece; chest_piece_not_validated: through this "
                    "stethoscope with other chest pieces only (or the piece is not stated); not_in_adults: only a "
                    "children's population's validation went through it; "
                    "not_validated: none did; not_stated: the take names no stethoscope.")
    counts: bool = Field(description="Whether the take counts in the lung-sound evidence by its stethoscope: false "
                                     "for not_validated, not_in_adults and chest_piece_not_validated through a stated "
                                     "chest piece, and for validated with device_counts false; and, when the setting evidence_require_validated_stethoscope is on, "
                                     "for every status but validated (today's setting).")
    statement: str = Field(description="The same in words, in the language of Accept-Language (en or zh-CN), as the "
                                       "visit page shows it under the take; for a take that does not count, why "
                                       "and what to do.")
    stethoscope: str
    chest_piece: str
    model_version: str = Field(description="The crackle model whose manifest was read (the served one).")
    devices: list[str] = Field(description="The devices of the adult populations' validations, as the manifest names "
                                           "them.")
    populations: Optional[list[str]] = Field(None, description="not_in_adults: the populations whose validation "
                                                               "went through it, in the manifest's words.")
    population_keys: Optional[list[str]] = Field(None, description="not_in_adults: the same populations by their "
                                                                   "keys in the manifest (children_sprsound2022, ...).")
    population: Optional[str] = Field(None, description="validated and chest_piece_not_validated: the adult population "
                                                        "(its key: adults, adults_<folder>) whose figures are quoted "
                                                        "and the take counts with; when several list the device, the "
                                                        "one whose figures rest on most assessable patients "
                                                        "(docs/evidence.md).")
    figures_over: Optional[Literal[FIGURES_OVER]] = Field(  # type: ignore[valid-type]
        None, description="validated: whose recordings the figures are over: device, this device's alone (the "
                          "manifest's validation by_device); all_devices, all that population's devices together (a "
                          "manifest without per-device figures). With device, the take is judged by those "
                          "figures (device_counts) and counts with them: when the exam's counted takes went through "
                          "several devices with figures of their own, with the least informative of them for the "
                          "finding made.")
    device: Optional[str] = Field(None, description="validated with figures_over device: the device, as the manifest "
                                                    "names it.")
    device_counts: Optional[bool] = Field(
        None, description="validated with figures_over device: false when the device's own figures fail the "
                          "validation rule while its population's pooled figures pass it (the take then does not "
                          "count, positive or clear); true otherwise (docs/evidence.md).")
    device_reason_code: Optional[str] = Field(None, description="device_counts false: device_too_few or "
                                                                "device_uncertain.")
    device_reason: Optional[str] = Field(None, description="device_counts false: why, in English, naming the device.")
    devices_counting: Optional[list[str]] = Field(
        None, description="validated and chest_piece_not_validated: the devices of that population through which a "
                          "take counts under the validation rule (their own figures pass it, or they have none), as "
                          "the manifest names them; not_stated: those of the adult population a take naming no "
                          "stethoscope counts with (absent when there is none). With device_counts false the "
                          "statement says to record the site again through one of them; a clear take through a "
                          "chest piece of evidence_chest_pieces_cannot_clear is told those of them whose chest "
                          "piece can clear.")
    population_devices: Optional[list[str]] = Field(
        None, description="validated with figures_over all_devices: the devices of that population, whose recordings "
                          "together the figures are over, as the manifest names them.")
    patients: Optional[int] = Field(None, description="validated: the adults' patients whose figures are quoted.")
    positive_patients: Optional[int] = None
    sensitivity: Optional[float] = Field(None, description="validated: patient-level, over figures_over's recordings.")
    sensitivity_ci95: Optional[list[float]] = Field(None, description="Patient-cluster bootstrap, as the manifest says.")
    specificity: Optional[float] = None
    specificity_ci95: Optional[list[float]] = None


class Recording(BaseModel):
    id: int
    visit_id: int
    chest_site: str
    chest_piece: str = Field(description="The chest piece (filter mode) it was taken through, as stated: "
                                         "diaphragm, bell, extended or not_stated.")
    stethoscope: str = Field(description="The stethoscope (make and model) it went through, one of the clinic's "
                                         "settings stethoscopes, or not_stated (also every take stored before it "
                                         "was asked for).")
    stethoscope_validation: Optional[StethoscopeValidation] = Field(
        None, description="Whether the crackle model was validated on its stethoscope and chest piece; null when no "
                          "crackle model is served.")
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
    crackle_threshold: Optional[float] = Field(
        None, description="The threshold of the crackle model that scored it (model_version): its probability is "
                          "read against this one; null when not scored.")
    earlier_scores: list[dict] = Field(
        [], description="Scores it had from other crackle models, oldest first (model_version, threshold, "
                        "crackle_probability, quality_ok, rescored_at): a take is scored again by the served model "
                        "when its visit is assessed after a model update.")
    windows: Optional[list[dict]] = Field(
        None, description="Its windows when scored: start_s, end_s, crackle_probability (the network's raw window "
                          "score, not calibrated like the take's) and crackles (whether the crackle map shades it: "
                          "the take found crackles and this window's score, calibrated like the take's, reaches "
                          "crackle_threshold; null when that model's calibration is unknown).")
    quality_advice: list[str] = Field(
        [], description="Why the quality gate refused the take, in plain words with what to do, in the language of "
                        "Accept-Language (en or zh-CN); empty when accepted. `quality.issues` keeps the gate's own "
                        "codes and measurements.")
    crackles_heard: Optional[str] = Field(
        None, description="A clinician's label of the take, on listening to it: yes, no or unsure (null: not "
                          "labelled). A reference for checking the crackle model per stethoscope ('ildscreen audio "
                          "export-labelled'); it does not change the visit's result, risk or advice.")
    crackles_heard_at: Optional[str] = Field(None, description="When the label was last set (null: not labelled).")
    created_at: str


class RecordingList(BaseModel):
    recordings: list[Recording]


class RecordingDiscarded(BaseModel):
    """The answer to a discard sent again: the take was already discarded and nothing changed."""

    recording_id: int
    visit_id: int = Field(description="The visit the take was discarded from.")
    chest_site: str
    already_discarded: bool = Field(description="True: an earlier request discarded this take; this one changed "
                                                "nothing (no file removed, no audit entry).")


class CracklesHeardLabel(RequestModel):
    """A clinician's label of one stored take, on listening to it."""

    crackles_heard: CracklesHeard = Field(
        description="Are crackles heard on listening to the take: yes, no or unsure. The last label wins. A reference "
                    "for checking the crackle model, not an input: the visit's result, risk and advice stay as they are.")


class RecordingTarget(RequestModel):
    """Where a recording is taken: its chest site."""

    chest_site: ChestSite = Field(description="Where the stethoscope was placed.")


class RecordingUpload(RecordingTarget):
    """Form fields sent beside the ``file`` part of a multipart upload."""

    chest_piece: ChestPiece = Field(
        CHEST_PIECE_NOT_STATED,
        description="The stethoscope's chest piece or filter mode the take went through. A clear take through "
                    "one of evidence_chest_pieces_cannot_clear (default: the bell, through which the crackle "
                    "detector misses most crackles) does not make its site heard. Left out: not_stated.")
    stethoscope: Optional[StethoscopeName] = Field(
        None, description="The stethoscope (make and model) it went through: one of the clinic's settings "
                          "stethoscopes, or not_stated (at most 64 characters). Left out: the setting "
                          "upload_stethoscope (not_stated unless the clinic names one).")


class LoginRequest(RequestModel):
    untrimmed: ClassVar[frozenset[str]] = frozenset({"username", "password"})

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class PasswordChange(RequestModel):
    untrimmed: ClassVar[frozenset[str]] = frozenset({"current_password", "new_password"})

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=10, max_length=MAX_PASSWORD_LENGTH, description="At least 10 characters.")


class PasswordChanged(BaseModel):
    password_changed: bool
    sessions_and_tokens_ended: int = Field(
        description="Other browser sessions and bearer tokens of the account that stopped working.")


class UserCreate(RequestModel):
    untrimmed: ClassVar[frozenset[str]] = frozenset({"password"})

    username: str = Field(pattern=USERNAME_PATTERN, description="Lower-case login name, 2-32 characters.")
    role: Role
    password: Optional[str] = Field(
        None, min_length=10, max_length=MAX_PASSWORD_LENGTH, description="Leave out to have a one-time password generated."
    )
    full_name: Optional[str] = Field(None, max_length=100, description="Printed on referral letters with the role.")


class UserUpdate(RequestModel):
    role: Optional[Role] = None
    disabled: Optional[bool] = None
    full_name: Optional[str] = Field(None, max_length=100, description="Printed on referral letters with the role.")
    version: JsonInt = Field(ge=0, le=MAX_ID, description=edit_version_description("account", "/api/v1/users"))


class User(BaseModel):
    id: int
    username: str
    role: Role
    full_name: Optional[str] = None
    disabled: bool
    must_change_password: bool
    locked: bool
    created_at: str
    last_login_at: Optional[str]
    version: int = Field(description="The account's version: it changes with every saved edit of its role, full name "
                                     "or disabled state (not with logins, passwords or PINs). Send it back in `PATCH`.")


class UserList(BaseModel):
    users: list[User]


class UserCreated(User):
    one_time_password: Optional[str] = Field(None, description="Shown once; the user must change it at first login.")


class Session(BaseModel):
    user: User
    csrf_token: str = Field(description="Send back as the X-CSRF-Token header on every state-changing request.")
    expires_at: str


class TokenCreate(RequestModel):
    name: str = Field(pattern=TOKEN_NAME_PATTERN, description="What the token is for, e.g. 'lab importer'.")


class TokenCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once. Send as 'Authorization: Bearer <token>'.")


class ApiToken(BaseModel):
    id: int
    user_id: int
    name: str
    created_at: str
    last_used_at: Optional[str] = None
    revoked_at: Optional[str] = Field(None, description="When it was revoked; null while it is valid.")


class ApiTokenList(BaseModel):
    tokens: list[ApiToken]


class ApiTokenRevoked(ApiToken):
    """The answer to a revocation: the token as now stored, and whether this request revoked it."""

    already_revoked: bool = Field(description="True: an earlier request revoked this token (`revoked_at` is when); "
                                              "this one changed nothing (no audit entry). False: this request "
                                              "revoked it.")


class AuditEntry(BaseModel):
    id: int
    at: str
    user_id: Optional[int]
    username: Optional[str]
    action: str
    entity: str
    entity_id: Optional[str]
    detail: Optional[dict]


class AuditQuery(QueryModel):
    entity: Optional[Literal["patient", "visit", "recording", "user", "token", "session", "assessment",
                             "referral"]] = None
    entity_id: Optional[str] = Field(None, max_length=32)
    limit: int = Field(100, ge=1, le=1000)
    before_id: Optional[int] = Field(None, ge=1, le=MAX_ID, description="Page backwards from this entry id.")


class AuditList(BaseModel):
    entries: list[AuditEntry]


class AssessmentRequest(RequestModel):
    """Lung function measured today, if any. Sending any of the three records all three on the visit first (what
    is not sent is not measured), as the tablet's lung-function form does; an empty body assesses with the lung
    function the visit already holds."""
    fvc_percent: Optional[float] = Field(None, ge=5, le=200, description="FVC, % predicted, when PFTs were done "
                                                                         "(10-200 is accepted on the visit).")
    dlco_percent: Optional[float] = Field(None, ge=1, le=200, description="DLCO, % predicted, when measured "
                                                                          "(10-200 is accepted on the visit).")
    dlco_not_performed: bool = Field(False, description="The patient could not perform DLCO (GAP: 3 points).")


ChangeKind = Literal[CHANGE_KINDS]  # type: ignore[valid-type]
ModelChange = Literal[MODEL_CHANGES]  # type: ignore[valid-type]
# Not all at the visit: an earlier visit's blood count, outcomes and the end of monitoring are on the patient's record.
_CHANGED = (f"what changed after the result was calculated, at the visit or on the patient's record "
            f"({', '.join(CHANGE_KINDS)})")
_SETTINGS_CHANGED = "the programme settings the result was calculated under that differ now (group.key)"
_MODELS_CHANGED = (f"what the result was calculated with that is not what is served now ({', '.join(MODEL_CHANGES)}): "
                   f"a modality ({', '.join(RESCORED_AT_CALCULATE)}) whose model the result used is another "
                   "(auscultation: another crackle model version or threshold; labs, breath: another model "
                   "version; any: its manifest entry re-issued at the same version, e.g. another calibration, "
                   "training prevalence or validation; a result stored before results kept the entry's digest "
                   "names each it used); a modality missing from the result whose served entry is another and "
                   "gives another range than the one its if_missing_measured line read (a new version that gives "
                   "the same range is none); the site calibration or the regional validation applied now is another "
                   "than the result's; how lung sounds count changed since the result counted them with the crackle "
                   "model's pooled figures of a population that has figures per device (crackle_device_rule: before "
                   "each take was judged by its own device's figures; crackle_weakest_device_rule: before takes "
                   "through several devices with figures of their own counted with the least informative of them). "
                   "Assessing again scores the takes, blood tests and breath reading with the "
                   "served models (a breath reading keeps the score it was read with, for the record)")

_MODELS_UNCHECKED = ("those of models_changed named only because the result was stored by an earlier release, before "
                     "results kept what their comparison needs (the digest of a used model's manifest entry, "
                     "model_digests; the range a missing modality gave, inputs.potential_ranges). Whether that model "
                     "changed cannot be told, so the result counts as out of date: assessing an open visit again "
                     "gives a result that can be compared; a closed visit's result stays its record (its page says "
                     "it cannot be checked, not that the model was updated)")


class ResultFreshness(BaseModel):
    """Whether an assessment is current (``edge.freshness.Freshness``): the same verdict the tablet's
    visit page shows and a referral is checked against."""

    current: bool = Field(description="True: the visit's latest assessment, nothing changed since: a referral "
                                      "(POST /api/v1/visits/{visit_id}/referrals) may carry it. False: a referral "
                                      "naming it is refused with 409 (`result_superseded`, `result_out_of_date`) "
                                      "and one naming none with `result_out_of_date` while the latest is not "
                                      "current; assess the visit again.")
    superseded_by: Optional[int] = Field(description="The visit's latest assessment when this one is not it (the "
                                                     "other lists are then empty: only the latest is compared); "
                                                     "null for the latest.")
    changed: list[ChangeKind] = Field(description=f"For the latest: {_CHANGED}.")
    settings_changed: list[str] = Field(description=f"For the latest: {_SETTINGS_CHANGED}.")
    models_changed: list[ModelChange] = Field(description=f"For the latest: {_MODELS_CHANGED}.")
    models_unchecked: list[ModelChange] = Field(description=f"For the latest: {_MODELS_UNCHECKED}.")


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
    pathway: Literal["screening", "monitoring"] = Field(
        "screening", description="'monitoring' once ILD is confirmed (2023 ACR/CHEST monitoring), else 'screening'.")
    monitoring: Optional[dict] = Field(None, description="The monitoring plan of confirmed ILD: PFT interval, next "
                                                         "PFTs due, ambulatory desaturation, HRCT.")
    not_counted: dict[str, str] = Field(default_factory=dict, description="Modalities measured but not yet counted "
                                                                          "(not validated), each with the reason.")
    interval_sources: Optional[dict] = Field(None, description="What the interval's width is made of (SD on the "
                                                               "log-odds scale per source and programme assumption).")
    validation: Optional[dict] = Field(None, description="Validation status of each model used and the note shown "
                                                         "with the risk.")
    evidence_options: Optional[dict] = Field(None, description="The evidence model's programme settings used.")
    crackle_threshold: Optional[float] = Field(
        None, description="The crackle model's threshold the takes were read with (null: no model was available, "
                          "or an assessment made before it was kept).")
    crackle_model_adults: Optional[dict] = Field(
        None, description="The crackle model's patient-level figures on held-out adults when it was assessed: those "
                          "the lung sounds counted with (one device's when each take's device has figures of its own, "
                          "else their adult population's), else those of validation.populations.adults (null: none, or an assessment "
                          "made before they were kept); population_key (adults, adults_<folder>) and figures_over "
                          "(device: the takes' one device; weakest_device: the least informative of the several "
                          "devices they went through, each with figures of its own; both with device; all_devices) "
                          "say whose they are (absent: kept before they said; KAUH's adults).")
    crackle_model_by_device: Optional[dict] = Field(
        None, description="The figures of crackle_model_adults' population per device (validation.populations."
                          "<population>.by_device: device -> the same figures over its recordings alone), which the "
                          "note on the result counts per chest piece (null: the manifest has none, or an assessment "
                          "made before they were kept).")
    crackle_takes_rescored: list[dict] = Field(
        [], description="The takes another crackle model first scored, scored again by the model this assessment "
                        "used (recording_id, chest_site, model_version, threshold, crackle_probability, "
                        "first_model_version, first_threshold, first_crackle_probability).")
    thresholds: dict
    inputs: dict
    calibration: Optional[dict] = Field(
        None, description="Site calibration used: version, the fused probability before it, and the shadow "
                          "calibration's probability (null for assessments made before site calibration).")
    model_digests: Optional[dict[str, str]] = Field(
        None, description="The sha256 of each served model's manifest entry when it was assessed (by model name): "
                          "a model re-issued at the same version with another calibration or threshold has another "
                          "(null: an assessment made before they were kept).")
    regional_validation: Optional[str] = Field(
        None, description="The version of the regional validation used (null: none, or an assessment made before "
                          "it was kept).")
    freshness: ResultFreshness = Field(description="Whether this assessment is current, and why not, as of this "
                                                   "answer (edge/freshness.py).")


class AssessmentList(BaseModel):
    assessments: list[Assessment]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: Optional[list[dict]] = None
    take: Optional[dict] = Field(
        None, description="For take_audio_missing: the take whose sound file is gone (recording_id, chest_site, "
                          "recorded_at); discard it (DELETE /api/v1/recordings/{recording_id}) and record its "
                          "site again.")
    unit_check: Optional[list[dict]] = Field(
        None, description="For unit_check (POST /api/v1/visits/{visit_id}/labs): each result that looks like a unit "
                          "slip (analyte, value, unit, direction low or high, reference: the reference range in that "
                          "unit, usual_unit: the unit that would make the number usual, usual_reference: the range "
                          "in it); nothing was stored. Check the unit, then send the results again, a checked one "
                          "with confirm_unusual: true.")
    current_assessment_id: Optional[int] = Field(
        None, description="For result_out_of_date and result_superseded (POST /api/v1/visits/{visit_id}/referrals): "
                          "the visit's latest assessment; assess the visit again (and show the new result) before "
                          "referring. A closed visit is not assessed again (409 visit_closed): a new visit of the "
                          "patient is.")
    changed: Optional[list[ChangeKind]] = Field(
        None, description=f"For result_out_of_date and result_superseded: {_CHANGED}.")
    settings_changed: Optional[list[str]] = Field(
        None, description=f"For result_out_of_date and result_superseded: {_SETTINGS_CHANGED}.")
    models_changed: Optional[list[ModelChange]] = Field(
        None, description=f"For result_out_of_date and result_superseded: {_MODELS_CHANGED}.")
    models_unchecked: Optional[list[ModelChange]] = Field(
        None, description=f"For result_out_of_date and result_superseded: {_MODELS_UNCHECKED}.")


class ErrorResponse(BaseModel):
    error: ErrorBody
