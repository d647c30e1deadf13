"""The base of both servers' domain errors: an HTTP status, a code and the JSON body shape.

The clinic service (``edge.errors.IldscreenError``) and the hospital CT server
(``imaging_server.errors.ImagingError``) each derive their own hierarchy from it, so that one
client reads both servers' errors, ``{"error": {"code", "message", "fields"?}}``, and each CLI
turns them into a one-line message.
"""
from __future__ import annotations


class DomainError(Exception):
    """An error a server raises on purpose: ``status`` is the HTTP status it maps to, ``code`` the
    machine-readable name, ``fields`` the offending input fields and why (for validation errors)."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, fields: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or []

    def to_json(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}
