"""Domain errors of the hospital CT service.

Each error carries the HTTP status it maps to and serialises to the same JSON shape as the
clinic service's errors, ``{"error": {"code", "message", "fields"?}}``, so one client can read
both. The CLI turns them into a one-line message.
"""
from __future__ import annotations

from common.errors import DomainError


class ImagingError(DomainError):
    """Base of every error the CT service raises on purpose (status, code and JSON shape: ``DomainError``)."""


class ConfigError(ImagingError):
    """The configuration file or environment holds an invalid setting."""

    code = "config_error"


def check_settings(checks: dict) -> None:
    """Raise :class:`ConfigError` for the first setting out of its range, naming it and its value.

    ``checks`` maps a setting's name to ``(value, valid, expected)``: whether ``value`` is valid, and
    the range it must be in, as the message says it (``"in (0, 1]"``).
    """
    for name, (value, valid, expected) in checks.items():
        if not valid:
            raise ConfigError(f"{name} must be {expected}, got {value!r}")


class MalformedRequest(ImagingError):
    """The request body could not be parsed at all."""

    code = "malformed_request"


class ValidationError(ImagingError):
    """Input failed validation; ``fields`` names each offending field and why."""

    status = 422
    code = "validation_error"


class AuthenticationError(ImagingError):
    status = 401
    code = "authentication_failed"


class Forbidden(ImagingError):
    """A known token that may not use this route (e.g. a clinic's token on the programme view)."""

    status = 403
    code = "forbidden"


class NotFound(ImagingError):
    status = 404
    code = "not_found"


class Conflict(ImagingError):
    status = 409
    code = "conflict"


class NotReady(Conflict):
    """The referral exists but has no report yet."""

    code = "not_ready"


class TooManyAttempts(ImagingError):
    """Too many wrong passwords in a row for one sign-in name: locked for ``retry_after_s`` seconds."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageError(ImagingError):
    status = 500
    code = "storage_error"


class UnreadableReferral(StorageError):
    """A referral's stored bundle cannot be read; ``stored``: what the server keeps beside it (status,
    priority, clinic, dates, note kinds), which a reader's page still shows."""

    code = "referral_unreadable"

    def __init__(self, message: str, *, stored: dict):
        super().__init__(message)
        self.stored = stored


class DatabaseUnavailable(StorageError):
    """The database cannot be reached (server down, wrong address or credentials, locked too long)."""

    status = 503
    code = "database_unavailable"


class SeriesError(ImagingError):
    """A CT series cannot be quantified: unreadable, not CT, missing tags, inconsistent geometry.

    The message is the reason shown to the referring clinic, so it never quotes header values
    that could identify the patient.
    """

    status = 422
    code = "series_error"


class PacsError(ImagingError):
    """The PACS could not be reached or answered with an error; the poll is retried later."""

    status = 502
    code = "pacs_error"
