"""Domain errors of the clinic service.

Each error carries the HTTP status it maps to, so the API and the CLI can turn it into a
4xx JSON body or a one-line message without knowing the concrete class.
"""
from __future__ import annotations

from common.errors import DomainError


class IldscreenError(DomainError):
    """Base of every error the service raises on purpose (status, code and JSON shape: ``DomainError``)."""


class ConfigError(IldscreenError):
    """The configuration file or environment holds an invalid setting."""

    code = "config_error"


class ValidationError(IldscreenError):
    """Input failed validation; ``fields`` names each offending field and why."""

    status = 422
    code = "validation_error"


class SmokingContradiction(ValidationError):
    """A never-smoker with pack-years (``edge.patients.check_smoking``): ``fields`` names both ``smoking`` and
    ``pack_years``, either of which may be the one to correct."""


class PasswordTooLong(ValidationError):
    """A password over ``common.passwords.MAX_PASSWORD_LENGTH`` characters, refused before it is hashed."""


class UnitCheck(ValidationError):
    """Lab results that look like a unit slip (``tabular_models.lab_panels.unit_slip``): nothing is
    stored until they are sent again confirmed. ``unit_check`` holds each finding (analyte, value,
    unit, direction, reference range in that unit, the unit that would make the number usual)."""

    code = "unit_check"

    def __init__(self, message: str, *, findings: list[dict]):
        super().__init__(message, fields=[{"field": finding["analyte"], "reason": finding["message"]}
                                          for finding in findings])
        self.findings = findings

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"]["unit_check"] = [
            {key: finding[key] for key in ("analyte", "value", "unit", "direction", "usual_unit")}
            | {"reference": list(finding["reference"]), "usual_reference": list(finding["usual_reference"])}
            for finding in self.findings]
        return body


class MalformedRequest(IldscreenError):
    """The request body could not be parsed at all."""

    status = 400
    code = "malformed_request"


class PayloadTooLarge(IldscreenError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(IldscreenError):
    status = 415
    code = "unsupported_media_type"


class NotFound(IldscreenError):
    status = 404
    code = "not_found"


class Conflict(IldscreenError):
    status = 409
    code = "conflict"


class TakeAudioMissing(Conflict):
    """A take of the visit must be scored again before it is assessed, and its sound file is gone
    from the store. 409, not 500: the request is sound and the service works; what stands in the
    way is the visit's state (a take that can no longer be re-read), which the nurse resolves by
    discarding that take and recording its site again, after which the same request succeeds.
    The body names the take (``take``: id, chest site, when it was recorded), never the patient."""

    code = "take_audio_missing"

    def __init__(self, message: str, *, recording_id: int, chest_site: str, recorded_at: str):
        super().__init__(message)
        self.recording_id = recording_id
        self.chest_site = chest_site
        self.recorded_at = recorded_at

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"]["take"] = {"recording_id": self.recording_id, "chest_site": self.chest_site,
                                 "recorded_at": self.recorded_at}
        return body


class TakeDiscarded(Conflict):
    """A take was discarded (the nurse recorded its site again): its row and its sound are gone, so nothing more
    is done with it (a clinician's crackle label). Not a closed visit: a closed visit's takes stay, and a
    clinician may still label them (``edge.recordings.label_crackles_heard``)."""

    code = "take_discarded"


class VisitClosed(Conflict):
    """A write was sent to a completed or cancelled visit (``edge.patients.require_open_visit``, the one rule
    every write to a visit passes): a take, a reading, a lab panel, lung function, the draft, an edit, a result
    calculated. A closed visit is the record of what was measured and what the nurse was told then. Nothing
    reopens a visit; more is a new visit's."""

    code = "visit_closed"


