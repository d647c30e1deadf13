"""What each modality contributes to an assessment: the evidence stored for a visit, turned
into a ``ModalityEvidence`` (calibrated probability + the prevalence the model was trained at).

A modality with nothing usable recorded (no lab results, no breath reading that passed its
quality checks, no recording of acceptable quality) returns None and is reported missing.
"""
from __future__ import annotations

from typing import Callable, Optional

import sqlite_utils

from edge.breath import list_breath_readings
from edge.fusion.fusion import ModalityEvidence
from edge.labs import bundled_model, visit_lab_panel

ModalityScorer = Callable[[sqlite_utils.Database, int], Optional[ModalityEvidence]]


def _training_prevalence(name: str) -> float:
    return float(bundled_model(name).entry["training_data"]["prevalence"])


def labs_evidence(db: sqlite_utils.Database, visit_id: int) -> Optional[ModalityEvidence]:
    """The visit's lab results scored together (newest value of each analyte)."""
    score = visit_lab_panel(db, visit_id)["score"]
    if score is None:
        return None
    model = score["model"]
    return ModalityEvidence("labs", score["probability"], _training_prevalence("labs"),
                            f"{model['name']}-{model['version']}", synthetic=model["synthetic"])


def breath_evidence(db: sqlite_utils.Database, visit_id: int) -> Optional[ModalityEvidence]:
    """The newest breath reading of the visit that passed its quality checks."""
    usable = [reading for reading in list_breath_readings(db, visit_id) if reading["probability"] is not None]
    if not usable:
        return None
    latest = usable[-1]
    entry = bundled_model("breath").entry
    return ModalityEvidence("breath", latest["probability"], _training_prevalence("breath"), latest["model_version"],
                            synthetic=bool(entry.get("synthetic")))


SCORERS: dict[str, ModalityScorer] = {"breath": breath_evidence, "labs": labs_evidence}
