"""Fusion of the modality models into one calibrated ILD risk, triage and ILD staging."""
