"""Domain errors of lab-panel and breath-reading processing.

The package stays free of ``edge`` imports (ARCHITECTURE.md: edge imports tabular_models, not
the reverse); ``edge.labs`` and ``edge.breath`` turn these into the service's 422 errors.
Each error names the offending field (the analyte for labs) and carries it as ``field``; a file
without one of the columns this package expects also names that column as ``missing_column``,
always one of this package's own names (never text read from the file), so a page may show it.
"""
from __future__ import annotations

from typing import Optional


class TabularInputError(ValueError):
    """Base of the input errors raised on purpose by this package."""

    def __init__(self, message: str, *, field: Optional[str] = None, missing_column: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.missing_column = missing_column


class LabPanelError(TabularInputError):
    """A lab panel could not be read or holds an impossible value; ``field`` names the analyte."""


class BreathReadingError(TabularInputError):
    """A breath reading could not be read; ``field`` names the offending column or key."""
