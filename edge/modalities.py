"""What each modality contributes to an assessment: the evidence stored for a visit, turned
into a ``ModalityEvidence`` (calibrated probability + the prevalence the model was trained at).

A modality with nothing usable recorded (no lab results, no breath reading that passed its
quality checks, no recording of acceptable quality) returns None and is reported missing.
"""
from __future__ import annotations

import json
from typing import Callable, Optional

import sqlite_utils

from audio_models.errors import ModelError
from edge.auscultation import aggregate_visit_recordings
from edge.breath import list_breath_readings
from edge.fusion.fusion import ModalityEvidence
from edge.inference.bundles import selected_registry
from edge.inference.models import validation_status
from edge.labs import ModelUnavailable, list_lab_results, score_stored_results

ModalityScorer = Callable[[sqlite_utils.Database, int], Optional[ModalityEvidence]]


def manifest_entry(name: str) -> dict:
    """A model's manifest entry in the bundle this process serves (its manifest was read once, at
    selection: assessments are a hot path)."""
    try:
        return selected_registry().entry(name)
    except ModelError as exc:
        raise ModelUnavailable(f"the {name} model is not available: {exc}") from exc


def training_prevalence(name: str) -> float:
    """The prevalence a model's probability is calibrated at: the fusion's reference odds."""
    return float(manifest_entry(name)["training_data"]["prevalence"])


def scored_evidence(modality: str, probability: float, model: dict) -> ModalityEvidence:
    """Evidence from a fresh tabular score (``model`` is the stamp of the score's result)."""
    return ModalityEvidence(modality, probability, training_prevalence(modality),
                            f"{model['name']}-{model['version']}", synthetic=model["synthetic"])


def labs_evidence(db: sqlite_utils.Database, visit_id: int) -> Optional[ModalityEvidence]:
    """The visit's lab results scored together (newest value of each analyte)."""
    results = list_lab_results(db, visit_id)
    if not results:
        return None
    # Raises ModelUnavailable without a usable model: the assessment is refused rather than
    # computed as if the entered results did not exist.
    score = score_stored_results(results)
    return scored_evidence("labs", score["probability"], score["model"])


def breath_evidence(db: sqlite_utils.Database, visit_id: int) -> Optional[ModalityEvidence]:
    """The newest breath reading of the visit that passed its quality checks."""
    usable = [reading for reading in list_breath_readings(db, visit_id) if reading["probability"] is not None]
    if not usable:
        return None
    latest = usable[-1]
    return ModalityEvidence("breath", latest["probability"], training_prevalence("breath"), latest["model_version"],
                            synthetic=validation_status(manifest_entry("breath"), name="breath").synthetic)


def auscultation_evidence_from_results(results: list[dict]) -> Optional[ModalityEvidence]:
    """The visit's crackle finding from scored recordings (quality-failed ones left out)."""
    if not results:
        return None
    visit = aggregate_visit_recordings(results)
    probability = visit.get("visit_crackle_probability")
    if probability is None:
        return None
    stamp = results[0]["model"]
    return ModalityEvidence("auscultation", float(probability), training_prevalence("auscultation"),
                            f"{stamp['name']}-{stamp['version']}-{stamp['variant']}", synthetic=bool(stamp["synthetic"]))


def auscultation_evidence(db: sqlite_utils.Database, visit_id: int) -> Optional[ModalityEvidence]:
    """Scored recordings of the visit, aggregated over chest sites (bases weigh twice)."""
    rows = db.execute_returning_dicts(
        "SELECT chest_site, quality, crackle_probability, result FROM recordings "
        "WHERE visit_id = ? AND result IS NOT NULL ORDER BY id", [visit_id])
    results = [{"chest_site": row["chest_site"], "quality": json.loads(row["quality"]),
                "crackle_probability": row["crackle_probability"], "model": json.loads(row["result"])["model"]}
               for row in rows]
    return auscultation_evidence_from_results(results)


SCORERS: dict[str, ModalityScorer] = {"auscultation": auscultation_evidence, "breath": breath_evidence,
                                      "labs": labs_evidence}
