"""Errors of the federated simulation, naming what went wrong."""
from __future__ import annotations

from edge.errors import IldscreenError


class FederatedError(IldscreenError):
    """A federation could not run or finish (a clinic process failed, a round timed out)."""

    code = "federated_error"
