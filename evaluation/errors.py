"""Errors raised by the evaluation toolkit, naming the offending value."""


class EvaluationError(ValueError):
    """Inputs to a metric or report are unusable (wrong labels, lengths, missing columns)."""
