"""Metrics with confidence intervals, calibration, decision curves, subgroup tables and HTML reports."""