class ResultOutOfDate(Conflict):
    """The visit's latest result no longer reflects the visit (``changed``: kinds of
    ``edge.freshness.CHANGE_KINDS``; ``settings_changed``: ``group.key`` of programme settings;
    ``models_changed``: modalities whose served model was updated, or the site calibration or regional
    validation when another is applied, ``edge.freshness.models_changed``; ``models_unchecked``: those of them
    a result stored by an earlier release cannot be checked against, ``edge.freshness.models_unchecked``),
    so nothing is sent with it; assessing again makes a current one. The body names the latest result
    (``current_assessment_id``) and what changed, never the patient."""

    code = "result_out_of_date"

    def __init__(self, message: str, *, current_assessment_id: int, changed: list[str] = (),
                 settings_changed: list[str] = (), models_changed: list[str] = (), models_unchecked: list[str] = ()):
        super().__init__(message)
        self.current_assessment_id = current_assessment_id
        self.changed = list(changed)
        self.settings_changed = list(settings_changed)
        self.models_changed = list(models_changed)
        self.models_unchecked = list(models_unchecked)

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"].update(current_assessment_id=self.current_assessment_id, changed=self.changed,
                             settings_changed=self.settings_changed, models_changed=self.models_changed,
                             models_unchecked=self.models_unchecked)
        return body


class ResultSuperseded(ResultOutOfDate):
    """The result the client showed (its ``assessment_id``) is not the visit's latest: another tab or
    client calculated again, and the referral would carry a result its sender never saw."""

    code = "result_superseded"


class EditConflict(Conflict):
    """A record was edited since the version the editor showed (``current_version`` is the one saved
    now): saving would overwrite that edit unseen, so nothing is saved."""

    code = "edit_conflict"

    def __init__(self, message: str, *, current_version: int):
        super().__init__(message)
        self.current_version = current_version

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"]["current_version"] = self.current_version
        return body


def require_current_version(record: str, *, shown: int, current: int) -> None:
    """Refuse an edit of ``record`` (e.g. ``"visit 7"``) made against the version ``shown`` when
    the record is at ``current`` now: saving it would overwrite an edit saved since, unseen. The one
    check of every versioned record (patients, visits, users); each says how its version moves.

    Raises
    ------
    EditConflict
        When ``shown`` is not ``current``; it names ``current`` for the client to read again.
    """
    if shown != current:
        raise EditConflict(f"{record} was edited since version {shown} was shown (now version {current}): "
                           "nothing was saved; review and save again", current_version=current)


class CaptureRunning(Conflict):
    """A capture is already running on that sensor board: one at a time per board."""

    code = "capture_running"


class AuthenticationError(IldscreenError):
    """Credentials missing, wrong, or the account cannot log in."""

    status = 401
    code = "authentication_failed"


class SessionLocked(AuthenticationError):
    """The browser session is locked on the tablet: only its own user's PIN (or password) opens it."""

    code = "session_locked"


class WrongPin(AuthenticationError):
    """A wrong PIN for a locked session; ``attempts_left`` before the session ends."""

    code = "wrong_pin"

    def __init__(self, message: str, *, attempts_left: int):
        super().__init__(message)
        self.attempts_left = attempts_left


class PermissionDenied(IldscreenError):
    status = 403
    code = "forbidden"


class CsrfError(PermissionDenied):
    code = "csrf_failed"


class PasswordChangeRequired(PermissionDenied):
    code = "password_change_required"


class StorageError(IldscreenError):
    """The database or the file store could not complete an operation."""

    status = 500
    code = "storage_error"


class DeviceUnavailable(IldscreenError):
    """A sensor board could not be reached or did not deliver a complete capture."""

    status = 503
    code = "device_unavailable"


class ServiceBusy(IldscreenError):
    """Every slot for a bounded piece of work (decoding a recording) stayed taken too long."""

    status = 503
    code = "busy"


class ModelUnavailable(IldscreenError):
    """A model is missing, altered, or does not match its manifest entry (``/readyz`` says which)."""

    status = 503
    code = "model_unavailable"
